/** mrm judge serve: the simulated ShapesWorld judge over the OpenAI chat-completions protocol. */
import { DEFAULT_SIMULATED_JUDGE, startSimulatedJudge, type SimulatedJudgeOptions } from '../../trainer/judges/simulated/server.js';
import { num, parse, str, UsageError } from './args.js';

const D = DEFAULT_SIMULATED_JUDGE;
const HELP = `usage: mrm judge serve [--port P] [--host H] [options]

  The simulated ShapesWorld judge: POST /v1/chat/completions, answering the
  DT2IT rubric from the scenes the images carry. Point a round's judge at
  http://HOST:PORT/v1 (MRM_JUDGE_BASE_URL).

  --port P             (default 8787; 0 = any free port, printed)
  --host H             (default ${D.host})
  --model NAME         model name it answers as (default ${D.model})
  --seed S             verdict and fault streams (default ${D.seed})
  --accuracy A         P(prefers the right response) (default ${D.accuracy})
  --position-bias P    P(prefers the first-listed response) (default ${D.positionBias})
  --verbosity-bias V   P(prefers the verbose response when styles differ) (default ${D.verbosityBias})
  --malformed-rate R   P(an answer that is not the rubric's JSON) (default 0)
  --leak-rate R        P(an answer that cites another response or the reference) (default 0)
  --rate-limit-rate R  P(429 with Retry-After) (default 0)
  --retry-after-ms MS  the Retry-After it asks for (default ${D.retryAfterMs})
  --server-error-rate R  P(500) (default 0)
  --drop-rate R        P(connection closed without an answer) (default 0)
  --slow-rate R        P(an answer delayed by --slow-ms) (default 0)
  --slow-ms MS         (default ${D.slowMs})
  --latency-ms MS      every answer's latency (default 0)
  --latency-jitter-ms MS  plus a uniform draw from 0 to MS (default 0)
  API key: when MRM_JUDGE_API_KEY is set, requests must carry it as a Bearer token.`;

const FLAGS: Record<string, keyof SimulatedJudgeOptions> = {
  accuracy: 'accuracy',
  'position-bias': 'positionBias',
  'verbosity-bias': 'verbosityBias',
  'malformed-rate': 'malformedRate',
  'leak-rate': 'leakRate',
  'rate-limit-rate': 'rateLimitRate',
  'server-error-rate': 'serverErrorRate',
  'drop-rate': 'dropRate',
  'slow-rate': 'slowRate',
};
const MS_FLAGS: Record<string, keyof SimulatedJudgeOptions> = {
  'retry-after-ms': 'retryAfterMs',
  'slow-ms': 'slowMs',
  'latency-ms': 'latencyMs',
  'latency-jitter-ms': 'latencyJitterMs',
};

export async function run(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === '--help' || sub === '-h') return void parse(['--help'], {}, HELP);
  if (sub !== 'serve') throw new UsageError(sub ? `unknown subcommand '${sub}'\n\n${HELP}` : HELP);
  const options = Object.fromEntries([...Object.keys(FLAGS), ...Object.keys(MS_FLAGS), 'port', 'host', 'model', 'seed'].map((k) => [k, { type: 'string' as const }]));
  const { values } = parse(rest, options, HELP);
  const o: Partial<SimulatedJudgeOptions> = {
    port: num(values, 'port', 8787, { integer: true, min: 0, max: 65535 }),
    host: str(values, 'host', D.host)!,
    model: str(values, 'model', D.model)!,
    seed: num(values, 'seed', D.seed, { integer: true, min: 0 }),
  };
  for (const [flag, key] of Object.entries(FLAGS)) (o as Record<string, number>)[key] = num(values, flag, D[key] as number, { min: 0, max: 1 });
  for (const [flag, key] of Object.entries(MS_FLAGS)) (o as Record<string, number>)[key] = num(values, flag, D[key] as number, { min: 0 });
  const key = process.env.MRM_JUDGE_API_KEY;
  if (key) o.apiKey = key;
  const judge = await startSimulatedJudge(o);
  const { apiKey: _secret, ...shown } = { ...judge.options, port: judge.port };
  console.log(JSON.stringify({ event: 'judge.listening', baseURL: judge.baseURL, auth: key ? 'bearer [redacted]' : 'none', ...shown }));
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      void judge.close().then(() => {
        console.log(JSON.stringify({ event: 'judge.stopped', ...judge.counts() }));
        resolve();
      });
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}
