/**
 * The judge the benchmark labels with. Until the simulated ShapesWorld judge
 * (trainer/judges) is merged, a stand-in with the same knobs that reads the
 * truth from the generator's samples.
 */
import type { PairLabeler } from '../../trainer/judges/types.js';
import type { PairSample } from '../../trainer/shapes/pair-sample.js';
import { TruthLabeler } from '../../test/trainer/dt2it/truth-labeler.js';

export interface JudgeSettings {
  accuracy: number;
  positionBias: number;
  verbosityBias: number;
}

export const DEFAULT_JUDGE: JudgeSettings = { accuracy: 0.85, positionBias: 0.1, verbosityBias: 0.15 };

export async function benchJudge(samples: Map<string, PairSample>, s: JudgeSettings, seed: number): Promise<{ labeler: PairLabeler; close: () => Promise<void>; kind: string }> {
  const better = new Map([...samples].map(([id, x]) => [id, x.responses[x.truth === 'a' ? 0 : 1]]));
  return { labeler: new TruthLabeler(better, { ...s, seed }), close: async () => {}, kind: 'stand-in (truth labeler)' };
}
