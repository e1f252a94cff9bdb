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
import * as grpc from '@grpc/grpc-js';
import { ServeError } from './errors.js';

export interface AdmissionConfig {
  /** Bytes of requests in flight; 0 turns the check off. */
  maxInflightBytes: number;
  /** Refuse requests whose deadline is closer than the estimated wait; false: only the queues' own bounds apply. */
  deadlineShedding: boolean;
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
  inflightBytes: number;
  peakInflightBytes: number;
  /** Current estimates of per-entry stage time (ms). */
  visionMsPerImage: number;
  encoderMsPerUnit: number;
}

export class AdmissionRefused extends ServeError {
  constructor(message: string, readonly retryAfterMs: number) {
    super('queue-full', message);
  }
}

/**
 * Per-entry time of a stage as an exponentially weighted mean over recent
 * batches: the weight 0.2 follows load changes within ~10 batches without
 * jumping on one slow batch.
 */
export class StageRate {
  private msPerEntry: number;
  constructor(initialMsPerEntry: number) {
    this.msPerEntry = initialMsPerEntry;
  }

  observe(batchMs: number, entries: number): void {
    if (entries <= 0) return;
    this.msPerEntry = 0.8 * this.msPerEntry + 0.2 * (batchMs / entries);
  }

  get perEntry(): number {
    return this.msPerEntry;
  }
}

export class Admission {
  private inflight = 0;
  /** Work admitted and not yet finished, in stage entries. */
  private pendingImages = 0;
  private pendingUnits = 0;
  /** Calls past the arrival gate whose message has not yet come (each counted at the typical cost). */
  private arriving = 0;
  /**
   * A typical admitted request's cost, as a weighted mean (0.1: stable over
   * a burst, follows a change of image size within a few dozen calls). It
   * starts at one 128 px PNG request: 28 KiB PNG + 64 KiB pixels + 192 KiB
   * tensor, and one image.
   */
  private typical: RequestCost = { bytes: 284 * 1024, images: 1, units: 1 };
  readonly stats: AdmissionStats;

  constructor(
    private readonly config: AdmissionConfig,
    readonly vision: StageRate,
    readonly encoder: StageRate,
  ) {
    this.stats = { admitted: 0, refusedBytes: 0, refusedDeadline: 0, inflightBytes: 0, peakInflightBytes: 0, visionMsPerImage: vision.perEntry, encoderMsPerUnit: encoder.perEntry };
  }

  /** The estimated time until a request admitted now would be done (arriving calls count at the typical cost). */
  expectedMs(cost: RequestCost): number {
    // The stages run one batch at a time in one worker, so their work adds up.
    const images = this.pendingImages + this.arriving * this.typical.images + cost.images;
    const units = this.pendingUnits + this.arriving * this.typical.units + cost.units;
    return images * this.vision.perEntry + units * this.encoder.perEntry;
  }

  /**
   * The gate at a call's HEADERS, before its message is read: under a flood
   * the messages of thousands of calls share each connection's HTTP/2 window
   * and would all arrive late, after their deadlines; refusing here answers
   * at once and lets the client stop sending. The call holds a typical
   * request's reservation until its message comes (then `admit` takes over)
   * or it ends; the returned function releases it.
   */
  admitArrival(deadlineMs: number): () => void {
    const bytes = this.inflight + this.arriving * this.typical.bytes;
    this.check({ ...this.typical }, bytes, deadlineMs);
    this.arriving++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.arriving--;
    };
  }

  /** Throws AdmissionRefused when `cost` does not fit next to `held` bytes, or cannot meet the deadline. */
  private check(cost: RequestCost, held: number, deadlineMs: number): void {
    const { maxInflightBytes } = this.config;
    if (maxInflightBytes > 0 && held > 0 && held + cost.bytes > maxInflightBytes) {
      this.stats.refusedBytes++;
      const wait = Math.max(10, Math.round(this.expectedMs({ bytes: 0, images: 0, units: 0 }) / 2));
      throw new AdmissionRefused(
        `server busy: requests in flight hold ${mib(held)} of the ${mib(maxInflightBytes)} in-flight budget (admission.maxInflightBytes) and this one needs ${mib(cost.bytes)}; retry after ~${wait} ms`,
        wait,
      );
    }
    if (this.config.deadlineShedding && Number.isFinite(deadlineMs)) {
      const need = this.expectedMs(cost);
      if (need > deadlineMs) {
        this.stats.refusedDeadline++;
        const wait = Math.max(10, Math.round(need - deadlineMs));
        throw new AdmissionRefused(
          `server busy: the work queued ahead needs ~${Math.round(need)} ms, more than the ${Math.round(deadlineMs)} ms left before this call's deadline (admission.deadlineShedding); retry after ~${wait} ms or with a longer deadline`,
          wait,
        );
      }
    }
  }

  /**
   * Admits the request or throws AdmissionRefused. `deadlineMs` is the time
   * left before the caller's deadline (Infinity: none). The returned function
   * releases the reservation; call it once when the call ends, however it ends.
   */
  admit(cost: RequestCost, deadlineMs: number): () => void {
    // Calls still arriving count at the typical cost; this one's own arrival reservation is already released.
    this.check(cost, this.inflight + this.arriving * this.typical.bytes, deadlineMs);
    const w = 0.1;
    this.typical = { bytes: (1 - w) * this.typical.bytes + w * cost.bytes, images: (1 - w) * this.typical.images + w * cost.images, units: (1 - w) * this.typical.units + w * cost.units };
    this.inflight += cost.bytes;
    this.pendingImages += cost.images;
    this.pendingUnits += cost.units;
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
      this.stats.inflightBytes = this.inflight;
    };
  }

  snapshot(): AdmissionStats {
    return { ...this.stats, visionMsPerImage: this.vision.perEntry, encoderMsPerUnit: this.encoder.perEntry };
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

/**
 * The arrival gate as a grpc-js server interceptor on the unary `paths`
 * (Score, Compare): a refused call gets RESOURCE_EXHAUSTED with the pushback
 * trailer before its handler runs. Streams are gated per request instead.
 */
export function arrivalGate(admission: Admission, paths: ReadonlySet<string>): grpc.ServerInterceptor {
  return (method, call) => {
    if (!paths.has(method.path)) return new grpc.ServerInterceptingCall(call);
    let release: (() => void) | null = null;
    const done = () => {
      release?.();
      release = null;
    };
    return new grpc.ServerInterceptingCall(call, {
      start: (next) => next({
        onReceiveMetadata: (md, mdNext) => {
          try {
            release = admission.admitArrival(msLeft(call.getDeadline()));
          } catch (err) {
            if (!(err instanceof AdmissionRefused)) throw err;
            const trailer = new grpc.Metadata();
            trailer.set('grpc-retry-pushback-ms', String(err.retryAfterMs));
            call.sendStatus({ code: grpc.status.RESOURCE_EXHAUSTED, details: err.message, metadata: trailer });
            return;
          }
          mdNext(md);
        },
        onReceiveMessage: (msg, msgNext) => {
          done();
          msgNext(msg);
        },
        onCancel: done,
      }),
      sendStatus: (status, next) => {
        done();
        next(status);
      },
    });
  };
}

function msLeft(deadline: grpc.Deadline): number {
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(at) ? at - Date.now() : Infinity;
}
