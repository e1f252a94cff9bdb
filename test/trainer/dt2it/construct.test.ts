import { describe, expect, it } from 'vitest';
import { constructFromJudgments, constructWithJudge } from '../../../trainer/dt2it/construct.js';
import type { PairJudgment } from '../../../trainer/judges/types.js';
import { pair } from './synthetic.js';
import { TruthLabeler } from './truth-labeler.js';

const j = (id: string, votes: PairJudgment['votes'], scoreA: number, scoreB: number, complete = true): PairJudgment => ({ id, votes, scoreA, scoreB, complete, calls: 2, cached: 0 });

describe('debiased construction', () => {
  it('keeps decisive pairs of every strength with their judged label and drops ties and incomplete ones', () => {
    const pairs = ['p0', 'p1', 'p2', 'p3', 'p4', 'p5'].map((id) => pair({ id }));
    const r = constructFromJudgments(pairs, [
      j('p0', { a: 2, b: 0, tie: 0 }, 9, 1),
      j('p1', { a: 0, b: 2, tie: 0 }, 5, 5.5),
      j('p2', { a: 1, b: 1, tie: 0 }, 6, 6),
      j('p3', { a: 1, b: 0, tie: 0 }, 7, NaN, false),
      j('p4', { a: 2, b: 0, tie: 0 }, 7, 4),
    ]);
    expect(r.output.pairs.map((p) => [p.item.id, p.label, p.strength])).toEqual([['p0', 'a', 8], ['p1', 'b', 0.5], ['p4', 'a', 3]]);
    expect(r.counts).toMatchObject({ in: 6, out: 3, 'dropped.tie': 1, 'dropped.incomplete': 2, 'dropped.weak': 0 });
    expect(r.output.strengthBins.reduce((s, b) => s + b.pairs, 0)).toBe(3);
    expect(r.output.strengthBins[0]!.from).toBe(0.5);
    expect(r.output.strengthBins[3]!.to).toBe(8);
  });

  it('drops pairs below a minimum strength when asked', () => {
    const r = constructFromJudgments([pair({ id: 'a' }), pair({ id: 'b' })], [j('a', { a: 2, b: 0, tie: 0 }, 9, 1), j('b', { a: 2, b: 0, tie: 0 }, 5, 4.5)], { minStrength: 1 });
    expect(r.output.pairs.map((p) => p.item.id)).toEqual(['a']);
    expect(r.counts['dropped.weak']).toBe(1);
  });

  it('one order takes the judge at its word; both orders remove what position bias decided', async () => {
    const n = 400;
    const pairs = Array.from({ length: n }, (_, i) => pair({ id: `p${i}`, a: `a${i}`, b: `b${i}`, truth: i % 2 ? 'a' : 'b' }, i));
    const better = new Map(pairs.map((p) => [p.item.id, p.truth === 'a' ? p.item.a : p.item.b]));
    const cfg = { accuracy: 1, positionBias: 0.3, seed: 4 };
    const one = await constructWithJudge(new TruthLabeler(better, cfg), pairs, 'one');
    const both = await constructWithJudge(new TruthLabeler(better, cfg), pairs, 'both');
    const acc = (ps: typeof one.output.pairs) => ps.filter((p) => p.label === p.truth).length / ps.length;
    expect(one.counts.out).toBe(n);
    expect(acc(one.output.pairs)).toBeLessThan(0.9);
    // With a perfect judge, a both-orders label is wrong only if position bias won both calls, which cannot agree.
    expect(acc(both.output.pairs)).toBe(1);
    expect(both.counts['dropped.tie']).toBeGreaterThan(0.3 * n);
    expect(both.counts.calls).toBe(2 * n);
  });
});
