import { describe, expect, it } from 'vitest';
import { DETAIL_ENTRY_OVERHEAD, DetailStore } from '../../src/serve/detail-store.js';
import { Caches } from '../../src/serve/caches.js';

const f32 = (...xs: number[]) => Float32Array.from(xs);
/** Budget for `n` entries of `floats` floats each. */
const budget = (n: number, floats: number) => n * (4 * floats + DETAIL_ENTRY_OVERHEAD);

describe('detail store (heads + features for the pair log)', () => {
  it('gives back what was put, as copies that neither side can change afterwards', () => {
    const s = new DetailStore(budget(4, 5));
    const heads = f32(0.5, -1);
    const feats = f32(1, 2, 3);
    s.put('k', heads, feats);
    heads[0] = 9;
    feats[2] = 9;
    const got = s.get('k', 2)!;
    expect([...got.heads]).toEqual([0.5, -1]);
    expect([...got.features]).toEqual([1, 2, 3]);
    got.features[0] = 7;
    expect([...s.get('k', 2)!.features]).toEqual([1, 2, 3]);
    expect(s.get('other', 2)).toBeUndefined();
  });

  it('holds as many entries as the budget pays for and drops the oldest first', () => {
    const s = new DetailStore(budget(3, 4) + 10);
    for (const k of ['a', 'b', 'c']) s.put(k, f32(1), f32(k.charCodeAt(0), 0, 0));
    expect(s.size).toBe(3);
    expect(s.usedBytes).toBe(budget(3, 4));
    // Putting a held key again rewrites its slot: nothing is dropped.
    s.put('a', f32(2), f32(5, 5, 5));
    expect(s.size).toBe(3);
    expect([...s.get('a', 1)!.heads]).toEqual([2]);
    // A fourth key takes the oldest slot: a's, though a was written last.
    s.put('d', f32(1), f32(4, 4, 4));
    expect(s.get('a', 1)).toBeUndefined();
    expect([...s.get('b', 1)!.features]).toEqual([98, 0, 0]);
    expect([...s.get('d', 1)!.features]).toEqual([4, 4, 4]);
    s.put('e', f32(1), f32(0, 0, 0));
    expect(s.get('b', 1)).toBeUndefined();
    expect(s.size).toBe(3);
  });

  it('keeps a smaller version\'s entries in the same slots; a larger one starts over', () => {
    const s = new DetailStore(budget(4, 6));
    s.put('big', f32(1, 2), f32(3, 4, 5, 6));
    s.put('small', f32(1), f32(2, 3));
    expect([...s.get('small', 1)!.features]).toEqual([2, 3]);
    expect([...s.get('big', 2)!.features]).toEqual([3, 4, 5, 6]);
    s.put('bigger', f32(1, 2), f32(3, 4, 5, 6, 7));
    expect(s.get('big', 2)).toBeUndefined();
    expect(s.get('small', 1)).toBeUndefined();
    expect([...s.get('bigger', 2)!.features]).toEqual([3, 4, 5, 6, 7]);
    expect(s.size).toBe(1);
  });

  it('keeps nothing when the budget is less than one entry', () => {
    const s = new DetailStore(budget(1, 3) - 1);
    s.put('k', f32(1), f32(2, 3));
    expect(s.get('k', 1)).toBeUndefined();
    expect(s.size).toBe(0);
  });

  it('is the caches\' detail cache while the log is on, and absent when it is off', () => {
    const on = new Caches({ rewardEntries: 10, embeddingBytes: 1 << 20, imageBytes: 1 << 20, detailBytes: budget(2, 3) });
    expect(on.keepsDetails).toBe(true);
    on.putDetail('m@1:x', f32(0.25), f32(1, 2));
    expect(on.detail('m@1:x', 1)).toEqual({ heads: f32(0.25), features: f32(1, 2) });
    expect(on.sizes()).toMatchObject({ details: 1, detailBytes: budget(1, 3) });
    const off = new Caches({ rewardEntries: 10, embeddingBytes: 1 << 20, imageBytes: 1 << 20, detailBytes: 0 });
    expect(off.keepsDetails).toBe(false);
    off.putDetail('m@1:x', f32(0.25), f32(1, 2));
    expect(off.detail('m@1:x', 1)).toBeUndefined();
  });
});
