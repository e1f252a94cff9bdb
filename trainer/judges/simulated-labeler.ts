/**
 * The simulated judge started in this process and a PairLabeler that talks
 * to it over HTTP through the real client: what tests, benchmarks and the
 * demo use in place of a paid judge.
 */
import { JudgeLabeler } from './labeler.js';
import { OpenAIJudge, type OpenAIJudgeOptions } from './openai-judge.js';
import { startSimulatedJudge, type SimulatedJudge, type SimulatedJudgeOptions } from './simulated/server.js';

export interface SimulatedLabeler {
  judge: SimulatedJudge;
  provider: OpenAIJudge;
  labeler: JudgeLabeler;
  close(): Promise<void>;
}

export async function simulatedLabeler(
  opts: { judge?: Partial<SimulatedJudgeOptions>; client?: Partial<OpenAIJudgeOptions>; cacheDir?: string; seed?: number } = {},
): Promise<SimulatedLabeler> {
  const judge = await startSimulatedJudge(opts.judge);
  const provider = new OpenAIJudge({
    baseURL: judge.baseURL,
    apiKey: opts.judge?.apiKey ?? 'simulated',
    model: judge.options.model,
    // Loopback and no real latency: more in flight only queues in the server.
    concurrency: 16,
    ...opts.client,
  });
  const labeler = new JudgeLabeler({ provider, ...(opts.cacheDir !== undefined ? { cacheDir: opts.cacheDir } : {}), seed: opts.seed ?? 0 });
  return { judge, provider, labeler, close: () => judge.close() };
}
