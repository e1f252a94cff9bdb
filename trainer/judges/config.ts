/**
 * The judge's settings for a round: endpoint, model, key, limits, budget.
 * Sources, later winning: defaults < a JSON object (a round's config file)
 * < environment MRM_JUDGE_*. The key comes from MRM_JUDGE_API_KEY or the
 * file named by MRM_JUDGE_API_KEY_FILE (a mounted secret); it is secret:
 * `redactJudgeConfig` is what may be printed.
 */
import { readFile } from 'node:fs/promises';
import type { OpenAIJudgeOptions } from './openai-judge.js';
import type { RubricMode } from './rubric.js';

export interface JudgeConfig {
  baseURL: string;
  model: string;
  apiKey: string;
  mode: RubricMode;
  concurrency: number;
  requestsPerSecond: number;
  timeoutMs: number;
  tries: number;
  /** 0 = unlimited. */
  maxCalls: number;
  /** 0 = unlimited. */
  maxTokens: number;
}

export const JUDGE_DEFAULTS: Readonly<JudgeConfig> = {
  // The simulated judge of `mrm judge serve` on its default port.
  baseURL: 'http://127.0.0.1:8787/v1',
  model: 'shapesworld-judge',
  apiKey: '',
  mode: 'listwise',
  // See OpenAIJudgeOptions for why each default is what it is.
  concurrency: 8,
  requestsPerSecond: 0,
  timeoutMs: 60_000,
  tries: 3,
  maxCalls: 0,
  maxTokens: 0,
};

export class JudgeConfigError extends Error {
  override readonly name = 'JudgeConfigError';
  readonly kind = 'invalid-judge-config';
}

const ENV: Readonly<Record<keyof JudgeConfig, string>> = {
  baseURL: 'MRM_JUDGE_BASE_URL',
  model: 'MRM_JUDGE_MODEL',
  apiKey: 'MRM_JUDGE_API_KEY',
  mode: 'MRM_JUDGE_MODE',
  concurrency: 'MRM_JUDGE_CONCURRENCY',
  requestsPerSecond: 'MRM_JUDGE_REQUESTS_PER_SECOND',
  timeoutMs: 'MRM_JUDGE_TIMEOUT_MS',
  tries: 'MRM_JUDGE_TRIES',
  maxCalls: 'MRM_JUDGE_MAX_CALLS',
  maxTokens: 'MRM_JUDGE_MAX_TOKENS',
};

export async function judgeConfigFromEnv(env: NodeJS.ProcessEnv = process.env, file: Partial<Record<keyof JudgeConfig, unknown>> = {}): Promise<JudgeConfig> {
  const out: Record<string, unknown> = { ...JUDGE_DEFAULTS };
  for (const [k, v] of Object.entries(file)) {
    if (!(k in JUDGE_DEFAULTS)) throw new JudgeConfigError(`judge config: unknown key '${k}' (known: ${Object.keys(JUDGE_DEFAULTS).join(', ')})`);
    out[k] = v;
  }
  for (const [k, name] of Object.entries(ENV) as [keyof JudgeConfig, string][]) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    out[k] = typeof JUDGE_DEFAULTS[k] === 'number' ? Number(raw) : raw;
  }
  const keyFile = env.MRM_JUDGE_API_KEY_FILE;
  if ((out.apiKey === '' || out.apiKey === undefined) && keyFile) {
    try {
      out.apiKey = (await readFile(keyFile, 'utf8')).trim();
    } catch (err) {
      // The path is not secret; the contents are never in the message.
      throw new JudgeConfigError(`MRM_JUDGE_API_KEY_FILE: cannot read ${keyFile}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  const c = out as unknown as JudgeConfig;
  const where = (k: keyof JudgeConfig): string => `${k} (${ENV[k]})`;
  if (typeof c.baseURL !== 'string' || !/^https?:\/\//.test(c.baseURL)) throw new JudgeConfigError(`judge ${where('baseURL')}: an http(s) URL is required, got '${String(c.baseURL)}'`);
  if (typeof c.model !== 'string' || c.model === '') throw new JudgeConfigError(`judge ${where('model')}: a model name is required`);
  if (typeof c.apiKey !== 'string') throw new JudgeConfigError(`judge ${where('apiKey')}: a string is required`);
  if (c.mode !== 'listwise' && c.mode !== 'pointwise') throw new JudgeConfigError(`judge ${where('mode')}: listwise or pointwise, got '${String(c.mode)}'`);
  const int = (k: keyof JudgeConfig, min: number): void => {
    const v = c[k] as number;
    if (!Number.isInteger(v) || v < min) throw new JudgeConfigError(`judge ${where(k)}: an integer >= ${min} is required, got '${String(v)}'`);
  };
  int('concurrency', 1);
  int('timeoutMs', 1);
  int('tries', 1);
  int('maxCalls', 0);
  int('maxTokens', 0);
  if (!Number.isFinite(c.requestsPerSecond) || c.requestsPerSecond < 0) throw new JudgeConfigError(`judge ${where('requestsPerSecond')}: a number >= 0 is required`);
  return c;
}

export function redactJudgeConfig(c: JudgeConfig): Omit<JudgeConfig, 'apiKey'> & { apiKey: string } {
  return { ...c, apiKey: c.apiKey === '' ? '' : '[redacted]' };
}

export function openAIJudgeOptions(c: JudgeConfig): OpenAIJudgeOptions {
  return {
    baseURL: c.baseURL,
    // Local servers take any key; the client library insists on one.
    apiKey: c.apiKey === '' ? 'none' : c.apiKey,
    model: c.model,
    mode: c.mode,
    concurrency: c.concurrency,
    requestsPerSecond: c.requestsPerSecond,
    timeoutMs: c.timeoutMs,
    tries: c.tries,
    ...(c.maxCalls > 0 ? { maxCalls: c.maxCalls } : {}),
    ...(c.maxTokens > 0 ? { maxTokens: c.maxTokens } : {}),
  };
}
