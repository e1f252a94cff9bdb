/**
 * Where the pair log lives in a state directory, and how segment files are
 * named, listed and read. Shared by the writer, the reader and `mrm log`.
 *
 *   <stateDir>/pairlog/segments/<host>-<pid>-<startTime>-<seq>.seg
 *   <stateDir>/pairlog/images/<host>-<pid>-<startTime>-<seq>.<k>.pack   (a segment's images, images.ts)
 *   <stateDir>/pairlog/cursors/<consumer>.json
 *
 * One writer per server process: host, pid and the process's start time (ms)
 * make the writer's name unique even when a container restarts with the same
 * pid; seq numbers its segments. Host names may contain '-', so names are
 * parsed from the right.
 */
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FRAME_OVERHEAD, frame, END_PAYLOAD, hasHeader, scanFrames, SEGMENT_HEADER, type Scan } from './codec.js';

export const pairlogDir = (stateDir: string) => join(stateDir, 'pairlog');
export const segmentsDir = (stateDir: string) => join(pairlogDir(stateDir), 'segments');
export const imagesDir = (stateDir: string) => join(pairlogDir(stateDir), 'images');
export const cursorsDir = (stateDir: string) => join(pairlogDir(stateDir), 'cursors');

export interface SegmentName {
  file: string;
  host: string;
  pid: number;
  startTime: number;
  seq: number;
  /** host-pid-startTime: one writer (one server process). */
  writer: string;
}

const NAME = /^(.+)-(\d+)-(\d+)-(\d+)\.seg$/;

export function segmentFile(host: string, pid: number, startTime: number, seq: number): string {
  // Zero-padded seq so that names of one writer sort in order.
  return `${safeHost(host)}-${pid}-${startTime}-${String(seq).padStart(6, '0')}.seg`;
}

/** Host names are used as file name parts: keep them to safe characters. */
export const safeHost = (host: string) => host.replace(/[^A-Za-z0-9._-]/g, '_') || 'host';

export function parseSegmentName(file: string): SegmentName | null {
  const m = NAME.exec(file);
  if (!m) return null;
  const [, host, pid, startTime, seq] = m;
  return { file, host: host!, pid: Number(pid), startTime: Number(startTime), seq: Number(seq), writer: `${host}-${pid}-${startTime}` };
}

/** Oldest first: by writer start time, then writer, then seq. */
export function compareSegments(a: SegmentName, b: SegmentName): number {
  return a.startTime - b.startTime || (a.writer < b.writer ? -1 : a.writer > b.writer ? 1 : 0) || a.seq - b.seq;
}

/** All segments in the state directory, oldest first; none if the log was never written. */
export async function listSegments(stateDir: string): Promise<SegmentName[]> {
  let files: string[];
  try {
    files = await readdir(segmentsDir(stateDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return files.map(parseSegmentName).filter((s): s is SegmentName => s !== null).sort(compareSegments);
}

/**
 * Bytes of a file from `offset`: `length` of them, or up to its current end
 * (a segment another process may be appending to). Fewer when the file is shorter.
 */
export async function readFrom(path: string, offset: number, length?: number): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const want = length ?? (await fh.stat()).size - offset;
    if (want <= 0) return new Uint8Array(0);
    const buf = new Uint8Array(want);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  } finally {
    await fh.close();
  }
}

export interface SegmentScan extends Scan {
  /** The file's size when read. */
  size: number;
  /** The header is missing or short (a writer died right after creating the file, or not a segment). */
  noHeader: boolean;
}

/** Scan a whole segment file from its header. */
export async function scanSegment(path: string): Promise<SegmentScan> {
  const buf = await readFrom(path, 0);
  if (!hasHeader(buf)) {
    return { frames: [], corrupt: [], goodEnd: 0, tailBytes: buf.length, closed: false, size: buf.length, noHeader: true };
  }
  const h = SEGMENT_HEADER.length;
  return { ...scanFrames(buf.subarray(h), h), size: buf.length, noHeader: false };
}

const END_FRAME = frame(END_PAYLOAD);

/** Whether the segment ends with the end marker: read only its last frame's bytes. */
export async function isClosed(path: string): Promise<boolean> {
  const { size } = await stat(path);
  if (size < SEGMENT_HEADER.length + END_FRAME.length) return false;
  const fh = await open(path, 'r');
  try {
    const buf = new Uint8Array(END_FRAME.length);
    await fh.read(buf, 0, buf.length, size - buf.length);
    return buf.every((b, i) => b === END_FRAME[i]);
  } finally {
    await fh.close();
  }
}

export { END_FRAME, FRAME_OVERHEAD };
