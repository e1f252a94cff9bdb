/**
 * What the admin service does for rounds, kept out of the trainer: start a
 * round as a child process through its one entry point (`mrm round run`),
 * follow its events file, read its state. The round's process is detached
 * with its output in the round's folder, so a server restart does not kill
 * a round (and a killed round is resumed with `mrm round resume`).
 */
import { spawn } from 'node:child_process';
import { mkdir, open, stat, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { EVENTS_FILE, newRoundId, RoundFolder, type RoundEvent, type RoundState } from './folder.js';
import { acquireLock, RoundBusyError, type LockOwner } from './lock.js';
import { processAlive } from '../model/process.js';

/** How long a reservation waits for the round's process to adopt it (it does within a second or two). */
const RESERVE_MS = 60_000;

const MRM_BIN = fileURLToPath(new URL('../../bin/mrm.js', import.meta.url));
export const ROUND_LOG = 'round.log';
export const REQUEST_FILE = 'request.json';

export class RoundControlError extends Error {
  override readonly name = 'RoundControlError';
  constructor(readonly kind: 'busy' | 'not-found' | 'bad-config' | 'spawn-failed', message: string, readonly owner?: LockOwner, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface TriggerOptions {
  stateDir: string;
  model: string;
  /** Round settings (trainer/round/config.ts keys); stateDir and model are set here. */
  settings: Record<string, unknown>;
  /** Resume this round instead of starting one. */
  resume?: string;
  /** Extra environment for the round (the judge's API key); never logged. */
  env?: Record<string, string>;
}

/** Starts (or resumes) a round and returns its id at once; FAILED_PRECONDITION-kind 'busy' while another runs. */
export async function triggerRound(o: TriggerOptions): Promise<{ id: string; pid: number }> {
  const id = o.resume ?? newRoundId();
  // Reserve the lock for the round now; its process adopts it when it starts.
  const release = await acquireLock(o.stateDir, o.model, id, RESERVE_MS).catch((err: unknown) => {
    if (err instanceof RoundBusyError) throw new RoundControlError('busy', err.message, err.owner, { cause: err });
    throw err;
  });
  const folder = new RoundFolder(o.stateDir, id);
  if (o.resume && !(await exists(folder.path('round.json')))) {
    await release();
    throw new RoundControlError('not-found', `no round ${id} in ${o.stateDir}/rounds`);
  }
  await mkdir(folder.dir, { recursive: true });
  const args = [MRM_BIN, 'round'];
  if (o.resume) {
    args.push('resume', id, '--state-dir', o.stateDir);
  } else {
    const file = folder.path(REQUEST_FILE);
    await writeFile(file, JSON.stringify({ ...o.settings, stateDir: o.stateDir, model: o.model }, null, 2));
    args.push('run', '--config', file, '--id', id);
  }
  const out = await open(folder.path(ROUND_LOG), 'a');
  try {
    const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', out.fd, out.fd], env: { ...process.env, ...o.env } });
    const pid = await new Promise<number>((resolve, reject) => {
      child.once('error', (cause) => {
        void release();
        reject(new RoundControlError('spawn-failed', `could not start the round process: ${cause.message}`, undefined, { cause }));
      });
      child.once('spawn', () => resolve(child.pid!));
    });
    child.unref();
    return { id, pid };
  } finally {
    await out.close();
  }
}

export async function getRound(stateDir: string, id: string): Promise<RoundState> {
  try {
    return await new RoundFolder(stateDir, id).load();
  } catch (cause) {
    throw new RoundControlError('not-found', `no round ${id} in ${stateDir}/rounds (or it has not written its state yet)`, undefined, { cause });
  }
}

/**
 * Follows a round's events file from the start: every event so far, then new
 * ones as they are appended, until the round ends (round.done or
 * round.failed), its process is gone without ending it, or `stopped()`.
 */
export async function* watchRound(stateDir: string, id: string, stopped: () => boolean, pollMs = 200): AsyncGenerator<RoundEvent & { time: string }> {
  const folder = new RoundFolder(stateDir, id);
  let offset = 0;
  let partial = '';
  let quietPolls = 0;
  for (;;) {
    if (stopped()) return;
    const fh = await open(folder.path(EVENTS_FILE), 'r').catch(() => null);
    let grew = false;
    if (fh) {
      try {
        const { size } = await fh.stat();
        if (size > offset) {
          const buf = Buffer.alloc(size - offset);
          await fh.read(buf, 0, buf.length, offset);
          offset = size;
          grew = true;
          const lines = (partial + buf.toString('utf8')).split('\n');
          partial = lines.pop()!;
          for (const line of lines) {
            if (!line) continue;
            const e = JSON.parse(line) as RoundEvent & { time: string };
            yield e;
            if (e.type === 'round.done' || e.type === 'round.failed') return;
          }
        }
      } finally {
        await fh.close();
      }
    }
    if (!grew && ++quietPolls % 10 === 0) {
      // Every ~2 s without events: is anyone still running this round?
      const state = await folder.load().catch(() => null);
      if (!state && quietPolls * pollMs > RESERVE_MS) {
        yield { type: 'round.failed', step: null, error: `the round's process never started it (see ${folder.path(ROUND_LOG)})`, time: new Date().toISOString() };
        return;
      }
      if (state && state.status !== 'running') return;
      if (state && !processAlive(state.pid)) {
        yield { type: 'round.failed', step: state.steps.find((s) => s.status === 'running')?.name ?? null, error: `the round's process (pid ${state.pid}) is gone; resume it with TriggerRound(resume_id) or mrm round resume ${id}`, time: new Date().toISOString() };
        return;
      }
    }
    if (!grew) await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** A round folder exists: started (or being started) by TriggerRound or mrm round run. */
export async function roundExists(stateDir: string, id: string): Promise<boolean> {
  return /^[A-Za-z0-9._-]+$/.test(id) && exists(new RoundFolder(stateDir, id).dir);
}


async function exists(p: string): Promise<boolean> {
  return stat(p).then(() => true, () => false);
}
