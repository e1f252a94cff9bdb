/** The two claims about the learned model on the noisy set, as arithmetic over evaluated rows, and the printed table. */
import { SLICES } from '../bench-dt2it/rows.js';

export interface BenchRow {
  name: string;
  /** 'head': a head on the program model's frozen stages; 'learned': a whole PyTorch-trained bundle. */
  side: 'head' | 'learned';
  accuracy: Record<string, number>;
  trainPairs: number;
  /** Share of training labels that are the truth. */
  labelAccuracy: number;
}

/** The rows the claims compare, by role; each is one seed's row or a mean over seeds. */
export interface Roles {
  headNoisy: BenchRow;
  headOracle: BenchRow;
  learnedNoisy: BenchRow;
  learnedOracle: BenchRow;
  learnedRound: BenchRow;
}

/** What the noise costs a model: oracle minus noisy, in accuracy (0.1 = 10 points). */
export function noiseCost(noisy: number, oracle: number): number {
  return oracle - noisy;
}

/**
 * (round - noisy) / (oracle - noisy): 1 = the round reached the oracle, 0 =
 * no gain, above 1 = past it. NaN when there is no gap (the oracle is not
 * above the noisy model), since a share of nothing says nothing.
 */
export function gapClosed(noisy: number, oracle: number, round: number): number {
  const gap = oracle - noisy;
  return gap > 0 ? (round - noisy) / gap : NaN;
}

export interface Check {
  name: string;
  passed: boolean;
  detail: string;
}

const pts = (x: number) => `${(100 * x).toFixed(1)} points`;

/** The target for the share of the learned gap a full round closes. */
export const GAP_TARGET = 0.8;

export function checkClaims(r: Roles, slice = 'overall'): Check[] {
  const learnedCost = noiseCost(r.learnedNoisy.accuracy[slice]!, r.learnedOracle.accuracy[slice]!);
  const headCost = noiseCost(r.headNoisy.accuracy[slice]!, r.headOracle.accuracy[slice]!);
  const closed = gapClosed(r.learnedNoisy.accuracy[slice]!, r.learnedOracle.accuracy[slice]!, r.learnedRound.accuracy[slice]!);
  return [
    {
      name: `the noise costs the learned model more than the head-only model (${slice})`,
      passed: learnedCost > headCost,
      detail: `learned ${pts(learnedCost)}, head-only ${pts(headCost)} (oracle minus noisy, same pairs)`,
    },
    {
      name: `a full DT2IT round closes >= ${100 * GAP_TARGET}% of the learned model's gap (${slice})`,
      passed: closed >= GAP_TARGET,
      detail: Number.isNaN(closed)
        ? `no gap: the oracle-trained learned model is not above the noisy one (${pts(learnedCost)})`
        : `${(100 * closed).toFixed(0)}% of a ${pts(learnedCost)} gap`,
    },
  ];
}

export function formatRows(rows: readonly BenchRow[]): string {
  const lines = [`${'row'.padEnd(46)}${SLICES.map((s) => s.padStart(19)).join('')}${'pairs'.padStart(7)}${'labels ok'.padStart(10)}`];
  for (const r of rows) {
    const acc = SLICES.map((s) => (Number.isNaN(r.accuracy[s]!) ? '-' : `${(100 * r.accuracy[s]!).toFixed(1)}%`).padStart(19)).join('');
    lines.push(`${r.name.padEnd(46)}${acc}${String(r.trainPairs).padStart(7)}${(100 * r.labelAccuracy).toFixed(1).padStart(10)}`);
  }
  return lines.join('\n');
}

/** Per slice, the share of the learned gap the round closed (NaN where there is none). */
export function gapBySlice(r: Roles): Record<string, number> {
  return Object.fromEntries(SLICES.map((s) => [s, gapClosed(r.learnedNoisy.accuracy[s]!, r.learnedOracle.accuracy[s]!, r.learnedRound.accuracy[s]!)]));
}

/** The mean row of one name over seeds (the same rows in the same order each seed). */
export function meanRows(perSeed: readonly BenchRow[][]): BenchRow[] {
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return perSeed[0]!.map((r, i) => {
    const all = perSeed.map((rows) => rows[i]!);
    return {
      ...r,
      accuracy: Object.fromEntries(SLICES.map((s) => [s, mean(all.map((x) => x.accuracy[s]!))])),
      trainPairs: Math.round(mean(all.map((x) => x.trainPairs))),
      labelAccuracy: mean(all.map((x) => x.labelAccuracy)),
    };
  });
}
