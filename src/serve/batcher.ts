/**
 * A dynamic batcher in front of one model stage, with Triton's knobs:
 *
 * - maxBatchSize: most entries per run.
 * - maxQueueDelayMs: the longest the oldest queued entry waits for company
 *   while the stage is idle. While a batch runs, new entries queue and go out
 *   together as soon as it finishes, so under load batches fill by themselves
 *   and the delay only matters when traffic is light; `expectCompany` skips
 *   it when no other caller could join.
 * - maxQueueSize: queued entries. A submission that does not fit is refused
 *   whole (RESOURCE_EXHAUSTED): a request is never half-queued, and the queue
 *   cannot grow without bound when callers send faster than the stage runs.
 *
 * One batch is in flight at a time: the stage's ONNX sessions run one call at
 * a time, so a second concurrent batch would only split the cores and finish
 * both later. Stages that share a thread (`sharesThreadWith`: the encoder
 * with the vision stage, in the version's worker) hold a batch while the
 * other runs one, for the same reason: it could not start before that one
 * ends, and it fills meanwhile. With `feederHoldMs` such a stage also holds
 * while the other one has entries queued that will come to it (the vision
 * stage's images are the encoder's next inputs): see that option. Entries carry their caller's deadline and
 * cancellation and are checked when a batch is formed: an entry whose caller
 * is gone is rejected (DEADLINE_EXCEEDED / CANCELLED) and never reaches the
 * model.
 *
 * With `mergeRequests: false` a batch holds the entries of one submission only
 * (the "naive server" of the benchmark: each request runs alone).
 */
import type { SpanContext } from '@opentelemetry/api';
import { deadReason, type Liveness } from './context.js';
import { ServeError } from './errors.js';

export interface BatcherOptions {
  name: string;
  maxBatchSize: number;
  maxQueueDelayMs: number;
  maxQueueSize: number;
  mergeRequests: boolean;
  /**
   * Whether another submission may arrive soon, given how many are queued.
   * When not, waiting out maxQueueDelayMs buys nothing: a lone caller would
   * pay the delay for a batch no one can join. Default: always wait.
   */
  expectCompany?: (queuedSubmissions: number) => boolean;
  /**
   * Telemetry: called as each batch starts with its size and its entries'
   * traces; returns what to call when the batch has finished. Unset when
   * telemetry is off, so the batcher then builds nothing per batch.
   */
  onBatch?: (size: number, served: (EntryTrace | undefined)[]) => (() => void) | null;
  /**
   * Another stage sharing this one's thread: while it has a batch in flight,
   * a batch of this stage sent now would only wait behind it in the thread's
   * queue, so it stays here and fills instead (the other stage's callers
   * join it as that batch ends), and goes out as that batch finishes, before
   * the other stage sends its next one. Not used with mergeRequests false.
   */
  sharesThreadWith?: ThreadMate;
  /**
   * With sharesThreadWith: the stage on the thread is also this one's feeder
   * (its entries come here next, as the vision stage's embeddings feed the
   * encoder), so while it has entries queued, a batch of this stage waits
   * (Triton's ensemble scheduling, one step upstream): those entries would
   * join it a vision batch later, and the thread runs one larger batch
   * instead of one per vision batch. At most this long, counted from the
   * oldest entry, so a feeder whose queue never empties (open-loop arrivals
   * faster than the thread) cannot starve this stage. Unset: no such hold.
   * Nothing queued upstream (a lone caller) means no hold.
   */
  feederHoldMs?: number;
  /** Told each batch's run time and size (admission's stage-time estimates). */
  onBatchTimed?: (ms: number, entries: number) => void;
  /**
   * The clock of the thread that runs the batches (its ms of work so far,
   * model-host.ts runMs): when given, onBatchTimed hears the batch's time
   * on it rather than the wall time from dispatch to result, which includes
   * the main-loop turn the result waited behind (under a flood's HEADERS or
   * a GC pause, several times the model's time).
   */
  runClock?: () => number;
}

/** What a stage needs of another stage that runs on the same thread. */
export interface ThreadMate {
  /** A batch is running. */
  readonly busy: boolean;
  /** Entries waiting for a batch. */
  readonly queued: number;
  /** `poke` is called as each of its batches finishes, before it sends its next one. */
  onBatchEnd(poke: () => void): void;
}

/** A submission's trace: its call's span context (batch spans link it), told when its entries start running. */
export interface EntryTrace {
  readonly spanContext: SpanContext;
  /** Called for every entry of the submission as its batch starts; the first call counts. */
  dispatched(): void;
}

export interface BatcherStats {
  batches: number;
  /** Entries that ran. */
  entries: number;
  largestBatch: number;
  /** Entries rejected at batch formation because their caller was gone. */
  dropped: number;
  /** Submissions refused because the queue was full. */
  refused: number;
  /** Time with a batch in flight. */
  busyMs: number;
  /** Entries whose deadline passed while their batch ran: the model ran, the answer came too late. */
  late: number;
}

export const emptyBatcherStats = (): BatcherStats => ({ batches: 0, entries: 0, largestBatch: 0, dropped: 0, refused: 0, busyMs: 0, late: 0 });

interface Entry<I, O> {
  input: I;
  live: Liveness;
  submission: number;
  enqueuedAt: number;
  trace: EntryTrace | undefined;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

export class Batcher<I, O> implements ThreadMate {
  private queue: Entry<I, O>[] = [];
  private inFlight = false;
  private timer: NodeJS.Timeout | null = null;
  /** When the pending timer fires (performance.now() clock). */
  private timerDue = Infinity;
  private submissions = 0;
  private idleWaiters: (() => void)[] = [];
  /** Stages that hold their batches while this one has one in flight (sharesThreadWith). */
  private readonly holding: (() => void)[] = [];

