import { describe, expect, it } from 'vitest';
import { buildHeadOnnx, headForward, type HeadWeights } from '../../../src/model/onnx/heads.js';
import { parseHeadOnnx } from '../../../trainer/dt2it/head-weights.js';
import { Rng } from '../../../trainer/shapes/rng.js';

const rand = (rng: Rng, n: number) => Float32Array.from({ length: n }, () => rng.float(-1, 1));

describe('parseHeadOnnx', () => {
  it('reads back linear and mlp heads exactly as buildHeadOnnx wrote them', () => {
    const rng = Rng.fromSeed(1);
    const d = 5, k = 3, h = 4;
    const heads: HeadWeights[] = [
      { kind: 'linear', d, k, w: rand(rng, d * k), b: rand(rng, k) },
      { kind: 'mlp', d, h, k, w1: rand(rng, d * k * h), b1: rand(rng, k * h), w2: rand(rng, k * h), b2: rand(rng, k) },
    ];
    const x = rand(rng, 7 * d);
    for (const w of heads) {
      const back = parseHeadOnnx(buildHeadOnnx(w));
      expect(back).toEqual(w);
      expect(headForward(back, x, 7)).toEqual(headForward(w, x, 7));
    }
  });
});
