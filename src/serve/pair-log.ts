/**
 * The serving side of the pair log: looks at each Compare pair and each
 * group's adjacent pairs as a response is built, and hands the ones the model
 * is unsure of to the writer (src/pairlog/writer.ts), which writes them later
 * on its own. What runs in the request is arithmetic on numbers the request
 * already has; only a pair that is unsure, new, sampled and within the rate
 * gets a record built (no copies of features: views of the batch's output)
 * and queued; a call that comes while the rate limit's bucket is empty is not
 * looked at at all (the policy's `skipped`), the common case under load at the
 * default rate. Nothing here throws into a call, and nothing waits on a disk.
 *
 * A side answered from the reward cache has features only while the detail
 * cache (cache.featureCacheBytes) still holds them; a qualifying pair without
 * features is counted (withoutFeatures) and not logged.
 */
import { hash } from 'node:crypto';
import type { LoggedSide, PairRecord, PairSource } from '../pairlog/record.js';
import { marginLimit, PairPolicy, pairKey, rewardOrder, unsureWithin, type PolicyConfig, type PolicyStats } from '../pairlog/policy.js';
import { PairLogWriter, type WriterStats } from '../pairlog/writer.js';
import type { WriterIo } from '../pairlog/io.js';
import type { Caches } from './caches.js';
import type { LogConfig } from './config.js';
import { errorFields, type Logger } from './log.js';
import type { Unit } from './request.js';
import type { UnitScore } from './scorer.js';
import type { ServedVersion } from './versions.js';

export interface PairLogHealth {
  /** degraded: a write error or dropped records in the last minute; the server keeps serving either way. */
  status: 'ok' | 'degraded';
  detail: string;
}

export interface PairLogStats {
  policy: PolicyStats;
  /** Qualifying pairs not logged because a side's features were no longer cached. */
  withoutFeatures: number;
  /** Offers that threw (a bug): counted, logged, the call unaffected. */
  internalErrors: number;
  writer: WriterStats;
  health: PairLogHealth;
}

const RECENT_MS = 60_000;

export class PairLogger {
  private readonly policy: PairPolicy;
  /** The band as a bound on |margin| (marginLimit). */
  private readonly limit: number;
  /** Scratch for a group's reward order: reused, a group call allocates nothing until a pair is logged. */
  private readonly order: number[] = [];
  private withoutFeatures = 0;
  private internalErrors = 0;
  private lastDrops = { total: 0, at: 0 };

  private constructor(private readonly config: LogConfig, private readonly writer: PairLogWriter, private readonly caches: Caches, private readonly log: Logger) {
    const p: PolicyConfig = { band: config.band, sampleRate: config.sampleRate, ratePerSec: config.ratePerSec, burst: config.burst, dedupeEntries: config.dedupeEntries };
    this.policy = new PairPolicy(p);
    this.limit = marginLimit(config.band);
  }

  static async open(config: LogConfig, stateDir: string, caches: Caches, log: Logger, io?: WriterIo): Promise<PairLogger> {
    const writer = await PairLogWriter.open({
      stateDir, log, ...(io ? { io } : {}),
      syncIntervalMs: config.syncIntervalMs, syncRecords: config.syncRecords, segmentBytes: config.segmentBytes,
      maxBytes: config.maxBytes, queueRecords: config.queueRecords,
    });
    log.info('pairlog.open', { writer: writer.name, stateDir, band: config.band, ratePerSec: config.ratePerSec });
    return new PairLogger(config, writer, caches, log);
  }

  /** Pair p of a Compare request is units 2p (a) and 2p + 1 (b). */
  offerCompare(v: ServedVersion, units: Unit[], scores: UnitScore[]): void {
    try {
      const n = units.length / 2;
      if (!this.policy.open(n)) return;
      this.policy.considered(n);
      let time: string | null = null;
      for (let p = 0; p < n; p++) {
        const a = scores[2 * p]!;
        const b = scores[2 * p + 1]!;
        if (unsureWithin(a.reward - b.reward, this.limit, a.detail?.heads, b.detail?.heads)) {
          time ??= new Date().toISOString();
          this.offer(v, 'compare', units[2 * p]!, a, units[2 * p + 1]!, b, time);
        }
      }
    } catch (err) {
      this.internal(err);
    }
  }

