/**
 * Head-only fit of a new version: featurize pairs with a base version's
 * frozen stages, fit K Bradley-Terry heads, calibrate, evaluate on a held-out
 * set, and write a bundle that shares the base's vision, encoder and
 * tokenizer (copied, or referenced by sha256 inside a registry).
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import * as ort from 'onnxruntime-node';
import { loadBundle, sessionOptions } from '../../src/model/bundle.js';
import type { Manifest } from '../../src/model/manifest.js';
import { buildHeadOnnx, type HeadWeights } from '../../src/model/onnx/heads.js';
import { runHead, type ModelRuntime } from '../../src/model/runtime.js';
import { writeBundle } from '../../src/model/write.js';
import type { PairFeatures } from '../data/featurize.js';
import { cachedFeatures } from '../data/feature-cache.js';
import type { LabeledPair } from '../data/labeled-pair.js';
import { evaluatePairs, type EvalReport } from '../eval/metrics.js';
import { rewardsFromFeatures, toScored, type PairRewards } from '../eval/evaluate.js';
import { fitHeads, type FitOptions, type FitReport } from './bradley-terry.js';

export interface FitBundleOptions {
  /** Directory of the base version whose frozen stages are reused. */
  base: string;
  out: string;
  name?: string;
  version: number;
  parent?: number | null;
  fit?: Partial<FitOptions>;
  /** Held-out pairs for the manifest's metrics; none = no metrics. */
  heldOut?: LabeledPair[];
  referenceSet: string;
  lineage?: Partial<Manifest['lineage']>;
  notes?: string;
  /** The manifest's createdAt; default now (see BundleSpec.createdAt). */
  createdAt?: string;
  threads?: number;
  /** Directory for cached features; none = always featurize. */
  featureCache?: string;
}

export interface FitBundleResult {
  manifest: Manifest;
  fit: FitReport;
  heldOut: EvalReport | null;
  /** The training features came from the feature cache. */
  featuresCached: boolean;
  seconds: { featurize: number; fit: number; total: number };
}

/**
 * Rewards and spreads of a fitted head on each feature set, through its ONNX
 * graph under the loader's session options and the runtime's summary: the
 * numbers a server gives, not a re-implementation of them.
 */
export async function headRewards(onnx: Uint8Array, w: HeadWeights, sets: PairFeatures[], threads = 1): Promise<PairRewards[]> {
  const session = await ort.InferenceSession.create(onnx, sessionOptions({ threads }));
  try {
    const head = { head: (x: Float32Array, b: number) => runHead(session, x, b, w.d, w.k) };
    const out: PairRewards[] = [];
    for (const f of sets) out.push(await rewardsFromFeatures(head, f));
    return out;
  } finally {
    await session.release();
  }
}

/** Calibration: mean and std of the raw reward over every response of the reference pairs. */
export function calibrate(r: PairRewards): { mean: number; std: number } {
  const all = [...r.chosen, ...r.rejected];
  const mean = all.reduce((a, b) => a + b, 0) / all.length;
  const std = Math.sqrt(all.reduce((a, b) => a + (b - mean) ** 2, 0) / all.length);
  return { mean, std: std > 1e-6 ? std : 1 };
}

export function metricsOf(r: EvalReport): Record<string, number> {
  const m: Record<string, number> = { ece: r.ece };
  for (const s of r.slices) if (!Number.isNaN(s.accuracy)) m[`accuracy.${s.slice}`] = s.accuracy;
  return m;
}

export async function featurizeWith(base: string, pairs: LabeledPair[][], threads = 2, cache?: string): Promise<{ runtime: ModelRuntime; features: (PairFeatures & { cached: boolean })[] }> {
  const { runtime } = await loadBundle(base, { threads });
  const features: (PairFeatures & { cached: boolean })[] = [];
  for (const p of pairs) features.push(await cachedFeatures(runtime, p, cache));
  return { runtime, features };
}

export async function fitBundle(train: LabeledPair[], o: FitBundleOptions): Promise<FitBundleResult> {
  const t0 = performance.now();
  const { runtime, features } = await featurizeWith(o.base, [train, o.heldOut ?? []], o.threads, o.featureCache);
  const baseManifest = runtime.manifest;
  await runtime.release();
  const [ftrain, fheld] = features as [PairFeatures & { cached: boolean }, PairFeatures];
  const t1 = performance.now();
  const weights = train.map((p) => p.weight ?? 1);
  const { weights: head, report } = fitHeads({ ...ftrain, weight: Float32Array.from(weights) }, o.fit);
  const t2 = performance.now();
  const headOnnx = buildHeadOnnx(head);
  const [rtrain, rheld] = await headRewards(headOnnx, head, o.heldOut?.length ? [ftrain, fheld] : [ftrain], o.threads);
  const heldOut = rheld && o.heldOut?.length ? evaluatePairs(toScored(o.heldOut, rheld)) : null;
  const cal = calibrate(rtrain!);
  const files = async (key: 'vision' | 'encoder' | 'tokenizer') => {
    const ref = baseManifest.files[key];
    return ref.path ? new Uint8Array(await readFile(join(o.base, ref.path))) : ref;
  };
  const manifest = await writeBundle(o.out, {
    name: o.name ?? baseManifest.name,
    version: o.version,
    parent: o.parent ?? null,
    vision: await files('vision'),
    encoder: await files('encoder'),
    head: headOnnx,
    tokenizer: await files('tokenizer'),
    sizes: { dv: runtime.dv, d: runtime.d, k: head.k },
    image: baseManifest.preprocess.image,
    text: baseManifest.preprocess.text,
    calibration: { ...cal, referenceSet: o.referenceSet, n: 2 * ftrain.n },
    metrics: heldOut ? metricsOf(heldOut) : {},
    lineage: o.lineage ?? {},
    ...(o.notes ? { notes: o.notes } : {}),
    ...(o.createdAt ? { createdAt: o.createdAt } : {}),
  });
  return {
    manifest,
    fit: report,
    heldOut,
    featuresCached: ftrain.cached,
    seconds: { featurize: (t1 - t0) / 1000, fit: (t2 - t1) / 1000, total: (performance.now() - t0) / 1000 },
  };
}

/** A scratch directory removed after `fn`. */
export async function withTempDir<T>(prefix: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
