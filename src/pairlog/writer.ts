/**
 * The pair log's writer: one per server process. `append` is synchronous and
 * never throws: it puts the record on a bounded in-memory queue and returns.
 * One async loop (the pump) drains the queue once per group commit: when
 * `syncRecords` records are queued or the oldest has waited `syncIntervalMs`,
 * whichever comes first, it writes the batch's new images (appended to the
 * current segment's image pack, images.ts, and fsynced), then the batch's
 * frames in one buffer and one write, then fsyncs the segment. A segment
 * rotates when its records and its packs together reach segmentBytes, and
 * the size cap (retention.ts) deletes a segment with its packs. After each fsync it reports
 * what is durable: the `syncedRecords` / `lastSyncedSeq` stats and a debug log
 * line `pairlog.synced`.
 *
 * Writing once per commit rather than as records arrive is the point: each
 * asynchronous file call costs the event loop ~50-100 us (the request, its
 * completion, the promise), far more than the bytes; written per request,
 * the calls were most of the pair log's CPU. A queued record is no less
 * durable than a written one until the fsync, so the crash window is the same.
 *
 * Failures never reach a caller: a full queue, a full disk, any write or
 * fsync error drops records, counts them by reason, logs (at most one line per
 * reason per 10 s, with the number suppressed) and shows in stats() and
 * health(). After a failed write the segment is cut back to its last good
 * frame (or, if that fails too, abandoned for a new one) and writing pauses
 * for a second before the next try.
 */
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../serve/log.js';
import { recordFrameBytes, SEGMENT_HEADER, writeRecordFrame } from './codec.js';
import { type ImageStats, SegmentImages } from './image-store.js';
import { nodeIo, type WriterIo } from './io.js';
import type { PairRecord } from './record.js';
import { recoverSegments, type RecoveryStats } from './recovery.js';
import { enforceCap } from './retention.js';
import { END_FRAME, safeHost, segmentFile, segmentsDir } from './segments.js';

export interface WriterOptions {
  stateDir: string;
  syncIntervalMs: number;
  syncRecords: number;
  /** A segment's records and image packs together; then the next segment. */
  segmentBytes: number;
  /** Segments and their packs, all processes together; the oldest closed segments go first. */
  maxBytes: number;
  queueRecords: number;
  log: Logger;
  io?: WriterIo;
  /** Writer identity; defaults to this process. Tests run several writers in one process. */
  host?: string;
  pid?: number;
  startTime?: number;
}

/** A record and the bytes of its images where the server still had them (absent: must already be stored). */
export interface QueuedRecord {
  record: PairRecord;
  imageBytes: (Uint8Array | undefined)[];
}

export type DropReason = 'queueFull' | 'writeError' | 'syncError' | 'missingImage' | 'closed';

export interface WriterStats {
  writer: string;
  segment: string | null;
  segmentsOpened: number;
  segmentsDeleted: number;
  queue: { length: number; max: number };
  /** Records accepted onto the queue. */
  appended: number;
  /** Records written to a segment (not yet necessarily durable). */
  written: number;
  /** Records durable (fsynced); every seq <= lastSyncedSeq that was written is on disk. */
  syncedRecords: number;
  lastSyncedSeq: number;
  bytesWritten: number;
  syncs: number;
  dropped: Record<DropReason, number>;
  errors: number;
  lastError: { reason: string; code: string | null; message: string; time: string } | null;
  /** The writer's images (image-store.ts). */
  images: ImageStats;
  recovery: RecoveryStats;
}

const HEADER = SEGMENT_HEADER.length;
// Records per write: bounds the one buffer a write allocates (~1-2 KiB a record).
const BATCH = 1024;
const RETRY_MS = 1000;
const LOG_EVERY_MS = 10_000;

