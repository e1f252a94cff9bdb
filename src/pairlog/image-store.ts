/**
 * The writer's images: which it has stored and where, and storing a chunk's
 * new ones in the current segment's pack (image-pack.ts) before the chunk's
 * records are written. A record names only images in its own segment's packs
 * (images.ts says why), so an image stored for an earlier segment is copied:
 * read back from that pack and appended to the current one, the first time a
 * record of the new segment names it. The caller keeps no bytes for an image
 * the writer has (`has`), which is the point of remembering them: a server
 * sees the same few images again and again (a prompt's image over a GRPO
 * step's groups).
 */
import { LRUCache } from 'lru-cache';
import { join } from 'node:path';
import { ImagePackWriter, type StoredImage } from './image-pack.js';
import type { WriterIo } from './io.js';
import { imagesDir, readFrom } from './segments.js';
import type { QueuedRecord } from './writer.js';

export interface StoreResult {
  /** The records whose images are all in the segment's packs now, in order. */
  ready: QueuedRecord[];
  /** Records dropped: an image neither given nor stored for a kept segment. */
  missingImage: number;
  /** The pack write failed: the records that needed it were dropped. */
  writeError: { records: number; err: unknown } | null;
  /** Images that could not be read back for a copy (their records are in missingImage). */
  copyErrors: unknown[];
}

export interface ImageStats { written: number; copied: number; reused: number; bytes: number; packs: number }

export class SegmentImages {
  // 100k entries (sha and where) is ~20 MB.
  private readonly known = new LRUCache<string, StoredImage>({ max: 100_000 });
  private readonly pack: ImagePackWriter;
  /** Images appended (copied: of those, read back from an earlier segment's pack), references to images already there, image bytes appended, packs opened. */
  readonly stats: ImageStats = { written: 0, copied: 0, reused: 0, bytes: 0, packs: 0 };

  constructor(private readonly stateDir: string, io: WriterIo, packBytes: number) {
    this.pack = new ImagePackWriter(stateDir, io, packBytes);
  }

  /** Stored for a segment still kept: the caller need not keep the bytes. */
  has(sha: string): boolean {
    return this.known.has(sha);
  }

  forSegment(segment: string): Promise<void> {
    return this.pack.forSegment(segment);
  }

  /** Bytes of the current segment's packs. */
  segmentBytes(): number {
    return this.pack.segmentBytes;
  }

  /** The size cap deleted these segments and their packs. */
  forget(segments: ReadonlySet<string>): void {
    for (const [sha, at] of this.known.entries()) if (segments.has(at.segment)) this.known.delete(sha);
  }

  close(): Promise<void> {
    return this.pack.close();
  }

  /** Stores what the chunk's records need in `segment`'s pack (one append and fsync for all). */
  async store(segment: string, chunk: QueuedRecord[]): Promise<StoreResult> {
    const here = (sha: string) => this.known.get(sha)?.segment === segment;
    const fresh = new Map<string, Uint8Array>();
    const copy = new Map<string, StoredImage>();
    const wanted: QueuedRecord[] = [];
    let missingImage = 0;
    for (const q of chunk) {
      const shas = q.record.images;
      let ok = true;
      for (let i = 0; i < shas.length && ok; i++) {
        const sha = shas[i]!;
        if (here(sha) || fresh.has(sha) || copy.has(sha)) continue;
        const bytes = q.imageBytes[i];
        const earlier = this.known.get(sha);
        if (bytes) fresh.set(sha, bytes);
        else if (earlier) copy.set(sha, earlier);
        else ok = false;
      }
      if (ok) wanted.push(q);
      else missingImage++;
    }
    const copyErrors: unknown[] = [];
    let copied = 0;
    for (const [sha, at] of copy) {
      try {
        const bytes = await readFrom(join(imagesDir(this.stateDir), at.pack), at.offset, at.length);
        if (bytes.length !== at.length) throw new Error(`image ${sha} in ${at.pack} at ${at.offset}: ${bytes.length} of ${at.length} bytes`);
        fresh.set(sha, bytes);
        copied++;
      } catch (err) {
        this.known.delete(sha);
        copyErrors.push(err);
      }
    }
    let writeError: StoreResult['writeError'] = null;
    if (fresh.size > 0) {
      try {
        for (const [sha, at] of await this.pack.append(fresh)) {
          this.known.set(sha, at);
          this.stats.bytes += at.length;
        }
        this.stats.written += fresh.size;
        this.stats.copied += copied;
        this.stats.packs = this.pack.opened;
      } catch (err) {
        writeError = { records: 0, err };
      }
    }
    const ready = wanted.filter((q) => q.record.images.every(here));
    if (writeError) writeError.records = wanted.length - ready.length;
    else missingImage += wanted.length - ready.length; // an image whose copy failed
    let refs = 0;
    for (const q of ready) refs += q.record.images.length;
    this.stats.reused += Math.max(0, refs - (writeError ? 0 : fresh.size));
    return { ready, missingImage, writeError, copyErrors };
  }
}
