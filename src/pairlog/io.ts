/**
 * The file operations the writer performs, behind one small interface so a
 * test can make them fail the way a full disk does (ENOSPC after a partial
 * write, a failing fsync) without filling a real disk.
 */
import type { FileHandle } from 'node:fs/promises';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '../model/atomic.js';

export interface WriterIo {
  /** Writes all of `buf` at `pos`; may have written part of it when it throws. */
  write(fh: FileHandle, buf: Uint8Array, pos: number): Promise<void>;
  sync(fh: FileHandle): Promise<void>;
  /** Writes a content-addressed image atomically (temp file, fsync, rename). */
  writeImage(path: string, bytes: Uint8Array): Promise<void>;
}

export const nodeIo: WriterIo = {
  async write(fh, buf, pos) {
    let done = 0;
    while (done < buf.length) {
      const { bytesWritten } = await fh.write(buf, done, buf.length - done, pos + done);
      done += bytesWritten;
    }
  },
  sync: (fh) => fh.sync(),
  async writeImage(path, bytes) {
    await mkdir(dirname(path), { recursive: true });
    await writeFileAtomic(path, bytes);
  },
};
