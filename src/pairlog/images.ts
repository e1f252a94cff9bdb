/**
 * Logged images, content-addressed and packed. A writer appends the images
 * its records name to packs of the segment those records go to,
 *
 *   <stateDir>/pairlog/images/<segment name without .seg>.<k>.pack
 *
 * an 8-byte header ("MRMPIMG" v1), then frames framed as the segments' are
 * (codec.ts: magic, length, CRC32) whose payload is
 *
 *   type u8 (3) | sha256 of the bytes (32 bytes) | the image's bytes
 *
 * One pack append and one fsync per batch of new images, where a file per
 * image cost ~10 file system calls and two fsyncs each (mkdir, a temp file,
 * rename, the directory's fsync): most of the pair log's CPU with distinct
 * images.
 *
 * Packs belong to a segment so that the size cap can delete them with it: a
 * record names only images in its own segment's packs (the writer copies an
 * image it stored for an earlier segment into the current one's packs the
 * first time a record there names it), so once a segment is gone nothing
 * names its packs. Images are most of the log's bytes (a 128 px PNG is ~27
 * KiB, a record ~1.5 KiB); packs kept forever grew the log ~18x faster than
 * the cap saw.
 *
 * Packs of writers before that (`<host>-<pid>-<startTime>-<seq>.pack`, one
 * series per process) and the file-per-image layout before packs
 * (images/<sha[0:2]>/<sha>) are still read, and never deleted: any record of
 * their writer may name them.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FRAME_OVERHEAD, frameHeader, scanFrames } from './codec.js';
import { imagesDir, readFrom } from './segments.js';

export const PACK_HEADER = new Uint8Array([0x4d, 0x52, 0x4d, 0x50, 0x49, 0x4d, 0x47, 0x01]); // "MRMPIMG" v1
const TYPE_IMAGE = 3;
const SHA_BYTES = 32;
/** A segment's pack: group 1 is the segment's name without `.seg`. */
const SEGMENT_PACK = /^(.+-\d+-\d+-\d+)\.(\d+)\.pack$/;
/** A pack of the per-process series before packs belonged to segments. */
const PROCESS_PACK = /^.+-\d+-\d+-\d+\.pack$/;
const SHA = /^[0-9a-f]{64}$/;

/** The k-th pack (from 1) of a segment (its file name, `.seg` included). */
export function packFile(segment: string, k: number): string {
  return `${segment.replace(/\.seg$/, '')}.${k}.pack`;
}

/** The segment file a pack belongs to; null for a pack of the older per-process series. */
export function packSegment(pack: string): string | null {
  const m = SEGMENT_PACK.exec(pack);
  return m ? `${m[1]}.seg` : null;
}

/** Where an image lived before packs (still read). */
export const legacyImagePath = (stateDir: string, sha: string) => join(imagesDir(stateDir), sha.slice(0, 2), sha);

export const imageFrameBytes = (bytes: Uint8Array) => FRAME_OVERHEAD + 1 + SHA_BYTES + bytes.length;

/** One image's frame at `at` of `out` (imageFrameBytes(bytes) bytes); returns the end offset. */
export function writeImageFrame(out: Buffer, at: number, sha: string, bytes: Uint8Array): number {
  let o = at + FRAME_OVERHEAD;
  out[o++] = TYPE_IMAGE;
  o += out.write(sha, o, SHA_BYTES, 'hex');
  out.set(bytes, o);
  o += bytes.length;
  frameHeader(out, at, o - at - FRAME_OVERHEAD);
  return o;
}

function decodeImage(payload: Uint8Array): { sha: string; bytes: Uint8Array } | null {
  if (payload.length < 1 + SHA_BYTES || payload[0] !== TYPE_IMAGE) return null;
  return { sha: Buffer.from(payload.buffer, payload.byteOffset + 1, SHA_BYTES).toString('hex'), bytes: payload.subarray(1 + SHA_BYTES) };
}

const hasPackHeader = (buf: Uint8Array) => buf.length >= PACK_HEADER.length && PACK_HEADER.every((b, i) => buf[i] === b);

