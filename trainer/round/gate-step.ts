/**
 * The gate step, for both kinds of candidate. The active version is scored
 * from the features the round stored (its own stages computed them). A
 * head-only candidate shares those stages, so it is scored on the same
 * features. A full fine-tune has stages of its own, and the stored features
 * belong to the old ones; so its bundle is loaded (real ONNX sessions,
 * src/model's loader) and run on the gate, held-out and shadow pairs' images,
 * and its head scores those features. The candidate's features are kept in
 * the round's folder, so the report draws the same numbers.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadBundle } from '../../src/model/bundle.js';
import { readManifest } from '../../src/model/manifest.js';
import type { HeadWeights } from '../../src/model/onnx/heads.js';
import type { ModelRuntime } from '../../src/model/runtime.js';
import type { RoundFolder } from '../../src/rounds/folder.js';
import type { LabeledPair } from '../data/labeled-pair.js';
import { featurizePairs } from '../data/featurize.js';
import { evaluateRoundPairs } from '../dt2it/evaluate.js';
import { gate, gatePairs, shadowCompare, type GateDecision } from '../dt2it/gate.js';
import { parseHeadOnnx } from '../dt2it/head-weights.js';
import type { RoundPair } from '../dt2it/round-pair.js';
import { sideRewards } from '../dt2it/scoring.js';
import type { RoundConfig } from './config.js';
import { baseHead, baseOf } from './context.js';
import { CANDIDATE_BUNDLE } from './full-fit.js';
import { ImageStore, loadPairs, savePairs, type StoredPair } from './pairs-file.js';
import type { Step } from './runner.js';
import { candidateHead, type GateOutput } from './steps.js';

/** Pairs featurized at a time: their images are read just before, so memory stays bounded on a large shadow sample. */
const FEATURIZE_CHUNK = 256;
/** Shadow points drawn in the report's scatter plot. */
const SHADOW_POINTS = 300;

export interface GateSide {
  weights: HeadWeights;
  /** `n`: responses the candidate's calibration was measured on. */
  calibration: { mean: number; std: number; n?: number };
  /** Gate pairs (trusted + judged held-out), then the shadow traffic, as this side's stages see them. */
  gate: RoundPair[];
  traffic: StoredPair[];
}

/** The same pairs with each side's features computed by `runtime` (a loaded bundle) from their images. */
export async function featurizeWith(runtime: ModelRuntime, pairs: readonly StoredPair[], store: ImageStore): Promise<StoredPair[]> {
  const out: StoredPair[] = [];
  for (let s = 0; s < pairs.length; s += FEATURIZE_CHUNK) {
    const chunk = pairs.slice(s, s + FEATURIZE_CHUNK);
    const labeled = await Promise.all(chunk.map(async (p): Promise<LabeledPair> => ({
      id: p.item.id, images: await Promise.all(p.imageRefs.map((r) => store.bytes(r))),
      ...(p.item.system !== undefined ? { system: p.item.system } : {}), prompt: p.item.prompt, chosen: p.item.a, rejected: p.item.b,
    })));
    const f = await featurizePairs(runtime, labeled);
    chunk.forEach((p, i) => out.push({ ...p, fa: f.chosen.slice(i * f.d, (i + 1) * f.d), fb: f.rejected.slice(i * f.d, (i + 1) * f.d) }));
    store.forget();
  }
  return out;
}

const CANDIDATE_SETS = ['gate', 'heldout', 'shadow'] as const;

/**
 * Active and candidate as the gate scores them. `compute`: the gate step runs
 * the candidate bundle and stores its features; the report reads them back.
 */
