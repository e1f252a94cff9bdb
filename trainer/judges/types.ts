/**
 * The contract between the judges (this folder) and the steps of a round that
 * need labels (construct, curation step 3). A round only sees `PairLabeler`:
 * which provider answers (an OpenAI-compatible endpoint, the simulated
 * ShapesWorld judge over the same HTTP protocol) is configuration.
 */

/** Two responses to the same images and prompt, as a judge sees them. */
export interface PairToJudge {
  /** Stable id of the pair; with the order and the judge model it keys the judgment cache. */
  id: string;
  /** PNG/JPEG/WebP bytes in prompt order. */
  images: Uint8Array[];
  system?: string;
  prompt: string;
  /** The reference answer, when the source has one; the rubric gives it to the judge. */
  reference?: string;
  a: string;
  b: string;
}

/** 'one': a single call with a and b in a seeded random order; 'both': a call in each order. */
export type JudgeOrders = 'one' | 'both';

export interface PairJudgment {
  id: string;
  /** Mean Overall Score of each response over its valid judgments; NaN when it has none. */
  scoreA: number;
  scoreB: number;
  /** One vote per valid call: which response that call scored higher (equal scores: tie). */
  votes: { a: number; b: number; tie: number };
  /** Every requested order produced a valid judgment. */
  complete: boolean;
  /** Judge calls made for this pair, cache hits excluded. */
  calls: number;
  /** Calls answered from the judgment cache. */
  cached: number;
}

export interface LabelerStats {
  calls: number;
  cached: number;
  malformed: number;
  leaking: number;
  rateLimited: number;
  serverErrors: number;
  timeouts: number;
  connectionErrors: number;
  tokens: number;
  /** Pairs given up on (retries or budget exhausted). */
  failed: number;
  /** 4xx answers other than 429 (bad key, bad request): not retried. */
  clientErrors?: number;
  /** Calls not made because the round's budget (calls or tokens) was spent. */
  budgetExhausted?: number;
}

export interface PairLabeler {
  /** The judge model's name, as recorded in reports and cache keys. */
  readonly model: string;
  label(pairs: PairToJudge[], opts: { orders: JudgeOrders; onProgress?: (done: number, total: number) => void }): Promise<PairJudgment[]>;
  stats(): LabelerStats;
}
