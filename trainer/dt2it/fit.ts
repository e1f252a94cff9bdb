/**
 * Step 5 of a round: fit a candidate head on curated round pairs. The fit is
 * trainer/fit's (Bradley-Terry, K bootstrap heads, epoch picked on a
 * validation split); this adds what a round needs on top: pair weights from
 * the style balance, the judge's preference strength as an optional margin,
 * and the calibration (reward mean and std over the training responses) the
 * bundle's manifest carries.
 */
import type { HeadWeights } from '../../src/model/onnx/heads.js';
import { DEFAULT_FIT, fitHeads, type FitOptions, type FitReport } from '../fit/bradley-terry.js';
import { toPairSet, type RoundPair } from './round-pair.js';
import { sideRewards } from './scoring.js';

export interface RoundFitOptions {
  fit?: Partial<FitOptions>;
  /**
   * Margin per unit of judge score gap. Default 0: measured on ShapesWorld
   * the margin did not change accuracy, and a strength is only defined for
   * judge-decided pairs, so base-set pairs would train without one.
   */
  marginScale?: number;
}

export interface RoundFit {
  weights: HeadWeights;
  report: FitReport;
  calibration: { mean: number; std: number; n: number };
}

export function fitRound(pairs: readonly RoundPair[], o: RoundFitOptions = {}): RoundFit {
  const set = toPairSet(pairs, { marginScale: o.marginScale ?? 0 });
  const { weights, report } = fitHeads(set, { ...DEFAULT_FIT, ...o.fit });
  return { weights, report, calibration: calibration(weights, pairs) };
}

/** Mean and std of the raw reward over both responses of `pairs`. */
export function calibration(w: HeadWeights, pairs: readonly RoundPair[]): RoundFit['calibration'] {
  const { ra, rb } = sideRewards(w, pairs);
  const all = [...ra, ...rb];
  const mean = all.reduce((a, b) => a + b, 0) / Math.max(1, all.length);
  const std = Math.sqrt(all.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, all.length));
  return { mean, std: std > 1e-6 ? std : 1, n: all.length };
}
