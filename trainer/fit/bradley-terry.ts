/**
 * Fitting reward heads on preference pairs with the Bradley-Terry loss
 * -log sigmoid(r(chosen) - r(rejected) - margin), in plain TypeScript.
 *
 * K heads, each on its own bootstrap resample of the training pairs, so their
 * spread is an uncertainty estimate; one shared validation split picks the
 * epoch. Features are standardized while fitting and the standardization is
 * folded into the exported weights, so the served head takes raw features.
 */
import { sigmoid } from '../../src/model/math.js';
import type { HeadWeights } from '../../src/model/onnx/heads.js';
import { Rng } from '../shapes/rng.js';

/** Standard normal draw (Box-Muller). */
function normal(rng: Rng): number {
  return Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
}

/** Pairs as feature rows: row i of `chosen` was preferred over row i of `rejected`. */
export interface PairSet {
  d: number;
  n: number;
  chosen: Float32Array;
  rejected: Float32Array;
  /** Per-pair weight (default 1). */
  weight?: Float32Array;
  /** Per-pair margin the chosen reward should exceed the rejected one by (default 0). */
  margin?: Float32Array;
}

export interface FitOptions {
  kind: 'linear' | 'mlp';
  /** Ensemble heads. */
  k: number;
  /** Hidden units per head (mlp only). */
  hidden: number;
  epochs: number;
  lr: number;
  l2: number;
  batch: number;
  valFraction: number;
  seed: number;
}

export const DEFAULT_FIT: FitOptions = {
  kind: 'linear', k: 5, hidden: 16, epochs: 40, lr: 0.05, l2: 1e-4, batch: 256, valFraction: 0.1, seed: 1,
};

export interface FitReport {
  trainPairs: number;
  valPairs: number;
  /** Per head: the epoch kept and its validation loss and accuracy. */
  heads: { epoch: number; valLoss: number; valAccuracy: number }[];
  seconds: number;
}

/** One head's parameters as a flat vector, with its forward/backward pass. */
interface Model {
  params: Float64Array;
  /** Reward of row x; fills `cache` for grad. */
  forward(x: Float32Array, off: number, cache: Float64Array): number;
  /** Adds dr/dparams * g to grad. */
  backward(x: Float32Array, off: number, cache: Float64Array, g: number, grad: Float64Array): void;
  cacheSize: number;
}

function linearModel(d: number, rng: Rng): Model {
  const params = new Float64Array(d + 1);
  for (let i = 0; i < d; i++) params[i] = normal(rng) * 0.01;
  return {
    params,
    cacheSize: 0,
    forward(x, off) {
      let s = params[d]!;
      for (let i = 0; i < d; i++) s += params[i]! * x[off + i]!;
      return s;
    },
    backward(x, off, _c, g, grad) {
      for (let i = 0; i < d; i++) grad[i]! += g * x[off + i]!;
      grad[d]! += g;
    },
  };
}

/** Layout: W1 [d, h] row-major, b1 [h], w2 [h], b2. */
function mlpModel(d: number, h: number, rng: Rng): Model {
  const params = new Float64Array(d * h + h + h + 1);
  const scale = Math.sqrt(2 / d);
  for (let i = 0; i < d * h; i++) params[i] = normal(rng) * scale;
  for (let u = 0; u < h; u++) params[d * h + h + u] = normal(rng) * Math.sqrt(1 / h);
  const b1 = d * h;
  const w2 = b1 + h;
  const b2 = w2 + h;
  return {
    params,
    cacheSize: h,
    forward(x, off, cache) {
      let s = params[b2]!;
      for (let u = 0; u < h; u++) {
        let a = params[b1 + u]!;
        for (let i = 0; i < d; i++) a += x[off + i]! * params[i * h + u]!;
        const r = a > 0 ? a : 0;
        cache[u] = r;
        s += r * params[w2 + u]!;
      }
      return s;
    },
    backward(x, off, cache, g, grad) {
      grad[b2]! += g;
      for (let u = 0; u < h; u++) {
        const r = cache[u]!;
        grad[w2 + u]! += g * r;
        if (r <= 0) continue;
        const gu = g * params[w2 + u]!;
        grad[b1 + u]! += gu;
        for (let i = 0; i < d; i++) grad[i * h + u]! += gu * x[off + i]!;
      }
    },
  };
}

const logSigmoid = (z: number) => (z >= 0 ? -Math.log1p(Math.exp(-z)) : z - Math.log1p(Math.exp(z)));

/** Column means and stds over both sides of the pairs (std 1 for constant columns). */
export function featureStats(p: PairSet): { mu: Float64Array; sd: Float64Array } {
  const { d, n } = p;
  const mu = new Float64Array(d);
  const sq = new Float64Array(d);
  for (const m of [p.chosen, p.rejected]) {
    for (let r = 0; r < n; r++) for (let i = 0; i < d; i++) { const v = m[r * d + i]!; mu[i]! += v; sq[i]! += v * v; }
  }
  const sd = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    mu[i]! /= 2 * n;
    const v = sq[i]! / (2 * n) - mu[i]! ** 2;
    sd[i] = v > 1e-12 ? Math.sqrt(v) : 1;
  }
  return { mu, sd };
}

function standardize(m: Float32Array, d: number, mu: Float64Array, sd: Float64Array): Float32Array {
  const out = new Float32Array(m.length);
  for (let j = 0; j < m.length; j++) { const i = j % d; out[j] = (m[j]! - mu[i]!) / sd[i]!; }
  return out;
}

