import { describe, expect, it } from 'vitest';
import type { PairJudgment } from '../../../trainer/judges/types.js';
import { decide } from '../../../trainer/dt2it/votes.js';

const j = (votes: PairJudgment['votes'], scoreA: number, scoreB: number, complete = true): PairJudgment => ({ id: 'x', scoreA, scoreB, votes, complete, calls: 2, cached: 0 });

describe('decide (the vote rule)', () => {
  it('labels a pair both orders agree on, with the score gap as strength', () => {
    expect(decide(j({ a: 2, b: 0, tie: 0 }, 8, 5))).toEqual({ kind: 'label', label: 'a', strength: 3 });
    expect(decide(j({ a: 0, b: 2, tie: 0 }, 4, 7.5))).toEqual({ kind: 'label', label: 'b', strength: 3.5 });
  });
  it('one order each way, or a tie vote beside a win, is a tie', () => {
    expect(decide(j({ a: 1, b: 1, tie: 0 }, 6, 6))).toEqual({ kind: 'tie' });
    expect(decide(j({ a: 1, b: 0, tie: 1 }, 7, 6))).toEqual({ kind: 'tie' });
    expect(decide(j({ a: 0, b: 0, tie: 2 }, 6, 6))).toEqual({ kind: 'tie' });
  });
  it('a judgment missing an order is no label, even with a surviving vote', () => {
    expect(decide(j({ a: 1, b: 0, tie: 0 }, 8, 4, false))).toEqual({ kind: 'incomplete' });
    expect(decide(j({ a: 0, b: 0, tie: 0 }, NaN, NaN, true))).toEqual({ kind: 'incomplete' });
  });
  it('votes and scores pointing different ways is no label', () => {
    expect(decide(j({ a: 2, b: 0, tie: 0 }, 5, 6))).toEqual({ kind: 'tie' });
  });
  it('a single-order call is decisive on its own', () => {
    expect(decide(j({ a: 0, b: 1, tie: 0 }, 3, 9))).toEqual({ kind: 'label', label: 'b', strength: 6 });
  });
});
