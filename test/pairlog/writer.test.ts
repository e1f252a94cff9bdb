/**
 * The writer and the reader on real files: group commit, recovery of a torn
 * tail, a corrupt frame in the middle, each record once across restarts and
 * writers, the size cap (images included), images once, and a full disk (the fault hook).
 */
import { createHash, randomBytes } from 'node:crypto';
import { appendFile, mkdir, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeRecord, frame } from '../../src/pairlog/codec.js';
import { listPacks, LoggedImages, packSegment } from '../../src/pairlog/images.js';
import { nodeIo, type WriterIo } from '../../src/pairlog/io.js';
import { PairLogReader, type LoggedPair } from '../../src/pairlog/reader.js';
import { listSegments, segmentsDir } from '../../src/pairlog/segments.js';
import { PairLogWriter, type WriterOptions } from '../../src/pairlog/writer.js';
import { silentLogger } from '../../src/serve/log.js';
import { until } from '../serve/helpers.js';
import { DEAD_PID, memoryLogger, rawSegment, record, SHA, tempState } from './fixtures.js';

const dirs: string[] = [];
afterEach(async () => { for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true }); });
async function state(): Promise<string> {
  const d = await tempState();
  dirs.push(d);
  return d;
}

const opts = (stateDir: string, o: Partial<WriterOptions> = {}): WriterOptions => ({
  stateDir, syncIntervalMs: 20, syncRecords: 50, segmentBytes: 1 << 20, maxBytes: 1 << 24, queueRecords: 10_000, log: silentLogger,
  host: 'h', pid: DEAD_PID, startTime: 1, ...o,
});
const img = Buffer.from('png bytes');
const queued = (i: number) => ({ record: record(i), imageBytes: [img] });

async function readAll(stateDir: string, consumer = 'test', commit = true): Promise<{ pairs: LoggedPair[]; reader: PairLogReader }> {
  const reader = await PairLogReader.open(stateDir, consumer);
  const pairs: LoggedPair[] = [];
  for await (const p of reader.records()) pairs.push(p);
  if (commit) await reader.commit();
  return { pairs, reader };
}