function evaluate(model: Model, xa: Float32Array, xb: Float32Array, idx: number[], d: number, p: PairSet): { loss: number; accuracy: number } {
  const cache = new Float64Array(model.cacheSize);
  let loss = 0;
  let right = 0;
  for (const i of idx) {
    const z = model.forward(xa, i * d, cache) - model.forward(xb, i * d, cache);
    loss -= logSigmoid(z - (p.margin?.[i] ?? 0));
    if (z > 0) right++;
  }
  return { loss: loss / Math.max(1, idx.length), accuracy: right / Math.max(1, idx.length) };
}

export function fitHeads(p: PairSet, options: Partial<FitOptions> = {}): { weights: HeadWeights; report: FitReport } {
  const o = { ...DEFAULT_FIT, ...options };
  const t0 = performance.now();
  const rng = Rng.fromSeed(o.seed);
  const { d, n } = p;
  const { mu, sd } = featureStats(p);
  const xa = standardize(p.chosen, d, mu, sd);
  const xb = standardize(p.rejected, d, mu, sd);
  const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
  const nVal = Math.min(n - 1, Math.round(n * o.valFraction));
  const val = order.slice(0, nVal);
  const train = order.slice(nVal);

  const heads: Model[] = [];
  const reports: FitReport['heads'] = [];
  for (let j = 0; j < o.k; j++) {
    const hr = rng.child(`head${j}`);
    const model = o.kind === 'linear' ? linearModel(d, hr) : mlpModel(d, o.hidden, hr);
    // Head 0 sees the training set as is; the others a bootstrap resample of it.
    const sample = j === 0 ? train : train.map(() => train[hr.int(0, train.length - 1)]!);
    const best = trainOne(model, sample, val, xa, xb, p, o, hr);
    heads.push(model);
    reports.push(best);
  }
  return { weights: exportHeads(heads, o, d, mu, sd), report: { trainPairs: train.length, valPairs: val.length, heads: reports, seconds: (performance.now() - t0) / 1000 } };
}

function trainOne(model: Model, sample: number[], val: number[], xa: Float32Array, xb: Float32Array, p: PairSet, o: FitOptions, rng: Rng) {
  const { d } = p;
  const np = model.params.length;
  const grad = new Float64Array(np);
  const m1 = new Float64Array(np);
  const m2 = new Float64Array(np);
  const ca = new Float64Array(model.cacheSize);
  const cb = new Float64Array(model.cacheSize);
  let step = 0;
  let best = { epoch: 0, valLoss: Infinity, valAccuracy: 0 };
  let bestParams = model.params.slice();
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const idx = rng.shuffle(sample);
    for (let s = 0; s < idx.length; s += o.batch) {
      grad.fill(0);
      const end = Math.min(idx.length, s + o.batch);
      for (let q = s; q < end; q++) {
        const i = idx[q]!;
        const z = model.forward(xa, i * d, ca) - model.forward(xb, i * d, cb) - (p.margin?.[i] ?? 0);
        // d/dz of -log sigmoid(z) is -(1 - sigmoid(z)).
        const g = -(1 - sigmoid(z)) * (p.weight?.[i] ?? 1) / (end - s);
        model.backward(xa, i * d, ca, g, grad);
        model.backward(xb, i * d, cb, -g, grad);
      }
      step++;
      adam(model.params, grad, m1, m2, step, o.lr, o.l2);
    }
    const v = evaluate(model, xa, xb, val, d, p);
    if (v.loss < best.valLoss) {
      best = { epoch, valLoss: v.loss, valAccuracy: v.accuracy };
      bestParams = model.params.slice();
    }
  }
  model.params.set(bestParams);
  return best;
}

function adam(params: Float64Array, grad: Float64Array, m1: Float64Array, m2: Float64Array, t: number, lr: number, l2: number): void {
  const b1 = 0.9;
  const b2 = 0.999;
  const c1 = 1 - b1 ** t;
  const c2 = 1 - b2 ** t;
  for (let i = 0; i < params.length; i++) {
    const g = grad[i]! + l2 * params[i]!;
    m1[i] = b1 * m1[i]! + (1 - b1) * g;
    m2[i] = b2 * m2[i]! + (1 - b2) * g * g;
    params[i]! -= (lr * (m1[i]! / c1)) / (Math.sqrt(m2[i]! / c2) + 1e-8);
  }
}

/** Fold (x - mu) / sd into the first layer and pack the K heads. */
function exportHeads(heads: Model[], o: FitOptions, d: number, mu: Float64Array, sd: Float64Array): HeadWeights {
  const k = heads.length;
  if (o.kind === 'linear') {
    const w = new Float32Array(d * k);
    const b = new Float32Array(k);
    heads.forEach((h, j) => {
      let bias = h.params[d]!;
      for (let i = 0; i < d; i++) {
        const wi = h.params[i]! / sd[i]!;
        w[i * k + j] = wi;
        bias -= wi * mu[i]!;
      }
      b[j] = bias;
    });
    return { kind: 'linear', d, k, w, b };
  }
  const hN = o.hidden;
  const w1 = new Float32Array(d * k * hN);
  const b1 = new Float32Array(k * hN);
  const w2 = new Float32Array(k * hN);
  const b2 = new Float32Array(k);
  heads.forEach((h, j) => {
    const P = h.params;
    for (let u = 0; u < hN; u++) {
      const col = j * hN + u;
      let bias = P[d * hN + u]!;
      for (let i = 0; i < d; i++) {
        const wi = P[i * hN + u]! / sd[i]!;
        w1[i * k * hN + col] = wi;
        bias -= wi * mu[i]!;
      }
      b1[col] = bias;
      w2[col] = P[d * hN + hN + u]!;
    }
    b2[j] = P[d * hN + 2 * hN]!;
  });
  return { kind: 'mlp', d, h: hN, k, w1, b1, w2, b2 };
}
