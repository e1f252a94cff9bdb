import { afterEach, describe, expect, it } from 'vitest';
import { JudgeLabeler } from '../../../trainer/judges/labeler.js';
import { OpenAIJudge } from '../../../trainer/judges/openai-judge.js';
import { startSimulatedJudge, type SimulatedJudge } from '../../../trainer/judges/simulated/server.js';
import { accuracy, shapesPairs } from './helpers.js';

let judge: SimulatedJudge | undefined;
afterEach(async () => {
  await judge?.close();
  judge = undefined;
});

describe('pointwise rubric', () => {
  it('scores each response in its own call; one vote per pair; the right response scores higher', async () => {
    const { samples, pairs } = await shapesPairs(15, 80);
    judge = await startSimulatedJudge({ accuracy: 1, positionBias: 0, verbosityBias: 0 });
    const labeler = new JudgeLabeler({ provider: new OpenAIJudge({ baseURL: judge.baseURL, apiKey: 'x', model: 'm', mode: 'pointwise' }) });
    const js = await labeler.label(pairs, { orders: 'both' });
    expect(judge.counts().ok).toBe(160);
    expect(js.every((j) => j.complete && j.calls === 2 && j.votes.a + j.votes.b + j.votes.tie === 1)).toBe(true);
    expect(accuracy(js, samples)).toBe(1);
  });
});
