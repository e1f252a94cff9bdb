/**
 * The simulated judge's verdict: a pure function of what it is shown (which
 * responses are right, which are verbose, in what order) and a random
 * stream. Its flaws are parameters, so a benchmark can say exactly how bad
 * the judge was:
 *
 *   listwise, two responses, decided in this order:
 *   1. with probability positionBias it prefers the first-listed response;
 *   2. else, when exactly one is verbose, with probability verbosityBias it
 *      prefers the verbose one;
 *   3. else, when exactly one is right, with probability accuracy it prefers
 *      the right one, otherwise the wrong one;
 *   4. else (both right, both wrong, or unknown) a tie: equal scores.
 *   So with both biases at 0, P(prefers the right one) = accuracy.
 *
 *   pointwise (one response): a right response gets a high score with
 *   probability accuracy (a wrong one a low score with that probability); a
 *   verbose one gets a high score with probability verbosityBias first.
 *
 * Scores: preferred 6-10, other 1-5 (so the gap, the preference strength,
 * spreads over 1..9); ties share one score in 3-8. Criteria scatter +-1
 * around the overall score.
 */
import type { Rng } from '../../shapes/rng.js';
import { CRITERIA, type Criterion } from '../rubric.js';

export interface JudgePolicyConfig {
  /** P(prefers the right response) when no bias fires. Default 0.85 (the benchmark's). */
  accuracy: number;
  /** P(prefers the first-listed response, whatever it is). Default 0.1. */
  positionBias: number;
  /** P(prefers the verbose response when styles differ). Default 0.15. */
  verbosityBias: number;
}

export const DEFAULT_POLICY: Readonly<JudgePolicyConfig> = { accuracy: 0.85, positionBias: 0.1, verbosityBias: 0.15 };

export interface ResponseView {
  /** null: the judge cannot tell (not a ShapesWorld item). */
  correct: boolean | null;
  verbose: boolean;
}

export interface ResponseScore {
  overall: number;
  criteria: Record<Criterion, number>;
}

export function judgePolicy(views: readonly ResponseView[], cfg: JudgePolicyConfig, rng: Rng): ResponseScore[] {
  // Every draw is taken every time, so one knob does not shift the others' draws.
  const uPos = rng.next();
  const uVerb = rng.next();
  const uAcc = rng.next();
  if (views.length === 1) {
    const v = views[0] as ResponseView;
    let high: boolean;
    if (v.verbose && uVerb < cfg.verbosityBias) high = true;
    else if (v.correct === null) high = uAcc < 0.5;
    else high = v.correct === uAcc < cfg.accuracy;
    return [score(high ? 'win' : 'lose', rng)];
  }
  const preferred = pick(views, cfg, uPos, uVerb, uAcc);
  if (preferred === undefined) {
    const tie = score('tie', rng);
    return views.map(() => ({ overall: tie.overall, criteria: scatter(tie.overall, rng) }));
  }
  return views.map((_, i) => score(i === preferred ? 'win' : 'lose', rng));
}

/** The index of the preferred response, or undefined for a tie. */
function pick(views: readonly ResponseView[], cfg: JudgePolicyConfig, uPos: number, uVerb: number, uAcc: number): number | undefined {
  if (uPos < cfg.positionBias) return 0;
  const verbose = views.flatMap((v, i) => (v.verbose ? [i] : []));
  if (verbose.length === 1 && uVerb < cfg.verbosityBias) return verbose[0];
  const right = views.flatMap((v, i) => (v.correct === true ? [i] : []));
  const wrong = views.flatMap((v, i) => (v.correct === false ? [i] : []));
  if (right.length === 1 && wrong.length === views.length - 1) return uAcc < cfg.accuracy ? right[0] : wrong[Math.floor(uAcc * wrong.length) % wrong.length];
  return undefined;
}

function score(kind: 'win' | 'lose' | 'tie', rng: Rng): ResponseScore {
  const overall = kind === 'win' ? rng.int(6, 10) : kind === 'lose' ? rng.int(1, 5) : rng.int(3, 8);
  return { overall, criteria: scatter(overall, rng) };
}

function scatter(overall: number, rng: Rng): Record<Criterion, number> {
  const out = {} as Record<Criterion, number>;
  for (const c of CRITERIA) out[c] = Math.min(10, Math.max(1, overall + rng.int(-1, 1)));
  return out;
}

export function checkPolicyConfig(cfg: JudgePolicyConfig): void {
  for (const [k, v] of Object.entries(cfg)) {
    if (!Number.isFinite(v) || v < 0 || v > 1) throw new RangeError(`simulated judge ${k} must be a probability in [0, 1], got ${v}`);
  }
}
