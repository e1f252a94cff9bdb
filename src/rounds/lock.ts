/**
 * One round at a time per model, across processes that share the state
 * directory: a lock file created exclusively, holding the owner's pid and
 * round id. A lock whose process is gone (kill -9, a crash) is stale and is
 * taken over, so a killed round never blocks the next one.
 */
import { mkdir, open, readFile, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../model/atomic.js';
import { processAlive } from '../model/process.js';
import { roundsDir } from './folder.js';

export interface LockOwner {
  round: string;
  pid: number;
  host: string;
  /**
   * A reservation: the admin service holds the lock for a round it is
   * starting, until the round's own process adopts it or this time (epoch ms)
   * passes, so a second trigger in between is refused on every replica.
   */
  until?: number;
}

export class RoundBusyError extends Error {
  override readonly name = 'RoundBusyError';
  constructor(readonly owner: LockOwner, model: string) {
    super(`round ${owner.round} of model ${model} is running (pid ${owner.pid} on ${owner.host}); one round at a time per model`);
  }
}

export function lockPath(stateDir: string, model: string): string {
  return join(roundsDir(stateDir), `.lock-${model}`);
}

/** The owner of a live lock, or null when there is none or its process is gone. */
export async function lockOwner(stateDir: string, model: string): Promise<LockOwner | null> {
  let owner: LockOwner;
  try {
    owner = JSON.parse(await readFile(lockPath(stateDir, model), 'utf8')) as LockOwner;
  } catch {
    return null;
  }
  if (owner.until !== undefined && Date.now() > owner.until) return null;
  return alive(owner) ? owner : null;
}

export async function acquireLock(stateDir: string, model: string, round: string, reserveMs?: number): Promise<() => Promise<void>> {
  const file = lockPath(stateDir, model);
  const me: LockOwner = { round, pid: process.pid, host: hostname(), ...(reserveMs !== undefined ? { until: Date.now() + reserveMs } : {}) };
  await mkdir(roundsDir(stateDir), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(file, 'wx');
      await fh.writeFile(JSON.stringify(me));
      await fh.close();
      return release(file, me);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = await lockOwner(stateDir, model);
      if (owner && owner.round === round && owner.until !== undefined) {
        // Reserved for this very round (by the admin service that started it): adopt it.
        await writeFileAtomic(file, JSON.stringify(me));
        return release(file, me);
      }
      if (owner) throw new RoundBusyError(owner, model);
      // Stale (its process is gone) or unreadable: remove and try once more.
      await rm(file, { force: true });
    }
  }
  throw new Error(`${file}: could not take the round lock`);
}

/** Removes the lock if it is still `me`'s (a reservation adopted by the round's process is not the reserver's any more). */
function release(file: string, me: LockOwner): () => Promise<void> {
  return async () => {
    const cur = await readFile(file, 'utf8').then((t) => JSON.parse(t) as LockOwner, () => null);
    if (cur?.pid === me.pid && cur.round === me.round) await rm(file, { force: true });
  };
}

/** On another host we cannot see the process: trust the lock. */
function alive(o: LockOwner): boolean {
  return o.host !== hostname() || processAlive(o.pid);
}
