/**
 * Spans of one RPC: the call's span (continuing the caller's trace from
 * `traceparent` metadata) and its stages as children. Batch spans belong to
 * no single call: they start their own trace and link every call they served,
 * which is how OpenTelemetry models fan-in.
 */
import type * as grpc from '@grpc/grpc-js';
import { propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Link, type Span, type SpanContext, type TextMapGetter } from '@opentelemetry/api';
import type { Telemetry } from './telemetry.js';

const metadataGetter: TextMapGetter<grpc.Metadata> = {
  keys: (m) => Object.keys(m.getMap()),
  get: (m, key) => {
    const v = m.get(key);
    return v.length === 0 ? undefined : v.map(String);
  },
};

/** See RpcTrace.stage; the batcher sees it as an EntryTrace. */
export interface StageTrace {
  readonly spanContext: SpanContext;
  dispatched(): void;
  done(): void;
}

export class RpcTrace {
  private readonly ctx: Context;

  constructor(private readonly t: Telemetry, readonly span: Span, parent: Context) {
    this.ctx = trace.setSpan(parent, span);
  }

  /** For batch spans to link to. */
  get spanContext(): SpanContext {
    return this.span.spanContext();
  }

  /** A child span around `work` (validate, cache, queue wait ...). */
  async child<T>(name: string, work: () => Promise<T> | T, attributes?: Record<string, string | number | boolean>): Promise<T> {
    const span = this.t.tracer.startSpan(name, { attributes }, this.ctx);
    try {
      return await work();
    } catch (err) {
      failed(span, err);
      throw err;
    } finally {
      span.end();
    }
  }

  /** A synchronous child span around `work` (validation): no promise, no context switch. */
  sync<T>(name: string, work: () => T): T {
    const span = this.t.tracer.startSpan(name, undefined, this.ctx);
    try {
      return work();
    } catch (err) {
      failed(span, err);
      throw err;
    } finally {
      span.end();
    }
  }

  /**
   * This call's entries in one model stage: a `queue wait` child span from now
   * until the batcher starts the first of them (`dispatched`), then a
   * `<stage> batch` child span until `done`.
   */
  stage(stage: string): StageTrace {
    const tracer = this.t.tracer;
    const ctx = this.ctx;
    const attributes = stageAttributes(stage);
    const wait = tracer.startSpan('queue wait', { attributes }, ctx);
    let run: Span | null = null;
    return {
      spanContext: this.span.spanContext(),
      dispatched: () => {
        if (run) return;
        wait.end();
        run = tracer.startSpan(`${stage} batch`, { attributes }, ctx);
      },
      done: () => {
        if (run) run.end();
        else wait.end();
      },
    };
  }

  /** A child span that starts now and ends when the returned function is called. */
  start(name: string, attributes?: Record<string, string | number | boolean>): (attrs?: Record<string, string | number | boolean>) => void {
    const span = this.t.tracer.startSpan(name, { attributes }, this.ctx);
    return (attrs) => {
      if (attrs) span.setAttributes(attrs);
      span.end();
    };
  }

  end(grpcStatus: string, message?: string): void {
    this.span.setAttribute('rpc.grpc.status_code', grpcStatus);
    if (grpcStatus !== 'OK') this.span.setStatus({ code: SpanStatusCode.ERROR, message: message ?? grpcStatus });
    this.span.end();
  }
}

/**
 * The call's span, or null when telemetry is off or the sampler dropped this
 * trace: the hot path then does nothing. An unsampled call's child spans would
 * be non-recording anyway, and making them (ids, attributes, context) is most
 * of what tracing costs a call; the call's metrics are recorded either way.
 */
export function startRpcSpan(t: Telemetry, service: string, method: string, metadata: grpc.Metadata): RpcTrace | null {
  if (!t.enabled) return null;
  // A new trace (no caller context): the ratio decides before anything is built.
  if (metadata.get('traceparent').length === 0 && !t.sampleRoot()) return null;
  const parent = propagation.extract(ROOT_CONTEXT, metadata, metadataGetter);
  const { name, attributes } = rpcSpanOf(service, method);
  const span = t.tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  if (!span.isRecording()) return null;
  return new RpcTrace(t, span, parent);
}

/** The batchers' onBatch hook when telemetry is on: the batch span and the batch size metric; undefined when off. */
export function batchHook(t: Telemetry, stage: string): ((size: number, served: ({ spanContext: SpanContext } | undefined)[]) => () => void) | undefined {
  if (!t.enabled) return undefined;
  return (size, served) => {
    t.metrics.batch(stage, size);
    // Most batches serve no traced call: look before mapping anything.
    if (!served.some((s) => s !== undefined)) return NOTHING;
    return startBatchSpan(t, stage, size, served.map((s) => s?.spanContext)) ?? NOTHING;
  };
}

/**
 * A model batch span linking the calls whose entries it ran; none when no
 * call in the batch is traced (sampled), since nothing would link to it.
 */
export function startBatchSpan(t: Telemetry, stage: string, size: number, served: (SpanContext | undefined)[]): (() => void) | null {
  if (!t.enabled || !served.some((sc) => sc !== undefined)) return null;
  const seen = new Set<string>();
  const links: Link[] = [];
  for (const sc of served) {
    if (!sc || seen.has(sc.spanId)) continue;
    seen.add(sc.spanId);
    links.push({ context: sc });
  }
  const span = t.tracer.startSpan(`${stage} batch`, { attributes: { 'mrm.stage': stage, 'mrm.batch.size': size }, links }, ROOT_CONTEXT);
  return () => span.end();
}

const NOTHING = (): void => undefined;

// Span names and attributes made once per method and stage, not per call: the
// SDK copies attributes into the span, so one object can serve every call.
const rpcSpans = new Map<string, { name: string; attributes: Attributes }>();
function rpcSpanOf(service: string, method: string): { name: string; attributes: Attributes } {
  const name = `${service}/${method}`;
  let v = rpcSpans.get(name);
  if (!v) rpcSpans.set(name, (v = { name, attributes: { 'rpc.system': 'grpc', 'rpc.service': service, 'rpc.method': method } }));
  return v;
}
const stageAttrs = new Map<string, Attributes>();
function stageAttributes(stage: string): Attributes {
  let v = stageAttrs.get(stage);
  if (!v) stageAttrs.set(stage, (v = { 'mrm.stage': stage }));
  return v;
}

/** Marks a span as failed with the error that ended it. */
function failed(span: Span, err: unknown): void {
  span.recordException(err as Error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
}
