import { sampleSplit } from '../../../trainer/shapes/pairs.js';
import type { PairSample } from '../../../trainer/shapes/pair-sample.js';
import { shapesPairsToJudge } from '../../../trainer/judges/shapes-pairs.js';
import type { PairJudgment, PairToJudge } from '../../../trainer/judges/types.js';

const memo = new Map<string, Promise<{ samples: PairSample[]; pairs: PairToJudge[] }>>();

/** A ShapesWorld split rendered once per test file. */
export function shapesPairs(seed: number, n: number): Promise<{ samples: PairSample[]; pairs: PairToJudge[] }> {
  const k = `${seed}/${n}`;
  let p = memo.get(k);
  if (!p) {
    p = (async () => {
      const samples = sampleSplit(seed, n);
      return { samples, pairs: await shapesPairsToJudge(samples) };
    })();
    memo.set(k, p);
  }
  return p;
}

/** Share of judgments that prefer the true response (ties count as wrong). */
export function accuracy(js: readonly PairJudgment[], samples: readonly PairSample[]): number {
  let right = 0;
  js.forEach((j, i) => {
    if (j.scoreA !== j.scoreB && (j.scoreA > j.scoreB ? 'a' : 'b') === samples[i]!.truth) right++;
  });
  return right / js.length;
}
