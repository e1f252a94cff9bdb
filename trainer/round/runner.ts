/**
 * Runs a round's steps in order inside its folder. A step reads what earlier
 * steps wrote in the folder and writes its own output there before it is
 * marked done, so a round killed at any moment resumes from its first step
 * that is not done, and a finished step is never run twice. Steps must be
 * safe to re-run from the start (they overwrite their own files); anything
 * expensive inside a step that must not be paid twice (judge calls) is cached
 * by content below the step.
 */
import { errorFields, type Logger } from '../../src/serve/log.js';
import type { RoundEvent, RoundFolder, RoundOutcome, RoundState, StepRecord } from '../../src/rounds/folder.js';

export interface StepContext {
  folder: RoundFolder;
  state: Readonly<RoundState>;
  log: Logger;
  /** Report progress within the step; throttled before it reaches the events file. */
  progress(done: number, total: number): void;
}

export interface StepResult {
  counts: Record<string, number>;
  /** Set by the step that decides the round (gate, activate); the last one set wins. */
  outcome?: RoundOutcome;
  /** End the round after this step (nothing to learn from, candidate rejected). */
  stop?: boolean;
}

export interface Step {
  name: string;
  run(ctx: StepContext): Promise<StepResult>;
}

export type EventListener = (e: RoundEvent) => void;

export class RoundStepError extends Error {
  override readonly name = 'RoundStepError';
  constructor(readonly step: string, options: { cause: unknown }) {
    super(`round step '${step}' failed: ${(options.cause as Error)?.message ?? String(options.cause)}`, options);
  }
}

export function emptySteps(names: string[]): StepRecord[] {
  return names.map((name) => ({ name, status: 'pending', startedAt: null, finishedAt: null, seconds: null, counts: {}, error: null }));
}

/** Progress lines at most every 250 ms per step: enough for a progress bar, few enough for a file. */
const PROGRESS_EVERY_MS = 250;

export async function runRound(folder: RoundFolder, steps: Step[], log: Logger, listen: EventListener = () => undefined): Promise<RoundState> {
  const state = await folder.load();
  const names = steps.map((s) => s.name);
  if (state.steps.map((s) => s.name).join() !== names.join()) {
    throw new Error(`round ${state.id}: its folder lists steps [${state.steps.map((s) => s.name).join(', ')}], this trainer runs [${names.join(', ')}]`);
  }
  state.status = 'running';
  state.pid = process.pid;
  state.error = null;
  await folder.save(state);
  const emit = async (e: RoundEvent) => {
    listen(e);
    await folder.event(e);
  };

  for (const [index, step] of steps.entries()) {
    const rec = state.steps[index]!;
    if (rec.status === 'done') continue;
    if (state.endedBy !== null) {
      rec.status = 'done';
      rec.error = null;
      await emit({ type: 'step.skipped', step: step.name, reason: `the round ended at step '${state.endedBy}'` });
      continue;
    }
    rec.status = 'running';
    rec.startedAt = new Date().toISOString();
    rec.error = null;
    await folder.save(state);
    await emit({ type: 'step.start', step: step.name, index, of: steps.length });
    const t0 = performance.now();
    let last = 0;
    const pending: Promise<void>[] = [];
    const ctx: StepContext = {
      folder,
      state,
      log: log.child({ round: state.id, step: step.name }),
      progress: (done, total) => {
        const now = performance.now();
        if (done < total && now - last < PROGRESS_EVERY_MS) return;
        last = now;
        pending.push(emit({ type: 'step.progress', step: step.name, done, total }));
      },
    };
    let result: StepResult;
    try {
      result = await step.run(ctx);
      await Promise.all(pending);
    } catch (cause) {
      await Promise.allSettled(pending);
      const err = new RoundStepError(step.name, { cause });
      rec.status = 'failed';
      rec.error = err.message;
      state.status = 'failed';
      state.error = err.message;
      await folder.save(state);
      await emit({ type: 'round.failed', step: step.name, error: err.message });
      log.error('round.step_failed', { round: state.id, step: step.name, error: errorFields(cause) });
      throw err;
    }
    rec.status = 'done';
    rec.finishedAt = new Date().toISOString();
    rec.seconds = Math.round((performance.now() - t0) / 10) / 100;
    rec.counts = result.counts;
    if (result.outcome) state.outcome = result.outcome;
    if (result.stop) state.endedBy = step.name;
    await folder.save(state);
    await emit({ type: 'step.done', step: step.name, seconds: rec.seconds, counts: rec.counts });
    log.info('round.step_done', { round: state.id, step: step.name, seconds: rec.seconds, counts: rec.counts });
  }
  state.status = 'finished';
  state.outcome ??= { decision: 'skipped', version: null, reasons: ['no step decided the round'] };
  await folder.save(state);
  await emit({ type: 'round.done', outcome: state.outcome });
  return state;
}