describe('PairLogWriter', () => {
  it('group-commits, reports what is synced, and the reader returns each record with its seq', async () => {
    const dir = await state();
    const { log, lines } = memoryLogger();
    const w = await PairLogWriter.open(opts(dir, { log, syncRecords: 10, syncIntervalMs: 10_000 }));
    // A commit per 10 records without waiting for the interval (a batch takes what is queued: 12 here).
    for (let i = 1; i <= 12; i++) expect(w.append(queued(i))).toBe(true);
    await until(() => w.stats().syncedRecords === 12);
    for (let i = 13; i <= 25; i++) expect(w.append(queued(i))).toBe(true);
    await until(() => w.stats().syncedRecords === 25);
    expect(w.stats().lastSyncedSeq).toBe(w.stats().syncedRecords);
    const synced = lines.filter((l) => l.event === 'pairlog.synced');
    expect(synced.map((l) => l.count)).toEqual([12, 13]);
    expect(synced.at(-1)).toMatchObject({ writer: 'h-4195303-1', lastSeq: w.stats().lastSyncedSeq });
    await w.close();
    expect(w.stats()).toMatchObject({ written: 25, syncedRecords: 25, lastSyncedSeq: 25, dropped: { queueFull: 0, writeError: 0 } });
    const { pairs, reader } = await readAll(dir);
    expect(pairs.map((p) => p.seq)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(pairs[4]!.record.prompt).toBe('prompt 5 ✓');
    expect(pairs[0]!.writer).toBe('h-4195303-1');
    // One image, stored once under its sha.
    expect(await reader.image(SHA('a'))).toEqual(img);
    expect(w.stats().images).toMatchObject({ written: 1, reused: 24 });
  });

  it('never blocks: a full queue drops and counts', async () => {
    const dir = await state();
    const w = await PairLogWriter.open(opts(dir, { queueRecords: 5 }));
    const accepted = Array.from({ length: 20 }, (_, i) => w.append(queued(i + 1))).filter(Boolean).length;
    expect(accepted).toBe(5);
    expect(w.stats().dropped.queueFull).toBe(15);
    await w.close();
    expect(w.stats().written).toBe(5);
  });

  it('drops a record whose image bytes are gone and not stored', async () => {
    const dir = await state();
    const w = await PairLogWriter.open(opts(dir));
    w.append({ record: record(1), imageBytes: [undefined] });
    w.append(queued(2));
    w.append({ record: record(3), imageBytes: [undefined] }); // stored by record 2 by now
    await w.close();
    expect(w.stats().dropped.missingImage).toBe(1);
    expect((await readAll(dir)).pairs.map((p) => p.seq)).toEqual([1, 2]);
  });
});

describe('recovery', () => {
  it('cuts a torn tail of this host\'s dead writer back to the last good frame, and logs the cut', async () => {
    const dir = await state();
    const torn = frame(encodeRecord(4, record(4))).subarray(0, 30);
    const seg = await rawSegment(dir, { host: 'h', pid: DEAD_PID, startTime: 5 }, 3, torn);
    const other = await rawSegment(dir, { host: 'otherhost', pid: DEAD_PID, startTime: 5 }, 2, torn);
    const { log, lines } = memoryLogger();
    const w = await PairLogWriter.open(opts(dir, { log, pid: process.pid, startTime: 9 }));
    const cut = lines.find((l) => l.event === 'pairlog.tail_cut');
    expect(cut).toMatchObject({ file: seg.file, offset: seg.goodEnd, bytesCut: 30, records: 3 });
    expect(w.stats().recovery).toMatchObject({ segments: 1, tailsCut: 1, bytesCut: 30 });
    // Cut, then closed with the end marker (13 bytes).
    expect((await stat(seg.path)).size).toBe(seg.goodEnd + 13);
    // Another host's segment is that host's to recover: untouched.
    expect((await stat(other.path)).size).toBe(other.bytes.length);
    await w.close();
    const { pairs, reader } = await readAll(dir);
    expect(pairs.filter((p) => p.segment === seg.file).map((p) => p.seq)).toEqual([1, 2, 3]);
    expect(pairs.filter((p) => p.segment === other.file).map((p) => p.seq)).toEqual([1, 2]);
    expect(reader.stats.tornTails).toBe(1); // the other host's, not consumed
  });

  it('leaves a live process\'s segment alone', async () => {
    const dir = await state();
    const torn = new Uint8Array([0x4d, 0x52, 0x50]);
    const live = await rawSegment(dir, { host: 'h', pid: process.ppid, startTime: 5 }, 2, torn);
    const w = await PairLogWriter.open(opts(dir, { pid: process.pid, startTime: 9 }));
    await w.close();
    expect((await stat(live.path)).size).toBe(live.bytes.length);
  });

  it('keeps the frames after a corrupt middle frame: readers skip its bytes, recovery logs it', async () => {
    const dir = await state();
    const seg = await rawSegment(dir, { host: 'h', pid: DEAD_PID, startTime: 5 }, 5);
    const bytes = await readFile(seg.path);
    const second = 8 + frame(encodeRecord(1, record(1))).length;
    bytes[second + 40]! ^= 0xff;
    await writeFile(seg.path, bytes);
    const { log, lines } = memoryLogger();
    await (await PairLogWriter.open(opts(dir, { log, pid: process.pid, startTime: 9 }))).close();
    expect(lines.find((l) => l.event === 'pairlog.corrupt_frames')).toMatchObject({ file: seg.file, offset: second });
    expect(lines.find((l) => l.event === 'pairlog.tail_cut')).toBeUndefined();
    const { pairs, reader } = await readAll(dir);
    expect(pairs.map((p) => p.seq)).toEqual([1, 3, 4, 5]);
    expect(reader.stats.corruptBytes).toBe(frame(encodeRecord(2, record(2))).length);
  });
});

describe('PairLogReader', () => {
  it('returns each record once across restarts, commits and several writers', async () => {
    const dir = await state();
    const w1 = await PairLogWriter.open(opts(dir, { pid: 1001, startTime: 1 }));
    const w2 = await PairLogWriter.open(opts(dir, { pid: 1002, startTime: 2, segmentBytes: 4096 }));
    const seen = new Map<string, number>();
    const take = (ps: LoggedPair[]) => ps.forEach((p) => seen.set(`${p.writer}#${p.seq}`, (seen.get(`${p.writer}#${p.seq}`) ?? 0) + 1));
    let n = 0;
    for (let round = 0; round < 4; round++) {
      for (let i = 0; i < 30; i++) {
        w1.append(queued(++n));
        w2.append(queued(++n));
      }
      await until(() => w1.stats().syncedRecords === 30 * (round + 1) && w2.stats().syncedRecords === 30 * (round + 1));
      // A reader that stops halfway and does not commit: its records come again.
      const partial = await PairLogReader.open(dir, 'trainer');
      for await (const _ of partial.records()) break;
      // The committing reader.
      take((await readAll(dir, 'trainer')).pairs);
    }
    await w1.close();
    await w2.close();
    take((await readAll(dir, 'trainer')).pairs);
    expect(seen.size).toBe(240);
    expect([...seen.values()].every((c) => c === 1)).toBe(true);
    expect((await listSegments(dir)).filter((s) => s.pid === 1002).length).toBeGreaterThan(1); // w2 rotated
    // Another consumer has its own cursor.
    expect((await readAll(dir, 'other')).pairs).toHaveLength(240);
  });

  it('does not consume a torn tail of a segment being written; reads the frame once it is complete', async () => {
    const dir = await state();
    const whole = frame(encodeRecord(3, record(3)));
    const seg = await rawSegment(dir, { host: 'x', pid: DEAD_PID, startTime: 1 }, 2, whole.subarray(0, 20));
    expect((await readAll(dir)).pairs.map((p) => p.seq)).toEqual([1, 2]);
    expect((await readAll(dir)).pairs).toEqual([]);
    await appendFile(seg.path, whole.subarray(20));
    expect((await readAll(dir)).pairs.map((p) => p.seq)).toEqual([3]);
  });

  it('refuses a bad consumer name and a broken cursor file', async () => {
    const dir = await state();
    await expect(PairLogReader.open(dir, '../x')).rejects.toMatchObject({ kind: 'bad-consumer' });
    await (await PairLogReader.open(dir, 'c')).commit();
    await writeFile(join(dir, 'pairlog', 'cursors', 'c.json'), '{"format": 2}');
    await expect(PairLogReader.open(dir, 'c')).rejects.toMatchObject({ kind: 'bad-cursor' });
  });
});

describe('size cap', () => {
  it('deletes the oldest closed segments first, never an open one, and the reader moves on', async () => {
    const dir = await state();
    // An open segment of another live writer, older than everything: must stay.
    const live = await rawSegment(dir, { host: 'h', pid: process.ppid, startTime: 0 }, 20);
    const { log, lines } = memoryLogger('info');
    const w = await PairLogWriter.open(opts(dir, { log, pid: process.pid, startTime: 9, segmentBytes: 4096, maxBytes: 16384 }));
    for (let i = 1; i <= 300; i++) w.append(queued(i));
    await w.close();
    const segs = await listSegments(dir);
    const sizes = await Promise.all(segs.map((s) => stat(join(segmentsDir(dir), s.file)).then((x) => x.size)));
    expect(segs[0]!.file).toBe(live.file);
    expect(w.stats().segmentsDeleted).toBeGreaterThan(0);
    // Over the cap by at most the open segment and the one being written.
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(16384 + live.bytes.length + 4096 + 2048);
    const deleted = lines.filter((l) => l.event === 'pairlog.segment_deleted').map((l) => l.file as string);
    expect(deleted[0]).toMatch(/-000001\.seg$/);
    const { pairs } = await readAll(dir);
    const mine = pairs.filter((p) => p.writer.endsWith('-9')).map((p) => p.seq);
    // What is left is the newest records, in order, ending with the last.
    expect(mine.at(-1)).toBe(300);
    expect(mine).toEqual(Array.from({ length: mine.length }, (_, i) => 301 - mine.length + i));
  });
});

describe('size cap with images', () => {
  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
  const bytesOnDisk = async (dir: string, sub: 'segments' | 'images') =>
    (await Promise.all((await readdir(join(dir, 'pairlog', sub))).map((f) => stat(join(dir, 'pairlog', sub, f)).then((x) => x.size)))).reduce((a, b) => a + b, 0);

  it('counts the packs, deletes them with their segment, and every kept record finds its images', async () => {
    const dir = await state();
    const { log, lines } = memoryLogger('info');
    const w = await PairLogWriter.open(opts(dir, { log, segmentBytes: 64 << 10, maxBytes: 256 << 10 }));
    // Each record with its own 4 KiB image: images are ~3/4 of the bytes.
    for (let i = 1; i <= 300; i++) {
      const image = randomBytes(4096);
      w.append({ record: record(i, { images: [sha(image)] }), imageBytes: [image] });
    }
    await w.close();
    expect(w.stats().images).toMatchObject({ written: 300, copied: 0 });
    const total = (await bytesOnDisk(dir, 'segments')) + (await bytesOnDisk(dir, 'images'));
    // Over the cap by at most the segment being written (and its packs) and one chunk.
    expect(total).toBeLessThanOrEqual((256 << 10) + (64 << 10) + 8192);
    const deleted = lines.filter((l) => l.event === 'pairlog.segment_deleted');
    expect(deleted.length).toBeGreaterThan(0);
    expect(deleted.every((l) => (l.packs as number) >= 1 && (l.packBytes as number) > (l.bytes as number))).toBe(true);
    // Every pack left belongs to a segment left.
    const segs = new Set((await listSegments(dir)).map((x) => x.file));
    for (const pack of await listPacks(dir)) expect(segs.has(packSegment(pack)!)).toBe(true);
    const { pairs, reader } = await readAll(dir);
    expect(pairs.at(-1)!.seq).toBe(300);
    expect(pairs.length).toBeLessThan(300);
    for (const p of pairs) expect(sha(await reader.image(p.record.images[0]!))).toBe(p.record.images[0]);
  });

  it('copies an image stored for an earlier segment into the current one, so it outlives the first', async () => {
    const dir = await state();
    const w = await PairLogWriter.open(opts(dir, { segmentBytes: 16 << 10, maxBytes: 48 << 10 }));
    const image = randomBytes(3000);
    const s = sha(image);
    // As the server does: the bytes only until the writer says it has the image.
    w.append({ record: record(1, { images: [s] }), imageBytes: [image] });
    await until(() => w.hasImage(s));
    for (let i = 2; i <= 400; i++) {
      w.append({ record: record(i, { images: [s] }), imageBytes: [w.hasImage(s) ? undefined : image] });
      if (i % 50 === 0) await until(() => w.stats().syncedRecords === i);
    }
    await w.close();
    const st = w.stats();
    expect(st.segmentsDeleted).toBeGreaterThan(0);
    expect(st.images.copied).toBeGreaterThan(0);
    expect(st.images.written).toBe(st.images.copied + 1);
    expect(st.dropped.missingImage).toBe(0);
    const { pairs, reader } = await readAll(dir);
    expect(pairs.at(-1)!.seq).toBe(400);
    // The first segment (and the pack the bytes first went to) is gone; the image is not.
    expect((await listSegments(dir))[0]!.seq).toBeGreaterThan(1);
    expect(Buffer.compare(await reader.image(s), image)).toBe(0);
  });

  it('a reader that indexed a deleted pack finds the newer copy', async () => {
    const dir = await state();
    const w = await PairLogWriter.open(opts(dir, { segmentBytes: 16 << 10, maxBytes: 48 << 10 }));
    const image = randomBytes(3000);
    const s = sha(image);
    w.append({ record: record(1, { images: [s] }), imageBytes: [image] });
    await until(() => w.stats().syncedRecords === 1);
    const images = new LoggedImages(dir);
    await images.refresh();
    for (let i = 2; i <= 400; i++) {
      w.append({ record: record(i, { images: [s] }), imageBytes: [undefined] });
      if (i % 50 === 0) await until(() => w.stats().syncedRecords === i);
    }
    await w.close();
    expect(w.stats().segmentsDeleted).toBeGreaterThan(0);
    expect(Buffer.compare(await images.get(s), image)).toBe(0);
  });

  it('deletes a segment pack whose segment is gone, and leaves the older per-process packs alone', async () => {
    const dir = await state();
    await mkdir(join(dir, 'pairlog', 'images'), { recursive: true });
    const orphan = join(dir, 'pairlog', 'images', 'h-7-5-000003.1.pack');
    const legacy = join(dir, 'pairlog', 'images', 'h-7-5-000001.pack');
    await writeFile(orphan, 'MRMPIMG\x01');
    await writeFile(legacy, 'MRMPIMG\x01');
    const { log, lines } = memoryLogger('info');
    const w = await PairLogWriter.open(opts(dir, { log }));
    await w.close();
    await expect(stat(orphan)).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await stat(legacy)).size).toBe(8);
    expect(lines.find((l) => l.event === 'pairlog.pack_deleted')).toMatchObject({ file: 'h-7-5-000003.1.pack' });
  });
});

