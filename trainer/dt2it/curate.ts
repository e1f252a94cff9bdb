/**
 * Step 4 of a round, curation by iterative training (the DT2IT paper's
 * released method), as three steps a round runs and records one by one:
 *
 * 1. flipByScorers: score every pair with K scoring models; a model's
 *    preference strength is r(chosen) - r(rejected); average over the
 *    models; among pairs with negative average strength, flip the most
 *    negative half. The round then fits on the result (fitRound).
 * 2. consistencyFilter: rescore with that fit; keep the pairs it orders like
 *    their label, set the others aside.
 * 3. rejudge: send the set-aside pairs to the judges in both orders; keep
 *    decisive, complete votes (with the judges' label, which may undo a
 *    flip); drop ties and incomplete judgments.
 * Then mergeCurated joins kept and re-judged pairs, and the round fits its
 * candidate on them.
 */
import type { HeadWeights } from '../../src/model/onnx/heads.js';
import type { PairJudgment, PairLabeler } from '../judges/types.js';
import type { StepResult } from './counts.js';
import { flipLabel, type RoundPair } from './round-pair.js';
import { labelMargins } from './scoring.js';
import { decide } from './votes.js';

export interface FlipOutput {
  pairs: RoundPair[];
  /** Average normalized strength of each input pair, in input order. */
  strength: Float64Array;
  /** Ids of the flipped pairs. */
  flipped: string[];
}

/**
 * Models' rewards live on different scales (a head fitted on clean labels
 * has larger margins than one fitted on noisy ones), so each model's
 * strengths are divided by their root mean square over the pairs before
 * averaging: every scoring model gets an equal say. Half of the m negative
 * pairs is floor(m / 2); ties in strength keep input order.
 */
export function flipByScorers(pairs: readonly RoundPair[], scorers: readonly HeadWeights[]): StepResult<FlipOutput> {
  if (scorers.length === 0) throw new RangeError('curation step 1 needs at least one scoring model');
  const n = pairs.length;
  const strength = new Float64Array(n);
  for (const w of scorers) {
    const m = labelMargins(w, pairs);
    const rms = Math.sqrt(m.reduce((s, v) => s + v * v, 0) / Math.max(1, n)) || 1;
    for (let i = 0; i < n; i++) strength[i]! += m[i]! / rms / scorers.length;
  }
  const negative = [...strength.keys()].filter((i) => strength[i]! < 0).sort((a, b) => strength[a]! - strength[b]! || a - b);
  const flip = new Set(negative.slice(0, Math.floor(negative.length / 2)));
  const out = pairs.map((p, i) => (flip.has(i) ? flipLabel(p) : p));
  return {
    output: { pairs: out, strength, flipped: [...flip].map((i) => pairs[i]!.item.id) },
    counts: { in: n, out: n, negative: negative.length, flipped: flip.size },
  };
}

export interface ConsistencyOutput {
  /** Pairs the model orders like their label. */
  kept: RoundPair[];
  /** The others (ties included: the model does not back the label). */
  disputed: RoundPair[];
}

/**
 * `confirm`: ids of pairs that go to the judges whatever the model says (the
 * pairs step 1 flipped, when flips must be confirmed: a model fitted on a
 * flipped label agrees with it, so its agreement is no evidence for it).
 */
export function consistencyFilter(pairs: readonly RoundPair[], model: HeadWeights, confirm: ReadonlySet<string> = new Set()): StepResult<ConsistencyOutput> {
  const m = labelMargins(model, pairs);
  const kept: RoundPair[] = [];
  const disputed: RoundPair[] = [];
  let confirmed = 0;
  pairs.forEach((p, i) => {
    const toJudge = confirm.has(p.item.id);
    if (toJudge && m[i]! > 0) confirmed++;
    (m[i]! > 0 && !toJudge ? kept : disputed).push(p);
  });
  return { output: { kept, disputed }, counts: { in: pairs.length, out: kept.length, kept: kept.length, disputed: disputed.length, ...(confirm.size ? { flipsToJudge: confirmed } : {}) } };
}

/** Labels from both-order judgments; pure, so tests and resumed rounds can apply stored judgments. */
export function applyRejudgments(pairs: readonly RoundPair[], judgments: readonly PairJudgment[]): StepResult<RoundPair[]> {
  const byId = new Map(judgments.map((j) => [j.id, j]));
  const out: RoundPair[] = [];
  let tie = 0;
  let incomplete = 0;
  let relabeled = 0;
  for (const p of pairs) {
    const j = byId.get(p.item.id);
    const d = j ? decide(j) : ({ kind: 'incomplete' } as const);
    if (d.kind === 'tie') tie++;
    else if (d.kind === 'incomplete') incomplete++;
    else {
      if (d.label !== p.label) relabeled++;
      out.push({ ...p, label: d.label, strength: d.strength });
    }
  }
  return {
    output: out,
    counts: { in: pairs.length, out: out.length, rejudged: pairs.length, relabeled, 'dropped.tie': tie, 'dropped.incomplete': incomplete },
  };
}

export async function rejudge(labeler: PairLabeler, pairs: readonly RoundPair[]): Promise<StepResult<RoundPair[]> & { judgments: PairJudgment[] }> {
  const judgments = await labeler.label(pairs.map((p) => p.item), { orders: 'both' });
  const r = applyRejudgments(pairs, judgments);
  r.counts.calls = judgments.reduce((s, j) => s + j.calls, 0);
  return { ...r, judgments };
}

export function mergeCurated(kept: readonly RoundPair[], rejudged: readonly RoundPair[]): StepResult<RoundPair[]> {
  const out = [...kept, ...rejudged];
  return { output: out, counts: { in: kept.length + rejudged.length, out: out.length, kept: kept.length, rejudged: rejudged.length } };
}