export class PairLogWriter {
  readonly name: string;
  private readonly io: WriterIo;
  private readonly host: string;
  private readonly pid: number;
  private readonly startTime: number;
  private queue: QueuedRecord[] = [];
  private fh: FileHandle | null = null;
  private file: string | null = null;
  private size = 0;
  private segSeq = 0;
  private seq = 0;
  private unsynced = 0;
  private unsyncedLastSeq = 0;
  private firstQueuedAt = 0;
  private retryAt = 0;
  private closing = false;
  private wake: (() => void) | null = null;
  private pump: Promise<void> | null = null;
  private readonly images: SegmentImages;
  private readonly lastLogged = new Map<string, { at: number; suppressed: number }>();
  // Everything but the images, which SegmentImages counts.
  private readonly s: Omit<WriterStats, 'images'>;

  private constructor(private readonly opts: WriterOptions, recovery: RecoveryStats, host: string, pid: number, startTime: number) {
    this.io = opts.io ?? nodeIo;
    this.host = host;
    this.pid = pid;
    this.startTime = startTime;
    this.name = `${host}-${pid}-${startTime}`;
    this.images = new SegmentImages(opts.stateDir, this.io, opts.segmentBytes);
    this.s = {
      writer: this.name, segment: null, segmentsOpened: 0, segmentsDeleted: 0, queue: { length: 0, max: opts.queueRecords },
      appended: 0, written: 0, syncedRecords: 0, lastSyncedSeq: 0, bytesWritten: 0, syncs: 0,
      dropped: { queueFull: 0, writeError: 0, syncError: 0, missingImage: 0, closed: 0 }, errors: 0, lastError: null,
      recovery,
    };
  }

  /** Recovers this host's earlier segments, applies the size cap, and starts the pump. */
  static async open(opts: WriterOptions): Promise<PairLogWriter> {
    const host = safeHost(opts.host ?? hostname());
    const pid = opts.pid ?? process.pid;
    const startTime = opts.startTime ?? Date.now();
    await mkdir(segmentsDir(opts.stateDir), { recursive: true });
    const recovery = await recoverSegments(opts.stateDir, { host, pid, writer: `${host}-${pid}-${startTime}` }, opts.log);
    const w = new PairLogWriter(opts, recovery, host, pid, startTime);
    await w.enforceCap();
    w.pump = w.run().catch((err: unknown) => {
      // A bug, not an I/O error (those are handled where they happen): stop
      // logging, keep serving, say so.
      w.closing = true;
      w.error('writerFailed', err);
      opts.log.error('pairlog.writer_failed', { writer: w.name, error: err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : err });
    });
    return w;
  }

  /** Queue a record; never blocks, never throws. False: dropped (queue full or closed), and counted. */
  append(q: QueuedRecord): boolean {
    if (this.closing) return this.drop('closed', 1, null), false;
    if (this.queue.length >= this.opts.queueRecords) return this.drop('queueFull', 1, null), false;
    this.queue.push(q);
    this.s.appended++;
    if (this.queue.length === 1) this.firstQueuedAt = performance.now();
    // The pump sleeps until the first record's interval is up, or the batch is full.
    if (this.queue.length === 1 || this.queue.length === this.opts.syncRecords) this.kick();
    return true;
  }

  /** Whether this writer has stored the image already (for any segment still kept): then the caller need not keep its bytes. */
  hasImage(sha: string): boolean {
    return this.images.has(sha);
  }

  stats(): WriterStats {
    return structuredClone({ ...this.s, images: this.images.stats, queue: { length: this.queue.length, max: this.opts.queueRecords } });
  }

  /** Flushes the queue, syncs, closes the segment with its end marker. Idempotent. */
  async close(): Promise<void> {
    this.closing = true;
    this.kick();
    await this.pump;
  }

  // ------------------------------------------------------------------ the pump

