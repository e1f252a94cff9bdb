/**
 * From a judgment to a label: the vote rule shared by debiased construction
 * and curation step 3.
 *
 * A label needs a strict majority of all valid calls on one side, ties
 * counted as calls: with both orders that means both calls agree, so a pair
 * the judge prefers only in one order (position bias) is no label. A
 * judgment missing an order is not a label either: one surviving call is
 * exactly the single-order judgment the both-orders rule exists to avoid.
 * The strength is the gap between the mean scores, and must point the same
 * way as the votes (it can only disagree if the scores are inconsistent).
 */
import type { PairJudgment } from '../judges/types.js';
import type { Side } from './round-pair.js';

export type Decision =
  | { kind: 'label'; label: Side; strength: number }
  | { kind: 'tie' }
  | { kind: 'incomplete' };

export function decide(j: PairJudgment): Decision {
  if (!j.complete) return { kind: 'incomplete' };
  const { a, b, tie } = j.votes;
  const total = a + b + tie;
  if (total === 0) return { kind: 'incomplete' };
  const gap = j.scoreA - j.scoreB;
  if (2 * a > total && gap > 0) return { kind: 'label', label: 'a', strength: gap };
  if (2 * b > total && gap < 0) return { kind: 'label', label: 'b', strength: -gap };
  return { kind: 'tie' };
}
