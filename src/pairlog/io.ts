/**
 * The file operations the writer performs, behind one small interface so a
 * test can make them fail the way a full disk does (ENOSPC after a partial
 * write, a failing fsync) without filling a real disk. `file` says which of
 * the writer's two files it is: a record segment or an image pack.
 */
import type { FileHandle } from 'node:fs/promises';

export type WriterFile = 'segment' | 'images';

export interface WriterIo {
  /** Writes all of `buf` at `pos`; may have written part of it when it throws. */
  write(fh: FileHandle, buf: Uint8Array, pos: number, file: WriterFile): Promise<void>;
  sync(fh: FileHandle, file: WriterFile): Promise<void>;
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
};
