/**
 * The source of the version this replica should serve (TensorFlow Serving's
 * "Source"): the registry's ACTIVE pointer, watched two ways. fs.watch on the
 * model directory reports a local rename at once; a poll every
 * swap.pollIntervalMs catches what watch misses, since shared volumes (NFS,
 * many CSI drivers) deliver no events for another host's writes. Either
 * trigger only reads the pointer's stamp (one open, stat and small read); the
 * pointer is parsed and reported when the stamp changed.
 *
 * Checks never overlap: a trigger during a check makes the check run once
 * more afterwards, so the last write is always seen.
 */
import { watch, type FSWatcher } from 'node:fs';
import { ACTIVE_FILE, type ActivePointer, type Registry } from '../model/registry.js';
import { errorFields, type Logger } from './log.js';

export interface SourceStats {
  checks: number;
  changes: number;
  watchEvents: number;
  /** The last failure to read the pointer (a corrupt ACTIVE, an I/O error), until a read succeeds. */
  lastError: { message: string; at: string } | null;
  watching: boolean;
}

export class VersionSource {
  readonly stats: SourceStats = { checks: 0, changes: 0, watchEvents: 0, lastError: null, watching: false };
  private stamp: string | null | undefined = undefined;
  private running: Promise<void> | null = null;
  private again = false;
  private watcher: FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly registry: Registry,
    private readonly pollIntervalMs: number,
    private readonly log: Logger,
    /** Called with each new pointer, in order, never concurrently. */
    private readonly onPointer: (p: ActivePointer) => void,
    /** watch: false polls only (how a replica on a volume without events behaves; tests). */
    private readonly opts: { watch?: boolean } = {},
  ) {}

  /** Reads the pointer now and reports it, then keeps watching. */
  async start(): Promise<void> {
    if (this.opts.watch !== false) this.startWatch();
    this.timer = setInterval(() => void this.check(), this.pollIntervalMs);
    this.timer.unref();
    await this.check();
  }

  private startWatch(): void {
    try {
      this.watcher = watch(this.registry.modelDir, { persistent: false }, (_event, file) => {
        // Renames of the atomic writer's temp file also land here; only ACTIVE matters (null: the platform did not say).
        if (file !== null && file !== ACTIVE_FILE) return;
        this.stats.watchEvents++;
        void this.check();
      });
      this.watcher.on('error', (err) => {
        this.log.warn('swap.watch_failed', { dir: this.registry.modelDir, error: errorFields(err), message: 'polling only' });
        this.watcher?.close();
        this.watcher = null;
        this.stats.watching = false;
      });
      this.stats.watching = true;
    } catch (err) {
      this.log.warn('swap.watch_failed', { dir: this.registry.modelDir, error: errorFields(err), message: 'polling only' });
    }
  }

  /** Reads the pointer now (the admin API calls this after moving it, not to wait for a watch event or a poll). */
  check(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.readOnce();
      } while (this.again && !this.stopped);
    })().finally(() => { this.running = null; });
    return this.running;
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = null;
    if (this.timer) clearInterval(this.timer);
  }

  private async readOnce(): Promise<void> {
    this.stats.checks++;
    try {
      const stamp = await this.registry.activeStamp();
      if (stamp === this.stamp) return;
      const pointer = stamp === null ? null : await this.registry.active();
      this.stamp = stamp;
      if (this.stats.lastError) this.log.info('swap.pointer_readable', { file: this.registry.activeFile });
      this.stats.lastError = null;
      if (pointer === null) {
        this.log.warn('swap.no_pointer', { file: this.registry.activeFile, message: 'keeping the version being served' });
        return;
      }
      this.stats.changes++;
      if (!this.stopped) this.onPointer(pointer);
    } catch (err) {
      // Keep the old stamp unset so the next trigger reads again; say it once per distinct failure.
      this.stamp = undefined;
      const message = (err as Error).message;
      if (this.stats.lastError?.message !== message) this.log.error('swap.pointer_unreadable', { file: this.registry.activeFile, error: errorFields(err) });
      this.stats.lastError = { message, at: new Date().toISOString() };
    }
  }
}
