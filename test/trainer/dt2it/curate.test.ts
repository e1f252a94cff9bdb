import { describe, expect, it } from 'vitest';
import { applyRejudgments, consistencyFilter, flipByScorers, mergeCurated, rejudge } from '../../../trainer/dt2it/curate.js';
import { curateRound } from '../../../trainer/dt2it/curate-round.js';
import { labelAccuracy, type RoundPair } from '../../../trainer/dt2it/round-pair.js';
import type { PairJudgment } from '../../../trainer/judges/types.js';
import { Rng } from '../../../trainer/shapes/rng.js';
import { linearHead, pair, withMargin } from './synthetic.js';
import { TruthLabeler } from './truth-labeler.js';

describe('curation step 1: flipByScorers', () => {
  it('flips exactly the most negative half of the negative pairs', () => {
    // Margins under the label: +1, -5, -1, -4, +2, -2, -3 -> negatives -5 -4 -3 -2 -1; flip floor(5/2) = 2: -5 and -4.
    const margins = [1, -5, -1, -4, 2, -2, -3];
    const pairs = margins.map((m, i) => withMargin(m, 'a', i));
    const r = flipByScorers(pairs, [linearHead([1])]);
    expect(r.output.flipped.sort()).toEqual(['p1', 'p3']);
    expect(r.output.pairs.map((p) => p.label)).toEqual(['a', 'b', 'a', 'b', 'a', 'a', 'a']);
    expect(r.counts).toMatchObject({ in: 7, out: 7, negative: 5, flipped: 2 });
  });

  it('reads the margin under the current label (a pair labeled b has margin r(b) - r(a))', () => {
    const pairs = [withMargin(3, 'b', 0), withMargin(1, 'b', 1), withMargin(-2, 'b', 2)];
    // Under label b the margins are -3, -1, +2: flip one, the -3.
    expect(flipByScorers(pairs, [linearHead([1])]).output.flipped).toEqual(['p0']);
  });

  it('averages scoring models after putting them on one scale', () => {
    // Model 1 says p0 is much worse than p1; model 2 (ten times the scale) the reverse, mildly.
    const pairs = [pair({ fa: [-4, 0.5], fb: [0, 0], label: 'a' }, 0), pair({ fa: [-1, -0.5], fb: [0, 0], label: 'a' }, 1), pair({ fa: [1, 0], fb: [0, 0], label: 'a' }, 2), pair({ fa: [-3, -1], fb: [0, 0], label: 'a' }, 3)];
    const r = flipByScorers(pairs, [linearHead([1, 0]), linearHead([0, 10])]);
    // Per model rms: m1 = sqrt((16+1+1+9)/4) = 2.598, m2 = sqrt((25+25+0+100)/4) = 6.124.
    const s = (a: number, b: number) => (a / 2.598 + b / 6.124) / 2;
    expect([...r.output.strength].map((v) => v.toFixed(3))).toEqual([s(-4, 5), s(-1, -5), s(1, 0), s(-3, -10)].map((v) => v.toFixed(3)));
    expect(r.output.flipped).toEqual(['p3']);
  });

  it('refuses to run without a scoring model', () => {
    expect(() => flipByScorers([withMargin(1, 'a', 0)], [])).toThrow(/at least one scoring model/);
  });
});

describe('curation step 2: consistencyFilter', () => {
  it('keeps the pairs the model orders like their label; ties are disputed', () => {
    const pairs = [withMargin(2, 'a', 0), withMargin(2, 'b', 1), withMargin(0, 'a', 2), withMargin(-1, 'b', 3)];
    const r = consistencyFilter(pairs, linearHead([1]));
    expect(r.output.kept.map((p) => p.item.id)).toEqual(['p0', 'p3']);
    expect(r.output.disputed.map((p) => p.item.id)).toEqual(['p1', 'p2']);
    expect(r.counts).toMatchObject({ in: 4, kept: 2, disputed: 2 });
  });

  it('sends the pairs it is told to confirm to the judges even when the model agrees', () => {
    const pairs = [withMargin(2, 'a', 0), withMargin(2, 'b', 1), withMargin(3, 'a', 2), withMargin(-1, 'b', 3)];
    const r = consistencyFilter(pairs, linearHead([1]), new Set(['p2', 'p1']));
    expect(r.output.kept.map((p) => p.item.id)).toEqual(['p0', 'p3']);
    expect(r.output.disputed.map((p) => p.item.id)).toEqual(['p1', 'p2']);
    // p2 is agreed with but goes to the judges; p1 was disputed anyway.
    expect(r.counts).toMatchObject({ in: 4, kept: 2, disputed: 2, flipsToJudge: 1 });
  });
});

