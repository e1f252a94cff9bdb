/**
 * Which pairs the server logs: the ones it is unsure of, sampled, rate
 * limited and deduplicated. Pure (clock and randomness are injected), so the
 * decisions are unit-tested without a server.
 *
 * A pair qualifies when P(a > b) = sigmoid(margin) is within `band` of 0.5,
 * or when the ensemble heads disagree on its order (some head puts a above b,
 * another b above a). From a group, the candidates are the responses adjacent
 * in reward order: the pairs a ranker would have to get right and the model
 * separates least.
 */
import { LRUCache } from 'lru-cache';

export interface PolicyConfig {
  /** Qualifies when |P(a > b) - 0.5| <= band. 0: only head disagreement; 0.5: every pair. */
  band: number;
  /** Fraction of qualifying pairs kept (after dedupe), 0..1. */
  sampleRate: number;
  /** Token bucket: sustained records per second and burst size. */
  ratePerSec: number;
  burst: number;
  /** Pairs remembered for dedupe. */
  dedupeEntries: number;
}

export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** Some head orders a above b and another b above a. Heads are [K] per side. */
export function headsDisagree(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  let above = false;
  let below = false;
  for (let k = 0; k < a.length; k++) {
    const d = a[k]! - b[k]!;
    if (d > 0) above = true;
    else if (d < 0) below = true;
    if (above && below) return true;
  }
  return false;
}

/**
 * The band as a bound on |margin|: |sigmoid(m) - 0.5| <= band exactly when
 * |m| <= logit(0.5 + band), since sigmoid is monotone and odd around 0.5.
 * Computed once per config, it spares every candidate pair an exp.
 */
export function marginLimit(band: number): number {
  return band >= 0.5 ? Infinity : Math.log((0.5 + band) / (0.5 - band));
}

export function inBand(margin: number, band: number): boolean {
  return Math.abs(margin) <= marginLimit(band);
}

/** Unsure of this pair's order? `heads` may be absent (then only the band decides). */
export function unsure(margin: number, band: number, headsA?: ArrayLike<number>, headsB?: ArrayLike<number>): boolean {
  return unsureWithin(margin, marginLimit(band), headsA, headsB);
}

/** unsure() with the band given as marginLimit(band): the serving path's form. */
export function unsureWithin(margin: number, limit: number, headsA?: ArrayLike<number>, headsB?: ArrayLike<number>): boolean {
  return Math.abs(margin) <= limit || (headsA !== undefined && headsB !== undefined && headsDisagree(headsA, headsB));
}

/**
 * Indices start..start+count-1 of `scores` by reward, highest first (ties
 * in index order), written into `out` (a scratch array the caller reuses:
 * this runs for most group calls with the log on, and allocates nothing).
 * Adjacent entries are the group's candidate pairs (see adjacentPairs).
 */
export function rewardOrder(scores: ArrayLike<{ reward: number }>, start: number, count: number, out: number[]): number[] {
  out.length = count;
  for (let i = 0; i < count; i++) {
    const r = scores[start + i]!.reward;
    let j = i;
    while (j > 0 && scores[out[j - 1]!]!.reward < r) {
      out[j] = out[j - 1]!;
      j--;
    }
    out[j] = start + i;
  }
  return out;
}

/**
 * The group's candidate pairs: members sorted by reward (highest first), each
 * with the next one, as [higher, lower] indices, kept when `isUnsure` says so.
 * n - 1 candidates for n members; no sort when nothing could qualify is the
 * caller's shortcut, not this function's.
 */
