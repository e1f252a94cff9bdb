/**
 * A round's folder, `<stateDir>/rounds/<id>/`: everything a round did, so it
 * can be inspected, resumed and re-run.
 *
 *   round.json     the state: its config, each step's status, counts and time,
 *                  the outcome. Replaced atomically; readers in other
 *                  processes (the admin service) see the old or the new.
 *   events.jsonl   one line per step start, progress tick and end: what
 *                  WatchRound streams. Append-only.
 *   <step>.*       each step's output, written before the step is marked done.
 */
import { appendFile, mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '../model/atomic.js';

export type StepStatus = 'pending' | 'running' | 'done' | 'failed';
export type RoundStatus = 'running' | 'finished' | 'failed';

export interface StepRecord {
  name: string;
  status: StepStatus;
  startedAt: string | null;
  finishedAt: string | null;
  seconds: number | null;
  /** In/out counts the step reports (pairs in, flipped, kept, ...). */
  counts: Record<string, number>;
  error: string | null;
}

export interface RoundOutcome {
  /** activated: the candidate passed the gate and is active; rejected: it did not; skipped: nothing to learn from. */
  decision: 'activated' | 'rejected' | 'skipped';
  /** The registered candidate, if one was fitted. */
  version: number | null;
  reasons: string[];
}

export interface RoundState {
  id: string;
  model: string;
  createdAt: string;
  updatedAt: string;
  status: RoundStatus;
  /** The process running it now (or last); resume checks it is gone. */
  pid: number;
  /** The round's settings, as given when it started (resume reuses them). */
  config: Record<string, unknown>;
  steps: StepRecord[];
  outcome: RoundOutcome | null;
  /** The step after which the round stopped early (nothing to learn from, a rejected candidate); later steps are skipped. */
  endedBy: string | null;
  error: string | null;
}

export type RoundEvent =
  | { type: 'step.start'; step: string; index: number; of: number }
  | { type: 'step.progress'; step: string; done: number; total: number }
  | { type: 'step.done'; step: string; seconds: number; counts: Record<string, number> }
  | { type: 'step.skipped'; step: string; reason: string }
  | { type: 'round.done'; outcome: RoundOutcome }
  | { type: 'round.failed'; step: string | null; error: string };

export const ROUND_FILE = 'round.json';
export const EVENTS_FILE = 'events.jsonl';

export function roundsDir(stateDir: string): string {
  return join(stateDir, 'rounds');
}

/** Sortable, readable, unique enough for one trainer per model: time + random suffix. */
export function newRoundId(now = new Date()): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `r${t}-${Math.random().toString(36).slice(2, 6)}`;
}

export class RoundFolder {
  readonly dir: string;

  constructor(readonly stateDir: string, readonly id: string) {
    this.dir = join(roundsDir(stateDir), id);
  }

  path(file: string): string {
    return join(this.dir, file);
  }

  async create(state: RoundState): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await this.save(state);
  }

  async load(): Promise<RoundState> {
    return JSON.parse(await readFile(this.path(ROUND_FILE), 'utf8')) as RoundState;
  }

  async save(state: RoundState): Promise<void> {
    state.updatedAt = new Date().toISOString();
    await writeFileAtomic(this.path(ROUND_FILE), `${JSON.stringify(state, null, 2)}\n`);
  }

  async event(e: RoundEvent): Promise<void> {
    await appendFile(this.path(EVENTS_FILE), `${JSON.stringify({ time: new Date().toISOString(), ...e })}\n`);
  }

  async events(): Promise<(RoundEvent & { time: string })[]> {
    const text = await readFile(this.path(EVENTS_FILE), 'utf8').catch(() => '');
    // A line being appended right now may be torn: stop at the first that does not parse.
    const out: (RoundEvent & { time: string })[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line));
      } catch {
        break;
      }
    }
    return out;
  }

  async writeJson(file: string, value: unknown): Promise<void> {
    await writeFileAtomic(this.path(file), `${JSON.stringify(value)}\n`);
  }

  async readJson<T>(file: string): Promise<T> {
    return JSON.parse(await readFile(this.path(file), 'utf8')) as T;
  }
}

/** Every round of the state directory, newest first; unreadable folders are skipped. */
export async function listRounds(stateDir: string): Promise<RoundState[]> {
  const names = await readdir(roundsDir(stateDir)).catch(() => [] as string[]);
  const states = await Promise.all(names.map((n) => new RoundFolder(stateDir, n).load().catch(() => null)));
  return states.filter((s): s is RoundState => s !== null).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
}