/** Every pack file (both namings), sorted by name. */
export async function listPacks(stateDir: string): Promise<string[]> {
  try {
    return (await readdir(imagesDir(stateDir))).filter((f) => SEGMENT_PACK.test(f) || PROCESS_PACK.test(f)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export class ImageError extends Error {
  override readonly name = 'ImageError';
  readonly kind = 'missing-image';
}

/**
 * A reader's way to the bytes of logged images: an index (sha -> pack, offset,
 * length) of every pack, read once and then only what was appended since,
 * when an image is not in it yet. A frame's CRC was checked when indexed.
 */
export class LoggedImages {
  private readonly index = new Map<string, { pack: string; offset: number; length: number }>();
  /** Per pack: the file offset scanned up to (the end of its last whole frame). */
  private readonly scanned = new Map<string, number>();

  constructor(readonly stateDir: string) {}

  async get(sha: string): Promise<Buffer> {
    if (!SHA.test(sha)) throw new ImageError(`not a sha256: ${JSON.stringify(sha)}`);
    if (!this.index.has(sha)) await this.refresh();
    for (let attempt = 0; ; attempt++) {
      const at = this.index.get(sha);
      if (!at) break;
      let bytes: Uint8Array;
      try {
        bytes = await readFrom(join(imagesDir(this.stateDir), at.pack), at.offset, at.length);
      } catch (err) {
        // The size cap deleted the pack since it was indexed; a newer segment's
        // pack may hold the image too (the writer copies images forward).
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 0) throw new ImageError(`image ${sha} in ${at.pack}: ${(err as Error).message}`, { cause: err });
        this.forget(at.pack);
        await this.refresh();
        continue;
      }
      if (bytes.length === at.length) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
      throw new ImageError(`image ${sha} in ${at.pack} at ${at.offset}: ${bytes.length} of ${at.length} bytes (the pack was cut short)`);
    }
    try {
      return await readFile(legacyImagePath(this.stateDir, sha));
    } catch (err) {
      throw new ImageError(`image ${sha} is in no pack of ${imagesDir(this.stateDir)}`, { cause: err });
    }
  }

  /** Drops a deleted pack from the index. */
  private forget(pack: string): void {
    for (const [sha, at] of this.index) if (at.pack === pack) this.index.delete(sha);
    this.scanned.delete(pack);
  }

  /** Indexes what was appended to the packs since the last look. */
  async refresh(): Promise<void> {
    for (const pack of await listPacks(this.stateDir)) {
      const from = this.scanned.get(pack) ?? 0;
      let buf: Uint8Array;
      try {
        buf = await readFrom(join(imagesDir(this.stateDir), pack), from);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        this.forget(pack); // deleted by the size cap since it was listed
        continue;
      }
      let base = from;
      if (from === 0) {
        if (!hasPackHeader(buf)) continue; // just created; come back later
        buf = buf.subarray(PACK_HEADER.length);
        base = PACK_HEADER.length;
      }
      const scan = scanFrames(buf, base);
      for (const f of scan.frames) {
        const img = decodeImage(f.payload);
        // The newest copy wins: the size cap deletes the oldest packs first.
        if (img) this.index.set(img.sha, { pack, offset: f.offset + FRAME_OVERHEAD + 1 + SHA_BYTES, length: img.bytes.length });
      }
      if (scan.goodEnd > base) this.scanned.set(pack, scan.goodEnd);
    }
  }

  /** Distinct images indexed and their bytes (after a refresh). */
  totals(): { count: number; bytes: number } {
    let bytes = 0;
    for (const v of this.index.values()) bytes += v.length;
    return { count: this.index.size, bytes };
  }
}

/** Distinct logged images and their bytes: packs and the older file-per-image layout. */
export async function imageTotals(stateDir: string): Promise<{ count: number; bytes: number }> {
  const packed = new LoggedImages(stateDir);
  await packed.refresh();
  let { count, bytes } = packed.totals();
  let shards: string[];
  try {
    shards = (await readdir(imagesDir(stateDir), { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name);
  } catch {
    return { count, bytes };
  }
  for (const shard of shards) {
    for (const f of await readdir(join(imagesDir(stateDir), shard)).catch(() => [] as string[])) {
      if (!SHA.test(f)) continue; // a temp file being written
      count++;
      bytes += (await stat(join(imagesDir(stateDir), shard, f)).catch(() => ({ size: 0 }))).size;
    }
  }
  return { count, bytes };
}
