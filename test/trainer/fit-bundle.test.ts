/**
 * One reward path: the metrics and calibration a fit writes into its
 * manifest are what the written bundle gives when loaded and served, exactly,
 * not what a re-implementation of the head computes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../src/model/bundle.js';
import type { LabeledPair } from '../../trainer/data/labeled-pair.js';
import { scorePairs, toScored } from '../../trainer/eval/evaluate.js';
import { evaluatePairs } from '../../trainer/eval/metrics.js';
import { fitBundle, metricsOf } from '../../trainer/fit/fit-bundle.js';
import { Rng } from '../../trainer/shapes/rng.js';
import { writeTinyBundle } from '../fixtures/tiny-bundle.js';

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'mrm-fitbundle-')); });
afterAll(() => rm(dir, { recursive: true, force: true }));

/** Pairs the tiny model can partly tell apart: the right colour word for a red or blue image. */
async function pairs(seed: number, n: number): Promise<LabeledPair[]> {
  const rng = Rng.fromSeed(seed);
  return Promise.all(Array.from({ length: n }, async (_, i) => {
    const red = rng.bernoulli(0.5);
    const shade = rng.int(150, 255);
    const img = await sharp({ create: { width: 8, height: 8, channels: 3, background: red ? { r: shade, g: 20, b: 20 } : { r: 20, g: 20, b: shade } } }).png().toBuffer();
    const [right, wrong] = red ? ['red circle', 'blue square'] : ['blue square', 'red circle'];
    const flip = rng.bernoulli(0.2);
    return {
      id: `p${seed}-${i}`, images: [img], prompt: 'what is it', slice: i % 2 ? 'grounded' : 't2i',
      chosen: flip ? wrong : right, rejected: flip ? right : wrong, truth: flip ? 'rejected' as const : 'chosen' as const,
    };
  }));
}

describe('fitBundle', () => {
  it('writes held-out metrics and calibration that the served bundle reproduces exactly', async () => {
    const base = await writeTinyBundle(join(dir, 'base'));
    const [train, heldOut] = await Promise.all([pairs(1, 120), pairs(2, 60)]);
    const out = join(dir, 'fitted');
    const r = await fitBundle(train, { base, out, version: 2, heldOut, referenceSet: 'tiny', fit: { k: 3, epochs: 5 } });
    const { manifest, runtime } = await loadBundle(out);
    try {
      const served = evaluatePairs(toScored(heldOut, await scorePairs(runtime, heldOut)));
      expect(manifest.metrics).toEqual(metricsOf(served));
      expect(r.heldOut).toEqual(served);
      const t = await scorePairs(runtime, train);
      const all = [...t.chosen, ...t.rejected];
      const mean = all.reduce((a, b) => a + b, 0) / all.length;
      const std = Math.sqrt(all.reduce((a, b) => a + (b - mean) ** 2, 0) / all.length);
      expect(manifest.calibration).toMatchObject({ mean, std, n: 240 });
    } finally {
      await runtime.release();
    }
  });
});
