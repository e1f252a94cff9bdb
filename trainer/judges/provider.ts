/**
 * The judge provider interface: one rubric call in, scores or a typed
 * failure out. The labeler (labeler.ts) only sees this; the one provider
 * shipped is the OpenAI-compatible client (openai-judge.ts), which also
 * talks to the simulated judge, since that one speaks the same protocol.
 */
import type { RubricInput, RubricMode } from './rubric.js';

export interface JudgeCall extends RubricInput {
  /** PNG/JPEG/WebP bytes in prompt order. */
  images: Uint8Array[];
}

/** What a failed attempt was; each kind has its counter in LabelerStats. */
export type JudgeFailureKind =
  | 'malformed'
  | 'leaking'
  | 'rateLimited'
  | 'serverError'
  | 'timeout'
  | 'connectionError'
  /** 4xx other than 429: the request or the credentials are wrong; retrying will not help. */
  | 'clientError'
  | 'budget';

export class JudgeError extends Error {
  override readonly name = 'JudgeError';
  /** HTTP requests this call made before it was given up. */
  readonly attempts: number;
  constructor(
    readonly kind: JudgeFailureKind,
    message: string,
    options: { cause?: unknown; attempts?: number } = {},
  ) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.attempts = options.attempts ?? 0;
  }
}

export interface JudgeCallResult {
  /** Overall Score per response, in the order the call listed them. */
  overall: number[];
  /** Attempts made (HTTP requests), the successful one included. */
  attempts: number;
  tokens: number;
}

export interface JudgeProvider {
  /** The judge model's name, as recorded in reports and cache keys. */
  readonly model: string;
  readonly mode: RubricMode;
  /** Throws JudgeError when the call could not produce a valid judgment within its tries or the budget. */
  judge(call: JudgeCall): Promise<JudgeCallResult>;
  /** Counters of every attempt so far, by outcome. */
  counters(): JudgeCounters;
}

export interface JudgeCounters {
  calls: number;
  tokens: number;
  malformed: number;
  leaking: number;
  rateLimited: number;
  serverErrors: number;
  timeouts: number;
  connectionErrors: number;
  clientErrors: number;
}
