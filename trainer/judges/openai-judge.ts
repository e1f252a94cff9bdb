/**
 * The OpenAI-compatible judge: chat completions through the official
 * `openai` client (any server that speaks the protocol: OpenAI, vLLM, the
 * simulated judge). The client's own retries are off (maxRetries: 0) so
 * that every attempt is seen and counted here, by kind:
 *
 * - malformed or leaking answers: dropped and asked again, `tries` answers
 *   in all (3, as the paper's pipeline does);
 * - 429: wait for Retry-After (retry-after-ms first, then Retry-After in
 *   seconds or as a date; capped), and hold every other call back as long;
 * - 5xx, timeouts, dropped connections: exponential backoff;
 *   these transient failures get `transientRetries` retries per call;
 * - other 4xx (bad key, bad request): no retry, the call fails;
 * - budget: no attempt starts once the calls or tokens of the round are spent.
 * So every call ends after a bounded number of bounded attempts.
 *
 * The API key goes to the client and nowhere else: not into logs, errors,
 * counters or cache keys.
 */
import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError } from 'openai';
import type { ChatCompletionContentPart, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { httpFetch } from './http-fetch.js';
import { Limiter } from './limiter.js';
import { JudgeError, type JudgeCall, type JudgeCallResult, type JudgeCounters, type JudgeProvider } from './provider.js';
import { buildRubricMessages, isRubricFailure, parseRubricAnswer, type RubricMode } from './rubric.js';

export interface OpenAIJudgeOptions {
  baseURL: string;
  /** Never logged. Servers without auth (a local vLLM, the simulated judge) accept any string. */
  apiKey: string;
  model: string;
  mode?: RubricMode;
  /** Calls in flight at once. Default 8: enough to hide ~1 s latencies at a few calls/s. */
  concurrency?: number;
  /** Starts per second; 0 = unlimited. Default 0 (the provider's 429s pace us when it must). */
  requestsPerSecond?: number;
  /** Per attempt. Default 60 s: multimodal judges answer a listwise rubric in 5-20 s. */
  timeoutMs?: number;
  /** Answers per call before a malformed/leaking call is given up. Default 3. */
  tries?: number;
  /** Retries per call after 429/5xx/timeouts/dropped connections. Default 5. */
  transientRetries?: number;
  /** First backoff after a 5xx, timeout or dropped connection, doubled each time (+-25% jitter). Default 500 ms. */
  backoffMs?: number;
  /** Longest Retry-After honoured; a longer one is cut to this. Default 60 s. */
  maxRetryAfterMs?: number;
  /** Budget of attempts (HTTP requests) for this provider's lifetime (a round). Default unlimited. */
  maxCalls?: number;
  /** Budget of tokens (usage.total_tokens) for this provider's lifetime. Default unlimited. */
  maxTokens?: number;
  temperature?: number;
  /** Extra request body fields (e.g. max_tokens), passed through. */
  extraBody?: Record<string, unknown>;
}

export class OpenAIJudge implements JudgeProvider {
  readonly model: string;
  readonly mode: RubricMode;
  private readonly client: OpenAI;
  private readonly limiter: Limiter;
  private readonly o: Required<Omit<OpenAIJudgeOptions, 'apiKey' | 'extraBody'>> & { extraBody: Record<string, unknown> };
  private readonly c: JudgeCounters = { calls: 0, tokens: 0, malformed: 0, leaking: 0, rateLimited: 0, serverErrors: 0, timeouts: 0, connectionErrors: 0, clientErrors: 0 };

  constructor(opts: OpenAIJudgeOptions) {
    this.o = {
      baseURL: opts.baseURL,
      model: opts.model,
      mode: opts.mode ?? 'listwise',
      concurrency: opts.concurrency ?? 8,
      requestsPerSecond: opts.requestsPerSecond ?? 0,
      timeoutMs: opts.timeoutMs ?? 60_000,
      tries: opts.tries ?? 3,
      transientRetries: opts.transientRetries ?? 5,
      backoffMs: opts.backoffMs ?? 500,
      maxRetryAfterMs: opts.maxRetryAfterMs ?? 60_000,
      maxCalls: opts.maxCalls ?? Infinity,
      maxTokens: opts.maxTokens ?? Infinity,
      // Deterministic-as-possible judging: the same pair should get the same verdict.
      temperature: opts.temperature ?? 0,
      extraBody: opts.extraBody ?? {},
    };
    if (!Number.isInteger(this.o.tries) || this.o.tries < 1) throw new RangeError(`judge tries must be an integer >= 1, got ${this.o.tries}`);
    if (!Number.isInteger(this.o.transientRetries) || this.o.transientRetries < 0) throw new RangeError(`judge transientRetries must be an integer >= 0, got ${this.o.transientRetries}`);
    if (!(this.o.timeoutMs > 0)) throw new RangeError(`judge timeoutMs must be > 0, got ${this.o.timeoutMs}`);
    this.model = opts.model;
    this.mode = this.o.mode;
    this.limiter = new Limiter(this.o.concurrency, this.o.requestsPerSecond);
    this.client = new OpenAI({
      baseURL: opts.baseURL, apiKey: opts.apiKey, maxRetries: 0, timeout: this.o.timeoutMs, logLevel: 'off',
      // A plain-http judge is a local one, where the global fetch costs more CPU than the judge (http-fetch.ts).
      ...(new URL(opts.baseURL).protocol === 'http:' ? { fetch: httpFetch(this.o.concurrency) } : {}),
    });
  }

  counters(): JudgeCounters {
    return { ...this.c };
  }

  /** Whether the budget still allows an attempt. */
  budgetLeft(): boolean {
    return this.c.calls < this.o.maxCalls && this.c.tokens < this.o.maxTokens;
  }

  async judge(call: JudgeCall): Promise<JudgeCallResult> {
    const messages = toMessages(call);
    const n = call.responses.length;
    let attempts = 0;
    let answers = 0;
    let transient = 0;
    let tokens = 0;
    let backoff = this.o.backoffMs;
    for (;;) {
      const outcome = await this.limiter.run(async () => {
        if (!this.budgetLeft()) {
          throw new JudgeError('budget', `judge budget spent: ${this.c.calls} of ${this.o.maxCalls} calls, ${this.c.tokens} of ${this.o.maxTokens} tokens`, { attempts });
        }
        this.c.calls++;
        attempts++;
        try {
          const completion = await this.client.chat.completions.create({
            model: this.o.model,
            messages,
            temperature: this.o.temperature,
            ...this.o.extraBody,
          } as OpenAI.Chat.ChatCompletionCreateParamsNonStreaming);
          const used = completion.usage?.total_tokens ?? 0;
          this.c.tokens += used;
          tokens += used;
          return { ok: true as const, text: completion.choices[0]?.message?.content ?? '' };
        } catch (err) {
          // Pause before this slot passes to the next call, or it would go out
          // straight into the same limit.
          if (err instanceof APIError && err.status === 429) this.limiter.pause(Math.min(this.o.maxRetryAfterMs, retryAfterMs(err) ?? backoff));
          return { ok: false as const, err };
        }
      });
      if (outcome.ok) {
        answers++;
        const parsed = parseRubricAnswer(outcome.text, n);
        if (!isRubricFailure(parsed)) return { overall: parsed.overall, attempts, tokens };
        this.c[parsed.kind]++;
        if (answers >= this.o.tries) throw new JudgeError(parsed.kind, `no valid judgment in ${answers} answers; last: ${parsed.detail}`, { attempts });
        continue;
      }
      const err = outcome.err;
      const kind = classify(err);
      if (kind === 'clientError') {
        this.c.clientErrors++;
        throw new JudgeError('clientError', `judge refused the request: ${(err as Error).message}`, { cause: err, attempts });
      }
      this.c[kind === 'timeout' ? 'timeouts' : kind === 'rateLimited' ? 'rateLimited' : kind === 'serverError' ? 'serverErrors' : 'connectionErrors']++;
      if (transient >= this.o.transientRetries) throw new JudgeError(kind, `judge failed ${transient + 1} times in a row, last: ${(err as Error).message}`, { cause: err, attempts });
      transient++;
      if (kind === 'rateLimited') {
        await sleep(Math.min(this.o.maxRetryAfterMs, retryAfterMs(err) ?? backoff));
      } else {
        await sleep(backoff * (0.75 + 0.5 * Math.random()));
      }
      backoff = Math.min(backoff * 2, 30_000);
    }
  }
}

function classify(err: unknown): 'rateLimited' | 'serverError' | 'timeout' | 'connectionError' | 'clientError' {
  if (err instanceof APIConnectionTimeoutError) return 'timeout';
  if (err instanceof APIConnectionError) return 'connectionError';
  if (err instanceof APIError) {
    const s = err.status;
    if (s === 429) return 'rateLimited';
    if (s === 408) return 'timeout';
    if (s === undefined || s >= 500) return 'serverError';
    return 'clientError';
  }
  // Anything else (a body that is not JSON, a bug in between) is the server's doing; retry it.
  return 'serverError';
}

/** retry-after-ms, else Retry-After (seconds or an HTTP date), in ms; undefined when absent or unreadable. */
export function retryAfterMs(err: unknown): number | undefined {
  const headers = err instanceof APIError ? err.headers : undefined;
  if (!headers) return undefined;
  const ms = Number.parseFloat(headers.get('retry-after-ms') ?? '');
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const raw = headers.get('retry-after');
  if (raw === null) return undefined;
  const s = Number.parseFloat(raw);
  if (Number.isFinite(s) && s >= 0) return s * 1000;
  const at = Date.parse(raw);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : undefined;
}

function toMessages(call: JudgeCall): ChatCompletionMessageParam[] {
  const m = buildRubricMessages(call);
  const content: ChatCompletionContentPart[] = [];
  if (call.images.length > 0) {
    content.push({ type: 'text', text: m.before });
    for (const img of call.images) content.push({ type: 'image_url', image_url: { url: dataUri(img) } });
  }
  content.push({ type: 'text', text: m.after });
  return [
    { role: 'system', content: m.system },
    { role: 'user', content },
  ];
}

/**
 * By the image's bytes object: the labeler hands the same bytes to both
 * orders of a pair (and a chunk's pairs share their images), so each image
 * is encoded once while it is in use, and dropped with it.
 */
const dataUris = new WeakMap<Uint8Array, string>();

export function dataUri(img: Uint8Array): string {
  let uri = dataUris.get(img);
  if (uri === undefined) {
    uri = `data:${imageMime(img)};base64,${Buffer.from(img.buffer, img.byteOffset, img.byteLength).toString('base64')}`;
    dataUris.set(img, uri);
  }
  return uri;
}

function imageMime(b: Uint8Array): string {
  if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'image/png';
  if (b[0] === 0xff && b[1] === 0xd8) return 'image/jpeg';
  if (b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45) return 'image/webp';
  // Judges sniff the bytes anyway; PNG is what this project writes.
  return 'image/png';
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