  private kick(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms) ? setTimeout(() => { this.wake = null; resolve(); }, Math.max(0, ms)) : null;
      timer?.unref();
      this.wake = () => { if (timer) clearTimeout(timer); resolve(); };
    });
  }

  private async run(): Promise<void> {
    for (;;) {
      const now = performance.now();
      const due = this.firstQueuedAt + this.opts.syncIntervalMs;
      // Closing: one last try for what is queued, even during the pause after an error.
      if (this.queue.length > 0 && (this.closing || (now >= this.retryAt && (now >= due || this.queue.length >= this.opts.syncRecords)))) {
        do await this.writeBatch(this.queue.splice(0, BATCH));
        while (this.queue.length > 0 && (this.closing || performance.now() >= this.retryAt));
        continue;
      }
      if (this.unsynced > 0) {
        await this.sync();
        continue;
      }
      if (this.closing) {
        await this.closeSegment();
        await this.images.close();
        return;
      }
      const wakeAt = this.queue.length > 0 ? Math.max(due, this.retryAt) : Infinity;
      await this.sleep(wakeAt - now);
    }
  }

  private async writeBatch(batch: QueuedRecord[]): Promise<void> {
    // Upper bound of a record's bytes in the segment and its packs: its frame
    // and the bytes of the images it came with (none if already stored).
    const frameBytes = new Map(batch.map((q) => [q, recordFrameBytes(q.record)]));
    const sizes = batch.map((q) => frameBytes.get(q)! + q.imageBytes.reduce((a, b) => a + (b?.length ?? 0), 0));
    // One write per segment: a segment rotates once it and its packs reach segmentBytes.
    for (let i = 0; i < batch.length;) {
      try {
        await this.ensureSegment();
      } catch (err) {
        this.retryAt = performance.now() + RETRY_MS;
        return this.drop('writeError', batch.length - i, err);
      }
      let j = i;
      let bytes = 0;
      while (j < batch.length && (j === i || this.segmentTotal() + bytes < this.opts.segmentBytes)) bytes += sizes[j++]!;
      // Images first, durable, in this segment's pack: a record on disk never
      // names an image that is not, nor one in another segment's packs.
      const ready = await this.storeImages(batch.slice(i, j));
      if (ready.length > 0 && !(await this.writeFrames(ready, ready.reduce((a, q) => a + frameBytes.get(q)!, 0)))) {
        // The rest of the batch goes too: writing pauses after a failed write.
        if (j < batch.length) this.drop('writeError', batch.length - j, null);
        return;
      }
      i = j;
      if (this.segmentTotal() >= this.opts.segmentBytes) await this.rotate();
    }
  }

  private segmentTotal(): number {
    return this.size + this.images.segmentBytes();
  }

  /** The records' frames in one buffer and one write; false (counted, cut back) when the write fails. */
  private async writeFrames(records: QueuedRecord[], bytes: number): Promise<boolean> {
    const buf = Buffer.allocUnsafe(bytes);
    let o = 0;
    for (const q of records) o = writeRecordFrame(buf, o, ++this.seq, q.record);
    try {
      await this.io.write(this.fh!, buf, this.size, 'segment');
    } catch (err) {
      // The seq numbers stay used: a gap in a writer's seqs is records it dropped.
      this.drop('writeError', records.length, err);
      this.retryAt = performance.now() + RETRY_MS;
      await this.cutBack();
      return false;
    }
    this.size += buf.length;
    this.s.written += records.length;
    this.s.bytesWritten += buf.length;
    this.unsynced += records.length;
    this.unsyncedLastSeq = this.seq;
    return true;
  }

  private async sync(): Promise<void> {
    const n = this.unsynced;
    const last = this.unsyncedLastSeq;
    this.unsynced = 0;
    try {
      await this.io.sync(this.fh!, 'segment');
    } catch (err) {
      // After a failed fsync the kernel may have dropped the dirty pages: the
      // records since the last good sync may or may not be on disk. Count them
      // lost and start a fresh segment rather than trust this one's tail.
      this.drop('syncError', n, err);
      this.retryAt = performance.now() + RETRY_MS;
      await this.abandonSegment();
      return;
    }
    this.s.syncs++;
    this.s.syncedRecords += n;
    this.s.lastSyncedSeq = last;
    if (this.opts.log.enabled('debug')) {
      this.opts.log.debug('pairlog.synced', { writer: this.name, segment: this.file, count: n, lastSeq: last, syncedRecords: this.s.syncedRecords });
    }
  }

  // ------------------------------------------------------------------ segments

  private async ensureSegment(): Promise<void> {
    if (this.fh) return;
    const file = segmentFile(this.host, this.pid, this.startTime, ++this.segSeq);
    const fh = await open(join(segmentsDir(this.opts.stateDir), file), 'wx');
    try {
      await this.io.write(fh, SEGMENT_HEADER, 0, 'segment');
    } catch (err) {
      await fh.close().catch(() => undefined);
      await rm(join(segmentsDir(this.opts.stateDir), file), { force: true }).catch(() => undefined);
      throw err;
    }
    this.fh = fh;
    this.file = file;
    this.size = HEADER;
    this.s.segment = file;
    this.s.segmentsOpened++;
    await this.images.forSegment(file);
  }

  private async rotate(): Promise<void> {
    if (this.unsynced > 0) await this.sync();
    await this.closeSegment();
    await this.enforceCap();
  }

  /** End marker, fsync, close. Errors: the segment stays open-looking; the next start's recovery closes it. */
  private async closeSegment(): Promise<void> {
    const fh = this.fh;
    if (!fh) return;
    this.fh = null;
    this.s.segment = null;
    try {
      await this.io.write(fh, END_FRAME, this.size, 'segment');
      await this.io.sync(fh, 'segment');
    } catch (err) {
      this.error('writeError', err);
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /** After a failed write: truncate to the last good frame; if that fails too, leave the file for recovery. */
  private async cutBack(): Promise<void> {
    try {
      await this.fh!.truncate(this.size);
    } catch (err) {
      this.error('writeError', err);
      await this.abandonSegment();
    }
  }

  private async abandonSegment(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    this.s.segment = null;
    this.unsynced = 0;
    await fh?.close().catch(() => undefined);
  }

  /** The size cap (retention.ts); this writer forgets the images it stored for the segments deleted. */
  private async enforceCap(): Promise<void> {
    try {
      const { deleted } = await enforceCap(this.opts.stateDir, this.opts.maxBytes, this.file, this.opts.log);
      if (deleted.length === 0) return;
      this.s.segmentsDeleted += deleted.length;
      this.images.forget(new Set(deleted));
    } catch (err) {
      this.error('capError', err);
    }
  }

  // ------------------------------------------------------------------ images

  /** The chunk's images into the current segment's packs (image-store.ts); failures counted here. */
  private async storeImages(chunk: QueuedRecord[]): Promise<QueuedRecord[]> {
    const r = await this.images.store(this.file!, chunk);
    for (const err of r.copyErrors) this.error('imageCopyError', err);
    if (r.missingImage > 0) this.drop('missingImage', r.missingImage, null);
    if (r.writeError) {
      this.retryAt = performance.now() + RETRY_MS;
      this.drop('writeError', r.writeError.records, r.writeError.err);
    }
    return r.ready;
  }

  // ------------------------------------------------------------------ failures

  private drop(reason: DropReason, n: number, err: unknown): void {
    this.s.dropped[reason] += n;
    if (err !== null) this.error(reason, err, n);
    else this.rateLimitedWarn(reason, { reason, records: n, dropped: this.s.dropped[reason] });
  }

  private error(reason: string, err: unknown, records = 0): void {
    const e = err as NodeJS.ErrnoException;
    this.s.errors++;
    this.s.lastError = { reason, code: typeof e?.code === 'string' ? e.code : null, message: String(e?.message ?? err), time: new Date().toISOString() };
    this.rateLimitedWarn(reason, { reason, records, code: this.s.lastError.code, message: this.s.lastError.message, segment: this.file, errors: this.s.errors });
  }

  private rateLimitedWarn(key: string, fields: Record<string, unknown>): void {
    const now = Date.now();
    const last = this.lastLogged.get(key);
    if (last && now - last.at < LOG_EVERY_MS) {
      last.suppressed++;
      return;
    }
    this.lastLogged.set(key, { at: now, suppressed: 0 });
    this.opts.log.warn('pairlog.dropped', { ...fields, suppressedSinceLast: last?.suppressed ?? 0 });
  }
}

