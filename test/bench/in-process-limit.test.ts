/**
 * The in-process limit of bench:serve does the model work the server could do
 * at best: each stage's runs are capped at the server's batch sizes (the
 * defaults, or what --server-flags sets), on real ONNX sessions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../src/model/bundle.js';
import type { ModelRuntime } from '../../src/model/runtime.js';
import { DEFAULTS } from '../../src/serve/config.js';
import { capsFromFlags, inProcess, SERVER_CAPS } from '../../scripts/bench-serve/in-process.js';
import { GROUP, makeItems } from '../../scripts/bench-serve/items.js';

describe('capsFromFlags', () => {
  it('is the server defaults without flags', () => {
    expect(capsFromFlags([])).toEqual({ vision: DEFAULTS.vision.maxBatchSize, encoder: DEFAULTS.encoder.maxBatchSize });
    expect(SERVER_CAPS).toEqual(capsFromFlags(['--batching', 'true']));
  });

  it('follows --server-flags, the last one winning as in the server', () => {
    expect(capsFromFlags(['--vision-max-batch-size', '32', '--encoder-max-batch-size', '16', '--vision-max-batch-size', '4'])).toEqual({ vision: 4, encoder: 16 });
  });

  it('refuses a value the server would refuse, naming the flag', () => {
    expect(() => capsFromFlags(['--encoder-max-batch-size', '0'])).toThrow(/--encoder-max-batch-size needs a positive integer, got 0/);
    expect(() => capsFromFlags(['--vision-max-batch-size'])).toThrow(/--vision-max-batch-size/);
  });
});

describe('inProcess', () => {
  let rt: ModelRuntime;
  let vision: number[];
  let encoder: number[];

  beforeAll(async () => {
    ({ runtime: rt } = await loadBundle('models/shapes-mrm', { threads: 1 }));
    // Record each stage's run sizes on the real runtime.
    const embed = rt.embedImages.bind(rt);
    const score = rt.score.bind(rt);
    rt.embedImages = (pixels, n) => { vision.push(n); return embed(pixels, n); };
    rt.score = (items) => { encoder.push(items.length); return score(items); };
  });
  afterAll(() => rt.release());

  it('runs single items in vision runs of at most caps.vision and encoder runs of at most caps.encoder', async () => {
    vision = [];
    encoder = [];
    const items = await makeItems(11, 0, 7, 1);
    const images = items.reduce((n, it) => n + it.images.length, 0); // an item may have more than one
    expect(images).toBeGreaterThan(6);
    const r = await inProcess(rt, items, 'single', 8, 1, { vision: 3, encoder: 5 });
    expect(vision).toEqual([3, 3, images - 6]);
    expect(encoder).toEqual([5, 2]);
    expect(r.rewardsPerSec).toBeGreaterThan(0);
    expect(r.cpuMsPerReward).toBeGreaterThan(0);
  });

  it('runs a chunk of groups as one vision run and encoder runs of at most caps.encoder', async () => {
    vision = [];
    encoder = [];
    const items = await makeItems(12, 0, 2, GROUP);
    await inProcess(rt, items, 'group16', 64, 1, { vision: 8, encoder: 20 });
    expect(vision).toEqual([items[0]!.images.length + items[1]!.images.length]);
    expect(encoder).toEqual([20, 12]);
  });
});
