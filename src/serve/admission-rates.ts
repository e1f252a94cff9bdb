/**
 * The rates admission's wait estimate is built from: per-stage time per
 * entry from the model worker's batches, and the factor by which admitted
 * work really drains slower than those stages say (admission.ts).
 */

/** Cumulative busy ms of the main event loop and of the model worker. */
export interface BusyClocks {
  loopMs: number;
  workerMs: number;
}

/** How much more than the current estimate one sample may count (StageRate, DrainRate). */
export const SAMPLE_GROWTH = 2;

/**
 * Per-entry time of a stage as an exponentially weighted mean over recent
 * batches: the weight 0.2 follows load changes within ~10 batches without
 * jumping on one slow batch. The batch times are the model worker's own
 * (batcher.ts runClock): taken on the main thread, from dispatch to result,
 * they included the loop turn the result waited behind, and one batch behind
 * a 280 ms turn (GC, a flood's HEADERS) read ~35 ms an image against ~2.5.
 * The worker can still stall (a stolen core, its own GC), so a sample counts
 * at most twice the current estimate (SAMPLE_GROWTH): a real slowdown still
 * shows within a few batches (x1.2 per batch), a single stall no more than that.
 */
export class StageRate {
  private msPerEntry: number;
  constructor(initialMsPerEntry: number) {
    this.msPerEntry = initialMsPerEntry;
  }

  observe(batchMs: number, entries: number): void {
    if (entries <= 0) return;
    this.msPerEntry = 0.8 * this.msPerEntry + 0.2 * Math.min(batchMs / entries, SAMPLE_GROWTH * this.msPerEntry);
  }

  get perEntry(): number {
    return this.msPerEntry;
  }
}

/**
 * How fast admitted work really drains: wall time (or, given busy clocks,
 * the busier thread's busy time: see `close`) per ms of estimated stage
 * time, measured over windows of >= 200 ms in which admitted work was
 * pending throughout. The stage rates see only the model's batches; a
 * request also costs its decode, its answer, GC, and whatever else runs on
 * the machine, and the wait a queue imposes is all of that. The event-loop
 * time spent refusing other calls is kept out (`exclude`): a flood's refusal
 * storm lasts a second or two, and counted as drain time it made the factor
 * 23-30 (idle flood, 2026-12-01), so the wait bound refused nearly every call
 * for seconds after the storm had passed. 0.3 per window follows a change
 * within about a second.
 */
export class DrainRate {
  /**
   * Before any measurement: 4, the default model on one core, where decoding
   * a 128 px PNG and the event loop cost ~4x its model time (bench:serve);
   * the first busy second corrects it.
   */
  factor = 4;
  private windowStart: number | null = null;
  private windowWork = 0;
  /** Loop time within the window that went to refusals, not to admitted work (ms). */
  private windowExcluded = 0;
  private closing = false;
  /** The busy clocks (Admission.busyClocks) at the window's start. */
  private windowBusy: BusyClocks | null = null;

  constructor(private readonly clocks: () => BusyClocks | null) {}

  /** Admitted work went from none to some. */
  started(now: number): void {
    this.windowStart = now;
    this.windowWork = 0;
    this.windowExcluded = 0;
    this.windowBusy = this.clocks();
  }

  /** `ms` of the current window's wall time were spent on something other than admitted work. */
  exclude(ms: number): void {
    if (this.windowStart !== null && ms > 0) this.windowExcluded += ms;
  }

  /** A request of `workMs` estimated stage time finished; `idle`: nothing admitted is left. */
  finished(workMs: number, now: number, idle: boolean): void {
    if (this.windowStart === null) return;
    this.windowWork += workMs;
    if (idle) {
      this.close(now);
      this.windowStart = null;
    } else if (now - this.windowStart >= 200 && !this.closing) {
      // A batch's requests finish together, one after another in this turn:
      // close the window after the last of them, so it counts the whole batch.
      this.closing = true;
      setImmediate(() => {
        this.closing = false;
        this.close(performance.now());
      });
    }
  }

  private close(now: number): void {
    if (this.windowStart === null || this.windowWork <= 0 || now - this.windowStart < 200) return;
    let spent = Math.max(0, now - this.windowStart - this.windowExcluded);
    // Only the time the busiest of the two threads worked: below saturation
    // the window's wall time also holds the gaps between arrivals, and the
    // factor read the offered load, not how fast a backlog drains (at 80%
    // load, 1/0.8 of it: the wait estimate of the burst after a long loop
    // turn was then about the turn's length, and the bound refused it). At
    // saturation the busiest thread works the whole window: the same as wall time.
    const busy = this.clocks();
    if (busy && this.windowBusy) {
      const loop = busy.loopMs - this.windowBusy.loopMs - this.windowExcluded;
      const worker = busy.workerMs - this.windowBusy.workerMs;
      spent = Math.min(spent, Math.max(0, loop, worker));
    }
    this.windowBusy = busy;
    // At least 1: admitted work cannot drain faster than the model runs it.
    // Lower samples come from work estimated and then not done (an image
    // another request embedded meanwhile); before the estimate left cache
    // hits out, a probe of repeated images measured 0.7, and a flood of new
    // images that followed was admitted at a fraction of its cost.
    // At most twice the current factor a window, as StageRate's samples: the
    // windows of a flood hold the loop time of HEADERS that RefusalTurns
    // cannot see (grpc-js reading them between our callbacks), which made the
    // factor 30.7 within a second of the idle flood (2026-12-01) and the
    // estimate 1,104,507 ms; the storm is the loop rule's (admission-loop.ts).
    const sample = Math.min(100, SAMPLE_GROWTH * this.factor, Math.max(1, spent / this.windowWork));
    this.factor = 0.7 * this.factor + 0.3 * sample;
    this.windowStart = now;
    this.windowWork = 0;
    this.windowExcluded = 0;
  }
}
