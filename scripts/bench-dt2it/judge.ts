/**
 * The judge the benchmark labels with: the simulated ShapesWorld judge,
 * served over the OpenAI HTTP protocol in this process and called through
 * the real client (trainer/judges), with its judgment cache in memory so a
 * pair asked about again in the same order is not judged twice.
 */
import type { PairLabeler } from '../../trainer/judges/types.js';
import { simulatedLabeler } from '../../trainer/judges/simulated-labeler.js';
import { DEFAULT_POLICY } from '../../trainer/judges/simulated/policy.js';

export interface JudgeSettings {
  accuracy: number;
  positionBias: number;
  verbosityBias: number;
}

export const DEFAULT_JUDGE: JudgeSettings = { ...DEFAULT_POLICY };

export async function benchJudge(s: JudgeSettings, seed: number): Promise<{ labeler: PairLabeler; close: () => Promise<void>; kind: string }> {
  const sim = await simulatedLabeler({ judge: { ...s, seed }, seed });
  return { labeler: sim.labeler, close: () => sim.close(), kind: `simulated ShapesWorld judge over HTTP (${sim.judge.options.model})` };
}
