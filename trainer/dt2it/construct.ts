/**
 * Step 2 of a round, debiased preference construction: judged pairs become
 * training pairs.
 *
 * Every decisive pair is kept whatever its strength, so the training set
 * spans the whole range of strengths rather than only the clear-cut extremes
 * (which would teach the head only the easy differences); the strength goes
 * along as an optional Bradley-Terry margin, and the step reports how the
 * kept pairs spread over strength quartiles. Ties and incomplete judgments
 * are dropped (votes.ts). Position and style balance are the next functions
 * (balance.ts), applied to the merged training set.
 */
import type { JudgeOrders, PairJudgment, PairLabeler } from '../judges/types.js';
import type { StepResult } from './counts.js';
import type { RoundPair } from './round-pair.js';
import { decide } from './votes.js';

export interface ConstructOptions {
  /** Drop decisive pairs whose score gap is below this (default 0: keep all). */
  minStrength?: number;
}

export interface ConstructOutput {
  pairs: RoundPair[];
  /** Kept pairs per strength quartile of the kept set: [lower edge, count]. */
  strengthBins: { from: number; to: number; pairs: number }[];
}

export function constructFromJudgments(pairs: readonly RoundPair[], judgments: readonly PairJudgment[], o: ConstructOptions = {}): StepResult<ConstructOutput> {
  const byId = new Map(judgments.map((j) => [j.id, j]));
  const out: RoundPair[] = [];
  let tie = 0;
  let incomplete = 0;
  let weak = 0;
  for (const p of pairs) {
    const j = byId.get(p.item.id);
    const d = j ? decide(j) : { kind: 'incomplete' as const };
    if (d.kind === 'tie') tie++;
    else if (d.kind === 'incomplete') incomplete++;
    else if (d.strength < (o.minStrength ?? 0)) weak++;
    else out.push({ ...p, label: d.label, strength: d.strength });
  }
  return {
    output: { pairs: out, strengthBins: quartiles(out.map((p) => p.strength!)) },
    counts: { in: pairs.length, out: out.length, 'dropped.tie': tie, 'dropped.incomplete': incomplete, 'dropped.weak': weak },
  };
}

/** Labels unlabeled pairs through a judge: one call per pair ('one') or a call in each order ('both'). */
export async function constructWithJudge(labeler: PairLabeler, pairs: readonly RoundPair[], orders: JudgeOrders, o: ConstructOptions = {}): Promise<StepResult<ConstructOutput> & { judgments: PairJudgment[] }> {
  const judgments = await labeler.label(pairs.map((p) => p.item), { orders });
  const r = constructFromJudgments(pairs, judgments, o);
  r.counts.calls = judgments.reduce((s, j) => s + j.calls, 0);
  return { ...r, judgments };
}

function quartiles(values: number[]): ConstructOutput['strengthBins'] {
  if (values.length === 0) return [];
  const s = [...values].sort((a, b) => a - b);
  const q = (f: number) => s[Math.min(s.length - 1, Math.floor(f * s.length))]!;
  const edges = [s[0]!, q(0.25), q(0.5), q(0.75), s[s.length - 1]!];
  return [0, 1, 2, 3].map((i) => ({
    from: edges[i]!,
    to: edges[i + 1]!,
    pairs: s.filter((v) => (i === 0 ? v >= edges[0]! : v > edges[i]!) && (i === 3 || v <= edges[i + 1]!)).length,
  }));
}
