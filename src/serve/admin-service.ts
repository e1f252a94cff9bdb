/**
 * mrm.v1.AdminService handlers (admin.proto documents the API). Activate and
 * Rollback validate by loading: the version is loaded, validated and warmed
 * up in a model worker on this server (the swapper keeps it ready), and only
 * then is the registry's ACTIVE pointer moved, which is what every replica
 * follows. A broken bundle therefore answers FAILED_PRECONDITION and changes
 * nothing. Mutating calls run one at a time per server.
 */
import { startRpcSpan } from '../telemetry/spans.js';
import { NOOP_TELEMETRY, type Telemetry } from '../telemetry/telemetry.js';
import * as grpc from '@grpc/grpc-js';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MANIFEST_FILE } from '../model/manifest.js';
import type { Registry, VersionInfo } from '../model/registry.js';
import type { AdminAuth } from './admin-auth.js';
import type { AdminRounds, RoundEventMsg } from './admin-rounds.js';
import type { ActivateResponseMsg, GetModelResponseMsg, ListModelsResponseMsg, LogStatsResponseMsg, SwapStatusMsg, VersionSummaryMsg } from './admin-proto.js';
import { UndecodableMessage } from './proto.js';
import { errorFields, type Logger } from './log.js';
import { SwapError, type Swapper } from './swapper.js';
import type { VersionSource } from './version-source.js';
import type { VersionManager } from './versions.js';

export type AdminErrorKind = 'not-found' | 'failed-precondition' | 'invalid-argument' | 'unavailable' | 'internal';