export function adjacentPairs(rewards: ArrayLike<number>, isUnsure: (hi: number, lo: number) => boolean): [number, number][] {
  // Insertion sort: groups are small (a GRPO step's 4-64 responses), and it
  // runs for every group the server scores with the log on.
  const order: number[] = [];
  for (let i = 0; i < rewards.length; i++) {
    let j = i;
    while (j > 0 && rewards[order[j - 1]!]! < rewards[i]!) {
      order[j] = order[j - 1]!;
      j--;
    }
    order[j] = i;
  }
  const out: [number, number][] = [];
  for (let i = 0; i + 1 < order.length; i++) if (isUnsure(order[i]!, order[i + 1]!)) out.push([order[i]!, order[i + 1]!]);
  return out;
}

export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(private readonly ratePerSec: number, private readonly burst: number, private readonly now: () => number = () => performance.now()) {
    this.tokens = burst;
    this.last = now();
  }

  take(): boolean {
    if (!this.available()) return false;
    this.tokens -= 1;
    return true;
  }

  /** Whether take() would succeed now (refills, takes nothing). */
  available(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.ratePerSec);
    this.last = t;
    return this.tokens >= 1;
  }
}

export interface PolicyStats {
  /** Candidate pairs looked at (every Compare pair, every adjacent group pair). */
  considered: number;
  /**
   * Candidates of calls that came while the token bucket was empty: not
   * looked at (so neither qualified nor not). Under load at the default rate
   * most calls are such calls, and then logging costs them one clock read.
   */
  skipped: number;
  qualified: number;
  duplicates: number;
  sampledOut: number;
  rateLimited: number;
  accepted: number;
}

export type Verdict = 'accept' | 'duplicate' | 'sampled-out' | 'rate-limited';

/** The stateful half: dedupe, sampling, rate limit, in that order; a pair is marked seen only when accepted. */
export class PairPolicy {
  readonly stats: PolicyStats = { considered: 0, skipped: 0, qualified: 0, duplicates: 0, sampledOut: 0, rateLimited: 0, accepted: 0 };
  private readonly seen: LRUCache<string, true>;
  private readonly bucket: TokenBucket;

  constructor(readonly config: PolicyConfig, private readonly random: () => number = Math.random, now?: () => number) {
    this.seen = new LRUCache({ max: config.dedupeEntries });
    this.bucket = new TokenBucket(config.ratePerSec, config.burst, now);
  }

  /** Count one candidate; whether it is unsure is the caller's cheap test (unsure / adjacentPairs). */
  considered(n = 1): void {
    this.stats.considered += n;
  }

  /** A call's n candidates, before any is looked at: false (and counted skipped) when none could be logged now. */
  open(n: number): boolean {
    if (this.bucket.available()) return true;
    this.stats.skipped += n;
    return false;
  }

  /**
   * Before a qualifying pair's key is built: false when it cannot be logged
   * whatever its key, because the token bucket is empty; it is counted as
   * qualified and rate-limited. At the default rate nearly every qualifying
   * pair under load is such a pair, and this spares it the key (a string of
   * two digests), the dedupe lookup and the record. A repeat among them is
   * counted rate-limited rather than duplicate: telling would cost the lookup.
   */
  mayAccept(): boolean {
    if (this.bucket.available()) return true;
    this.stats.qualified++;
    this.stats.rateLimited++;
    return false;
  }

  /** A qualifying pair: log it? `key` names it (both sides' digests and the version), order-free. */
  decide(key: string): Verdict {
    this.stats.qualified++;
    if (this.seen.has(key)) return this.stats.duplicates++, 'duplicate';
    if (this.config.sampleRate < 1 && this.random() >= this.config.sampleRate) return this.stats.sampledOut++, 'sampled-out';
    if (!this.bucket.take()) return this.stats.rateLimited++, 'rate-limited';
    this.seen.set(key, true);
    this.stats.accepted++;
    return 'accept';
  }
}

/** The dedupe key of a pair: the same two items (either order) on the same version. */
export function pairKey(model: string, version: number, digestA: string, digestB: string): string {
  return digestA < digestB ? `${model}@${version}:${digestA}:${digestB}` : `${model}@${version}:${digestB}:${digestA}`;
}
