/**
 * What every step of a round needs to know about the version it improves
 * (fixed at collect time and stored, so a resumed round works against the
 * same version even if another became active meanwhile), and the frozen
 * stages' features for data sets that arrive as images and texts.
 */
import { join } from 'node:path';
import { loadBundle } from '../../src/model/bundle.js';
import { MANIFEST_FILE, readManifest, type Manifest } from '../../src/model/manifest.js';
import type { HeadWeights } from '../../src/model/onnx/heads.js';
import { Registry } from '../../src/model/registry.js';
import type { RoundFolder } from '../../src/rounds/folder.js';
import { cachedFeatures } from '../data/feature-cache.js';
import type { PairFeatures } from '../data/featurize.js';
import type { LabeledPair } from '../data/labeled-pair.js';
import { parseHeadOnnx } from '../dt2it/head-weights.js';
import type { RoundConfig } from './config.js';

export interface BaseVersion {
  version: number;
  dir: string;
  encoderSha256: string;
  calibration: { mean: number; std: number };
}

export const CONTEXT_FILE = 'context.json';

export function registryOf(cfg: RoundConfig): Registry {
  return new Registry(cfg.stateDir, cfg.model);
}

export async function activeBase(cfg: RoundConfig): Promise<BaseVersion> {
  const registry = registryOf(cfg);
  const active = await registry.active();
  if (!active) throw new Error(`model ${cfg.model} has no active version in ${registry.modelDir}`);
  const dir = registry.versionDir(active.version);
  const m = await readManifest(join(dir, MANIFEST_FILE));
  return { version: active.version, dir, encoderSha256: m.files.encoder.sha256, calibration: { mean: m.calibration.mean, std: m.calibration.std } };
}

export async function baseOf(folder: RoundFolder): Promise<BaseVersion> {
  return folder.readJson<BaseVersion>(CONTEXT_FILE);
}

export async function baseManifest(b: BaseVersion): Promise<Manifest> {
  return readManifest(join(b.dir, MANIFEST_FILE));
}

/** The base version's head, read from its head.onnx wherever the registry keeps it. */
export async function baseHead(cfg: RoundConfig, b: BaseVersion): Promise<HeadWeights> {
  const { readFile } = await import('node:fs/promises');
  return parseHeadOnnx(new Uint8Array(await readFile(await registryOf(cfg).resolveFile(b.version, 'head'))));
}

/** Features of each pair list with the base version's frozen stages, through the on-disk feature cache. */
export async function featurize(cfg: RoundConfig, b: BaseVersion, lists: LabeledPair[][]): Promise<PairFeatures[]> {
  const registry = registryOf(cfg);
  const { runtime } = await loadBundle(b.dir, { threads: cfg.threads, resolveFile: (key) => registry.resolveFile(b.version, key) });
  try {
    const out: PairFeatures[] = [];
    for (const pairs of lists) out.push(await cachedFeatures(runtime, pairs, join(cfg.stateDir, 'cache', 'features')));
    return out;
  } finally {
    await runtime.release();
  }
}
