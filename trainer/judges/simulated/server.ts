/**
 * The simulated ShapesWorld judge behind the OpenAI chat-completions
 * protocol (POST /v1/chat/completions), so that tests, benchmarks and the
 * demo run the real client (the `openai` package) against it.
 *
 * It reads the scene of every image from the PNG's text chunk, the rubric
 * prompt back into question and responses, decides who is right from the
 * truth, and answers as judgePolicy says (accuracy and biases). It also
 * misbehaves on purpose, each at its own rate: malformed or leaking answers,
 * 429 with Retry-After, 500, dropped connections, slow answers.
 *
 * Verdicts are a function of the request's content and the seed (the same
 * call gets the same verdict, whoever retries it); faults come from one
 * sequential stream, so a retry can succeed where the first try failed.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deriveSeed, hash32, Rng } from '../../shapes/rng.js';
import { sceneFromPng } from '../../shapes/scene-text.js';
import type { Scene } from '../../shapes/world.js';
import { callKey } from '../cache.js';
import { parseRubricPrompt, RUBRIC_VERSION, type ParsedRubricPrompt } from '../rubric.js';
import { checkPolicyConfig, DEFAULT_POLICY, judgePolicy, type JudgePolicyConfig, type ResponseScore } from './policy.js';
import { assessResponses, isVerbose } from './truth.js';

export interface SimulatedJudgeOptions extends JudgePolicyConfig {
  host: string;
  /** 0: any free port. */
  port: number;
  seed: number;
  /** The model name it answers as (any requested name is accepted). */
  model: string;
  /** When set, requests must carry `Authorization: Bearer <apiKey>` (401 otherwise). */
  apiKey?: string;
  /** P(an answer that is not the rubric's JSON). */
  malformedRate: number;
  /** P(a well-formed answer whose rationale cites another response or the reference). */
  leakRate: number;
  /** P(429 with Retry-After / retry-after-ms = retryAfterMs). */
  rateLimitRate: number;
  /** P(500). */
  serverErrorRate: number;
  /** P(the connection is closed without an answer). */
  dropRate: number;
  /** P(an answer delayed by slowMs, to exceed a client's timeout). */
  slowRate: number;
  slowMs: number;
  /** Every answer's latency: latencyMs + uniform [0, latencyJitterMs). */
  latencyMs: number;
  latencyJitterMs: number;
  retryAfterMs: number;
}

// Defaults: an honest, instant judge with the benchmark's flaws (policy.ts);
// every kind of misbehaviour is off unless asked for.
export const DEFAULT_SIMULATED_JUDGE: Readonly<SimulatedJudgeOptions> = {
  ...DEFAULT_POLICY,
  host: '127.0.0.1',
  port: 0,
  seed: 0,
  model: 'shapesworld-judge',
  malformedRate: 0,
  leakRate: 0,
  rateLimitRate: 0,
  serverErrorRate: 0,
  dropRate: 0,
  slowRate: 0,
  slowMs: 5000,
  latencyMs: 0,
  latencyJitterMs: 0,
  // Whole seconds go in Retry-After (rounded up), milliseconds in retry-after-ms.
  retryAfterMs: 100,
};

export type JudgeOutcome = 'ok' | 'malformed' | 'leaking' | 'rateLimited' | 'serverError' | 'dropped' | 'slow' | 'badRequest' | 'unauthorized';

export interface SimulatedJudge {
  /** The base URL for an OpenAI client: http://host:port/v1 */
  readonly baseURL: string;
  readonly port: number;
  readonly options: Readonly<SimulatedJudgeOptions>;
  /** Requests received, by what the judge did with them. */
  counts(): Record<JudgeOutcome, number> & { requests: number };
  /**
   * Every request in arrival order: when it arrived (ms since epoch), what
   * was done with it, and, once its body read as a rubric call, its content
   * key (the last 100,000).
   */
  requestLog(): readonly RequestLogEntry[];
  close(): Promise<void>;
}

export interface RequestLogEntry {
  at: number;
  outcome: JudgeOutcome | 'pending';
  /**
   * The judgment cache's key for this call (cache.ts callKey: judge model,
   * rubric, mode, images by sha256, texts, responses in the order listed), so
   * a test can tell which cached judgments were asked for again.
   */
  key?: string;
}

