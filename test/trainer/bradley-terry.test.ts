import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildHeadOnnx, headForward } from '../../src/model/onnx/heads.js';
import { featureStats, fitHeads, type PairSet } from '../../trainer/fit/bradley-terry.js';
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

  // Full-batch steps to convergence: the loss is convex, so heads that saw the
  // same pairs end at the same weights whatever their initialization, and
  // what remains of their spread is the bootstrap's. It must be a real
  // fraction of the reward scale on pairs like the training ones, and grow
  // on rows far from them (here: 4x as far from the centre).
  it('gives bootstrap heads whose spread comes from resampling and grows away from the training data', () => {
    const d = 5;
    const k = 5;
    const { weights } = fitHeads(synthetic(400, d, 5, 0.2).pairs, { kind: 'linear', k, epochs: 500, batch: 1024, lr: 0.01 });
    const near = synthetic(200, d, 11).pairs.chosen;
    const far = near.map((v) => (v - 5) * 4 + 5);
    const stats = (x: Float32Array) => {
      const out = headForward(weights, x, x.length / d);
      let spread = 0;
      const means: number[] = [];
      for (let i = 0; i < x.length / d; i++) {
        const r = Array.from({ length: k }, (_, j) => out[i * k + j]!);
        const m = r.reduce((a, b) => a + b, 0) / k;
        means.push(m);
        spread += Math.sqrt(r.reduce((a, b) => a + (b - m) ** 2, 0) / k);
      }
      const mm = means.reduce((a, b) => a + b, 0) / means.length;
      return { spread: spread / means.length, scale: Math.sqrt(means.reduce((a, b) => a + (b - mm) ** 2, 0) / means.length) };
    };
    const n = stats(near);
    const f = stats(far);
    expect(n.spread / n.scale).toBeGreaterThan(0.05);
    expect(f.spread).toBeGreaterThan(2 * n.spread);
  });

  it('is deterministic for a seed', () => {
    const p = synthetic(400, 4, 6).pairs;
    const a = fitHeads(p, { kind: 'linear', k: 2, epochs: 5, seed: 7 }).weights;
    const b = fitHeads(p, { kind: 'linear', k: 2, epochs: 5, seed: 7 }).weights;
    expect(a).toEqual(b);
  });

  // Columns on scales from 1e-3 to 1e3 with offsets: fitted on them raw, the
  // exported heads must give what heads fitted on the same columns already
  // standardized give on those (the fit standardizes internally either way,
  // so only folding (x - mu) / sd into the weights can make them differ).
  it('folds the standardization into the exported weights', () => {
    const d = 5;
    const scale = [1000, 0.001, 1, 50, 3];
    const shift = [500, -2, 0, 1e4, 7];
    const base = synthetic(600, d, 9).pairs;
    const map = (m: Float32Array, f: (v: number, i: number) => number) => m.map((v, j) => f(v, j % d));
    const raw: PairSet = { d, n: base.n, chosen: map(base.chosen, (v, i) => v * scale[i]! + shift[i]!), rejected: map(base.rejected, (v, i) => v * scale[i]! + shift[i]!) };
    const { mu, sd } = featureStats(raw);
    const z = (m: Float32Array) => map(m, (v, i) => (v - mu[i]!) / sd[i]!);
    const std: PairSet = { d, n: raw.n, chosen: z(raw.chosen), rejected: z(raw.rejected) };
    for (const kind of ['linear', 'mlp'] as const) {
      const opts = { kind, k: 2, hidden: 4, epochs: 5 };
      const got = headForward(fitHeads(raw, opts).weights, raw.chosen, raw.n);
      const want = headForward(fitHeads(std, opts).weights, std.chosen, std.n);
      const worst = Math.max(...want.map((v, i) => Math.abs(got[i]! - v) / Math.max(1, Math.abs(v))));
      expect(worst, kind).toBeLessThan(1e-3);
    }
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
