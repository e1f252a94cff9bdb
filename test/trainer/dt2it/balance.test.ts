import { describe, expect, it } from 'vitest';
import { balancePosition, balanceStyle, hasMarkup, lengthSign, markupSign, styleCorrelation } from '../../../trainer/dt2it/balance.js';
import { chosenText } from '../../../trainer/dt2it/round-pair.js';
import { pair } from './synthetic.js';

const LONG = 'Looking carefully at the image, there are two red circles, and I am confident.';
const SHORT = 'There are two red circles.';
const MD = '## Answer\n\n**There are two red circles.**';

describe('balancePosition', () => {
  it('puts the chosen response first in exactly half the pairs, seeded, without changing any preference', () => {
    const pairs = Array.from({ length: 11 }, (_, i) => pair({ id: `p${i}`, fa: [i], fb: [-i], a: `A${i}`, b: `B${i}`, label: 'a', truth: 'a' }, i));
    const r = balancePosition(pairs, 7);
    expect(r.output.filter((p) => p.label === 'a').length).toBe(5);
    expect(r.counts).toMatchObject({ in: 11, out: 11, swapped: 6, chosenFirst: 5 });
    r.output.forEach((p, i) => {
      expect(chosenText(p)).toBe(`A${i}`);
      expect(p.label).toBe(p.truth);
      expect(Array.from(p.label === 'a' ? p.fa : p.fb)).toEqual([i]);
    });
    expect(balancePosition(pairs, 7).output.map((p) => p.label)).toEqual(r.output.map((p) => p.label));
    expect(balancePosition(pairs, 8).output.map((p) => p.label)).not.toEqual(r.output.map((p) => p.label));
  });
});

describe('style signs', () => {
  it('reads length within a tolerance and markup', () => {
    expect(lengthSign(LONG, SHORT)).toBe(1);
    expect(lengthSign(SHORT, LONG)).toBe(-1);
    expect(lengthSign('abcdefghij', 'abcdefghi')).toBe(0);
    expect(hasMarkup(MD)).toBe(true);
    expect(hasMarkup('- item')).toBe(true);
    expect(hasMarkup(SHORT)).toBe(false);
    expect(markupSign(MD, SHORT)).toBe(1);
    expect(markupSign(SHORT, MD)).toBe(-1);
  });
});

describe('balanceStyle', () => {
  /** 30 pairs where the longer answer is chosen, 10 where the shorter is, 8 of equal length. */
  const biased = () => [
    ...Array.from({ length: 30 }, (_, i) => pair({ a: LONG, b: SHORT, label: 'a' }, i)),
    ...Array.from({ length: 10 }, (_, i) => pair({ a: LONG, b: SHORT, label: 'b' }, 30 + i)),
    ...Array.from({ length: 8 }, (_, i) => pair({ a: 'yes', b: 'no!', label: 'a' }, 40 + i)),
  ];

  it('measures the correlation of "longer" with "chosen"', () => {
    const c = styleCorrelation(biased());
    expect(c.length).toBeCloseTo(0.5, 10);
    expect(c.lengthPairs).toBe(40);
  });

  it('reweights so that "longer" no longer predicts "chosen", keeping the total weight', () => {
    const r = balanceStyle(biased());
    expect(r.output.before.length).toBeCloseTo(0.5, 10);
    expect(r.output.after.length).toBeCloseTo(0, 10);
    const w = r.output.pairs.map((p) => p.weight!);
    expect(w.slice(0, 30).every((x) => Math.abs(x - 20 / 30) < 1e-12)).toBe(true);
    expect(w.slice(30, 40).every((x) => Math.abs(x - 2) < 1e-12)).toBe(true);
    expect(w.slice(40)).toEqual(Array(8).fill(1));
    expect(w.reduce((a, b) => a + b, 0)).toBeCloseTo(48, 10);
    expect(r.counts).toMatchObject({ in: 48, out: 48, reweighted: 40, 'dropped.unmirrored': 0 });
  });

  it('balances markup and length together, and drops a cell with no mirror', () => {
    const pairs = [
      ...Array.from({ length: 6 }, (_, i) => pair({ a: MD, b: SHORT, label: 'a' }, i)),
      ...Array.from({ length: 2 }, (_, i) => pair({ a: MD, b: SHORT, label: 'b' }, 6 + i)),
      // Longer and marked up only on the rejected side of nothing: no mirror.
      pair({ a: `${LONG} ${LONG}`, b: MD, label: 'a' }, 9),
    ];
    const r = balanceStyle(pairs);
    expect(r.output.after.markup).toBeCloseTo(0, 10);
    expect(r.output.after.length).toBeCloseTo(0, 10);
    expect(r.counts['dropped.unmirrored']).toBe(1);
    expect(r.output.pairs.length).toBe(8);
  });

  it('replaces earlier weights instead of compounding them', () => {
    const once = balanceStyle(biased()).output.pairs;
    const twice = balanceStyle(once).output.pairs;
    expect(twice.map((p) => p.weight)).toEqual(once.map((p) => p.weight));
  });
});