export class AdminError extends Error {
  override readonly name = 'AdminError';
  constructor(readonly kind: AdminErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

const STATUS: Record<AdminErrorKind, grpc.status> = {
  'not-found': grpc.status.NOT_FOUND,
  'failed-precondition': grpc.status.FAILED_PRECONDITION,
  'invalid-argument': grpc.status.INVALID_ARGUMENT,
  unavailable: grpc.status.UNAVAILABLE,
  internal: grpc.status.INTERNAL,
};

/** What the admin API works on; it exists once the first version is loaded. */
export interface AdminDeps {
  registry: Registry;
  versions: VersionManager;
  swapper: Swapper;
  source: VersionSource;
  activateTimeoutMs: number;
  /** The pair log's stats, or null when logging is off. */
  logStats: () => object | null;
  details: () => Record<string, unknown>;
  /** TriggerRound, WatchRound, GetRound, ListRounds (admin-rounds.ts). */
  rounds: AdminRounds;
}

export class AdminService {
  readonly stats: { calls: Record<string, number>; statuses: Record<string, number> } = { calls: {}, statuses: {} };
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;
  private deps: AdminDeps | null = null;

  /** The port is bound at start; calls answer UNAVAILABLE until `open` (the first version is loaded). */
  constructor(private readonly auth: AdminAuth, private readonly log: Logger, private readonly telemetry: Telemetry = NOOP_TELEMETRY) {}

  open(deps: AdminDeps): void {
    this.deps = deps;
  }

  private get d(): AdminDeps {
    return this.deps!;
  }

  /** Calls after this answer UNAVAILABLE. */
  close(): void {
    this.closed = true;
  }

  handlers(): grpc.UntypedServiceImplementation {
    const h = <Req, Res>(method: string, work: (req: Req) => Promise<Res>) =>
      (call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>) => this.handle(method, call, cb, work);
    return {
      ListModels: h('ListModels', () => this.listModels()),
      GetModel: h('GetModel', (r: { version: number }) => this.getModel(r.version)),
      Activate: h('Activate', (r: { version: number; reason: string }) => this.activate(r.version, r.reason || 'admin Activate')),
      Rollback: h('Rollback', (r: { reason: string }) => this.rollback(r.reason || 'admin Rollback')),
      LogStats: h('LogStats', () => this.logStats()),
      GetServerDetails: h('GetServerDetails', async () => ({ detailsJson: JSON.stringify(this.d.details()) })),
      TriggerRound: h('TriggerRound', (r: { settingsJson: string; resumeId: string }) => this.d.rounds.trigger(r)),
      GetRound: h('GetRound', (r: { roundId: string }) => this.d.rounds.get(r.roundId)),
      ListRounds: h('ListRounds', () => this.d.rounds.list()),
      WatchRound: (call: grpc.ServerWritableStream<{ roundId: string }, RoundEventMsg>) => {
        // A stream has no callback: the same checks as `handle`, then the status ends the stream.
        this.handle('WatchRound', call as unknown as grpc.ServerUnaryCall<{ roundId: string }, object>, (err) => {
          if (err) call.emit('error', err);
          else call.end();
        }, async () => {
          await this.d.rounds.watch(call);
          return {};
        });
      },
    };
  }

  private handle<Req, Res>(method: string, call: grpc.ServerUnaryCall<Req, Res>, cb: grpc.sendUnaryData<Res>, work: (req: Req) => Promise<Res>): void {
    const t0 = performance.now();
    const rt = startRpcSpan(this.telemetry, 'mrm.v1.AdminService', method, call.metadata);
    const done = (status: string, fields: Record<string, unknown> = {}) => {
      rt?.end(status);
      this.telemetry.metrics.call(`admin.${method}`, status, performance.now() - t0);
      this.stats.calls[method] = (this.stats.calls[method] ?? 0) + 1;
      this.stats.statuses[status] = (this.stats.statuses[status] ?? 0) + 1;
      // The metadata (and so the token) is never logged; the peer says who called.
      const level = status === 'OK' ? 'info' : 'warn';
      this.log[level]('admin.call', { method, status, peer: call.getPeer(), ms: Math.round(performance.now() - t0), ...fields });
    };
    const denied = this.auth.check(call.metadata);
    if (denied) {
      const code = denied === 'missing' ? grpc.status.UNAUTHENTICATED : grpc.status.PERMISSION_DENIED;
      done(grpc.status[code]);
      cb({ code, details: denied === 'missing' ? 'admin API: send metadata `authorization: Bearer <token>`' : 'admin API: the bearer token is not valid' });
      return;
    }
    if (this.closed || !this.deps) {
      const details = this.closed ? 'the server is shutting down' : 'no model version is loaded yet; wait for health SERVING';
      done('UNAVAILABLE');
      cb({ code: grpc.status.UNAVAILABLE, details });
      return;
    }
    const req = call.request as unknown;
    (req instanceof UndecodableMessage ? Promise.reject(new AdminError('invalid-argument', `request: ${req.message}`)) : work(call.request)).then(
      (res) => {
        done('OK');
        cb(null, res);
      },
      (err: unknown) => {
        const e = err instanceof AdminError ? err : new AdminError('internal', 'internal error (logged on the server)', { cause: err });
        if (e.kind === 'internal') this.log.error('admin.internal_error', { method, error: errorFields(err) });
        done(grpc.status[STATUS[e.kind]], { message: e.message });
        cb({ code: STATUS[e.kind], details: e.message });
      },
    );
  }

  private async listModels(): Promise<ListModelsResponseMsg> {
    const [infos, pointer] = await Promise.all([this.d.registry.list(), this.d.registry.active()]);
    const serving = this.d.versions.active?.version ?? 0;
    return {
      model: this.d.registry.model,
      versions: infos.map((i) => summary(i, serving)),
      active: pointer ? { version: pointer.version, previous: pointer.previous ?? 0, updatedAt: pointer.updatedAt, reason: pointer.reason } : null,
      servingVersion: serving,
      swap: this.swapStatus(),
    };
  }

  private async getModel(version: number): Promise<GetModelResponseMsg> {
    let n = version;
    if (n === 0) {
      const pointer = await this.d.registry.active();
      if (!pointer) throw new AdminError('not-found', `${this.d.registry.model}: no active version`);
      n = pointer.version;
    }
    this.checkVersion(n);
    const info = (await this.d.registry.list()).find((i) => i.version === n);
    if (!info) throw new AdminError('not-found', `${this.d.registry.model}: no version ${n} in ${this.d.registry.versionsDir}`);
    const manifestJson = await readFile(join(info.dir, MANIFEST_FILE), 'utf8').catch(() => '');
    return { summary: summary(info, this.d.versions.active?.version ?? 0), manifestJson };
  }

  private async activate(version: number, reason: string): Promise<ActivateResponseMsg> {
    this.checkVersion(version);
    return this.serial(async () => this.switchTo(version, reason));
  }

  private rollback(reason: string): Promise<ActivateResponseMsg> {
    return this.serial(async () => {
      const pointer = await this.d.registry.active();
      if (!pointer) throw new AdminError('failed-precondition', `${this.d.registry.model}: no active version to roll back from`);
      if (pointer.previous === null) {
        throw new AdminError('failed-precondition', `${this.d.registry.model}: active version ${pointer.version} has no previous version to roll back to`);
      }
      return this.switchTo(pointer.previous, reason);
    });
  }

  private async switchTo(version: number, reason: string): Promise<ActivateResponseMsg> {
    const t0 = performance.now();
    const { registry, swapper } = this.d;
    const exists = await stat(registry.versionDir(version)).then((s) => s.isDirectory(), () => false);
    if (!exists) throw new AdminError('not-found', `${registry.model}: no version ${version} in ${registry.versionsDir}`);
    const before = await registry.active();
    const changed = before?.version !== version;
    if (changed) {
      try {
        await swapper.prepare(version);
      } catch (err) {
        if (err instanceof SwapError && err.kind === 'stopped') throw new AdminError('unavailable', err.message);
        throw new AdminError('failed-precondition', `version ${version} cannot be served, the active version is unchanged: ${(err as Error).message}`, { cause: err });
      }
      try {
        await registry.activate(version, reason);
      } catch (err) {
        swapper.discard(version);
        throw err;
      }
      this.log.info('admin.activated', { model: registry.model, version, previous: before?.version ?? null, reason });
      // Our own write: read it now rather than wait for the watch event or the poll.
      await this.d.source.check();
    }
    const left = Math.max(1, this.d.activateTimeoutMs - (performance.now() - t0));
    let served;
    try {
      served = await swapper.waitFor(version, left);
    } catch (err) {
      if (err instanceof SwapError && err.kind === 'stopped') throw new AdminError('unavailable', err.message);
      throw new AdminError('failed-precondition', `the active pointer names version ${version}, but this server does not serve it: ${(err as Error).message}`, { cause: err });
    }
    return {
      model: served.name,
      servingVersion: served.version,
      previousVersion: before?.version ?? 0,
      changed,
      ms: Math.round((performance.now() - t0) * 10) / 10,
    };
  }

  private async logStats(): Promise<LogStatsResponseMsg> {
    const s = this.d.logStats();
    return s === null ? { enabled: false, statsJson: '' } : { enabled: true, statsJson: JSON.stringify(s) };
  }

  private swapStatus(): SwapStatusMsg {
    const s = this.d.swapper.state();
    const e = s.lastError;
    return {
      aspiredVersion: s.aspired ?? 0,
      loadingVersion: s.loading?.version ?? 0,
      loadingAttempt: s.loading?.attempt ?? 0,
      lastError: e ? { version: e.version, kind: e.kind ?? '', message: e.message, attempts: e.attempts, at: e.at, nextRetryAt: e.nextRetryAt ?? '' } : null,
      swaps: s.swaps,
      failedLoads: s.failedLoads,
    };
  }

  private checkVersion(v: number): void {
    if (!Number.isInteger(v) || v < 1) throw new AdminError('invalid-argument', `version: expected an integer >= 1, got ${v}`);
  }

  /** One mutation at a time: two Activates racing on one server would each wait for the other's swap. */
  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function summary(i: VersionInfo, serving: number): VersionSummaryMsg {
  const base = { version: i.version, active: i.active, serving: i.version === serving };
  if (!i.manifest) return { ...base, parent: 0, createdAt: '', metrics: {}, notes: '', error: i.error.message };
  const m = i.manifest;
  return { ...base, parent: m.parent ?? 0, createdAt: m.createdAt, metrics: m.metrics, notes: m.notes ?? '', error: '' };
}
