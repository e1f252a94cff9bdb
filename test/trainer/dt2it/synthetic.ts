/** Small round pairs with chosen features and texts, for the step tests. */
import type { LinearHeadWeights } from '../../../src/model/onnx/heads.js';
import type { RoundPair, Side } from '../../../trainer/dt2it/round-pair.js';

export interface PairSpec {
  id?: string;
  fa?: number[];
  fb?: number[];
  a?: string;
  b?: string;
  label?: Side;
  truth?: Side;
  slice?: string;
  origin?: RoundPair['origin'];
}

export function pair(s: PairSpec, i = 0): RoundPair {
  return {
    item: { id: s.id ?? `p${i}`, images: [], prompt: 'q', a: s.a ?? `answer a${i}`, b: s.b ?? `answer b${i}` },
    origin: s.origin ?? 'base',
    ...(s.slice ? { slice: s.slice } : {}),
    fa: Float32Array.from(s.fa ?? [0]),
    fb: Float32Array.from(s.fb ?? [0]),
    ...(s.label ? { label: s.label } : {}),
    ...(s.truth ? { truth: s.truth } : {}),
  };
}

/** One linear head whose reward is sum_i w[i] x[i]. */
export function linearHead(w: number[], bias = 0): LinearHeadWeights {
  return { kind: 'linear', d: w.length, k: 1, w: Float32Array.from(w), b: Float32Array.from([bias]) };
}

/** Pair with margin r(a) - r(b) = m under linearHead([1]). */
export function withMargin(m: number, label: Side, i: number): RoundPair {
  return pair({ fa: [m], fb: [0], label }, i);
}
