/**
 * The pair log's size cap: segments and the image packs that belong to them
 * (images.ts) count together, and the oldest closed segments of any process
 * go first, each with its packs. Packs of the older per-process series are
 * neither counted nor deleted (any record of their writer may name them).
 *
 * A segment is created before any pack of it, so a segment pack whose segment
 * is gone is garbage: left by a crash between deleting a segment and its
 * packs, or by recovery deleting a segment that never got a record. Packs are
 * listed before segments so that a pack created meanwhile by another writer
 * is never taken for one.
 */
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../serve/log.js';
import { listPacks, packSegment } from './images.js';
import { imagesDir, isClosed, listSegments, segmentsDir } from './segments.js';

export interface CapResult {
  /** Segments deleted (file names), oldest first. */
  deleted: string[];
  /** Bytes of segments and their packs after the deletions. */
  totalBytes: number;
}

const sizeOf = (path: string) => stat(path).then((s) => s.size, () => 0);

/**
 * Deletes the oldest closed segments, each with its packs, while segments and
 * packs together exceed maxBytes; never `openSegment` (the caller's) nor a
 * segment another live writer has not closed. Throws only on a listing error.
 */
export async function enforceCap(stateDir: string, maxBytes: number, openSegment: string | null, log: Logger): Promise<CapResult> {
  const packs = await listPacks(stateDir);
  const segs = await listSegments(stateDir);
  const present = new Set(segs.map((s) => s.file));
  const packsOf = new Map<string, { file: string; bytes: number }[]>();
  for (const pack of packs) {
    const segment = packSegment(pack);
    if (segment === null) continue;
    const path = join(imagesDir(stateDir), pack);
    if (!present.has(segment)) {
      await rm(path, { force: true });
      log.info('pairlog.pack_deleted', { file: pack, reason: 'its segment is gone' });
      continue;
    }
    const list = packsOf.get(segment) ?? [];
    list.push({ file: pack, bytes: await sizeOf(path) });
    packsOf.set(segment, list);
  }
  const segBytes = await Promise.all(segs.map((s) => sizeOf(join(segmentsDir(stateDir), s.file))));
  const bytesOf = (i: number) => segBytes[i]! + (packsOf.get(segs[i]!.file) ?? []).reduce((a, p) => a + p.bytes, 0);
  let total = segs.reduce((a, _, i) => a + bytesOf(i), 0);
  const deleted: string[] = [];
  for (let i = 0; i < segs.length && total > maxBytes; i++) {
    const file = segs[i]!.file;
    const path = join(segmentsDir(stateDir), file);
    if (file === openSegment || !(await isClosed(path).catch(() => false))) continue;
    // The segment first: a crash in between leaves only packs nothing names, which the next pass deletes.
    await rm(path, { force: true });
    const packList = packsOf.get(file) ?? [];
    for (const p of packList) await rm(join(imagesDir(stateDir), p.file), { force: true });
    const bytes = bytesOf(i);
    total -= bytes;
    deleted.push(file);
    log.info('pairlog.segment_deleted', { file, bytes: segBytes[i], packs: packList.length, packBytes: bytes - segBytes[i]!, reason: 'size cap', maxBytes, totalBytes: total });
  }
  return { deleted, totalBytes: total };
}