const MAX_BODY_BYTES = 64 * 1024 * 1024;

export async function startSimulatedJudge(opts: Partial<SimulatedJudgeOptions> = {}): Promise<SimulatedJudge> {
  const o: SimulatedJudgeOptions = { ...DEFAULT_SIMULATED_JUDGE, ...opts };
  checkOptions(o);
  const faults = Rng.fromSeed(o.seed).child('faults');
  const sceneOf = sceneCache();
  const counts = { requests: 0, ok: 0, malformed: 0, leaking: 0, rateLimited: 0, serverError: 0, dropped: 0, slow: 0, badRequest: 0, unauthorized: 0 };
  const timers = new Set<NodeJS.Timeout>();
  const log: RequestLogEntry[] = [];
  const sleep = (ms: number): Promise<void> =>
    ms <= 0
      ? Promise.resolve()
      : new Promise((resolve) => {
          const t = setTimeout(() => {
            timers.delete(t);
            resolve();
          }, ms);
          timers.add(t);
        });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    counts.requests++;
    const entry: RequestLogEntry = { at: Date.now(), outcome: 'pending' };
    log.push(entry);
    if (log.length > 100_000) log.splice(0, log.length - 100_000);
    const count = (k: JudgeOutcome): void => {
      counts[k]++;
      entry.outcome = k;
    };
    // A client that gave up (its timeout) closes the connection: nothing more is answered or counted.
    let gone = false;
    res.on('close', () => {
      if (!res.writableFinished) gone = true;
    });
    if (req.method !== 'POST' || !(req.url ?? '').replace(/\?.*$/, '').endsWith('/chat/completions')) {
      count('badRequest');
      return sendError(res, 404, `no route ${req.method} ${req.url}; this judge serves POST /v1/chat/completions`, 'not_found');
    }
    if (o.apiKey !== undefined && req.headers.authorization !== `Bearer ${o.apiKey}`) {
      count('unauthorized');
      return sendError(res, 401, 'invalid API key', 'invalid_api_key');
    }
    let body: unknown;
    try {
      body = JSON.parse((await readBody(req)).toString('utf8'));
    } catch (err) {
      count('badRequest');
      return sendError(res, 400, `request body: ${(err as Error).message}`, 'invalid_request_error');
    }
    const request = readRequest(body);
    if (typeof request === 'string') {
      count('badRequest');
      return sendError(res, 400, request, 'invalid_request_error');
    }
    entry.key = requestKey(request);
    // One draw of each kind per request, always, so the rates stay independent.
    const [uDrop, u429, u500, uSlow, uMal, uLeak, uKind, uLat] = Array.from({ length: 8 }, () => faults.next());
    await sleep(o.latencyMs + (uLat as number) * o.latencyJitterMs);
    if ((uDrop as number) < o.dropRate) {
      count('dropped');
      req.socket.destroy();
      return;
    }
    if ((u429 as number) < o.rateLimitRate) {
      count('rateLimited');
      res.setHeader('retry-after', String(Math.max(1, Math.ceil(o.retryAfterMs / 1000))));
      res.setHeader('retry-after-ms', String(o.retryAfterMs));
      return sendError(res, 429, 'rate limit reached; retry after the given time', 'rate_limit_exceeded');
    }
    if ((u500 as number) < o.serverErrorRate) {
      count('serverError');
      return sendError(res, 500, 'the judge had an internal error', 'server_error');
    }
    if ((uSlow as number) < o.slowRate) {
      count('slow');
      await sleep(o.slowMs);
      if (gone || res.destroyed) return;
    }
    const scores = verdict(o, request, sceneOf);
    let content: string;
    if ((uMal as number) < o.malformedRate) {
      count('malformed');
      content = malformedAnswer(uKind as number, request.responses.length);
    } else if ((uLeak as number) < o.leakRate) {
      count('leaking');
      content = answerJson(scores, uKind as number);
    } else {
      count('ok');
      content = answerJson(scores);
    }
    const promptTokens = Math.ceil(request.textChars / 4) + 85 * request.images.length;
    const completionTokens = Math.ceil(content.length / 4);
    sendJson(res, 200, {
      id: `chatcmpl-sim-${counts.requests}`,
      object: 'chat.completion',
      created: Math.floor(Date.now() / 1000),
      model: request.model || o.model,
      choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop', logprobs: null }],
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) sendError(res, 500, `simulated judge: ${(err as Error).message}`, 'server_error');
    });
  });
  // Idle keep-alive sockets are closed by the client, never by us first: a
  // server-side close racing a client's next request on that socket is a
  // spurious "connection error" (seen at 5 s on this loaded machine).
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    baseURL: `http://${o.host}:${port}/v1`,
    port,
    options: o,
    counts: () => ({ ...counts }),
    requestLog: () => log,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface JudgeRequest {
  model: string;
  images: Uint8Array[];
  text: string;
  textChars: number;
  /** sha256 hex per image, computed once per request. */
  imageSha256: string[];
  responses: string[];
  prompt: string;
  rubric: ParsedRubricPrompt;
}

