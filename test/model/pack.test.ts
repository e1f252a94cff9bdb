import { describe, expect, it } from 'vitest';
import { packItems } from '../../src/model/pack.js';

const shape = { maxImages: 2, dv: 3, tp: 4, tr: 2 };
const f = (...xs: number[]) => Float32Array.from(xs);

describe('packItems', () => {
  it('lays items out as the encoder tensors, zero-padded and cut at the caps', () => {
    const p = packItems([
      { imageEmbeddings: [f(1, 2, 3)], promptIds: [5, 6], responseIds: [7, 8, 9] },
      { imageEmbeddings: [f(4, 5, 6), f(7, 8, 9), f(10, 11, 12)], promptIds: [1, 2, 3, 4, 5], responseIds: [] },
    ], shape);
    expect(p.b).toBe(2);
    expect([...p.emb]).toEqual([1, 2, 3, 0, 0, 0, 4, 5, 6, 7, 8, 9]);
    expect([...p.mask]).toEqual([1, 0, 1, 1]);
    expect([...p.prompt]).toEqual([5n, 6n, 0n, 0n, 1n, 2n, 3n, 4n]);
    expect([...p.response]).toEqual([7n, 8n, 0n, 0n]);
  });

  it('writes ids outside int32 (and negative ones) as full int64 values', () => {
    const big = 2 ** 40 + 3;
    const p = packItems([{ imageEmbeddings: [], promptIds: [0x7fffffff, 0x80000000, big, -2], responseIds: [1] }], shape);
    expect([...p.prompt]).toEqual([0x7fffffffn, 0x80000000n, BigInt(big), -2n]);
    expect([...p.mask]).toEqual([0, 0]);
  });

  it('gives each array its own buffer, so all four can be transferred', () => {
    const p = packItems([{ imageEmbeddings: [f(1, 1, 1)], promptIds: [1], responseIds: [1] }], shape);
    const bufs = [p.emb, p.mask, p.prompt, p.response].map((a) => a.buffer);
    expect(new Set(bufs).size).toBe(4);
    for (const a of [p.emb, p.mask, p.prompt, p.response]) expect(a.byteLength).toBe(a.buffer.byteLength);
  });
});
