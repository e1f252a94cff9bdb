/**
 * Step 6 of a round, the gate: may the candidate replace the active version?
 *
 * Both are scored on the gate pairs: a set whose labels the operator trusts
 * (truth known) plus a held-out share of the judge-decided logged pairs
 * (their judged label taken as the truth, under the slice name
 * JUDGED_SLICE). The candidate must beat the active version overall by
 * `margin` and must not fall more than `tolerance` below it on any guarded
 * slice. Every check is returned, passed or not, so a report can say why.
 *
 * The shadow comparison scores a sample of logged traffic (no labels) with
 * both and measures how often they order a pair the same way and how far
 * their calibrated rewards move.
 */
import type { HeadWeights } from '../../src/model/onnx/heads.js';
import { accuracy, type ScoredPair } from '../eval/metrics.js';
import type { RoundPair } from './round-pair.js';
import { sideRewards } from './scoring.js';

export const JUDGED_SLICE = 'judge-held-out';

export interface GateConfig {
  /** Overall accuracy the candidate must gain, in [0, 1] (0.005 = half a point). */
  margin: number;
  /** Largest accuracy loss allowed on a guarded slice, in [0, 1]. */
  tolerance: number;
  guardedSlices: string[];
}

export interface GateCheck {
  kind: 'overall-margin' | 'slice-regression';
  slice: string;
  pairs: number;
  active: number;
  candidate: number;
  delta: number;
  /** The bound delta had to meet: >= margin, or >= -tolerance. */
  required: number;
  passed: boolean;
  reason: string;
}

export interface GateDecision {
  accept: boolean;
  checks: GateCheck[];
  /** The failed checks' reasons, in check order. */
  reasons: string[];
}

export interface ScoringModel {
  weights: HeadWeights;
  /** Raw reward mean and std over the model's reference set. */
  calibration: { mean: number; std: number };
}

/** Gate pairs: trusted pairs need `truth`; judged ones are scored against their label. */
export function gatePairs(trusted: readonly RoundPair[], judgedHeldOut: readonly RoundPair[]): RoundPair[] {
  const missing = trusted.find((p) => !p.truth);
  if (missing) throw new RangeError(`gate pair ${missing.item.id} has no trusted label`);
  return [...trusted, ...judgedHeldOut.map((p) => ({ ...p, truth: p.label!, slice: JUDGED_SLICE }))];
}

function scored(w: HeadWeights, pairs: readonly RoundPair[]): ScoredPair[] {
  const { ra, rb } = sideRewards(w, pairs);
  return pairs.map((p, i) => (p.truth === 'a'
    ? { slice: p.slice, better: ra[i]!, worse: rb[i]! }
    : { slice: p.slice, better: rb[i]!, worse: ra[i]! }));
}

/**
 * The same pairs as the candidate sees them: by default the active version's
 * features (a head-only candidate shares its frozen stages); a candidate with
 * stages of its own (a full fine-tune) has its own features of each pair.
 */
function samePairs(pairs: readonly RoundPair[], candidatePairs: readonly RoundPair[]): void {
  if (candidatePairs.length !== pairs.length || candidatePairs.some((p, i) => p.item.id !== pairs[i]!.item.id || p.truth !== pairs[i]!.truth)) {
    throw new RangeError('the candidate\'s pairs must be the active version\'s pairs in the same order, with the same truth');
  }
}

export function gate(active: HeadWeights, candidate: HeadWeights, pairs: readonly RoundPair[], cfg: GateConfig, candidatePairs: readonly RoundPair[] = pairs): GateDecision {
  if (pairs.length === 0) throw new RangeError('the gate set is empty');
  samePairs(pairs, candidatePairs);
  const sa = scored(active, pairs);
  const sc = scored(candidate, candidatePairs);
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const checks: GateCheck[] = [];
  const a = accuracy(sa);
  const c = accuracy(sc);
  checks.push({
    kind: 'overall-margin', slice: 'overall', pairs: pairs.length, active: a, candidate: c, delta: c - a, required: cfg.margin,
    passed: c - a >= cfg.margin,
    reason: `overall: candidate ${pct(c)} vs active ${pct(a)}, needs +${pct(cfg.margin)}`,
  });
  for (const slice of cfg.guardedSlices) {
    const idx = pairs.flatMap((p, i) => (p.slice === slice ? [i] : []));
    if (idx.length === 0) {
      checks.push({ kind: 'slice-regression', slice, pairs: 0, active: NaN, candidate: NaN, delta: NaN, required: -cfg.tolerance, passed: false, reason: `${slice}: no gate pairs in this guarded slice` });
      continue;
    }
    const as = accuracy(idx.map((i) => sa[i]!));
    const cs = accuracy(idx.map((i) => sc[i]!));
    checks.push({
      kind: 'slice-regression', slice, pairs: idx.length, active: as, candidate: cs, delta: cs - as, required: -cfg.tolerance,
      passed: cs - as >= -cfg.tolerance,
      reason: `${slice}: candidate ${pct(cs)} vs active ${pct(as)}, may lose at most ${pct(cfg.tolerance)}`,
    });
  }
  const failed = checks.filter((k) => !k.passed);
  return { accept: failed.length === 0, checks, reasons: failed.map((k) => k.reason) };
}

export interface ShadowReport {
  pairs: number;
  /** Share of pairs both models order the same way. */
  agreement: number;
  /** Candidate minus active calibrated reward, per response: mean and mean absolute. */
  drift: { mean: number; meanAbs: number };
}

export function shadowCompare(active: ScoringModel, candidate: ScoringModel, traffic: readonly RoundPair[], candidateTraffic: readonly RoundPair[] = traffic): ShadowReport {
  const n = traffic.length;
  if (n === 0) return { pairs: 0, agreement: NaN, drift: { mean: NaN, meanAbs: NaN } };
  samePairs(traffic, candidateTraffic);
  const A = sideRewards(active.weights, traffic);
  const C = sideRewards(candidate.weights, candidateTraffic);
  const norm = (m: ScoringModel, r: number) => (r - m.calibration.mean) / m.calibration.std;
  let agree = 0;
  let sum = 0;
  let abs = 0;
  for (let i = 0; i < n; i++) {
    if (Math.sign(A.ra[i]! - A.rb[i]!) === Math.sign(C.ra[i]! - C.rb[i]!)) agree++;
    for (const [x, y] of [[A.ra[i]!, C.ra[i]!], [A.rb[i]!, C.rb[i]!]] as const) {
      const d = norm(candidate, y) - norm(active, x);
      sum += d;
      abs += Math.abs(d);
    }
  }
  return { pairs: n, agreement: agree / n, drift: { mean: sum / (2 * n), meanAbs: abs / (2 * n) } };
}
