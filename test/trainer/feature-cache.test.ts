import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle, type LoadedBundle } from '../../src/model/bundle.js';
import { cachedFeatures } from '../../trainer/data/feature-cache.js';
import type { LabeledPair } from '../../trainer/data/labeled-pair.js';
import { writeTinyBundle } from '../fixtures/tiny-bundle.js';

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
});
