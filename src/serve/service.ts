/**
 * The RewardService handlers: pin a version, plan the request (validation),
 * score its units, shape the response. Failures go through `toStatus` only.
 */
import * as grpc from '@grpc/grpc-js';
import { sigmoid } from '../model/math.js';
import { monotonicDeadline, type Liveness } from './context.js';
import { ServeError, toStatus } from './errors.js';
import { errorFields, type Logger } from './log.js';
import type {
  CompareRequestMsg, CompareResponseMsg, ModelVersionMsg, ResultMsg, ScoreRequestMsg, ScoreResponseMsg,
} from './proto.js';
import { UndecodableMessage } from './proto.js';
import { planCompare, planScore, type RequestLimits, type Unit } from './request.js';
import { AdmissionRefused, requestCost, type Admission } from './admission.js';
import type { PairLogger } from './pair-log.js';
import type { Scorer, UnitScore } from './scorer.js';
import type { ServedVersion, VersionManager } from './versions.js';
import { startRpcSpan, type RpcTrace } from '../telemetry/spans.js';
import { NOOP_TELEMETRY, type Telemetry } from '../telemetry/telemetry.js';

const SERVICE = 'mrm.v1.RewardService';

export interface ServiceOptions {
  versions: VersionManager;
  scorer: Scorer;
  limits: Omit<RequestLimits, 'maxImages'>;
  log: Logger;
  /** The low-confidence pair log; null when off. */
  pairLog?: PairLogger | null;
  /** Spans and metrics; off (NOOP_TELEMETRY) when absent. */
  telemetry?: Telemetry;
  /** In-flight byte budget and deadline shedding; null: off. */
  admission?: Admission | null;
  /** ScoreStreams open at once (connections.maxOpenStreams); absent: no limit. */
  maxOpenStreams?: number;
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

/**
 * Retry hint for a refused stream: a slot frees only when some stream ends,
 * which the server cannot foresee; a second is long next to a call and short
 * next to a rollout.
 */
const STREAM_RETRY_MS = 1000;

export class RewardService {
  readonly stats: RpcStats = { calls: {}, statuses: {} };
  private draining = false;
  private readonly streams = new Set<() => void>();

  private readonly t: Telemetry;

  constructor(private readonly opts: ServiceOptions) {
    this.t = opts.telemetry ?? NOOP_TELEMETRY;
  }

  /** Ask open streams to finish what they have and end; new stream requests get UNAVAILABLE. */
  drain(): void {
    this.draining = true;
    for (const check of this.streams) check();
  }

  handlers(): grpc.UntypedServiceImplementation {
    return {
      Score: (call: grpc.ServerUnaryCall<ScoreRequestMsg, ScoreResponseMsg>, cb: grpc.sendUnaryData<ScoreResponseMsg>) => {
        this.unary('Score', call, cb, (live, rt) => this.score(call.request, live, rt));
      },
      Compare: (call: grpc.ServerUnaryCall<CompareRequestMsg, CompareResponseMsg>, cb: grpc.sendUnaryData<CompareResponseMsg>) => {
        this.unary('Compare', call, cb, (live, rt) => this.compare(call.request, live, rt));
      },
      ScoreStream: (call: grpc.ServerDuplexStream<ScoreRequestMsg, ScoreResponseMsg>) => this.stream(call),
    };
  }

  private unary<Res>(method: string, call: grpc.ServerUnaryCall<unknown, Res>, cb: grpc.sendUnaryData<Res>, work: (live: Liveness, rt: RpcTrace | null) => Promise<Res>): void {
    const live = liveness(call);
    const t0 = performance.now();
    const rt = startRpcSpan(this.t, SERVICE, method, call.metadata);
    work(live, rt).then(
      (res) => {
        this.finish(method, 'OK', t0);
        rt?.end('OK');
        cb(null, res);
      },
      (err: unknown) => {
        const s = this.failure(method, err, t0);
        rt?.end(grpc.status[s.code], s.details);
        cb({ code: s.code, details: s.details, ...(err instanceof AdmissionRefused ? { metadata: pushback(err) } : {}) });
      },
    );
  }

  private stream(call: grpc.ServerDuplexStream<ScoreRequestMsg, ScoreResponseMsg>): void {
    const max = this.opts.maxOpenStreams ?? Infinity;
    if (this.streams.size >= max) {
      const err = new AdmissionRefused(`too many open streams: ${this.streams.size} ScoreStreams are open, the limit (connections.maxOpenStreams) is ${max}; retry later or send unary Score calls`, STREAM_RETRY_MS);
      const s = this.failure('ScoreStream', err, performance.now());
      call.emit('error', { code: s.code, details: s.details, metadata: pushback(err) });
      return;
    }
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
      // A span per stream request: each is scored (and may fail) on its own.
      const rt = startRpcSpan(this.t, SERVICE, 'ScoreStream', call.metadata);
      this.score(req, live, rt).then(
        (res) => {
          this.finish('ScoreStream', 'OK', t0);
          rt?.end('OK');
          send(res);
        },
        (err: unknown) => {
          const s = this.failure('ScoreStream', err, t0);
          rt?.end(grpc.status[s.code], s.details);
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

  /** Scores `units` under an admission reservation held until they are done (however that ends). */
  private async admitted(units: Unit[], v: ServedVersion, live: Liveness, rt: RpcTrace | null): Promise<UnitScore[]> {
    const release = this.admit(units, v, live);
    try {
      return await this.opts.scorer.score(units, v, live, rt);
    } finally {
      release();
    }
  }

  private async score(req: ScoreRequestMsg, live: Liveness, rt: RpcTrace | null): Promise<ScoreResponseMsg> {
    decoded(req);
    return this.pinned(async (v) => {
      const limits = this.limitsFor(v);
      const plan = rt ? rt.sync('validate', () => planScore(req, limits)) : planScore(req, limits);
      const scores = await this.admitted(plan.units, v, live, rt);
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

  private async compare(req: CompareRequestMsg, live: Liveness, rt: RpcTrace | null): Promise<CompareResponseMsg> {
    decoded(req);
    return this.pinned(async (v) => {
      const limits = this.limitsFor(v);
      const plan = rt ? rt.sync('validate', () => planCompare(req, limits)) : planCompare(req, limits);
      const scores = await this.admitted(plan.units, v, live, rt);
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
    // Bytes for every image it carries (held however it is scored); work only for what the caches do not answer.
    const carried = requestCost([...images.values()], units.length, textBytes, 3 * size * size * 4);
    return admission.admit({ ...carried, ...this.opts.scorer.uncached(units, v) }, live.deadline - performance.now(), carried);
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
    if (this.t.enabled) this.t.metrics.call(method, status, performance.now() - t0);
    if (this.opts.log.enabled('debug')) this.opts.log.debug('rpc.done', { method, status, ms: round(performance.now() - t0) });
  }

  private failure(method: string, err: unknown, t0: number) {
    const s = toStatus(err);
    this.finish(method, grpc.status[s.code], t0);
    if (s.internal) this.opts.log.error('rpc.internal_error', { method, error: errorFields(err) });
    return s;
  }
}

/** A request the deserializer could not decode is the caller's mistake (proto.ts). */
function decoded(req: object): void {
  if (req instanceof UndecodableMessage) throw new ServeError('invalid-request', req.message, 'request');
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

const round = (ms: number) => Math.round(ms * 1000) / 1000;