const DATA_URI_HEADER = /^data:image\/[a-z+.-]+;base64,$/;

/** The last user message's text and images, and the rubric read back out of it; or what is wrong. */
function readRequest(body: unknown): JudgeRequest | string {
  if (typeof body !== 'object' || body === null) return 'the body must be a JSON object';
  const b = body as { model?: unknown; messages?: unknown };
  if (!Array.isArray(b.messages) || b.messages.length === 0) return 'messages: a non-empty array is required';
  const user = [...b.messages].reverse().find((m) => (m as { role?: unknown })?.role === 'user') as { content?: unknown } | undefined;
  if (!user) return 'messages: no user message';
  const texts: string[] = [];
  const images: Uint8Array[] = [];
  const parts = typeof user.content === 'string' ? [{ type: 'text', text: user.content }] : user.content;
  if (!Array.isArray(parts)) return 'messages[].content: a string or an array of parts is required';
  for (const [i, p] of parts.entries()) {
    const part = p as { type?: unknown; text?: unknown; image_url?: { url?: unknown } };
    if (part.type === 'text' && typeof part.text === 'string') texts.push(part.text);
    else if (part.type === 'image_url' && typeof part.image_url?.url === 'string') {
      // The header by itself: a regex over the whole URI scanned every base64 character of every image.
      const url = part.image_url.url;
      const comma = url.indexOf(',');
      if (comma < 0 || !DATA_URI_HEADER.test(url.slice(0, comma + 1))) return `content[${i}].image_url.url: only data: URIs are accepted here`;
      images.push(Buffer.from(url.slice(comma + 1), 'base64'));
    } else return `content[${i}]: unsupported part type ${String(part.type)}`;
  }
  const text = texts.join('\n');
  const rubric = parseRubricPrompt(text);
  if (!rubric) return 'the user message is not a rubric prompt (no [Question] and [Response 1] sections)';
  // Text only: images are priced per image below, not by their base64 length.
  const textChars = b.messages.reduce<number>((n, m) => {
    const c = (m as { content?: unknown }).content;
    if (typeof c === 'string') return n + c.length;
    if (!Array.isArray(c)) return n;
    return n + c.reduce<number>((k, p) => k + (typeof (p as { text?: unknown }).text === 'string' ? ((p as { text: string }).text.length) : 0), 0);
  }, 0);
  const imageSha256 = images.map((img) => createHash('sha256').update(img).digest('hex'));
  return { model: typeof b.model === 'string' ? b.model : '', images, imageSha256, text, textChars, responses: rubric.responses, prompt: rubric.prompt, rubric };
}

/**
 * The key the client's judgment cache files this call under. The rubric
 * version is the one this judge reads (parseRubricPrompt changes with it);
 * the mode is read from the call's shape: the labeler's listwise calls list
 * two or more responses, its pointwise calls one.
 */
function requestKey(r: JudgeRequest): string {
  return callKey({
    model: r.model,
    rubric: RUBRIC_VERSION,
    mode: r.responses.length === 1 ? 'pointwise' : 'listwise',
    imageSha256: r.imageSha256,
    ...(r.rubric.system !== undefined ? { system: r.rubric.system } : {}),
    prompt: r.rubric.prompt,
    ...(r.rubric.reference !== undefined ? { reference: r.rubric.reference } : {}),
    responses: r.responses,
  });
}

