import { describe, expect, it } from 'vitest';
import { deriveSeed, Rng } from '../../../trainer/shapes/rng.js';

describe('Rng', () => {
  it('is deterministic per seed and differs across seeds', () => {
    const draw = (seed: number): number[] => {
      const r = Rng.fromSeed(seed);
      return Array.from({ length: 8 }, () => r.uint32());
    };
    expect(draw(1)).toEqual(draw(1));
    expect(draw(1)).not.toEqual(draw(2));
    expect(draw(2 ** 40)).not.toEqual(draw(0));
  });

  it('derives child streams from the seed, not from the state', () => {
    const a = Rng.fromSeed(5);
    const b = Rng.fromSeed(5);
    for (let i = 0; i < 100; i++) b.next();
    expect(a.child('pair', 3).uint32()).toBe(b.child('pair', 3).uint32());
    expect(a.child('pair', 3).uint32()).not.toBe(a.child('pair', 4).uint32());
    expect(deriveSeed(5, 'x', 1)).toBe(deriveSeed(5, 'x', 1));
    expect(deriveSeed(5, 'x', 1)).not.toBe(deriveSeed(5, 'x1'));
  });

  it('draws within range and roughly uniformly', () => {
    const r = Rng.fromSeed(9);
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 60_000; i++) {
      const v = r.int(0, 5);
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(5);
      counts[v]!++;
    }
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(400);
    let heads = 0;
    for (let i = 0; i < 20_000; i++) if (r.bernoulli(0.3)) heads++;
    expect(heads / 20_000).toBeCloseTo(0.3, 1);
  });

  it('shuffles to a permutation without touching the input, and samples distinct items', () => {
    const r = Rng.fromSeed(3);
    const input = [1, 2, 3, 4, 5, 6, 7];
    const s = r.shuffle(input);
    expect(input).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect([...s].sort()).toEqual(input);
    const k = r.sample(input, 4);
    expect(new Set(k).size).toBe(4);
    expect(() => r.pick([])).toThrow(RangeError);
    expect(() => r.int(3, 2)).toThrow(RangeError);
  });
});
