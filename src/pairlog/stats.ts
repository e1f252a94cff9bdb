/**
 * What is in a state directory's pair log, from the files alone (for
 * `mrm log stats` and anything else that is not the writing server): segments
 * and records per writer, torn and corrupt bytes, images. The live writer's
 * own counters (queue, drops, write errors) are the server's stats()
 * (PairLogger.stats), which an admin API reports.
 */
import { join } from 'node:path';
import { CodecError, decodeRecord } from './codec.js';
import type { LoggedPair } from './reader.js';
import { imageTotals } from './images.js';
import { listSegments, scanSegment, segmentsDir, type SegmentName } from './segments.js';

export interface WriterSummary {
  writer: string;
  host: string;
  pid: number;
  startTime: string;
  segments: number;
  /** Segments without an end marker: being written, or left by a process that died and was not recovered yet. */
  openSegments: number;
  bytes: number;
  records: number;
  firstRecord: string | null;
  lastRecord: string | null;
}

export interface LogSummary {
  stateDir: string;
  segments: number;
  bytes: number;
  records: number;
  writers: WriterSummary[];
  /** Problems found in the files: torn tails (expected on a segment being written), corrupt frames, undecodable records. */
  errors: { tornTails: number; tornBytes: number; corruptRegions: number; corruptBytes: number; badRecords: number };
  images: { count: number; bytes: number };
}

export async function summarizeLog(stateDir: string): Promise<LogSummary> {
  const segs = await listSegments(stateDir);
  const writers = new Map<string, WriterSummary>();
  const errors = { tornTails: 0, tornBytes: 0, corruptRegions: 0, corruptBytes: 0, badRecords: 0 };
  let bytes = 0;
  let records = 0;
  for (const s of segs) {
    const scan = await scanSegment(join(segmentsDir(stateDir), s.file)).catch(() => null);
    if (!scan) continue; // deleted meanwhile (size cap)
    const w = writers.get(s.writer) ?? { writer: s.writer, host: s.host, pid: s.pid, startTime: new Date(s.startTime).toISOString(), segments: 0, openSegments: 0, bytes: 0, records: 0, firstRecord: null, lastRecord: null };
    writers.set(s.writer, w);
    w.segments++;
    if (!scan.closed) w.openSegments++;
    w.bytes += scan.size;
    bytes += scan.size;
    if (scan.tailBytes > 0) { errors.tornTails++; errors.tornBytes += scan.tailBytes; }
    errors.corruptRegions += scan.corrupt.length;
    errors.corruptBytes += scan.corrupt.reduce((n, c) => n + c.bytes, 0);
    for (const f of scan.frames) {
      let time: string;
      try {
        time = decodeRecord(f.payload).record.time;
      } catch (err) {
        if (!(err instanceof CodecError)) throw err;
        errors.badRecords++;
        continue;
      }
      w.records++;
      records++;
      w.firstRecord ??= time;
      w.lastRecord = time;
    }
  }
  return { stateDir, segments: segs.length, bytes, records, writers: [...writers.values()], errors, images: await imageTotals(stateDir) };
}

/** The newest `n` records by time, oldest of them first (reads each writer's segments newest-first until it has n). */
export async function tailLog(stateDir: string, n: number): Promise<LoggedPair[]> {
  const byWriter = new Map<string, SegmentName[]>();
  for (const s of await listSegments(stateDir)) byWriter.set(s.writer, [...(byWriter.get(s.writer) ?? []), s]);
  const out: LoggedPair[] = [];
  for (const segs of byWriter.values()) {
    let got = 0;
    for (const s of [...segs].reverse()) {
      const scan = await scanSegment(join(segmentsDir(stateDir), s.file)).catch(() => null);
      if (!scan) continue;
      for (const f of scan.frames.slice(-(n - got))) {
        try {
          const { seq, record } = decodeRecord(f.payload);
          out.push({ record, writer: s.writer, seq, segment: s.file, offset: f.offset });
          got++;
        } catch (err) {
          if (!(err instanceof CodecError)) throw err;
        }
      }
      if (got >= n) break;
    }
  }
  return out.sort((a, b) => a.record.time.localeCompare(b.record.time) || a.seq - b.seq).slice(-n);
}
