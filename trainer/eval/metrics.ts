/**
 * Pairwise evaluation of a reward model: accuracy per slice against the
 * truth (not the possibly noisy label), and the expected calibration error of
 * the Bradley-Terry probability sigmoid(r(a) - r(b)).
 */
import { sigmoid } from '../../src/model/math.js';

export interface ScoredPair {
  slice?: string;
  /** Reward of the truly better response and of the other one. */
  better: number;
  worse: number;
}

export interface SliceResult {
  slice: string;
  pairs: number;
  accuracy: number;
}

export interface EvalReport {
  slices: SliceResult[];
  /** Expected calibration error over all pairs, 10 confidence bins. */
  ece: number;
}

/** The slices every evaluation reports first, in this order. */
export const CORE_SLICES = ['overall', 'grounded', 'style-adversarial', 't2i'] as const;

export function accuracy(pairs: ScoredPair[]): number {
  if (pairs.length === 0) return NaN;
  // A tie counts as half: the model does not know.
  return pairs.reduce((s, p) => s + (p.better > p.worse ? 1 : p.better === p.worse ? 0.5 : 0), 0) / pairs.length;
}

/**
 * ECE of the model's stated confidence in its own pick: for each pair the
 * pick is the higher reward and its confidence sigmoid(|margin|).
 */
export function expectedCalibrationError(pairs: ScoredPair[], bins = 10): number {
  const n = new Array<number>(bins).fill(0);
  const conf = new Array<number>(bins).fill(0);
  const right = new Array<number>(bins).fill(0);
  for (const p of pairs) {
    const margin = p.better - p.worse;
    const c = sigmoid(Math.abs(margin));
    const b = Math.min(bins - 1, Math.floor(((c - 0.5) / 0.5) * bins));
    n[b]!++;
    conf[b]! += c;
    right[b]! += margin > 0 ? 1 : 0;
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) if (n[b]! > 0) ece += Math.abs(right[b]! - conf[b]!) / pairs.length;
  return ece;
}

export function evaluatePairs(pairs: ScoredPair[]): EvalReport {
  const bySlice = new Map<string, ScoredPair[]>();
  for (const p of pairs) {
    const key = p.slice ?? 'unsliced';
    bySlice.set(key, [...(bySlice.get(key) ?? []), p]);
  }
  const rest = [...bySlice.keys()].filter((s) => !(CORE_SLICES as readonly string[]).includes(s)).sort();
  const slices: SliceResult[] = [{ slice: 'overall', pairs: pairs.length, accuracy: accuracy(pairs) }];
  for (const s of [...CORE_SLICES.slice(1), ...rest]) {
    const ps = bySlice.get(s) ?? [];
    slices.push({ slice: s, pairs: ps.length, accuracy: accuracy(ps) });
  }
  return { slices, ece: expectedCalibrationError(pairs) };
}

export function formatReport(r: EvalReport, title = ''): string {
  const lines = title ? [title] : [];
  lines.push(`${'slice'.padEnd(20)}${'pairs'.padStart(7)}${'accuracy'.padStart(10)}`);
  for (const s of r.slices) {
    lines.push(`${s.slice.padEnd(20)}${String(s.pairs).padStart(7)}${(Number.isNaN(s.accuracy) ? '-' : (100 * s.accuracy).toFixed(1) + '%').padStart(10)}`);
  }
  lines.push(`${'ECE'.padEnd(20)}${''.padStart(7)}${r.ece.toFixed(3).padStart(10)}`);
  return lines.join('\n');
}