describe('a full disk (fault hook)', () => {
  it('counts ENOSPC, cuts the partial write back, and writes again once there is room', async () => {
    const dir = await state();
    let full = false;
    const io: WriterIo = {
      ...nodeIo,
      async write(fh, buf, pos, file) {
        if (!full || buf.length <= 13) return nodeIo.write(fh, buf, pos, file);
        // Half the bytes land, then the disk is full: a torn frame on disk.
        await nodeIo.write(fh, buf.subarray(0, buf.length >> 1), pos, file);
        throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
      },
    };
    const { log, lines } = memoryLogger('info');
    const w = await PairLogWriter.open(opts(dir, { io, log }));
    for (let i = 1; i <= 5; i++) w.append(queued(i));
    await until(() => w.stats().syncedRecords === 5);
    full = true;
    for (let i = 6; i <= 10; i++) w.append(queued(i));
    await until(() => w.stats().dropped.writeError === 5);
    expect(w.stats().lastError).toMatchObject({ reason: 'writeError', code: 'ENOSPC' });
    // The half-written frames were cut off again: the file ends at the last good frame.
    const seg = (await listSegments(dir))[0]!;
    expect((await stat(join(segmentsDir(dir), seg.file))).size).toBe(8 + w.stats().bytesWritten);
    expect(lines.filter((l) => l.event === 'pairlog.dropped' && l.code === 'ENOSPC')).toHaveLength(1);
    full = false;
    for (let i = 11; i <= 15; i++) w.append(queued(i));
    await w.close();
    const { pairs, reader } = await readAll(dir);
    // 6..10 were dropped (seq numbers 6..10 are the gap); nothing torn or corrupt remains.
    expect(pairs.map((p) => p.seq)).toEqual([1, 2, 3, 4, 5, 11, 12, 13, 14, 15]);
    expect(reader.stats).toMatchObject({ corruptBytes: 0, tornTails: 0, badRecords: 0 });
  });

  it('a failing image write drops the records that needed the image, and the rest are written', async () => {
    const dir = await state();
    let full = true;
    const io: WriterIo = {
      ...nodeIo,
      async write(fh, buf, pos, file) {
        if (!full || file !== 'images' || buf.length <= 8) return nodeIo.write(fh, buf, pos, file);
        // A torn image frame on disk, then ENOSPC: the pack is cut back and abandoned.
        await nodeIo.write(fh, buf.subarray(0, buf.length >> 1), pos, file);
        throw Object.assign(new Error('ENOSPC'), { code: 'ENOSPC' });
      },
    };
    const w = await PairLogWriter.open(opts(dir, { io }));
    const other = Buffer.from('other image');
    const noImage = (i: number) => ({ record: { ...record(i), images: [] }, imageBytes: [] });
    w.append(queued(1));
    w.append(noImage(2));
    await until(() => w.stats().dropped.writeError === 1 && w.stats().written === 1);
    full = false;
    w.append({ record: { ...record(3), images: [SHA('b')] }, imageBytes: [other] });
    await w.close();
    expect(w.stats().dropped.writeError).toBe(1);
    expect(w.stats().images).toMatchObject({ written: 1, packs: 2 });
    const { pairs, reader } = await readAll(dir);
    expect(pairs.map((p) => p.seq)).toEqual([1, 2]);
    expect(pairs.map((p) => p.record.prompt)).toEqual(['prompt 2 ✓', 'prompt 3 ✓']);
    await expect(reader.image(SHA('a'))).rejects.toMatchObject({ kind: 'missing-image' });
    expect(await reader.image(SHA('b'))).toEqual(other);
    void truncate;
  });

});
