/**
 * JudgeLabeler: the PairLabeler a round uses. Per pair:
 *   orders 'one'  - one listwise call, a and b in a seeded random order
 *                   (seed + pair id: the same pair gets the same order in a rerun);
 *   orders 'both' - a call in each order (a first, then b first), which is
 *                   how position bias is averaged out and caught;
 *   pointwise     - a call per response; order does not exist, so 'one' and
 *                   'both' are the same two calls.
 * A response's score is the mean Overall Score over its valid judgments;
 * each valid listwise call is a vote (higher score wins, equal is a tie; a
 * pointwise pair gets one vote from its two scores); `complete` when every
 * requested call gave a valid judgment. Calls are answered from the
 * judgment cache when they can be (cache.ts).
 */
import { createHash } from 'node:crypto';
import { JudgmentCache, callKey, type CachedJudgment } from './cache.js';
import { JudgeError, type JudgeCall, type JudgeProvider } from './provider.js';
import { RUBRIC_VERSION } from './rubric.js';
import type { JudgeOrders, LabelerStats, PairJudgment, PairLabeler, PairToJudge } from './types.js';

export interface JudgeLabelerOptions {
  provider: JudgeProvider;
  /** Directory of the on-disk judgment cache; undefined keeps it in memory. */
  cacheDir?: string;
  /** Seeds the order of 'one'-order calls. Default 0. */
  seed?: number;
}

interface CallOutcome {
  overall?: number[];
  attempts: number;
  cached: boolean;
}

export class JudgeLabeler implements PairLabeler {
  readonly model: string;
  private readonly provider: JudgeProvider;
  private readonly seed: number;
  private readonly cacheDir: string | undefined;
  private cache: Promise<JudgmentCache> | undefined;
  private readonly inFlight = new Map<string, Promise<CallOutcome>>();
  private cached = 0;
  private failed = 0;
  private budgetFailures = 0;

  constructor(opts: JudgeLabelerOptions) {
    this.provider = opts.provider;
    this.model = opts.provider.model;
    this.seed = opts.seed ?? 0;
    this.cacheDir = opts.cacheDir;
  }

  stats(): LabelerStats {
    const c = this.provider.counters();
    return {
      calls: c.calls,
      cached: this.cached,
      malformed: c.malformed,
      leaking: c.leaking,
      rateLimited: c.rateLimited,
      serverErrors: c.serverErrors,
      timeouts: c.timeouts,
      connectionErrors: c.connectionErrors,
      tokens: c.tokens,
      failed: this.failed,
      clientErrors: c.clientErrors,
      budgetExhausted: this.budgetFailures,
    };
  }

  async label(pairs: PairToJudge[], opts: { orders: JudgeOrders; onProgress?: (done: number, total: number) => void }): Promise<PairJudgment[]> {
    const cache = await (this.cache ??= JudgmentCache.open(this.cacheDir));
    let done = 0;
    const out = await Promise.all(
      pairs.map(async (p) => {
        const j = await this.labelPair(p, opts.orders, cache);
        opts.onProgress?.(++done, pairs.length);
        return j;
      }),
    );
    await cache.flush();
    return out;
  }

  /** Whether the 'one'-order call of pair `id` lists a first. */
  aFirst(id: string): boolean {
    return ((createHash('sha256').update(`${this.seed}\0${id}`).digest()[0] as number) & 1) === 0;
  }

  private async labelPair(p: PairToJudge, orders: JudgeOrders, cache: JudgmentCache): Promise<PairJudgment> {
    const imageSha256 = p.images.map((img) => createHash('sha256').update(img).digest('hex'));
    const call = (responses: string[]): Promise<CallOutcome> => this.call(p, responses, imageSha256, cache);
    const scoresA: number[] = [];
    const scoresB: number[] = [];
    const votes = { a: 0, b: 0, tie: 0 };
    let complete = true;
    let calls = 0;
    let cached = 0;
    const vote = (sa: number, sb: number): void => {
      if (sa > sb) votes.a++;
      else if (sb > sa) votes.b++;
      else votes.tie++;
    };
    if (this.provider.mode === 'pointwise') {
      const [ra, rb] = await Promise.all([call([p.a]), call([p.b])]);
      for (const r of [ra, rb]) {
        calls += r.attempts;
        if (r.cached) cached++;
      }
      if (ra.overall) scoresA.push(ra.overall[0] as number);
      if (rb.overall) scoresB.push(rb.overall[0] as number);
      if (ra.overall && rb.overall) vote(ra.overall[0] as number, rb.overall[0] as number);
      else complete = false;
    } else {
      const firsts = orders === 'both' ? [true, false] : [this.aFirst(p.id)];
      const results = await Promise.all(firsts.map((aFirst) => call(aFirst ? [p.a, p.b] : [p.b, p.a]).then((r) => ({ aFirst, r }))));
      for (const { aFirst, r } of results) {
        calls += r.attempts;
        if (r.cached) cached++;
        if (!r.overall) {
          complete = false;
          continue;
        }
        const [first, second] = r.overall as [number, number];
        const sa = aFirst ? first : second;
        const sb = aFirst ? second : first;
        scoresA.push(sa);
        scoresB.push(sb);
        vote(sa, sb);
      }
    }
    if (!complete) this.failed++;
    return { id: p.id, scoreA: mean(scoresA), scoreB: mean(scoresB), votes, complete, calls, cached };
  }

  private call(p: PairToJudge, responses: string[], imageSha256: string[], cache: JudgmentCache): Promise<CallOutcome> {
    const key = callKey({
      model: this.model,
      rubric: RUBRIC_VERSION,
      mode: this.provider.mode,
      imageSha256,
      ...(p.system !== undefined ? { system: p.system } : {}),
      prompt: p.prompt,
      ...(p.reference !== undefined ? { reference: p.reference } : {}),
      responses,
    });
    const hit = cache.get(key);
    if (hit) {
      this.cached++;
      return Promise.resolve({ overall: hit.overall, attempts: 0, cached: true });
    }
    // The same call twice in one batch (duplicate pairs) is made once.
    const pending = this.inFlight.get(key);
    if (pending) {
      this.cached++;
      return pending.then((r) => ({ ...r, attempts: 0, cached: true }));
    }
    const judgeCall: JudgeCall = {
      images: p.images,
      ...(p.system !== undefined ? { system: p.system } : {}),
      prompt: p.prompt,
      ...(p.reference !== undefined ? { reference: p.reference } : {}),
      responses,
    };
    const run = (async (): Promise<CallOutcome> => {
      try {
        const r = await this.provider.judge(judgeCall);
        const value: CachedJudgment = { overall: r.overall, tokens: r.tokens };
        await cache.put(key, value);
        return { overall: r.overall, attempts: r.attempts, cached: false };
      } catch (err) {
        if (!(err instanceof JudgeError)) throw err;
        if (err.kind === 'budget') this.budgetFailures++;
        return { attempts: err.attempts, cached: false };
      } finally {
        this.inFlight.delete(key);
      }
    })();
    this.inFlight.set(key, run);
    return run;
  }
}

function mean(xs: number[]): number {
  return xs.length === 0 ? NaN : xs.reduce((s, x) => s + x, 0) / xs.length;
}