  /** Each group's members are units start..start+count-1. */
  offerGroups(v: ServedVersion, units: Unit[], scores: UnitScore[], groups: { start: number; count: number }[]): void {
    try {
      let time: string | null = null;
      for (const g of groups) {
        if (g.count < 2 || !this.policy.open(g.count - 1)) continue;
        this.policy.considered(g.count - 1);
        // The adjacent pairs in reward order (policy.adjacentPairs), without its arrays and closure.
        const order = rewardOrder(scores, g.start, g.count, this.order);
        for (let i = 0; i + 1 < g.count; i++) {
          const hi = order[i]!;
          const lo = order[i + 1]!;
          const a = scores[hi]!;
          const b = scores[lo]!;
          if (!unsureWithin(a.reward - b.reward, this.limit, a.detail?.heads, b.detail?.heads)) continue;
          time ??= new Date().toISOString();
          this.offer(v, 'group', units[hi]!, a, units[lo]!, b, time);
        }
      }
    } catch (err) {
      this.internal(err);
    }
  }

  /** `time`: one per call (the pairs of one request are logged at one moment). */
  private offer(v: ServedVersion, source: PairSource, ua: Unit, a: UnitScore, ub: Unit, b: UnitScore, time: string): void {
    if (!a.detail || !b.detail) {
      this.withoutFeatures++;
      return;
    }
    if (!this.policy.mayAccept()) return;
    const key = pairKey(v.name, v.version, ua.digest, ub.digest);
    if (this.policy.decide(key) !== 'accept') return;
    const record: PairRecord = {
      // One-shot hash: a third of createHash's cost on a key this short.
      id: hash('sha256', key, 'hex'), time, source, model: v.name, version: v.version,
      encoderSha256: v.manifest.files.encoder.sha256, images: ua.images.map((r) => r.sha),
      system: ua.text.system, prompt: ua.text.prompt, reference: ua.text.reference,
      a: side(ua, a), b: side(ub, b), margin: a.reward - b.reward,
    };
    // Bytes only for images the writer has not stored: the image cache's copy, else the request's own.
    const imageBytes = ua.images.map((r) => (this.writer.hasImage(r.sha) ? undefined : this.caches.peekImage(r.sha) ?? (r.data ? new Uint8Array(r.data) : undefined)));
    this.writer.append({ record, imageBytes });
  }

  private internal(err: unknown): void {
    this.internalErrors++;
    if (this.internalErrors <= 10 || this.internalErrors % 1000 === 0) this.log.error('pairlog.offer_failed', { count: this.internalErrors, error: errorFields(err) });
  }

  stats(): PairLogStats {
    const writer = this.writer.stats();
    return { policy: { ...this.policy.stats }, withoutFeatures: this.withoutFeatures, internalErrors: this.internalErrors, writer, health: this.health(writer) };
  }

  health(writer: WriterStats = this.writer.stats()): PairLogHealth {
    const now = Date.now();
    const drops = Object.values(writer.dropped).reduce((x, y) => x + y, 0);
    if (drops !== this.lastDrops.total) this.lastDrops = { total: drops, at: now };
    const errAt = writer.lastError ? Date.parse(writer.lastError.time) : 0;
    if (now - errAt < RECENT_MS) {
      return { status: 'degraded', detail: `pair log write failing: ${writer.lastError!.code ?? ''} ${writer.lastError!.message} (${drops} records dropped so far); serving is not affected` };
    }
    if (drops > 0 && now - this.lastDrops.at < RECENT_MS) {
      return { status: 'degraded', detail: `pair log dropping records: ${JSON.stringify(writer.dropped)}; serving is not affected` };
    }
    return { status: 'ok', detail: `${writer.syncedRecords} records synced` };
  }

  close(): Promise<void> {
    return this.writer.close();
  }
}

/** One side of a record (at module level: a closure made per record cost a visible share of the pair log's time). */
function side(u: Unit, s: UnitScore): LoggedSide {
  return { response: u.text.response, reward: s.reward, spread: s.spread, heads: Array.from(s.detail!.heads), features: s.detail!.features };
}
