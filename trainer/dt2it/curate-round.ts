/**
 * One curation round end to end, in memory: the order a round runs the steps
 * in, for the benchmark and for callers that do not need to resume between
 * steps. A resumable round calls the same functions one by one and writes
 * each result's output and counts into its folder.
 */
import type { HeadWeights } from '../../src/model/onnx/heads.js';
import type { PairLabeler } from '../judges/types.js';
import { balanceStyle } from './balance.js';
import type { StepCounts } from './counts.js';
import { consistencyFilter, flipByScorers, mergeCurated, rejudge } from './curate.js';
import { fitRound, type RoundFit, type RoundFitOptions } from './fit.js';
import type { RoundPair } from './round-pair.js';

export interface CurateRoundOptions extends RoundFitOptions {
  scorers: readonly HeadWeights[];
  labeler: PairLabeler;
  /** Re-balance style and length on the merged set (default true). */
  balance?: boolean;
  /**
   * Send every pair step 1 flipped to the judges (step 3) instead of keeping
   * it when step 2's fit agrees (default false: the paper's method). Step 2's
   * model is fitted on the flipped labels, so it agrees with most flips
   * whether they were right or not; with scoring models weaker than the
   * labels (a learned model's features) flips of right labels then stay.
   */
  confirmFlips?: boolean;
}

export interface CurateRoundResult {
  pairs: RoundPair[];
  step1Fit: RoundFit;
  candidate: RoundFit;
  counts: { flip: StepCounts; consistency: StepCounts; rejudge: StepCounts; merge: StepCounts; balance?: StepCounts };
  /** The report's funnel. */
  funnel: { in: number; flipped: number; kept: number; rejudged: number; dropped: number; out: number };
}

export async function curateRound(pairs: readonly RoundPair[], o: CurateRoundOptions): Promise<CurateRoundResult> {
  const flip = flipByScorers(pairs, o.scorers);
  const step1Fit = fitRound(flip.output.pairs, o);
  const cons = consistencyFilter(flip.output.pairs, step1Fit.weights, o.confirmFlips ? new Set(flip.output.flipped) : undefined);
  const re = await rejudge(o.labeler, cons.output.disputed);
  const merged = mergeCurated(cons.output.kept, re.output);
  const bal = o.balance === false ? null : balanceStyle(merged.output);
  const final = bal ? bal.output.pairs : merged.output;
  const candidate = fitRound(final, o);
  return {
    pairs: final,
    step1Fit,
    candidate,
    counts: { flip: flip.counts, consistency: cons.counts, rejudge: re.counts, merge: merged.counts, ...(bal ? { balance: bal.counts } : {}) },
    funnel: {
      in: pairs.length,
      flipped: flip.counts.flipped!,
      kept: cons.counts.kept!,
      rejudged: re.counts.in,
      dropped: re.counts.in - re.counts.out + (bal ? bal.counts.in - bal.counts.out : 0),
      out: final.length,
    },
  };
}
