/**
 * Recovery on start: the segments this host's earlier server processes left
 * open (killed, crashed, power lost) are scanned; a torn or corrupt tail is
 * cut back to the end of the last good frame, the cut is logged, and the end
 * marker is appended so that the segment counts as closed (the size cap may
 * delete it; readers know nothing more will come).
 *
 * A corrupt frame in the middle (bit rot, not a crash) is not cut: the frames
 * after it are good, and the reader skips the bad bytes (codec.ts resyncs on
 * the next frame). It is logged.
 *
 * Segments of another live process on this host (a second replica) are left
 * alone: the pid is checked with signal 0. Segments of other hosts are theirs
 * to recover; until then a reader stops at their torn tail without consuming it.
 */
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../serve/log.js';
import { END_FRAME, isClosed, listSegments, scanSegment, segmentsDir, type SegmentName } from './segments.js';
import { processAlive } from '../model/process.js';

export interface RecoveryStats {
  /** Segments of earlier processes found open and closed now. */
  segments: number;
  tailsCut: number;
  bytesCut: number;
  corruptRegions: number;
}


export async function recoverSegments(stateDir: string, me: { host: string; writer: string; pid: number }, log: Logger): Promise<RecoveryStats> {
  const stats: RecoveryStats = { segments: 0, tailsCut: 0, bytesCut: 0, corruptRegions: 0 };
  const mine = (await listSegments(stateDir)).filter((s) => s.host === me.host && s.writer !== me.writer);
  for (const s of mine) {
    if (s.pid !== me.pid && processAlive(s.pid)) continue;
    const path = join(segmentsDir(stateDir), s.file);
    if (await isClosed(path)) continue;
    await recoverOne(path, s, stats, log);
  }
  if (stats.segments > 0) log.info('pairlog.recovered', { ...stats });
  return stats;
}

async function recoverOne(path: string, s: SegmentName, stats: RecoveryStats, log: Logger): Promise<void> {
  const scan = await scanSegment(path);
  stats.segments++;
  if (scan.noHeader) {
    // Died between creating the file and writing its header: nothing in it.
    await rm(path, { force: true });
    stats.tailsCut++;
    stats.bytesCut += scan.size;
    log.warn('pairlog.tail_cut', { file: s.file, offset: 0, bytesCut: scan.size, removed: true, reason: 'no segment header' });
    return;
  }
  for (const c of scan.corrupt) {
    stats.corruptRegions++;
    log.warn('pairlog.corrupt_frames', { file: s.file, offset: c.offset, bytes: c.bytes, message: 'skipped by readers; the frames after it are kept' });
  }
  const fh = await open(path, 'r+');
  try {
    if (scan.closed) {
      // Closed, then bytes after the end marker (not ours): drop them.
      await fh.truncate(scan.goodEnd);
      await fh.sync();
      return;
    }
    if (scan.tailBytes > 0) {
      await fh.truncate(scan.goodEnd);
      stats.tailsCut++;
      stats.bytesCut += scan.tailBytes;
      log.warn('pairlog.tail_cut', { file: s.file, offset: scan.goodEnd, bytesCut: scan.tailBytes, records: scan.frames.length });
    }
    await fh.write(END_FRAME, 0, END_FRAME.length, scan.goodEnd);
    await fh.sync();
  } finally {
    await fh.close();
  }
}