describe('curation step 3: re-judging', () => {
  const judgment = (id: string, votes: PairJudgment['votes'], scoreA: number, scoreB: number, complete = true): PairJudgment => ({ id, votes, scoreA, scoreB, complete, calls: 2, cached: 0 });

  it('keeps decisive complete votes with the judges label, drops ties and incomplete ones', () => {
    const pairs = ['p0', 'p1', 'p2', 'p3', 'p4'].map((id) => pair({ id, label: 'a' }));
    const r = applyRejudgments(pairs, [
      judgment('p0', { a: 2, b: 0, tie: 0 }, 8, 4),
      judgment('p1', { a: 0, b: 2, tie: 0 }, 3, 9),
      judgment('p2', { a: 1, b: 1, tie: 0 }, 6, 6),
      judgment('p3', { a: 1, b: 0, tie: 0 }, 8, NaN, false),
      // p4: the judges never answered.
    ]);
    expect(r.output.map((p) => [p.item.id, p.label, p.strength])).toEqual([['p0', 'a', 4], ['p1', 'b', 6]]);
    expect(r.counts).toMatchObject({ in: 5, out: 2, relabeled: 1, 'dropped.tie': 1, 'dropped.incomplete': 2 });
  });

  it('asks the judges for both orders, and only about the disputed pairs', async () => {
    const pairs = [pair({ id: 'x', a: 'right', b: 'wrong', label: 'b' }), pair({ id: 'y', a: 'wrong', b: 'right', label: 'b' })];
    const labeler = new TruthLabeler(new Map([['x', 'right'], ['y', 'right']]), { accuracy: 1 });
    const r = await rejudge(labeler, pairs);
    expect(labeler.requested).toEqual([{ id: 'x', orders: 'both' }, { id: 'y', orders: 'both' }]);
    expect(r.output.map((p) => p.label)).toEqual(['a', 'b']);
    expect(r.counts.calls).toBe(4);
  });

  it('merge is kept then re-judged', () => {
    const m = mergeCurated([pair({ id: 'k' })], [pair({ id: 'r' })]);
    expect(m.output.map((p) => p.item.id)).toEqual(['k', 'r']);
    expect(m.counts).toMatchObject({ in: 2, out: 2, kept: 1, rejudged: 1 });
  });
});

describe('curateRound', () => {
  /** Feature 0 decides the truth; feature 1 is a bias the noisy labels follow. */
  function noisySet(n: number, seed: number): { pairs: RoundPair[]; better: Map<string, string> } {
    const rng = Rng.fromSeed(seed);
    const better = new Map<string, string>();
    const pairs = Array.from({ length: n }, (_, i) => {
      const fa = [rng.float(-1, 1), rng.float(-1, 1), rng.float(-1, 1)];
      const fb = [rng.float(-1, 1), rng.float(-1, 1), rng.float(-1, 1)];
      const truth = fa[0]! > fb[0]! ? 'a' : 'b';
      const biased = fa[1]! > fb[1]! ? 'a' : 'b';
      const label = rng.bernoulli(0.3) ? biased : truth;
      const p = pair({ id: `s${i}`, fa, fb, a: `a${i}`, b: `b${i}`, label, truth }, i);
      better.set(p.item.id, truth === 'a' ? p.item.a : p.item.b);
      return p;
    });
    return { pairs, better };
  }

  it('raises label accuracy when scored by a model that does not share the bias', async () => {
    const { pairs, better } = noisySet(600, 3);
    const before = labelAccuracy(pairs);
    const labeler = new TruthLabeler(better, { accuracy: 0.9, seed: 2 });
    const r = await curateRound(pairs, { scorers: [linearHead([1, 0, 0])], labeler, balance: false, fit: { k: 2, epochs: 15 } });
    expect(before).toBeLessThan(0.9);
    expect(labelAccuracy(r.pairs)).toBeGreaterThan(0.95);
    expect(r.funnel.in).toBe(600);
    expect(r.funnel.kept + r.funnel.rejudged).toBe(600);
    expect(r.funnel.out).toBe(r.funnel.kept + r.funnel.rejudged - r.funnel.dropped);
    expect(labeler.requested.length).toBe(r.funnel.rejudged);
  });

  it('confirmFlips: a scorer weaker than the labels flips, the judges decide every flip', async () => {
    // Labels 85% right; the only scorer reads the bias feature, which agrees with the truth about half the time.
    const rng = Rng.fromSeed(5);
    const better = new Map<string, string>();
    const pairs = Array.from({ length: 600 }, (_, i) => {
      const fa = [rng.float(-1, 1), rng.float(-1, 1)];
      const fb = [rng.float(-1, 1), rng.float(-1, 1)];
      const truth = fa[0]! > fb[0]! ? 'a' : 'b';
      const label = rng.bernoulli(0.15) ? (truth === 'a' ? 'b' : 'a') : truth;
      const p = pair({ id: `w${i}`, fa, fb, a: `a${i}`, b: `b${i}`, label, truth }, i);
      better.set(p.item.id, truth === 'a' ? p.item.a : p.item.b);
      return p;
    });
    const before = labelAccuracy(pairs);
    const run = async (confirmFlips: boolean) => {
      const labeler = new TruthLabeler(better, { accuracy: 0.95, seed: 4 });
      const r = await curateRound(pairs, { scorers: [linearHead([0, 1])], labeler, balance: false, fit: { k: 2, epochs: 15 }, confirmFlips });
      return { r, asked: new Set(labeler.requested.map((q) => q.id)) };
    };
    const paper = await run(false);
    const confirmed = await run(true);
    expect(confirmed.r.funnel.flipped).toBeGreaterThan(50);
    // Every flip went to the judges; the paper's method kept the flips its refit agreed with.
    expect(confirmed.r.counts.flip.flipped).toBe(paper.r.counts.flip.flipped);
    const flippedIds = flipByScorers(pairs, [linearHead([0, 1])]).output.flipped;
    expect(flippedIds.every((id) => confirmed.asked.has(id))).toBe(true);
    expect(flippedIds.some((id) => !paper.asked.has(id))).toBe(true);
    expect(labelAccuracy(paper.r.pairs)).toBeLessThan(before);
    expect(labelAccuracy(confirmed.r.pairs)).toBeGreaterThan(labelAccuracy(paper.r.pairs));
    expect(labelAccuracy(confirmed.r.pairs)).toBeGreaterThanOrEqual(before);
  });
});
