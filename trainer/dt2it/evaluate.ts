/** Per-slice accuracy (against the truth, not the label) of heads on round pairs that carry their truth. */
import type { HeadWeights } from '../../src/model/onnx/heads.js';
import { evaluatePairs, type EvalReport } from '../eval/metrics.js';
import type { RoundPair } from './round-pair.js';
import { sideRewards } from './scoring.js';

export function evaluateRoundPairs(w: HeadWeights, pairs: readonly RoundPair[]): EvalReport {
  const known = pairs.filter((p) => p.truth);
  const { ra, rb } = sideRewards(w, known);
  return evaluatePairs(known.map((p, i) => (p.truth === 'a'
    ? { slice: p.slice, better: ra[i]!, worse: rb[i]! }
    : { slice: p.slice, better: rb[i]!, worse: ra[i]! })));
}