/**
 * Scenes by image sha256: a round asks about each image at least twice (both
 * orders of its pair), and reading the PNG's chunks and its scene JSON costs
 * more than the lookup. Bounded: cleared when full, a miss only costs a re-read.
 * 4096 images: a round hands the judge 256 pairs (at most 512 images) at a
 * time, so both orders of every pair in several chunks hit, in a few MB.
 */
const SCENE_CACHE_ENTRIES = 4096;

function sceneCache(): (img: Uint8Array, sha: string) => Scene | undefined {
  const scenes = new Map<string, Scene | undefined>();
  return (img, sha) => {
    if (scenes.has(sha)) return scenes.get(sha);
    if (scenes.size >= SCENE_CACHE_ENTRIES) scenes.clear();
    const scene = sceneFromPng(img);
    scenes.set(sha, scene);
    return scene;
  };
}

function verdict(o: SimulatedJudgeOptions, r: JudgeRequest, sceneOf: (img: Uint8Array, sha: string) => Scene | undefined): ResponseScore[] {
  const scenes: (Scene | undefined)[] = r.images.map((img, i) => sceneOf(img, r.imageSha256[i]!));
  const correct = assessResponses(scenes, r.prompt, r.responses);
  const views = r.responses.map((text, i) => ({ correct: correct[i] ?? null, verbose: isVerbose(text) }));
  const h = createHash('sha256').update(r.text);
  for (const img of r.images) h.update(img);
  const rng = new Rng(deriveSeed(o.seed, 'verdict', hash32(h.digest('hex'))));
  return judgePolicy(views, o, rng);
}

const RATIONALE = { high: 'The claim agrees with what the image shows.', low: 'The claim does not agree with what the image shows.' };

function answerJson(scores: ResponseScore[], leakKind?: number): string {
  const evaluations = scores.map((s, i) => ({
    response: i + 1,
    ...s.criteria,
    overall_score: s.overall,
    rationale: s.overall >= 6 ? RATIONALE.high : RATIONALE.low,
  }));
  if (leakKind !== undefined) {
    const e = evaluations[0] as { rationale: string };
    const other = scores.length > 1 ? 2 : 1;
    e.rationale = [
      `It matches the reference answer.`,
      `It is better than Assistant ${other}.`,
      `Unlike Response ${other === 1 ? 2 : other}, it reads the image correctly.`,
    ][Math.floor(leakKind * 3)] as string;
  }
  return JSON.stringify({ evaluations });
}

function malformedAnswer(u: number, n: number): string {
  const kinds = [
    () => 'I am sorry, but I cannot evaluate these responses.',
    () => JSON.stringify({ evaluations: [{ response: 1, overall_score: 'high' }] }),
    () => `{"evaluations": [{"response": 1, "accuracy": 7, "rationale": "The claim`,
    () => JSON.stringify({ evaluations: Array.from({ length: n + 1 }, (_, i) => ({ response: i + 1, overall_score: 5 })) }),
  ];
  return (kinds[Math.floor(u * kinds.length)] as () => string)();
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error(`larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, message: string, code: string): void {
  sendJson(res, status, { error: { message, type: code, code, param: null } });
}

function checkOptions(o: SimulatedJudgeOptions): void {
  checkPolicyConfig({ accuracy: o.accuracy, positionBias: o.positionBias, verbosityBias: o.verbosityBias });
  for (const k of ['malformedRate', 'leakRate', 'rateLimitRate', 'serverErrorRate', 'dropRate', 'slowRate'] as const) {
    if (!Number.isFinite(o[k]) || o[k] < 0 || o[k] > 1) throw new RangeError(`simulated judge ${k} must be a probability in [0, 1], got ${o[k]}`);
  }
  for (const k of ['slowMs', 'latencyMs', 'latencyJitterMs', 'retryAfterMs'] as const) {
    if (!Number.isFinite(o[k]) || o[k] < 0) throw new RangeError(`simulated judge ${k} must be >= 0 ms, got ${o[k]}`);
  }
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new RangeError(`simulated judge port must be 0-65535, got ${o.port}`);
}
