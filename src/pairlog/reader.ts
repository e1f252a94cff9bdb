/**
 * The trainer's way into the pair log: every record of every server process
 * in a state directory, each once, from a cursor the consumer keeps.
 *
 *   const r = await PairLogReader.open(stateDir, 'round');
 *   for await (const p of r.records()) { ... p.record ...; await r.image(sha) }
 *   await r.commit();   // the next open starts after the last record yielded
 *
 * The cursor (<stateDir>/pairlog/cursors/<consumer>.json) holds a byte offset
 * per segment: the end of the last frame consumed. `records()` advances the
 * in-memory cursor as it yields; `commit()` writes it atomically. Records
 * yielded but not committed are yielded again by the next reader (at least
 * once until commit, exactly once across commits).
 *
 * A segment still being written may end in a partial frame: the reader stops
 * there without consuming it and picks it up once it is complete. A corrupt
 * frame in the middle is skipped and counted (stats.corruptBytes). Segments
 * deleted by the size cap drop out of the cursor at the next commit.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../model/atomic.js';
import { CodecError, decodeRecord, hasHeader, scanFrames, SEGMENT_HEADER } from './codec.js';
import type { PairRecord } from './record.js';
import { ImageError, LoggedImages } from './images.js';
import { cursorsDir, listSegments, readFrom, segmentsDir } from './segments.js';

export interface LoggedPair {
  record: PairRecord;
  /** host-pid-startTime of the server process that wrote it. */
  writer: string;
  /** The writer's sequence number (from 1, in append order; gaps are records it dropped). */
  seq: number;
  segment: string;
  offset: number;
}

export interface ReaderStats {
  /** Records yielded by this reader. */
  records: number;
  /** Bytes of corrupt frames skipped. */
  corruptBytes: number;
  /** Frames whose CRC matched but whose payload did not decode (skipped). */
  badRecords: number;
  /** Segments that ended in a partial frame when read (being written, or a tail not yet recovered). */
  tornTails: number;
}

interface CursorFile {
  format: 1;
  consumer: string;
  /** Segment file -> byte offset consumed up to. */
  segments: Record<string, number>;
}

const CONSUMER = /^[A-Za-z0-9._-]{1,100}$/;

export class ReaderError extends Error {
  override readonly name = 'ReaderError';
  constructor(readonly kind: 'bad-consumer' | 'bad-cursor' | 'missing-image', message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class PairLogReader {
  readonly stats: ReaderStats = { records: 0, corruptBytes: 0, badRecords: 0, tornTails: 0 };

  private readonly images: LoggedImages;

  private constructor(readonly stateDir: string, readonly consumer: string, private cursor: Record<string, number>) {
    this.images = new LoggedImages(stateDir);
  }

  static async open(stateDir: string, consumer: string): Promise<PairLogReader> {
    if (!CONSUMER.test(consumer)) throw new ReaderError('bad-consumer', `consumer name ${JSON.stringify(consumer)}: expected 1-100 of A-Z a-z 0-9 . _ -`);
    const path = cursorPath(stateDir, consumer);
    let cursor: Record<string, number> = {};
    try {
      const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<CursorFile>;
      if (parsed.format !== 1 || typeof parsed.segments !== 'object' || parsed.segments === null) throw new Error('expected {format: 1, segments: {...}}');
      cursor = parsed.segments;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new ReaderError('bad-cursor', `${path}: ${(err as Error).message}`, { cause: err });
    }
    return new PairLogReader(stateDir, consumer, cursor);
  }

  /** Records after the cursor, segment by segment, oldest writer first. */
  async *records(): AsyncGenerator<LoggedPair> {
    for (const seg of await listSegments(this.stateDir)) {
      const from = this.cursor[seg.file] ?? 0;
      let buf: Uint8Array;
      try {
        buf = await readFrom(join(segmentsDir(this.stateDir), seg.file), from);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue; // deleted by the size cap meanwhile
        throw err;
      }
      let base = from;
      if (from === 0) {
        // A header not yet (fully) written: a segment just created; come back later.
        if (!hasHeader(buf)) continue;
        buf = buf.subarray(SEGMENT_HEADER.length);
        base = SEGMENT_HEADER.length;
      }
      const scan = scanFrames(buf, base);
      for (const c of scan.corrupt) this.stats.corruptBytes += c.bytes;
      if (scan.tailBytes > 0) this.stats.tornTails++;
      for (const f of scan.frames) {
        let decoded;
        try {
          decoded = decodeRecord(f.payload);
        } catch (err) {
          if (!(err instanceof CodecError)) throw err;
          this.stats.badRecords++;
          this.cursor[seg.file] = f.end;
          continue;
        }
        this.cursor[seg.file] = f.end;
        this.stats.records++;
        yield { record: decoded.record, writer: seg.writer, seq: decoded.seq, segment: seg.file, offset: f.offset };
      }
      // Past the end marker (closed) or the last good frame (a torn tail stays unconsumed).
      if (scan.goodEnd > base || scan.closed) this.cursor[seg.file] = Math.max(this.cursor[seg.file] ?? 0, scan.goodEnd);
    }
  }

  /** Persists the cursor atomically; segments that no longer exist are dropped from it. */
  async commit(): Promise<void> {
    const present = new Set((await listSegments(this.stateDir)).map((s) => s.file));
    const segments = Object.fromEntries(Object.entries(this.cursor).filter(([f]) => present.has(f)));
    this.cursor = segments;
    await mkdir(cursorsDir(this.stateDir), { recursive: true });
    const file: CursorFile = { format: 1, consumer: this.consumer, segments };
    await writeFileAtomic(cursorPath(this.stateDir, this.consumer), JSON.stringify(file, null, 1) + '\n');
  }

  /** The bytes of a logged image. */
  async image(sha: string): Promise<Buffer> {
    try {
      return await this.images.get(sha);
    } catch (err) {
      if (err instanceof ImageError) throw new ReaderError('missing-image', err.message, { cause: err });
      throw err;
    }
  }
}

export const cursorPath = (stateDir: string, consumer: string) => join(cursorsDir(stateDir), `${consumer}.json`);
