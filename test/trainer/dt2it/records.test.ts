import { describe, expect, it } from 'vitest';
import { sha256Hex } from '../../../src/model/digest.js';
import { pairRecords } from '../../../trainer/dt2it/records.js';
import type { RoundPair } from '../../../trainer/dt2it/round-pair.js';

const img = (n: number) => new Uint8Array([n, n + 1, n + 2]);
const pair = (id: string, extra: Partial<RoundPair>): RoundPair => ({
  item: { id, images: [img(1)], prompt: `p-${id}`, a: `A-${id}`, b: `B-${id}` },
  origin: 'base', fa: new Float32Array(2), fb: new Float32Array(2), ...extra,
});

describe('pairRecords', () => {
  it('chosen is the labeled side, truth is relative to it, weight only when not 1, unlabeled pairs skipped, images by sha256 once', async () => {
    const pairs = [
      pair('x', { label: 'b', truth: 'a', weight: 0.5, slice: 'grounded' }),
      pair('y', { label: 'a', truth: 'a', weight: 1 }),
      pair('z', {}),
    ];
    const { records, pngs } = await pairRecords(pairs, async (p) => p.item.images);
    expect(records).toEqual([
      { id: 'x', images: [sha256Hex(img(1))], prompt: 'p-x', chosen: 'B-x', rejected: 'A-x', truth: 'rejected', slice: 'grounded', weight: 0.5 },
      { id: 'y', images: [sha256Hex(img(1))], prompt: 'p-y', chosen: 'A-y', rejected: 'B-y', truth: 'chosen' },
    ]);
    expect([...pngs.keys()]).toEqual([sha256Hex(img(1))]);
  });
});
