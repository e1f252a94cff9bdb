/**
 * Admission control: decide when a request arrives, before it decodes
 * anything, whether the server can take it. Two checks, as Triton and TF
 * Serving do:
 *
 * - Memory: the bytes a request will hold while in flight (its image bytes,
 *   their decoded pixels and model tensors, its texts) are reserved against a
 *   budget and released when the call ends. A flood of calls then waits in
 *   the client (or is refused) instead of in the server's heap.
 * - Time: a request whose deadline cannot be met given the work admitted
 *   ahead of it (estimated from recent batch times) is refused now rather
 *   than decoded and then dropped when its deadline passes in a queue.
 *
 * Both refusals are RESOURCE_EXHAUSTED with a message naming the budget and
 * a retry hint (the `grpc-retry-pushback-ms` trailer).
 */
import { ServeError } from './errors.js';
import { CallTiming } from './admission-timing.js';
import { LoopLag } from './admission-loop.js';
import { type BusyClocks, DrainRate, StageRate } from './admission-rates.js';

export { type BusyClocks, SAMPLE_GROWTH, StageRate } from './admission-rates.js';

export interface AdmissionConfig {
  /** Bytes of requests in flight; 0 turns the check off. */
  maxInflightBytes: number;
  /** Refuse requests whose deadline is closer than the estimated wait; false: only the queues' own bounds apply. */
  deadlineShedding: boolean;
  /** Longest estimated wait behind the work already admitted (ms); beyond it RESOURCE_EXHAUSTED; 0: off. */
  maxQueueWaitMs: number;
  /** Event-loop lateness that, sustained under a backlog of arrivals, refuses every new call (admission-loop.ts); 0: off. */
  maxLoopLagMs: number;
}

/** What admitting one request costs, counted from its message alone. */
export interface RequestCost {
  bytes: number;
  /** Images the vision stage will embed (data images; references may hit the cache, counted as misses). */
  images: number;
  /** Texts the encoder will score. */
  units: number;
}

export interface AdmissionStats {
  admitted: number;
  refusedBytes: number;
  refusedDeadline: number;
  /** Refused because the estimated wait behind admitted work exceeded admission.maxQueueWaitMs. */
  refusedWait: number;
  /** Refused because the event loop stayed late past admission.maxLoopLagMs under a backlog (admission-loop.ts). */
  refusedLoop: number;
  /** Ticks of the loop detector later than admission.maxLoopLagMs, so far. */
  loopLateTicks: number;
  inflightBytes: number;
  peakInflightBytes: number;
  /** Current estimates of per-entry stage time (ms). */
  visionMsPerImage: number;
  encoderMsPerUnit: number;
  /** Measured wall time per ms of estimated stage time while busy (decode, event loop, GC, other processes). */
  drainFactor: number;
  /** The estimated wait behind the work admitted now (ms). */
  queueWaitMs: number;
}

export class AdmissionRefused extends ServeError {
  constructor(message: string, readonly retryAfterMs: number) {
    super('queue-full', message);
  }
}

/** A refusal as a plain value: at a call's headers it is answered at once, without the cost of an Error (a stack capture per refused call). */
export interface Refusal {
  readonly refused: 'bytes' | 'wait' | 'deadline' | 'loop';
  readonly message: string;
  readonly retryAfterMs: number;
}

const NO_COST: RequestCost = { bytes: 0, images: 0, units: 0 };


/**
 * The wait bound applies from this many requests ahead: the depth of a
 * closed-loop trainer with 64 calls in flight, the "saturation"
 * client. Such a client is then never refused by the wait bound, however
 * busy the machine (on the shared machine, 2026-12-01, the estimate at 64
 * in flight crossed 1000 ms for a third of its calls while their p99 was
 * 650 ms), and the bound (admission.maxQueueWaitMs) decides only for a
 * flood, thousands deep. Big requests are bounded by bytes meanwhile
 * (admission.maxInflightBytes). It was 16 (two vision batches of 8) with a
 * bound of 2000 ms.
 */
export const MIN_QUEUE_FOR_WAIT = 64;

