/**
 * Balance of the training set, so that neither where the chosen response
 * sits nor how it is written predicts that it is chosen.
 *
 * Position: exactly half the pairs (seeded choice) carry the chosen response
 * as a, the rest as b. A head scores each response on its own, so this
 * matters for exported data sets and for readers of two-image prompts, not
 * for the fit; it is the paper's construction rule and costs nothing.
 *
 * Style and length: each pair falls in a cell (is the chosen response longer,
 * shorter or as long; does it carry markdown when the other does not, the
 * reverse, or neither). A cell and its mirror (chosen and rejected
 * exchanged) are given equal total weight, their mean, so the weighted share
 * of "chosen is the longer" and "chosen is the marked-up one" is exactly one
 * half and the total weight is unchanged. Reweighting rather than dropping
 * keeps every pair's content; a cell whose mirror is empty cannot be
 * balanced and is dropped (counted). Incoming weights are replaced, not
 * multiplied: the balance is recomputed from scratch after curation changes
 * labels.
 */
import { Rng } from '../shapes/rng.js';
import type { StepResult } from './counts.js';
import { chosenText, labelOf, rejectedText, swapSides, type RoundPair } from './round-pair.js';

/** Relative length difference below which two responses count as equally long. */
export const LENGTH_TOLERANCE = 0.1;

const MARKUP = /(^|\n)\s*(#{1,6}\s|[-*]\s|>\s)|\*\*|__/;

export function hasMarkup(text: string): boolean {
  return MARKUP.test(text);
}

/** +1 chosen longer, -1 chosen shorter, 0 within LENGTH_TOLERANCE. */
export function lengthSign(chosen: string, rejected: string): -1 | 0 | 1 {
  const lc = chosen.length;
  const lr = rejected.length;
  if (Math.abs(lc - lr) <= LENGTH_TOLERANCE * Math.max(lc, lr, 1)) return 0;
  return lc > lr ? 1 : -1;
}

/** +1 only the chosen response has markup, -1 only the rejected one, 0 otherwise. */
export function markupSign(chosen: string, rejected: string): -1 | 0 | 1 {
  const c = hasMarkup(chosen);
  const r = hasMarkup(rejected);
  return c === r ? 0 : c ? 1 : -1;
}

/**
 * Correlation between "the response is chosen" and "it is the longer / the
 * marked-up one", weighted, over pairs where the two differ. Read each pair
 * in a random order: x = first is longer (+-1), y = first is chosen (+-1);
 * both have mean 0 and variance 1, and E[xy] = 2 P(chosen is longer) - 1.
 * 0 = balanced, +1 = the longer one always wins.
 */
export function styleCorrelation(pairs: readonly RoundPair[]): { length: number; markup: number; lengthPairs: number; markupPairs: number } {
  let lw = 0, ls = 0, mw = 0, ms = 0, ln = 0, mn = 0;
  for (const p of pairs) {
    const w = p.weight ?? 1;
    const c = chosenText(p);
    const r = rejectedText(p);
    const l = lengthSign(c, r);
    const m = markupSign(c, r);
    if (l !== 0 && w > 0) { lw += w; ls += w * l; ln++; }
    if (m !== 0 && w > 0) { mw += w; ms += w * m; mn++; }
  }
  return { length: lw > 0 ? ls / lw : 0, markup: mw > 0 ? ms / mw : 0, lengthPairs: ln, markupPairs: mn };
}

export interface StyleBalanceOutput {
  pairs: RoundPair[];
  before: ReturnType<typeof styleCorrelation>;
  after: ReturnType<typeof styleCorrelation>;
  /** Largest weight given to a pair (how much a minority cell was scaled up). */
  maxWeight: number;
}

export function balanceStyle(pairs: readonly RoundPair[]): StepResult<StyleBalanceOutput> {
  const cellOf = (p: RoundPair) => {
    const c = chosenText(p);
    const r = rejectedText(p);
    return [lengthSign(c, r), markupSign(c, r)] as const;
  };
  const key = (l: number, m: number) => `${l},${m}`;
  const total = new Map<string, number>();
  const cells = pairs.map(cellOf);
  pairs.forEach((_, i) => {
    const k = key(...cells[i]!);
    total.set(k, (total.get(k) ?? 0) + 1);
  });
  const out: RoundPair[] = [];
  let dropped = 0;
  let reweighted = 0;
  let maxWeight = 0;
  pairs.forEach((p, i) => {
    const [l, m] = cells[i]!;
    let w = 1;
    if (l !== 0 || m !== 0) {
      const mine = total.get(key(l, m))!;
      const mirror = total.get(key(-l, -m)) ?? 0;
      if (mirror === 0) { dropped++; return; }
      w = (mine + mirror) / 2 / mine;
      if (w !== 1) reweighted++;
    }
    maxWeight = Math.max(maxWeight, w);
    out.push({ ...p, weight: w });
  });
  return {
    output: { pairs: out, before: styleCorrelation(pairs), after: styleCorrelation(out), maxWeight },
    counts: { in: pairs.length, out: out.length, reweighted, 'dropped.unmirrored': dropped },
  };
}

/** Exactly half the pairs (rounded down, seeded) with the chosen response as a. */
export function balancePosition(pairs: readonly RoundPair[], seed: number): StepResult<RoundPair[]> {
  const rng = Rng.fromSeed(seed).child('position');
  const order = rng.shuffle(pairs.map((_, i) => i));
  const chosenFirst = new Set(order.slice(0, Math.floor(pairs.length / 2)));
  let swapped = 0;
  const out = pairs.map((p, i) => {
    const wantA = chosenFirst.has(i);
    if ((labelOf(p) === 'a') === wantA) return p;
    swapped++;
    return swapSides(p);
  });
  return { output: out, counts: { in: pairs.length, out: out.length, swapped, chosenFirst: chosenFirst.size } };
}
