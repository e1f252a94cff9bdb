/**
 * The round RPCs of the admin service: start a round as a child process (the
 * server never runs trainer code), follow it, read it. The round settings are
 * the server's (config round.configFile) with the request's on top; the
 * judge's API key goes to the child through its environment only.
 */
import * as grpc from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import type { RoundEvent } from '../rounds/folder.js';
import { listRounds } from '../rounds/folder.js';
import { getRound, roundExists, RoundControlError, triggerRound, watchRound } from '../rounds/control.js';
import { AdminError } from './admin-service.js';
import type { ServeConfig } from './config.js';

export interface RoundEventMsg {
  roundId: string; time: string; type: string; step: string; index: number; of: number; done: number; total: number;
  seconds: number; countsJson: string; decision: string; version: number; reasons: string[]; error: string;
}

export class AdminRounds {
  constructor(private readonly config: ServeConfig, private readonly model: () => string) {}

  async trigger(req: { settingsJson: string; resumeId: string }): Promise<{ roundId: string; pid: number }> {
    let overrides: Record<string, unknown> = {};
    if (req.settingsJson) {
      try {
        overrides = JSON.parse(req.settingsJson);
      } catch (cause) {
        throw new AdminError('invalid-argument', `settings_json: not JSON (${(cause as Error).message})`, { cause });
      }
      if (typeof overrides !== 'object' || overrides === null || Array.isArray(overrides)) throw new AdminError('invalid-argument', 'settings_json: expected a JSON object of round settings');
    }
    if (req.resumeId) checkId('resume_id', req.resumeId);
    const base = this.config.round.configFile ? JSON.parse(await readFile(this.config.round.configFile, 'utf8')) as Record<string, unknown> : {};
    const env: Record<string, string> = {};
    if (this.config.judge.apiKey) env.MRM_JUDGE_API_KEY = this.config.judge.apiKey;
    if (this.config.judge.apiKeyFile) env.MRM_JUDGE_API_KEY_FILE = this.config.judge.apiKeyFile;
    try {
      const { id, pid } = await triggerRound({
        stateDir: this.config.stateDir, model: this.model(), settings: { ...base, ...overrides },
        ...(req.resumeId ? { resume: req.resumeId } : {}), env,
      });
      return { roundId: id, pid };
    } catch (err) {
      throw asAdminError(err);
    }
  }

  async get(id: string): Promise<{ roundJson: string; reportPath: string }> {
    checkId('round_id', id);
    const s = await getRound(this.config.stateDir, id).catch((err) => { throw asAdminError(err); });
    return { roundJson: JSON.stringify(s), reportPath: `${this.config.stateDir}/rounds/${id}/report.html` };
  }

  async list(): Promise<{ rounds: { roundId: string; model: string; status: string; createdAt: string; decision: string; version: number }[] }> {
    const rounds = await listRounds(this.config.stateDir);
    return { rounds: rounds.map((r) => ({ roundId: r.id, model: r.model, status: r.status, createdAt: r.createdAt, decision: r.outcome?.decision ?? '', version: r.outcome?.version ?? 0 })) };
  }

  /** Streams the round's events; ends with the round or when the client goes away. */
  async watch(call: grpc.ServerWritableStream<{ roundId: string }, RoundEventMsg>): Promise<void> {
    const id = call.request.roundId;
    checkId('round_id', id);
    if (!(await roundExists(this.config.stateDir, id))) throw new AdminError('not-found', `no round ${id} in ${this.config.stateDir}/rounds`);
    let gone = false;
    call.on('cancelled', () => { gone = true; });
    for await (const e of watchRound(this.config.stateDir, id, () => gone)) {
      if (gone) return;
      call.write(toMsg(id, e));
    }
  }
}

/** Round ids name folders: letters, digits, '.', '_', '-' only (never a path). */
function checkId(field: string, id: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(id)) throw new AdminError('invalid-argument', `${field}: expected a round id (letters, digits, '.', '_', '-'), got ${JSON.stringify(id.slice(0, 100))}`);
}

function asAdminError(err: unknown): AdminError {
  if (err instanceof AdminError) return err;
  if (err instanceof RoundControlError) {
    const kind = err.kind === 'busy' ? 'failed-precondition' : err.kind === 'not-found' ? 'not-found' : err.kind === 'bad-config' ? 'invalid-argument' : 'internal';
    return new AdminError(kind, err.message, { cause: err });
  }
  return new AdminError('internal', 'internal error (logged on the server)', { cause: err });
}

function toMsg(roundId: string, e: RoundEvent & { time: string }): RoundEventMsg {
  const m: RoundEventMsg = { roundId, time: e.time, type: e.type, step: '', index: 0, of: 0, done: 0, total: 0, seconds: 0, countsJson: '', decision: '', version: 0, reasons: [], error: '' };
  switch (e.type) {
    case 'step.start': return { ...m, step: e.step, index: e.index, of: e.of };
    case 'step.progress': return { ...m, step: e.step, done: e.done, total: e.total };
    case 'step.done': return { ...m, step: e.step, seconds: e.seconds, countsJson: JSON.stringify(e.counts) };
    case 'step.skipped': return { ...m, step: e.step, error: e.reason };
    case 'round.done': return { ...m, decision: e.outcome.decision, version: e.outcome.version ?? 0, reasons: e.outcome.reasons };
    case 'round.failed': return { ...m, step: e.step ?? '', error: e.error };
  }
}

/** Back from the wire to the trainer's event type (for progress views). */
export function fromMsg(m: RoundEventMsg): RoundEvent {
  switch (m.type) {
    case 'step.start': return { type: 'step.start', step: m.step, index: Number(m.index), of: Number(m.of) };
    case 'step.progress': return { type: 'step.progress', step: m.step, done: Number(m.done), total: Number(m.total) };
    case 'step.done': return { type: 'step.done', step: m.step, seconds: m.seconds, counts: m.countsJson ? JSON.parse(m.countsJson) : {} };
    case 'step.skipped': return { type: 'step.skipped', step: m.step, reason: m.error };
    case 'round.done': return { type: 'round.done', outcome: { decision: m.decision as 'activated', version: Number(m.version) || null, reasons: m.reasons } };
    default: return { type: 'round.failed', step: m.step || null, error: m.error };
  }
}
