import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle, type LoadedBundle } from '../../src/model/bundle.js';
import { buildHeadOnnx } from '../../src/model/onnx/heads.js';
import type { BundleSpec } from '../../src/model/write.js';
import { cachedFeatures } from '../../trainer/data/feature-cache.js';
import type { LabeledPair } from '../../trainer/data/labeled-pair.js';
import { TINY, TINY_D, tinyImage, tinyText, tinyTokenizer, tinyVision, writeTinyBundle } from '../fixtures/tiny-bundle.js';

let dir: string;
let bundle: LoadedBundle;
let pairs: LabeledPair[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mrm-fcache-'));
  bundle = await loadBundle(await writeTinyBundle(join(dir, 'bundle')));
  const png = (r: number) => sharp({ create: { width: 8, height: 8, channels: 3, background: { r, g: 0, b: 0 } } }).png().toBuffer();
  pairs = await Promise.all([10, 200].map(async (r, i) => ({ id: `p${i}`, images: [await png(r)], prompt: 'red circle', chosen: 'yes', rejected: 'no' })));
});
afterAll(async () => {
  await bundle.runtime.release();
  await rm(dir, { recursive: true, force: true });
});

describe('cachedFeatures', () => {
  it('writes features on a miss and reads the same numbers back on a hit', async () => {
    const cache = join(dir, 'cache');
    const miss = await cachedFeatures(bundle.runtime, pairs, cache);
    const hit = await cachedFeatures(bundle.runtime, pairs, cache);
    expect([miss.cached, hit.cached]).toEqual([false, true]);
    expect(hit.chosen).toEqual(miss.chosen);
    expect(hit.rejected).toEqual(miss.rejected);
    expect(await readdir(cache)).toHaveLength(1);
  });

  it('misses when the data changes', async () => {
    const cache = join(dir, 'cache2');
    await cachedFeatures(bundle.runtime, pairs, cache);
    const changed = await cachedFeatures(bundle.runtime, [{ ...pairs[0]!, chosen: 'no yes' }, pairs[1]!], cache);
    expect(changed.cached).toBe(false);
  });

  // A head-only version shares its parent's features; anything that changes
  // what reaches the head must not: each variant below is a real bundle that
  // differs from the first in one part only.
  it('misses when a frozen stage, the tokenizer or preprocessing changes, and hits for another head', async () => {
    const cache = join(dir, 'cache3');
    await cachedFeatures(bundle.runtime, pairs, cache);
    const zeroHead = buildHeadOnnx({ kind: 'linear', d: TINY_D, k: TINY.k, w: new Float32Array(TINY_D * TINY.k), b: new Float32Array(TINY.k) });
    const variants: [string, Partial<BundleSpec>, boolean][] = [
      ['another head and calibration', { version: 2, head: zeroHead, calibration: { mean: 1, std: 2, referenceSet: 'x', n: 1 } }, true],
      ['another vision stage', { vision: tinyVision({ scale: 2 }) }, false],
      ['another tokenizer', { tokenizer: { ...tinyTokenizer, lowercase: false } }, false],
      ['another image normalization', { image: { ...tinyImage, mean: [0.4, 0.5, 0.5] } }, false],
      ['another prompt template', { text: { ...tinyText, promptTemplate: '{prompt} {system}' } }, false],
    ];
    for (const [what, overrides, hit] of variants) {
      const other = await loadBundle(await writeTinyBundle(join(dir, what.replaceAll(' ', '-')), overrides));
      try {
        expect((await cachedFeatures(other.runtime, pairs, cache)).cached, what).toBe(hit);
      } finally {
        await other.runtime.release();
      }
    }
  });
});
