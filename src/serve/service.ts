/**
 * The RewardService handlers: pin a version, plan the request (validation),
 * score its units, shape the response. Failures go through `toStatus` only.
 */
import * as grpc from '@grpc/grpc-js';
import { monotonicDeadline, type Liveness } from './context.js';
import { ServeError, toStatus } from './errors.js';
import { errorFields, type Logger } from './log.js';
import type {
  CompareRequestMsg, CompareResponseMsg, ModelVersionMsg, ResultMsg, ScoreRequestMsg, ScoreResponseMsg,
} from './proto.js';
import { planCompare, planScore, type RequestLimits, type Unit } from './request.js';
import { AdmissionRefused, requestCost, type Admission } from './admission.js';
import type { PairLogger } from './pair-log.js';
import type { Scorer, UnitScore } from './scorer.js';
import type { ServedVersion, VersionManager } from './versions.js';

export interface ServiceOptions {
  versions: VersionManager;
  scorer: Scorer;
  limits: Omit<RequestLimits, 'maxImages'>;
  log: Logger;
  /** The low-confidence pair log; null when off. */
  pairLog?: PairLogger | null;
  /** In-flight byte budget and deadline shedding; null: off. */
  admission?: Admission | null;
}

export interface RpcStats {
  /** Finished calls (stream: requests) by method. */
  calls: Record<string, number>;
  /** Finished calls by grpc status name. */
  statuses: Record<string, number>;
}

/**
 * Requests one ScoreStream may have in flight before the server stops reading
 * it; HTTP/2 flow control then slows the client down instead of the server
 * buffering an unbounded number of requests and responses for it.
 */
const STREAM_MAX_IN_FLIGHT = 256;

export class RewardService {
  readonly stats: RpcStats = { calls: {}, statuses: {} };
  private draining = false;
  private readonly streams = new Set<() => void>();

  constructor(private readonly opts: ServiceOptions) {}

  /** Ask open streams to finish what they have and end; new stream requests get UNAVAILABLE. */
  drain(): void {
    this.draining = true;
    for (const check of this.streams) check();
  }

  handlers(): grpc.UntypedServiceImplementation {
    return {
      Score: (call: grpc.ServerUnaryCall<ScoreRequestMsg, ScoreResponseMsg>, cb: grpc.sendUnaryData<ScoreResponseMsg>) => {
        this.unary('Score', call, cb, (live) => this.score(call.request, live));
      },
      Compare: (call: grpc.ServerUnaryCall<CompareRequestMsg, CompareResponseMsg>, cb: grpc.sendUnaryData<CompareResponseMsg>) => {
        this.unary('Compare', call, cb, (live) => this.compare(call.request, live));
      },
      ScoreStream: (call: grpc.ServerDuplexStream<ScoreRequestMsg, ScoreResponseMsg>) => this.stream(call),
    };
  }

  private unary<Res>(method: string, call: grpc.ServerUnaryCall<unknown, Res>, cb: grpc.sendUnaryData<Res>, work: (live: Liveness) => Promise<Res>): void {
    const live = liveness(call);
    const t0 = performance.now();
    work(live).then(
      (res) => {
        this.finish(method, 'OK', t0);
        cb(null, res);
      },
      (err: unknown) => {
        const s = this.failure(method, err, t0);
        cb({ code: s.code, details: s.details, ...(err instanceof AdmissionRefused ? { metadata: pushback(err) } : {}) });
      },
    );
  }

  private stream(call: grpc.ServerDuplexStream<ScoreRequestMsg, ScoreResponseMsg>): void {
    const live = liveness(call);
    let inFlight = 0;
    let clientDone = false;
    let ended = false;
    // A client that stops reading: once its responses fill the write buffer,
    // stop reading its requests until it drains, so neither pile up here.
    let blocked = false;
    const send = (msg: ScoreResponseMsg) => {
      if (ended || call.write(msg) || blocked) return;
      blocked = true;
      call.pause();
      call.once('drain', () => {
        blocked = false;
        if (inFlight < STREAM_MAX_IN_FLIGHT) call.resume();
      });
    };
    const maybeEnd = () => {
      if (ended || inFlight > 0 || !(clientDone || this.draining)) return;
      ended = true;
      this.streams.delete(maybeEnd);
      call.end();
    };
    this.streams.add(maybeEnd);
    call.on('data', (req: ScoreRequestMsg) => {
      const t0 = performance.now();
      const requestId = req.requestId ?? '';
      if (this.draining) {
        const s = this.failure('ScoreStream', new ServeError('unavailable', 'the server is shutting down; send this request to another replica'), t0);
        send(errorResponse(requestId, s.code, s.details));
        return;
      }
      if (++inFlight >= STREAM_MAX_IN_FLIGHT) call.pause();
      this.score(req, live).then(
        (res) => {
          this.finish('ScoreStream', 'OK', t0);
          send(res);
        },
        (err: unknown) => {
          const s = this.failure('ScoreStream', err, t0);
          send(errorResponse(requestId, s.code, s.details));
        },
      ).finally(() => {
        if (inFlight-- === STREAM_MAX_IN_FLIGHT && !blocked) call.resume();
        maybeEnd();
      });
    });
    call.on('end', () => {
      clientDone = true;
      maybeEnd();
    });
    // The client went away: nothing more can be written; in-flight requests see it as cancelled (liveness).
    const gone = () => {
      ended = true;
      this.streams.delete(maybeEnd);
    };
    call.on('cancelled', gone);
    call.on('error', gone);
  }