export class Admission {
  private inflight = 0;
  /** Work admitted and not yet finished, in stage entries. */
  private pendingImages = 0;
  private pendingUnits = 0;
  /** Requests admitted and not finished (message-level reservations). */
  private pendingRequests = 0;
  /** Calls past the arrival gate whose message has not yet come (each counted at the typical bytes and work). */
  private arriving = 0;
  /**
   * The main thread's busy time (event-loop utilization, ms) and the model
   * worker's (its time on requests, ms), both cumulative; the server sets it
   * once the versions exist. Unset (tests of the estimate alone), the drain
   * rate counts wall time.
   */
  busyClocks: (() => BusyClocks) | null = null;
  private readonly drain = new DrainRate(() => this.busyClocks?.() ?? null);
  /**
   * The bytes a typical admitted request carries, as a weighted mean (0.1:
   * stable over a burst, follows a change of image size within a few dozen
   * calls). It starts at one 128 px PNG request: 28 KiB PNG + 64 KiB pixels
   * + 192 KiB tensor.
   */
  private typicalBytes = 284 * 1024;
  /**
   * The work (what the caches will not answer) of a typical admitted
   * request, the same weighted mean: a call at its headers is counted at it
   * in the wait estimate. Counted at what it carries instead (every image
   * uncached), the soak's mix, whose images the caches hold, was counted at
   * several times the work the drain factor was measured against, and the
   * burst that follows a long loop turn (~100-300 calls) read as seconds of
   * wait: 8.5% of the soak's calls were refused at 80% load (2026-12-01).
   * After a run of cache hits a flood of new images starts counted low, and
   * the estimate catches up as their messages are read (each checked at its
   * real work, `admit`), within a few dozen calls; the loop rule and the
   * bytes budget bound the calls admitted meanwhile.
   */
  private typicalWork = { images: 1, units: 1 };
  /** The storm detector (admission-loop.ts); null when admission.maxLoopLagMs is 0. Its ticks start with `loop.start()`. */
  readonly loop: LoopLag | null;
  readonly stats: AdmissionStats;
  /** Where calls' time goes (headers, message, answer), per stats interval. */
  readonly timing = new CallTiming();

  constructor(
    private readonly config: AdmissionConfig,
    readonly vision: StageRate,
    readonly encoder: StageRate,
  ) {
    this.loop = config.maxLoopLagMs > 0 ? new LoopLag(config.maxLoopLagMs) : null;
    this.stats = { admitted: 0, refusedBytes: 0, refusedDeadline: 0, refusedWait: 0, refusedLoop: 0, loopLateTicks: 0, inflightBytes: 0, peakInflightBytes: 0, visionMsPerImage: vision.perEntry, encoderMsPerUnit: encoder.perEntry, drainFactor: this.drain.factor, queueWaitMs: 0 };
  }

  /** Estimated stage time of a request (ms). */
  private workMs(cost: RequestCost): number {
    // The stages run one batch at a time in one worker, so their work adds up.
    return cost.images * this.vision.perEntry + cost.units * this.encoder.perEntry;
  }

  /**
   * The estimated time until a request admitted now would be done: the work
   * admitted ahead of it (arriving calls at the typical work) and its own,
   * at the measured drain rate.
   */
  expectedMs(cost: RequestCost): number {
    const images = this.pendingImages + this.arriving * this.typicalWork.images + cost.images;
    const units = this.pendingUnits + this.arriving * this.typicalWork.units + cost.units;
    return (images * this.vision.perEntry + units * this.encoder.perEntry) * this.drain.factor;
  }

