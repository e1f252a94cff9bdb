/**
 * Reward heads as ONNX: features [N, D] -> rewards [N, K], one column per
 * ensemble (bootstrap) head. The trainer fits the weights in TypeScript and
 * exports them through here, so the served head is exactly what was fitted.
 */
import { GraphBuilder } from './graph.js';

/** K linear heads: rewards = x W + b, W is [D, K] row-major. */
export interface LinearHeadWeights {
  kind: 'linear';
  d: number;
  k: number;
  w: Float32Array;
  b: Float32Array;
}

/**
 * K independent one-hidden-layer MLPs: head j is relu(x W1_j + b1_j) w2_j + b2_j.
 * W1 is [D, K*H] (head j owns columns j*H..(j+1)*H), w2 is [K*H] and b2 [K].
 */
export interface MlpHeadWeights {
  kind: 'mlp';
  d: number;
  h: number;
  k: number;
  w1: Float32Array;
  b1: Float32Array;
  w2: Float32Array;
  b2: Float32Array;
}

export type HeadWeights = LinearHeadWeights | MlpHeadWeights;

function check(name: string, arr: Float32Array, n: number): void {
  if (arr.length !== n) throw new RangeError(`head ${name}: expected ${n} values, got ${arr.length}`);
}

export function buildHeadOnnx(weights: HeadWeights): Uint8Array {
  const g = new GraphBuilder(`${weights.kind}_head`);
  const x = g.input('features', 'float32', ['N', weights.d]);
  let y: string;
  if (weights.kind === 'linear') {
    const { d, k, w, b } = weights;
    check('w', w, d * k);
    check('b', b, k);
    y = g.op('Gemm', [x, g.f32(w, [d, k], 'w'), g.f32(b, [k], 'b')]);
  } else {
    const { d, h, k, w1, b1, w2, b2 } = weights;
    check('w1', w1, d * k * h);
    check('b1', b1, k * h);
    check('w2', w2, k * h);
    check('b2', b2, k);
    const hidden = g.relu(g.op('Gemm', [x, g.f32(w1, [d, k * h], 'w1'), g.f32(b1, [k * h], 'b1')]));
    // Second layer as a block-diagonal [K*H, K] matrix: head j sees only its own hidden units.
    const block = new Float32Array(k * h * k);
    for (let j = 0; j < k; j++) for (let u = 0; u < h; u++) block[(j * h + u) * k + j] = w2[j * h + u]!;
    y = g.op('Gemm', [hidden, g.f32(block, [k * h, k], 'w2'), g.f32(b2, [k], 'b2')]);
  }
  g.output(y, 'rewards', 'float32', ['N', weights.k]);
  return g.toBytes(`mrm reward head (${weights.kind}, K=${weights.k})`);
}

/** The same function in plain TypeScript, for fitting and for tests. */
export function headForward(weights: HeadWeights, x: Float32Array, n: number): Float32Array {
  const { d, k } = weights;
  const out = new Float32Array(n * k);
  for (let i = 0; i < n; i++) {
    const row = x.subarray(i * d, (i + 1) * d);
    if (weights.kind === 'linear') {
      for (let j = 0; j < k; j++) {
        let s = weights.b[j]!;
        for (let q = 0; q < d; q++) s += row[q]! * weights.w[q * k + j]!;
        out[i * k + j] = s;
      }
    } else {
      const { h, w1, b1, w2, b2 } = weights;
      for (let j = 0; j < k; j++) {
        let s = b2[j]!;
        for (let u = 0; u < h; u++) {
          const col = j * h + u;
          let a = b1[col]!;
          for (let q = 0; q < d; q++) a += row[q]! * w1[q * k * h + col]!;
          if (a > 0) s += a * w2[col]!;
        }
        out[i * k + j] = s;
      }
    }
  }
  return out;
}