  private async score(req: ScoreRequestMsg, live: Liveness): Promise<ScoreResponseMsg> {
    return this.pinned(async (v) => {
      const plan = planScore(req, this.limitsFor(v));
      const release = this.admit(plan.units, v, live);
      let scores;
      try {
        scores = await this.opts.scorer.score(plan.units, v, live);
      } finally {
        release();
      }
      if (plan.groups.length > 0) this.opts.pairLog?.offerGroups(v, plan.units, scores, plan.groups);
      return {
        requestId: req.requestId ?? '',
        model: modelOf(v),
        items: scores.slice(0, plan.items).map((s, i) => result(s, plan.units[i]!.id)),
        groups: plan.groups.map((g) => ({ id: g.id, responses: scores.slice(g.start, g.start + g.count).map((s) => result(s, '')) })),
        error: null,
      };
    });
  }

  private async compare(req: CompareRequestMsg, live: Liveness): Promise<CompareResponseMsg> {
    return this.pinned(async (v) => {
      const plan = planCompare(req, this.limitsFor(v));
      const release = this.admit(plan.units, v, live);
      let scores;
      try {
        scores = await this.opts.scorer.score(plan.units, v, live);
      } finally {
        release();
      }
      this.opts.pairLog?.offerCompare(v, plan.units, scores);
      return {
        requestId: req.requestId ?? '',
        model: modelOf(v),
        pairs: plan.ids.map((id, p) => {
          const a = scores[2 * p]!;
          const b = scores[2 * p + 1]!;
          const margin = a.reward - b.reward;
          return { id, probabilityA: sigmoid(margin), margin, a: result(a, ''), b: result(b, '') };
        }),
      };
    });
  }

  /**
   * After validation, before any decode: reserve the request's bytes and
   * check its deadline against the queued work, or throw AdmissionRefused.
   */
  private admit(units: Unit[], v: ServedVersion, live: Liveness): () => void {
    const admission = this.opts.admission;
    if (!admission) return () => {};
    // Group members share one images array: count each distinct image once.
    const images = new Map<string, { data?: Uint8Array }>();
    let textBytes = 0;
    for (const u of units) {
      for (const img of u.images) if (img.data) images.set(img.sha, img);
      textBytes += u.text.response.length + u.text.prompt.length + u.text.system.length + u.text.reference.length;
    }
    const size = v.manifest.preprocess.image.size;
    const cost = requestCost([...images.values()], units.length, textBytes, 3 * size * size * 4);
    return admission.admit(cost, live.deadline - performance.now());
  }

  /** Runs `work` on the version active now; the pin holds until `work` settles. */
  private async pinned<T>(work: (v: ServedVersion) => Promise<T>): Promise<T> {
    const handle = this.opts.versions.acquire();
    try {
      return await work(handle.version);
    } finally {
      handle.release();
    }
  }

  private limitsFor(v: ServedVersion): RequestLimits {
    return { ...this.opts.limits, maxImages: v.manifest.preprocess.image.maxImages };
  }

  private finish(method: string, status: string, t0: number): void {
    this.stats.calls[method] = (this.stats.calls[method] ?? 0) + 1;
    this.stats.statuses[status] = (this.stats.statuses[status] ?? 0) + 1;
    if (this.opts.log.enabled('debug')) this.opts.log.debug('rpc.done', { method, status, ms: round(performance.now() - t0) });
  }

  private failure(method: string, err: unknown, t0: number) {
    const s = toStatus(err);
    this.finish(method, grpc.status[s.code], t0);
    if (s.internal) this.opts.log.error('rpc.internal_error', { method, error: errorFields(err) });
    return s;
  }
}

function liveness(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>): Liveness {
  const live = { deadline: monotonicDeadline(call.getDeadline()), cancelled: false };
  call.on('cancelled', () => { live.cancelled = true; });
  return live;
}

/** The retry hint as gRPC's trailer, which grpc clients with a retry policy honour. */
function pushback(err: AdmissionRefused): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('grpc-retry-pushback-ms', String(err.retryAfterMs));
  return md;
}

function modelOf(v: ServedVersion): ModelVersionMsg {
  return { name: v.name, version: v.version };
}

function result(s: UnitScore, id: string): ResultMsg {
  return { reward: s.reward, normalizedReward: s.normalized, spread: s.spread, cached: s.cached, truncated: s.truncated, id };
}

function errorResponse(requestId: string, code: number, message: string): ScoreResponseMsg {
  return { requestId, model: null, items: [], groups: [], error: { code, message } };
}

/** Never overflows: exp of a non-positive number only. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

const round = (ms: number) => Math.round(ms * 1000) / 1000;