  /**
   * The gate at a call's HEADERS, before its message is read: under a flood
   * the messages of thousands of calls share each connection's HTTP/2 window
   * and would all arrive late, after their deadlines; refusing here answers
   * at once and lets the client stop sending. The call holds a typical
   * request's reservation until its message comes (then `admit` takes over)
   * or it ends: the returned function releases it. A refusal is returned as
   * a value (no Error: this runs once per refused call of a flood).
   */
  admitArrival(deadlineMs: number): (() => void) | Refusal {
    this.loop?.arrived();
    // What a typical request carries (bytes), at the work a typical one causes.
    const cost = { bytes: this.typicalBytes, ...this.typicalWork };
    const refusal = this.check(cost, this.inflight + this.arriving * this.typicalBytes, deadlineMs);
    if (refusal) return refusal;
    this.arriving++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.arriving--;
    };
  }

  /** A Refusal when `cost` does not fit next to `held` bytes, would wait too long, or cannot meet the deadline; else null. */
  private check(cost: RequestCost, held: number, deadlineMs: number): Refusal | null {
    const { maxInflightBytes, maxQueueWaitMs } = this.config;
    const loop = this.loop;
    if (loop && loop.overloaded(performance.now())) {
      this.stats.refusedLoop++;
      return {
        refused: 'loop',
        message: `server overloaded: its event loop has been late by more than ${loop.targetMs} ms turn after turn for ${loop.intervalMs} ms while calls kept arriving faster than they finished (admission.maxLoopLagMs); retry after ~${loop.intervalMs} ms`,
        retryAfterMs: loop.intervalMs,
      };
    }
    // Something admitted is always ahead when these refuse: a lone request is slow rather than impossible.
    const busy = held > 0 || this.pendingRequests > 0;
    if (maxInflightBytes > 0 && busy && held + cost.bytes > maxInflightBytes) {
      this.stats.refusedBytes++;
      const wait = Math.max(10, Math.round(this.expectedMs(NO_COST) / 2));
      return {
        refused: 'bytes',
        message: `server busy: requests in flight hold ${mib(held)} of the ${mib(maxInflightBytes)} in-flight budget (admission.maxInflightBytes) and this one needs ${mib(cost.bytes)}; retry after ~${wait} ms`,
        retryAfterMs: wait,
      };
    }
    const ahead = maxQueueWaitMs > 0 || this.config.deadlineShedding ? this.expectedMs(NO_COST) : 0;
    if (maxQueueWaitMs > 0 && this.pendingRequests + this.arriving >= MIN_QUEUE_FOR_WAIT && ahead > maxQueueWaitMs) {
      this.stats.refusedWait++;
      // By then the queue is back under its bound.
      const wait = Math.max(10, Math.round(ahead - maxQueueWaitMs));
      return {
        refused: 'wait',
        message: `server busy: the work admitted ahead needs ~${Math.round(ahead)} ms, more than the ${maxQueueWaitMs} ms a request may wait (admission.maxQueueWaitMs); retry after ~${wait} ms`,
        retryAfterMs: wait,
      };
    }
    // Nothing ahead: the estimate may be stale (rates measured under a flood that has ended); run it and learn.
    if (this.config.deadlineShedding && busy && Number.isFinite(deadlineMs)) {
      const need = ahead + this.workMs(cost) * this.drain.factor;
      if (need > deadlineMs) {
        this.stats.refusedDeadline++;
        const wait = Math.max(10, Math.round(need - deadlineMs));
        return {
          refused: 'deadline',
          message: `server busy: the work queued ahead needs ~${Math.round(need)} ms, more than the ${Math.round(deadlineMs)} ms left before this call's deadline (admission.deadlineShedding); retry after ~${wait} ms or with a longer deadline`,
          retryAfterMs: wait,
        };
      }
    }
    return null;
  }

  /**
   * Admits the request or throws AdmissionRefused. `cost` is the work it
   * will cause (what the caches do not answer); `carried`, everything it
   * carries (the typical request at the headers). `deadlineMs` is the time
   * left before the caller's deadline (Infinity: none). The returned function
   * releases the reservation; call it once when the call ends, however it ends.
   */
  admit(cost: RequestCost, deadlineMs: number, carried: RequestCost = cost): () => void {
    // Calls still arriving count at the typical cost; this one's own arrival reservation is already released.
    const refusal = this.check(cost, this.inflight + this.arriving * this.typicalBytes, deadlineMs);
    if (refusal) throw new AdmissionRefused(refusal.message, refusal.retryAfterMs);
    // The typical bytes are what requests carry, every image and text: held whether or not the caches answer.
    const w = 0.1;
    this.typicalBytes = (1 - w) * this.typicalBytes + w * carried.bytes;
    this.typicalWork = { images: (1 - w) * this.typicalWork.images + w * cost.images, units: (1 - w) * this.typicalWork.units + w * cost.units };
    const work = this.workMs(cost);
    if (this.pendingRequests === 0) this.drain.started(performance.now());
    this.inflight += cost.bytes;
    this.pendingImages += cost.images;
    this.pendingUnits += cost.units;
    this.pendingRequests++;
    this.stats.admitted++;
    this.stats.peakInflightBytes = Math.max(this.stats.peakInflightBytes, this.inflight);
    this.stats.inflightBytes = this.inflight;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inflight -= cost.bytes;
      this.pendingImages -= cost.images;
      this.pendingUnits -= cost.units;
      this.pendingRequests--;
      this.loop?.finished();
      this.drain.finished(work, performance.now(), this.pendingRequests === 0);
      this.stats.inflightBytes = this.inflight;
    };
  }

  /**
   * `ms` of event-loop time went to refusing calls (deciding, answering,
   * resetting, and grpc-js's setup of the refused calls in between): kept
   * out of the drain rate, which is about how fast admitted work drains.
   */
  refusalLoopTime(ms: number): void {
    this.drain.exclude(ms);
  }

  snapshot(): AdmissionStats {
    return { ...this.stats, visionMsPerImage: this.vision.perEntry, encoderMsPerUnit: this.encoder.perEntry, drainFactor: this.drain.factor, queueWaitMs: Math.round(this.expectedMs(NO_COST)), loopLateTicks: this.loop?.lateTicks ?? 0 };
  }
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(b < 2 ** 20 ? 2 : 1)} MiB`;

/**
 * Bytes a request holds while in flight, from its message: each image's
 * encoded bytes, its decoded pixels (from the PNG header when it is a PNG;
 * else a pessimistic 16x the encoded size) and its model tensor, plus texts.
 */
export function requestCost(images: { data?: Uint8Array }[], units: number, textBytes: number, tensorBytes: number): RequestCost {
  let bytes = textBytes;
  let decoded = 0;
  for (const img of images) {
    if (!img.data) continue;
    decoded++;
    bytes += img.data.length + decodedBytes(img.data) + tensorBytes;
  }
  return { bytes, images: decoded, units };
}

function decodedBytes(data: Uint8Array): number {
  // PNG: signature, then IHDR's width and height at bytes 16..23.
  if (data.length >= 24 && data[0] === 0x89 && data[1] === 0x50 && data[2] === 0x4e && data[3] === 0x47) {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    return view.getUint32(16) * view.getUint32(20) * 4;
  }
  return data.length * 16;
}
