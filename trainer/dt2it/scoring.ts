/**
 * Rewards of round pairs under a set of heads, straight from the features the
 * pairs carry (no ONNX session: the head is a small matrix product, and the
 * steps score tens of thousands of pairs several times per round).
 */
import { headForward, type HeadWeights } from '../../src/model/onnx/heads.js';
import { labelOf, sideRows, type RoundPair } from './round-pair.js';

/** Mean-over-heads reward of each side. */
export function sideRewards(w: HeadWeights, pairs: readonly RoundPair[]): { ra: Float64Array; rb: Float64Array } {
  const { x, n } = sideRows(pairs);
  const ra = new Float64Array(n);
  const rb = new Float64Array(n);
  if (n === 0) return { ra, rb };
  const out = headForward(w, x, 2 * n);
  for (let i = 0; i < 2 * n; i++) {
    let s = 0;
    for (let j = 0; j < w.k; j++) s += out[i * w.k + j]!;
    if (i < n) ra[i] = s / w.k;
    else rb[i - n] = s / w.k;
  }
  return { ra, rb };
}

/** r(chosen) - r(rejected) under the pair's current label. */
export function labelMargins(w: HeadWeights, pairs: readonly RoundPair[]): Float64Array {
  const { ra, rb } = sideRewards(w, pairs);
  return Float64Array.from(pairs, (p, i) => (labelOf(p) === 'a' ? ra[i]! - rb[i]! : rb[i]! - ra[i]!));
}