export async function gateSides(cfg: RoundConfig, folder: RoundFolder, o: { compute: boolean }): Promise<{ active: GateSide; candidate: GateSide }> {
  const base = await baseOf(folder);
  const trusted = await loadPairs(folder, 'gate');
  const held = await loadPairs(folder, 'heldout');
  const traffic = (await loadPairs(folder, 'logged')).slice(0, cfg.shadowPairs);
  const active: GateSide = { weights: await baseHead(cfg, base), calibration: base.calibration, gate: gatePairs(trusted, held), traffic };
  if (cfg.fit === 'head') {
    const { calibration } = await folder.readJson<{ calibration: GateOutput['calibration'] }>('candidate.json');
    return { active, candidate: { ...active, weights: await candidateHead(folder), calibration } };
  }
  const dir = folder.path(CANDIDATE_BUNDLE);
  const sets = { gate: trusted, heldout: held, shadow: traffic };
  const mine = {} as Record<(typeof CANDIDATE_SETS)[number], StoredPair[]>;
  if (o.compute) {
    const { runtime } = await loadBundle(dir, { threads: cfg.threads });
    try {
      const store = new ImageStore(cfg.stateDir);
      for (const name of CANDIDATE_SETS) await savePairs(folder, `${name}.candidate`, await featurizeWith(runtime, sets[name], store));
    } finally {
      await runtime.release();
    }
  }
  for (const name of CANDIDATE_SETS) mine[name] = await loadPairs(folder, `${name}.candidate`);
  const m = await readManifest(join(dir, 'manifest.json'));
  return {
    active,
    candidate: {
      weights: parseHeadOnnx(new Uint8Array(await readFile(join(dir, m.files.head.path ?? 'head.onnx')))),
      calibration: { mean: m.calibration.mean, std: m.calibration.std, n: m.calibration.n },
      gate: gatePairs(mine.gate, mine.heldout),
      traffic: mine.shadow,
    },
  };
}

export function gateStep(cfg: RoundConfig): Step {
  return {
    name: 'gate',
    async run(ctx) {
      const { active, candidate } = await gateSides(cfg, ctx.folder, { compute: true });
      const pairs = active.gate;
      const decision: GateDecision = pairs.length === 0
        ? { accept: false, checks: [], reasons: ['no gate pairs: configure a trusted gate set or hold out judged pairs (heldOutShare)'] }
        : gate(active.weights, candidate.weights, pairs, { margin: cfg.gateMarginPts / 100, tolerance: cfg.gateTolerancePts / 100, guardedSlices: cfg.guardedSlices }, candidate.gate);
      const shadow = shadowCompare(active, candidate, active.traffic, candidate.traffic);
      const ra = pairs.length ? evaluateRoundPairs(active.weights, pairs) : null;
      const rc = pairs.length ? evaluateRoundPairs(candidate.weights, candidate.gate) : null;
      const slices = (ra?.slices ?? []).map((s, i) => ({ slice: s.slice, pairs: s.pairs, active: s.accuracy, candidate: rc!.slices[i]!.accuracy }));
      const out: GateOutput = { decision, shadow: { ...shadow, points: shadowPoints(active, candidate) }, slices, calibration: { mean: candidate.calibration.mean, std: candidate.calibration.std, n: candidate.calibration.n ?? 0 } };
      await ctx.folder.writeJson('gate.json', out);
      ctx.log.info('round.gate', { accept: decision.accept, reasons: decision.reasons, fit: cfg.fit });
      return { counts: { pairs: pairs.length, passed: decision.accept ? 1 : 0, failedChecks: decision.reasons.length, shadowPairs: shadow.pairs } };
    },
  };
}

function shadowPoints(active: GateSide, candidate: GateSide): { active: number; candidate: number }[] {
  const n = Math.min(SHADOW_POINTS, active.traffic.length);
  if (n === 0) return [];
  const a = sideRewards(active.weights, active.traffic.slice(0, n)).ra;
  const c = sideRewards(candidate.weights, candidate.traffic.slice(0, n)).ra;
  const ca = active.calibration;
  const cc = candidate.calibration;
  return Array.from(a, (r, i) => ({ active: (r - ca.mean) / ca.std, candidate: (c[i]! - cc.mean) / cc.std }));
}
