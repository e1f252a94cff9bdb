/** The version's ONNX sessions in a worker thread: same numbers as in-process, clean failures. */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../src/model/bundle.js';
import { BundleError } from '../../src/model/errors.js';
import { silentLogger } from '../../src/serve/log.js';
import { ModelHost } from '../../src/serve/model-host.js';
import { tinyHead, writeTinyBundle } from '../fixtures/tiny-bundle.js';
import { tinyDir } from './helpers.js';

let dir: string;
beforeAll(async () => { dir = await tinyDir(); });
afterAll(() => rm(dir, { recursive: true, force: true }));

const init = (bundle: string) => ({ dir: bundle, threads: 1, registry: null, warm: { vision: 4, encoder: 8 } });

describe('ModelHost', () => {
  it('gives the numbers the runtime gives on the main thread', async () => {
    const host = await ModelHost.start(init(join(dir, 'bundle')), silentLogger);
    const { runtime } = await loadBundle(join(dir, 'bundle'));
    try {
      expect(host.manifest).toEqual(runtime.manifest);
      expect(host.tokenizer.encode('red circle')).toEqual(runtime.tokenizer.encode('red circle'));
      const s = host.manifest.preprocess.image.size;
      const pixels = Float32Array.from({ length: 2 * 3 * s * s }, (_, i) => Math.cos(i));
      const local = await runtime.embedImages(pixels.slice(), 2);
      const remote = await host.embedImages(pixels.slice(), 2);
      expect(Array.from(remote)).toEqual(Array.from(local));
      const items = [{ imageEmbeddings: [remote.subarray(0, runtime.dv)], promptIds: [1, 2], responseIds: [3] }, { imageEmbeddings: [], promptIds: [4], responseIds: [5, 6] }];
      const a = await runtime.score(items);
      const b = await host.score(items);
      expect(Array.from(b.rewards)).toEqual(Array.from(a.rewards));
      expect(Array.from(b.spread)).toEqual(Array.from(a.spread));
      expect(Array.from(b.normalized)).toEqual(Array.from(a.rewards, (r) => runtime.normalize(r)));
    } finally {
      await runtime.release();
      await host.release();
    }
    await expect(host.score([])).rejects.toMatchObject({ kind: 'unavailable' });
  });

  it("starts the worker's young generation at its full size (no slow growth under load to read as drift)", async () => {
    const host = await ModelHost.start(init(join(dir, 'bundle')), silentLogger);
    try {
      // V8 starts a young generation small and grows it with the allocation rate: 8 MiB after the warm-up without the flag.
      expect(host.youngGenerationMiB).toBeGreaterThanOrEqual(16);
    } finally {
      await host.release();
    }
  });

  it('embedEach: a lone image moves to the worker and back without a copy; several are packed and sliced', async () => {
    const host = await ModelHost.start(init(join(dir, 'bundle')), silentLogger);
    const { runtime } = await loadBundle(join(dir, 'bundle'));
    try {
      const s = host.manifest.preprocess.image.size;
      const per = 3 * s * s;
      const img = (k: number) => Float32Array.from({ length: per }, (_, i) => Math.sin(i * k));
      const local = (k: number) => runtime.embedImages(img(k), 1).then((e) => Array.from(e));

      const lone = img(1);
      const [one] = await host.embedEach([lone], per, runtime.dv);
      expect(lone.buffer.byteLength).toBe(0); // transferred, not copied
      expect(one!.buffer.byteLength).toBe(runtime.dv * 4); // its own buffer: caching it keeps nothing else alive
      expect(Array.from(one!)).toEqual(await local(1));

      // A view into a larger buffer cannot move without detaching the rest: it is copied.
      const big = new Float32Array(2 * per);
      big.set(img(2), per);
      const [viewed] = await host.embedEach([big.subarray(per)], per, runtime.dv);
      expect(big.buffer.byteLength).toBe(2 * per * 4);
      expect(Array.from(viewed!)).toEqual(await local(2));

      const several = await host.embedEach([img(3), img(4), img(5)], per, runtime.dv);
      expect(several.map((e) => e.buffer.byteLength)).toEqual([1, 2, 3].map(() => runtime.dv * 4));
      expect(several.map((e) => Array.from(e))).toEqual(await Promise.all([3, 4, 5].map(local)));
    } finally {
      await runtime.release();
      await host.release();
    }
  });

  it('refuses a bundle that fails its warm-up, as a BundleError', async () => {
    const bad = await writeTinyBundle(join(dir, 'nan'), { head: tinyHead({ nan: true }) });
    const err = await ModelHost.start(init(bad), silentLogger).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BundleError);
    expect(err).toMatchObject({ kind: 'non-finite' });
    expect((err as Error).message).toContain('rewards[0][1]');
  });

  it('reports a stage error without killing the worker', async () => {
    const host = await ModelHost.start(init(join(dir, 'bundle')), silentLogger);
    try {
      await expect(host.embedImages(new Float32Array(5), 1)).rejects.toThrow();
      const s = host.manifest.preprocess.image.size;
      expect((await host.embedImages(new Float32Array(3 * s * s), 1)).length).toBe(4);
    } finally {
      await host.release();
    }
  });
});
