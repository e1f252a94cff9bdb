/**
 * Moves the served version to the one the source aspires to (TensorFlow
 * Serving's aspired-versions policy, for one model and "load before unload"):
 *
 *   source (version-source.ts) --aspire(n)--> swapper --load(n)--> loader (loader.ts)
 *                                                |
 *                                   ready --> VersionManager.activate (versions.ts)
 *
 * The new version is loaded, validated and warmed up in its own worker beside
 * the one serving; only a ready version is activated, and the old one is
 * released when its last pinned request ends. One load runs at a time. When
 * the pointer moves again during a load, the load finishes, its result is
 * discarded as stale and the newest version is loaded: a half-loaded version
 * cannot be cancelled inside onnxruntime anyway, and the newest is the only
 * one worth serving.
 *
 * A failed load leaves the serving version alone and is retried with
 * exponential backoff (swap.retryInitialMs doubling to swap.retryMaxMs); the
 * failure (version, reason, attempts, next retry) is in `state()`, which the
 * server shows in its health details, stats and admin API.
 */
import { errorFields, type Logger } from './log.js';
import type { ServedVersion, VersionManager } from './versions.js';

export interface SwapFailure {
  version: number;
  kind: string | null;
  message: string;
  attempts: number;
  at: string;
  nextRetryAt: string | null;
}

export interface SwapState {
  /** The version the pointer names (null before the first read). */
  aspired: number | null;
  serving: number | null;
  loading: { version: number; attempt: number; since: string } | null;
  lastError: SwapFailure | null;
  swaps: number;
  failedLoads: number;
  staleLoads: number;
  lastSwap: { from: number | null; to: number; loadMs: number; at: string } | null;
}

export interface SwapperOptions {
  versions: VersionManager;
  /** Loads, validates and warms up a version (the loader); rejects with the reason. */
  load: (version: number) => Promise<ServedVersion>;
  retryInitialMs: number;
  retryMaxMs: number;
  log: Logger;
  /** Told of each swap and failed load (telemetry's counters). */
  events?: { swapped(model: string, version: number): void; loadFailed(version: number): void };
}

type Waiter = { version: number; resolve: (v: ServedVersion) => void; reject: (e: Error) => void };

