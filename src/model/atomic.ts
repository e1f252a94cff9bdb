/**
 * Crash-safe file replacement for files that other processes read while we
 * write them (the registry's ACTIVE pointer): a reader sees the old content or
 * the new, never a torn write, and a crash leaves the old file intact.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface AtomicHooks {
  /** Runs after the temp file is durable, before it replaces the target; tests throw here to simulate a crash. */
  beforeRename?: () => Promise<void> | void;
}

export async function writeFileAtomic(path: string, data: string | Uint8Array, hooks?: AtomicHooks): Promise<void> {
  // Same directory because rename is only atomic within one file system; the
  // leading dot keeps the temp file out of listings that skip hidden names.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx');
    try {
      await fh.writeFile(data);
      // Without this, a crash soon after the rename can leave an empty target.
      await fh.sync();
    } finally {
      await fh.close();
    }
    await hooks?.beforeRename?.();
    await rename(tmp, path);
  } catch (err) {
    // The original failure matters more than a failed cleanup.
    await rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
  await fsyncPath(dirname(path));
}

/** fsync a file, or a directory so that renames into it survive a crash. */
export async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
