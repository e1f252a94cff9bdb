/**
 * The writer's image packs (format: images.ts), one series per segment: new
 * images of a batch are appended in one write and made durable with one fsync
 * before any record that names them is written, so no record on disk, synced
 * or not, names an image that a crash can lose. A failed write is cut back to
 * the last good frame (or, if that fails too, the pack is left for a new
 * one), as the segments' are; the caller drops the records that needed those
 * images.
 */
import { mkdir, open, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { imageFrameBytes, PACK_HEADER, packFile, writeImageFrame } from './images.js';
import type { WriterIo } from './io.js';
import { fsyncPath } from '../model/atomic.js';
import { imagesDir, pairlogDir } from './segments.js';

/** Where the writer put an image: enough to read it back (a copy into a later segment's pack). */
export interface StoredImage {
  /** The segment whose packs hold it. */
  segment: string;
  pack: string;
  offset: number;
  length: number;
}

export class ImagePackWriter {
  private fh: FileHandle | null = null;
  private file: string | null = null;
  private size = 0;
  private segment: string | null = null;
  private seq = 0;
  /** Bytes in the current segment's packs: the writer rotates on records and images together. */
  segmentBytes = 0;
  /** Packs this writer opened (stats). */
  opened = 0;

  constructor(
    private readonly stateDir: string,
    private readonly io: WriterIo,
    /** A pack closes at this size and the next one opens: packs stay small enough to copy or inspect. */
    private readonly packBytes: number,
  ) {}

  /** Images appended from now on belong to this segment (its file name); a new segment closes the last one's pack. */
  async forSegment(segment: string): Promise<void> {
    if (segment === this.segment) return;
    await this.close();
    this.segment = segment;
    this.seq = 0;
    this.segmentBytes = 0;
  }

  /**
   * Appends the images to the current segment's pack and fsyncs it; returns
   * where each went. Throws (after cutting the pack back) when either fails.
   */
  async append(images: Map<string, Uint8Array>): Promise<Map<string, StoredImage>> {
    if (this.segment === null) throw new Error('ImagePackWriter.append before forSegment');
    let n = 0;
    for (const bytes of images.values()) n += imageFrameBytes(bytes);
    const buf = Buffer.allocUnsafe(n);
    const fh = await this.ensurePack();
    const at = new Map<string, StoredImage>();
    let o = 0;
    for (const [sha, bytes] of images) {
      const end = writeImageFrame(buf, o, sha, bytes);
      at.set(sha, { segment: this.segment, pack: this.file!, offset: this.size + end - bytes.length, length: bytes.length });
      o = end;
    }
    try {
      await this.io.write(fh, buf, this.size, 'images');
      await this.io.sync(fh, 'images');
    } catch (err) {
      // A partial write leaves a torn frame; a failed fsync, pages the kernel
      // may have dropped. Either way, start over in a fresh pack next time:
      // what this pack holds up to `size` is durable and stays readable.
      await this.abandon();
      throw err;
    }
    this.size += n;
    this.segmentBytes += n;
    if (this.size >= this.packBytes) await this.close();
    return at;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    this.file = null;
    await fh?.close().catch(() => undefined);
  }

  private async abandon(): Promise<void> {
    const fh = this.fh;
    this.fh = null;
    this.file = null;
    if (!fh) return;
    await fh.truncate(this.size).catch(() => undefined);
    await fh.close().catch(() => undefined);
  }

  private async ensurePack(): Promise<FileHandle> {
    if (this.fh) return this.fh;
    const dir = imagesDir(this.stateDir);
    await mkdir(dir, { recursive: true });
    const file = packFile(this.segment!, ++this.seq);
    const path = join(dir, file);
    const fh = await open(path, 'wx');
    try {
      await this.io.write(fh, PACK_HEADER, 0, 'images');
      // The new names must survive a crash with the images the pack will hold (once per pack).
      await fsyncPath(dir);
      await fsyncPath(pairlogDir(this.stateDir));
    } catch (err) {
      await fh.close().catch(() => undefined);
      await rm(path, { force: true }).catch(() => undefined);
      throw err;
    }
    this.fh = fh;
    this.file = file;
    this.size = PACK_HEADER.length;
    this.segmentBytes += PACK_HEADER.length;
    this.opened++;
    return fh;
  }
}