export class SwapError extends Error {
  override readonly name = 'SwapError';
  constructor(readonly kind: 'load-failed' | 'superseded' | 'timeout' | 'stopped', message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export class Swapper {
  private readonly s: SwapState = { aspired: null, serving: null, loading: null, lastError: null, swaps: 0, failedLoads: 0, staleLoads: 0, lastSwap: null };
  private driving: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  private readonly waiters = new Set<Waiter>();
  /** A version loaded ahead of the pointer (the admin API validates by loading), used instead of loading it again. */
  private prepared: ServedVersion | null = null;

  constructor(private readonly opts: SwapperOptions) {
    const a = opts.versions.active;
    if (a) this.s.serving = a.version;
  }

  state(): SwapState {
    return structuredClone(this.s);
  }

  /** The pointer names `version`: serve it as soon as it is ready. */
  aspire(version: number): void {
    if (this.stopped) return;
    const changed = this.s.aspired !== version;
    this.s.aspired = version;
    if (changed) {
      this.opts.log.info('swap.aspired', { version, serving: this.s.serving });
      for (const w of this.waiters) if (w.version !== version) this.settle(w, new SwapError('superseded', `the active pointer moved on to version ${version} before this server swapped to ${w.version}`));
      // A new target is tried at once, whatever the backoff of the previous one.
      if (this.retryTimer && this.s.lastError?.version !== version) this.clearRetry();
    }
    if (!this.retryTimer) this.drive();
  }

  /**
   * Loads `version` now (before any pointer names it) and keeps it ready for
   * a swap to it; rejects with the loader's reason. This is how the admin API
   * validates a version before moving the pointer.
   */
  async prepare(version: number): Promise<void> {
    if (this.s.serving === version || this.prepared?.version === version) return;
    const v = await this.opts.load(version);
    if (this.stopped) {
      await v.retire();
      throw new SwapError('stopped', 'the server is shutting down');
    }
    const old = this.prepared;
    this.prepared = v;
    if (old) void old.retire();
  }

  /** Releases a prepared version the pointer will not move to after all (the pointer write failed). */
  discard(version: number): void {
    if (this.prepared?.version !== version) return;
    void this.prepared.retire();
    this.prepared = null;
  }

  /** Resolves when this server serves `version`; rejects if its load fails, the pointer moves on, or after timeoutMs. */
  waitFor(version: number, timeoutMs: number): Promise<ServedVersion> {
    const active = this.opts.versions.active;
    if (this.s.serving === version && active) return Promise.resolve(active);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.settle(w, new SwapError('timeout', `this server did not finish loading version ${version} within ${timeoutMs} ms; the swap goes on`)), timeoutMs);
      const w: Waiter = {
        version,
        resolve: (v) => { clearTimeout(timer); resolve(v); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      this.waiters.add(w);
    });
  }

  /** No more loads or swaps; a load in flight is released when it ends. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clearRetry();
    for (const w of this.waiters) this.settle(w, new SwapError('stopped', 'the server is shutting down'));
    const p = this.prepared;
    this.prepared = null;
    await Promise.all([this.driving, p?.retire()]);
  }

  private drive(): void {
    this.driving ??= this.loop().finally(() => { this.driving = null; });
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const target = this.s.aspired;
      if (target === null || target === this.s.serving) {
        if (target !== null) this.s.lastError = null;
        return;
      }
      const attempt = (this.s.lastError?.version === target ? this.s.lastError.attempts : 0) + 1;
      const t0 = performance.now();
      this.s.loading = { version: target, attempt, since: new Date().toISOString() };
      let v: ServedVersion;
      try {
        v = await this.take(target);
      } catch (err) {
        this.s.loading = null;
        if (this.s.aspired !== target || this.stopped) continue;
        this.failed(target, attempt, err);
        return;
      } finally {
        this.s.loading = null;
      }
      if (this.stopped) {
        await v.retire();
        return;
      }
      if (this.s.aspired !== target) {
        this.s.staleLoads++;
        this.opts.log.info('swap.stale_load_discarded', { version: target, aspired: this.s.aspired });
        await v.retire();
        continue;
      }
      const from = this.s.serving;
      // The old version's release (after its pinned requests) is tracked by the manager; nothing here waits for it.
      void this.opts.versions.activate(v);
      this.s.serving = target;
      this.s.lastError = null;
      this.s.swaps++;
      const loadMs = Math.round(performance.now() - t0);
      this.s.lastSwap = { from, to: target, loadMs, at: new Date().toISOString() };
      this.opts.log.info('swap.done', { model: v.name, from, to: target, loadMs, attempt });
      this.opts.events?.swapped(v.name, target);
      for (const w of this.waiters) if (w.version === target) this.settle(w, v);
    }
  }

  private async take(version: number): Promise<ServedVersion> {
    const p = this.prepared;
    if (p) {
      this.prepared = null;
      if (p.version === version) return p;
      void p.retire();
    }
    return this.opts.load(version);
  }

  private failed(version: number, attempts: number, err: unknown): void {
    const delay = Math.min(this.opts.retryMaxMs, this.opts.retryInitialMs * 2 ** (attempts - 1));
    const kind = (err as { kind?: unknown }).kind;
    this.s.failedLoads++;
    this.opts.events?.loadFailed(version);
    this.s.lastError = {
      version,
      kind: typeof kind === 'string' ? kind : null,
      message: (err as Error).message ?? String(err),
      attempts,
      at: new Date().toISOString(),
      nextRetryAt: new Date(Date.now() + delay).toISOString(),
    };
    this.opts.log.error('swap.load_failed', { version, attempts, retryInMs: delay, serving: this.s.serving, error: errorFields(err) });
    for (const w of this.waiters) {
      if (w.version === version) this.settle(w, new SwapError('load-failed', `loading version ${version} failed: ${(err as Error).message}`, { cause: err }));
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.drive();
    }, delay);
    this.retryTimer.unref();
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private settle(w: Waiter, outcome: ServedVersion | Error): void {
    if (!this.waiters.delete(w)) return;
    if (outcome instanceof Error) w.reject(outcome);
    else w.resolve(outcome);
  }
}
