/**
 * Scoring labeled pairs with a loaded version and reporting per-slice
 * accuracy against the truth.
 */
import type { ModelRuntime } from '../../src/model/runtime.js';
import { featurizePairs, type PairFeatures } from '../data/featurize.js';
import type { LabeledPair } from '../data/labeled-pair.js';
import type { ScoredPair } from './metrics.js';

export interface PairRewards {
  chosen: Float32Array;
  rejected: Float32Array;
  /** Ensemble spread of each side. */
  chosenSpread: Float32Array;
  rejectedSpread: Float32Array;
}

/** Both sides of every pair through a head: a loaded version's, or a just-fitted head's session. */
export async function rewardsFromFeatures(rt: Pick<ModelRuntime, 'head'>, f: PairFeatures): Promise<PairRewards> {
  const both = new Float32Array(2 * f.n * f.d);
  both.set(f.chosen, 0);
  both.set(f.rejected, f.n * f.d);
  const out = await rt.head(both, 2 * f.n);
  return {
    chosen: out.rewards.slice(0, f.n),
    rejected: out.rewards.slice(f.n),
    chosenSpread: out.spread.slice(0, f.n),
    rejectedSpread: out.spread.slice(f.n),
  };
}

export async function scorePairs(rt: ModelRuntime, pairs: LabeledPair[]): Promise<PairRewards> {
  return rewardsFromFeatures(rt, await featurizePairs(rt, pairs));
}

/** Pairs without a known truth are taken at their label. */
export function toScored(pairs: LabeledPair[], r: PairRewards): ScoredPair[] {
  return pairs.map((p, i) => {
    const c = r.chosen[i]!;
    const x = r.rejected[i]!;
    return p.truth === 'rejected' ? { slice: p.slice, better: x, worse: c } : { slice: p.slice, better: c, worse: x };
  });
}