  constructor(
    readonly options: BatcherOptions,
    /** Runs one batch; must return one output per input, in order. */
    private readonly run: (inputs: I[]) => Promise<O[]>,
    readonly stats: BatcherStats = emptyBatcherStats(),
  ) {
    if (options.mergeRequests) options.sharesThreadWith?.onBatchEnd(() => this.schedule());
  }

  onBatchEnd(poke: () => void): void {
    this.holding.push(poke);
  }

  /** A batch is running. */
  get busy(): boolean {
    return this.inFlight;
  }

  get queued(): number {
    return this.queue.length;
  }

  /**
   * Throws RESOURCE_EXHAUSTED unless `n` more entries fit now. Callers check
   * early, before preparing inputs, so a request that would be refused does no
   * work; `submit` checks again and decides.
   */
  assertRoom(n: number): void {
    if (this.queue.length + n <= this.options.maxQueueSize) return;
    this.stats.refused++;
    throw new ServeError('queue-full',
      `${this.options.name} queue is full (${this.queue.length} queued, limit ${this.options.maxQueueSize}, this request needs ${n}); retry with backoff`);
  }

  /** Queues all inputs or none; one promise per input. */
  submit(inputs: I[], live: Liveness, trace?: EntryTrace): Promise<O>[] {
    this.assertRoom(inputs.length);
    const submission = ++this.submissions;
    const enqueuedAt = performance.now();
    const promises = inputs.map((input) => new Promise<O>((resolve, reject) => {
      this.queue.push({ input, live, submission, enqueuedAt, trace, resolve, reject });
    }));
    this.schedule();
    return promises;
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (!this.inFlight && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(): void {
    if (this.inFlight || this.queue.length === 0) return;
    const { maxBatchSize, maxQueueDelayMs, mergeRequests, sharesThreadWith: mate, feederHoldMs } = this.options;
    const full = this.queue.length >= maxBatchSize;
    const now = performance.now();
    const waited = now - this.queue[0]!.enqueuedAt;
    if (mergeRequests && mate && !full) {
      // Poked as its batch ends.
      if (mate.busy) return;
      // Its next batch runs first; poked as that one ends, or woken at the bound.
      if (feederHoldMs !== undefined && mate.queued > 0 && waited < feederHoldMs) return this.wakeAt(now + feederHoldMs - waited);
    }
    if (!mergeRequests || full || waited >= maxQueueDelayMs || !this.companyExpected()) this.dispatch();
    else this.wakeAt(now + maxQueueDelayMs - waited);
  }

  /** Calls schedule() at `due` (or earlier, if a timer is already set for earlier). */
  private wakeAt(due: number): void {
    if (this.timer !== null) {
      if (this.timerDue <= due) return;
      clearTimeout(this.timer);
    }
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.timerDue = Infinity;
      this.schedule();
    }, Math.max(0, due - performance.now()));
  }

  private companyExpected(): boolean {
    const expect = this.options.expectCompany;
    if (!expect) return true;
    // Only reached with fewer than maxBatchSize entries queued: the scan is short.
    return expect(new Set(this.queue.map((e) => e.submission)).size);
  }

  private dispatch(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
      this.timerDue = Infinity;
    }
    const now = performance.now();
    const batch: Entry<I, O>[] = [];
    let taken = 0;
    for (; taken < this.queue.length && batch.length < this.options.maxBatchSize; taken++) {
      const e = this.queue[taken]!;
      if (!this.options.mergeRequests && batch.length > 0 && e.submission !== batch[0]!.submission) break;
      const dead = deadReason(e.live, now);
      if (dead) {
        this.stats.dropped++;
        e.reject(dead);
        continue;
      }
      batch.push(e);
    }
    this.queue.splice(0, taken);
    if (batch.length === 0) return this.afterBatch();

    this.inFlight = true;
    const t0 = performance.now();
    const run0 = this.options.runClock?.() ?? 0;
    const onBatch = this.options.onBatch;
    let endBatch: (() => void) | null = null;
    if (onBatch) {
      for (const e of batch) e.trace?.dispatched();
      endBatch = onBatch(batch.length, batch.map((e) => e.trace));
    }
    let outputs: Promise<O[]>;
    try {
      outputs = this.run(batch.map((e) => e.input));
    } catch (err) {
      outputs = Promise.reject(err);
    }
    outputs.then(
      (outs) => {
        if (outs.length !== batch.length) throw new Error(`${this.options.name} batch returned ${outs.length} outputs for ${batch.length} inputs`);
        batch.forEach((e, i) => e.resolve(outs[i]!));
      },
    ).catch((err: unknown) => {
      const failure = new ServeError('internal', `${this.options.name} stage failed on a batch of ${batch.length}`, undefined, { cause: err });
      for (const e of batch) e.reject(failure);
    }).finally(() => {
      this.inFlight = false;
      const end = performance.now();
      for (const e of batch) if (e.live.deadline < end) this.stats.late++;
      this.options.onBatchTimed?.(this.options.runClock ? this.options.runClock() - run0 : end - t0, batch.length);
      this.stats.batches++;
      this.stats.entries += batch.length;
      this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
      this.stats.busyMs += end - t0;
      endBatch?.();
      this.afterBatch();
    });
  }

  private afterBatch(): void {
    // Stages that held their batches for this one go first, so neither starves.
    for (const poke of this.holding) poke();
    this.schedule();
    if (!this.inFlight && this.queue.length === 0) {
      for (const w of this.idleWaiters.splice(0)) w();
    }
  }
}
