import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildHeadOnnx, headForward } from '../../src/model/onnx/heads.js';
import { fitHeads, type PairSet } from '../../trainer/fit/bradley-terry.js';
import { Rng } from '../../trainer/shapes/rng.js';

/** Pairs whose preference follows a hidden linear utility, plus label noise. */
function synthetic(n: number, d: number, seed: number, flip = 0): { pairs: PairSet; truth: Float64Array } {
  const rng = Rng.fromSeed(seed);
  const truth = Float64Array.from({ length: d }, (_, i) => (i < 3 ? [2, -1.5, 1][i]! : 0));
  const chosen = new Float32Array(n * d);
  const rejected = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const a = Array.from({ length: d }, () => rng.float(-1, 1) * 3 + 5);
    const b = Array.from({ length: d }, () => rng.float(-1, 1) * 3 + 5);
    const u = (x: number[]) => x.reduce((s, v, j) => s + v * truth[j]!, 0);
    const aWins = (u(a) > u(b)) !== rng.bernoulli(flip);
    chosen.set(aWins ? a : b, i * d);
    rejected.set(aWins ? b : a, i * d);
  }
  return { pairs: { d, n, chosen, rejected }, truth };
}

function accuracy(w: Parameters<typeof headForward>[0], p: PairSet): number {
  const rc = headForward(w, p.chosen, p.n);
  const rr = headForward(w, p.rejected, p.n);
  let right = 0;
  for (let i = 0; i < p.n; i++) {
    let m = 0;
    for (let j = 0; j < w.k; j++) m += rc[i * w.k + j]! - rr[i * w.k + j]!;
    if (m > 0) right++;
  }
  return right / p.n;
}

describe('fitHeads', () => {
  it('recovers a linear preference through label noise, on held-out pairs', () => {
    const train = synthetic(3000, 8, 1, 0.1).pairs;
    const test = synthetic(1000, 8, 2).pairs;
    const { weights, report } = fitHeads(train, { kind: 'linear', k: 3, epochs: 15 });
    expect(accuracy(weights, test)).toBeGreaterThan(0.95);
    expect(report.heads).toHaveLength(3);
    expect(report.valPairs).toBe(300);
  });

  it('fits an MLP head too', () => {
    const train = synthetic(2000, 6, 3).pairs;
    const test = synthetic(500, 6, 4).pairs;
    const { weights } = fitHeads(train, { kind: 'mlp', k: 2, hidden: 8, epochs: 15 });
    expect(accuracy(weights, test)).toBeGreaterThan(0.93);
  });

  it('gives bootstrap heads that disagree a little, so their spread is informative', () => {
    const { weights } = fitHeads(synthetic(500, 5, 5, 0.2).pairs, { kind: 'linear', k: 4, epochs: 10 });
    if (weights.kind !== 'linear') throw new Error('linear expected');
    const col = (j: number) => Array.from({ length: 5 }, (_, i) => weights.w[i * 4 + j]!);
    expect(col(0)).not.toEqual(col(1));
  });

  it('is deterministic for a seed', () => {
    const p = synthetic(400, 4, 6).pairs;
    const a = fitHeads(p, { kind: 'linear', k: 2, epochs: 5, seed: 7 }).weights;
    const b = fitHeads(p, { kind: 'linear', k: 2, epochs: 5, seed: 7 }).weights;
    expect(a).toEqual(b);
  });

  it('exports heads whose ONNX output equals the fitted function on raw features', async () => {
    const p = synthetic(600, 5, 8).pairs;
    for (const kind of ['linear', 'mlp'] as const) {
      const { weights } = fitHeads(p, { kind, k: 3, hidden: 4, epochs: 5 });
      const session = await ort.InferenceSession.create(buildHeadOnnx(weights));
      const x = p.chosen.subarray(0, 10 * 5);
      const out = await session.run({ features: new ort.Tensor('float32', x, [10, 5]) });
      const want = headForward(weights, x, 10);
      const got = out.rewards!.data as Float32Array;
      want.forEach((v, i) => expect(got[i]).toBeCloseTo(v, 3));
      await session.release();
    }
  });
});
