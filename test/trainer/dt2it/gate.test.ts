import { describe, expect, it } from 'vitest';
import { gate, gatePairs, JUDGED_SLICE, shadowCompare } from '../../../trainer/dt2it/gate.js';
import { linearHead, pair } from './synthetic.js';

/**
 * Feature 0 is right on slice 'g', feature 1 on slice 's': the head
 * [1, 0] knows only g, [1, 1] both (it sums the two features; each pair has
 * the difference in only one of them).
 */
function gateSet() {
  const g = Array.from({ length: 20 }, (_, i) => pair({ id: `g${i}`, fa: [1, 0], fb: [0, 0], truth: 'a', slice: 'g' }, i));
  const s = Array.from({ length: 10 }, (_, i) => pair({ id: `s${i}`, fa: [0, 0], fb: [0, 1], truth: 'b', slice: 's' }, i));
  return [...g, ...s];
}
const knowsG = linearHead([1, 0]);
const knowsBoth = linearHead([1, 1]);
const knowsS = linearHead([0, 1]);

describe('gate', () => {
  it('accepts a candidate that beats the active version by the margin without regressing', () => {
    const d = gate(knowsG, knowsBoth, gateSet(), { margin: 0.1, tolerance: 0, guardedSlices: ['g', 's'] });
    expect(d.accept).toBe(true);
    expect(d.reasons).toEqual([]);
    expect(d.checks[0]).toMatchObject({ kind: 'overall-margin', pairs: 30, passed: true });
    // Active: g right, s tied (0.5 each) -> (20 + 5) / 30; candidate all right.
    expect(d.checks[0]!.active).toBeCloseTo(25 / 30, 10);
    expect(d.checks[0]!.candidate).toBe(1);
  });

  it('rejects a candidate short of the margin, saying so', () => {
    const d = gate(knowsG, knowsBoth, gateSet(), { margin: 0.2, tolerance: 0, guardedSlices: [] });
    expect(d.accept).toBe(false);
    expect(d.reasons).toEqual(['overall: candidate 100.0% vs active 83.3%, needs +20.0%']);
  });

  it('rejects a candidate that regresses on a guarded slice even when it wins overall', () => {
    // Candidate knows s only: overall (10 + 10) / 30 vs the active version's 25 / 30 fails too; use a set heavy in s.
    const set = [...gateSet().filter((p) => p.slice === 's'), ...gateSet().filter((p) => p.slice === 'g').slice(0, 4)];
    const d = gate(knowsG, knowsS, set, { margin: 0, tolerance: 0.05, guardedSlices: ['g', 's'] });
    expect(d.checks.map((c) => [c.slice, c.passed])).toEqual([['overall', true], ['g', false], ['s', true]]);
    expect(d.accept).toBe(false);
    expect(d.reasons).toEqual(['g: candidate 50.0% vs active 100.0%, may lose at most 5.0%']);
    expect(d.checks[1]).toMatchObject({ kind: 'slice-regression', pairs: 4, delta: -0.5, required: -0.05 });
  });

  it('fails a guarded slice the gate set does not cover', () => {
    const d = gate(knowsG, knowsBoth, gateSet(), { margin: 0, tolerance: 0, guardedSlices: ['t2i'] });
    expect(d.accept).toBe(false);
    expect(d.reasons).toEqual(['t2i: no gate pairs in this guarded slice']);
  });

  it('scores held-out judged pairs against their judged label, as their own slice', () => {
    const judged = [pair({ id: 'j0', fa: [0, 1], fb: [0, 0], label: 'a' }), pair({ id: 'j1', fa: [0, 0], fb: [0, 1], label: 'b' })];
    const set = gatePairs(gateSet(), judged);
    expect(set.slice(-2).map((p) => [p.slice, p.truth])).toEqual([[JUDGED_SLICE, 'a'], [JUDGED_SLICE, 'b']]);
    const d = gate(knowsG, knowsBoth, set, { margin: 0, tolerance: 0, guardedSlices: [JUDGED_SLICE] });
    expect(d.checks[1]).toMatchObject({ slice: JUDGED_SLICE, pairs: 2, active: 0.5, candidate: 1, passed: true });
    expect(() => gatePairs([pair({ id: 'u' })], [])).toThrow(/u has no trusted label/);
  });
});

describe('shadowCompare', () => {
  it('measures ordering agreement and calibrated reward drift', () => {
    const traffic = [pair({ fa: [1, 0], fb: [0, 0] }, 0), pair({ fa: [0, 0], fb: [0, 2] }, 1), pair({ fa: [2, 1], fb: [0, 0] }, 2), pair({ fa: [0, 3], fb: [1, 0] }, 3)];
    const cal = { mean: 0, std: 1 };
    const r = shadowCompare({ weights: knowsG, calibration: cal }, { weights: knowsS, calibration: cal }, traffic);
    // Orders a-b: knowsG 1, 0, 2, -1 ; knowsS 0, -2, 1, 3 -> signs agree on pair 2 only.
    expect(r.agreement).toBe(0.25);
    // Per response candidate - active: (0-1)+(0-0) + (0-0)+(2-0) + (1-2)+(0-0) + (3-0)+(0-1) = 2 over 8; absolute 1+2+1+4 = 8.
    expect(r.drift.mean).toBeCloseTo(2 / 8, 10);
    expect(r.drift.meanAbs).toBeCloseTo(1, 10);
    const shifted = shadowCompare({ weights: knowsG, calibration: cal }, { weights: linearHead([1, 0], 5), calibration: { mean: 5, std: 1 } }, traffic);
    expect(shifted).toMatchObject({ pairs: 4, agreement: 1, drift: { mean: 0, meanAbs: 0 } });
  });
});
