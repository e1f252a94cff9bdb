/**
 * The ablation rows for one seed: each row adds one step of the method to
 * the row before it and fits a head on the result; every head is scored on
 * the same evaluation split.
 */
import type { HeadWeights } from '../../src/model/onnx/heads.js';
import type { FitOptions } from '../../trainer/fit/bradley-terry.js';
import type { PairLabeler } from '../../trainer/judges/types.js';
import { balancePosition, balanceStyle, styleCorrelation } from '../../trainer/dt2it/balance.js';
import { constructWithJudge } from '../../trainer/dt2it/construct.js';
import { curateRound, type CurateRoundResult } from '../../trainer/dt2it/curate-round.js';
import { evaluateRoundPairs } from '../../trainer/dt2it/evaluate.js';
import { fitRound } from '../../trainer/dt2it/fit.js';
import { labelAccuracy, type RoundPair } from '../../trainer/dt2it/round-pair.js';
import type { SeedData } from './data.js';

export const SLICES = ['overall', 'grounded', 'style-adversarial', 't2i', 'description'] as const;

/** Which models score the pairs in curation step 1. */
export type ScorerChoice = 'judge+previous' | 'previous' | 'start';

export interface Row {
  name: string;
  accuracy: Record<string, number>;
  trainPairs: number;
  /** Share of training labels that are the truth (weighted by nothing). */
  labelAccuracy: number;
  /** Weighted correlation of "longer" and "marked up" with "chosen" in the training set. */
  style: { length: number; markup: number };
  funnel?: CurateRoundResult['funnel'];
  judgeCalls?: number;
}

export interface SeedResult {
  rows: Row[];
  /** Curation rounds 1..3 with other step-1 scoring models. */
  scorerAblation: Record<string, Row[]>;
  judgeCalls: number;
  /** The training set of the last curation round (step-1 scorers 'judge+previous'): what a 'full' round fine-tunes on. */
  curated: RoundPair[];
}

/** A row: per-slice accuracy of `w` on the evaluation pairs, with what it was trained on. */
export function row(name: string, w: HeadWeights, train: readonly RoundPair[], evalPairs: readonly RoundPair[], extra: Partial<Row> = {}): Row {
  const r = evaluateRoundPairs(w, evalPairs);
  const accuracy: Record<string, number> = {};
  for (const s of SLICES) accuracy[s] = r.slices.find((x) => x.slice === s)?.accuracy ?? NaN;
  const sc = styleCorrelation(train);
  return { name, accuracy, trainPairs: train.length, labelAccuracy: labelAccuracy(train), style: { length: sc.length, markup: sc.markup }, ...extra };
}

export interface RunOptions {
  seed: number;
  rounds: number;
  fit: Partial<FitOptions>;
  scorerAblation: boolean;
  /** Curation sends step 1's flips to the judges (curateRound's confirmFlips); default false, the paper's method. */
  confirmFlips?: boolean;
}

export async function runSeed(d: SeedData, evalPairs: readonly RoundPair[], labeler: PairLabeler, o: RunOptions): Promise<SeedResult> {
  const fitOpts = { fit: { ...o.fit, seed: o.seed } };
  const fit = (pairs: readonly RoundPair[]) => fitRound(pairs, fitOpts).weights;
  const rows: Row[] = [];
  const calls0 = labeler.stats().calls;

  const start = fit(d.base);
  rows.push(row('start (noisy set)', start, d.base, evalPairs));

  const one = await constructWithJudge(labeler, d.logged, 'one');
  const trainOne = [...d.base, ...one.output.pairs];
  rows.push(row('+ judge labels, one call', fit(trainOne), trainOne, evalPairs, { judgeCalls: one.counts.calls! }));

  const both = await constructWithJudge(labeler, d.logged, 'both');
  const judged = balancePosition(both.output.pairs, o.seed).output;
  const trainBoth = [...d.base, ...judged];
  rows.push(row('+ debiased construction', fit(trainBoth), trainBoth, evalPairs, { judgeCalls: both.counts.calls! }));

  const balanced = balanceStyle(trainBoth).output.pairs;
  rows.push(row('+ style/length balance', fit(balanced), balanced, evalPairs));

  const withT2I = balanceStyle([...trainBoth, ...d.t2i]).output.pairs;
  const t2iModel = fit(withT2I);
  rows.push(row('+ T2I reformulation', t2iModel, withT2I, evalPairs));

  // A model fitted on the judge-constructed pairs alone: it has not seen
  // the base set, so it does not share the base set's biases.
  const judgeModel = fit(balanceStyle(judged).output.pairs);
  const scorerSets: Record<ScorerChoice, (prev: HeadWeights) => HeadWeights[]> = {
    'judge+previous': (prev) => [judgeModel, prev],
    previous: (prev) => [prev],
    start: () => [start],
  };
  const curate = async (choice: ScorerChoice): Promise<{ rows: Row[]; pairs: RoundPair[] }> => {
    const out: Row[] = [];
    let pairs = withT2I;
    let prev = t2iModel;
    for (let r = 1; r <= o.rounds; r++) {
      const res = await curateRound(pairs, { scorers: scorerSets[choice](prev), labeler, ...fitOpts, confirmFlips: o.confirmFlips ?? false });
      pairs = res.pairs;
      prev = res.candidate.weights;
      out.push(row(`+ curation round ${r}`, prev, pairs, evalPairs, { funnel: res.funnel, judgeCalls: res.counts.rejudge.calls! }));
    }
    return { rows: out, pairs };
  };
  const main = await curate('judge+previous');
  rows.push(...main.rows);

  const truthPairs = [...d.base, ...d.logged, ...d.t2i].map((p) => ({ ...p, label: p.truth!, weight: 1 }));
  rows.push(row('oracle (true labels, same data)', fit(truthPairs), truthPairs, evalPairs));

  const scorerAblation: Record<string, Row[]> = {};
  if (o.scorerAblation) for (const c of ['previous', 'start'] as const) scorerAblation[c] = (await curate(c)).rows;
  return { rows, scorerAblation, judgeCalls: labeler.stats().calls - calls0, curated: main.pairs };
}
