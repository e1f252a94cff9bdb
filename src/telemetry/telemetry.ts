/**
 * OpenTelemetry for the server: traces (a span per RPC with child spans per
 * stage) and metrics, exported to a Prometheus scrape endpoint and/or an OTLP
 * collector. Off unless configured, and then free: `NOOP_TELEMETRY` has no
 * SDK behind it, and the hot path checks `enabled` before it builds a span.
 *
 * The gRPC auto-instrumentation is not used: in an ESM app it sees nothing
 * unless a loader hook is registered before grpc-js loads, and it could not
 * see our stages anyway. Our spans extract the caller's W3C trace context
 * from the call metadata, so a trainer's trace continues into the server.
 */
import { context, metrics, propagation, ROOT_CONTEXT, SamplingDecision, trace, type Context, type ContextManager, type Meter, type Tracer } from '@opentelemetry/api';
import { OTLPMetricExporter as OtlpMetricsGrpc } from '@opentelemetry/exporter-metrics-otlp-grpc';
import { OTLPMetricExporter as OtlpMetricsHttp } from '@opentelemetry/exporter-metrics-otlp-http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter as OtlpTraceGrpc } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as OtlpTraceHttp } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { type IMetricReader, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, ParentBasedSampler, type Sampler, type SamplingResult, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { errorFields, type Logger } from '../serve/log.js';
import { NOOP_METRICS, ServerMetrics } from './metrics.js';

export interface TelemetryConfig {
  /** Port of the Prometheus scrape endpoint (GET /metrics); 0: no endpoint. */
  prometheusPort: number;
  prometheusHost: string;
  /** OTLP collector, e.g. http://otel-collector:4317 (grpc) or http://otel-collector:4318 (http); empty: no OTLP. */
  otlpEndpoint: string;
  otlpProtocol: 'grpc' | 'http';
  /** How often metrics are pushed over OTLP. */
  otlpIntervalMs: number;
  /** Share of root traces kept (a caller's sampled trace is always continued). */
  traceSampleRatio: number;
  serviceName: string;
}

export interface Telemetry {
  readonly enabled: boolean;
  readonly tracer: Tracer;
  readonly metrics: ServerMetrics;
  /**
   * Whether a new trace (a call without a caller's trace context) is kept: the
   * ratio's draw, made by the caller before any span exists (spans.ts).
   */
  sampleRoot(): boolean;
  /** The bound Prometheus port, when there is an endpoint. */
  readonly prometheusPort: number | null;
  /** Flushes and stops the exporters; never rejects (an unreachable collector is not a shutdown failure). */
  shutdown(): Promise<void>;
}

export const NOOP_TELEMETRY: Telemetry = {
  enabled: false,
  tracer: trace.getTracer('mrm-serve-noop'),
  metrics: NOOP_METRICS,
  sampleRoot: () => false,
  prometheusPort: null,
  shutdown: async () => undefined,
};

/**
 * Root spans are kept: every decision to start one was made before it, by
 * the ratio's draw for a call (Telemetry.sampleRoot, in startRpcSpan) or, for
 * a model batch span, by a sampled call it served (startBatchSpan makes none
 * otherwise). Drawing before the span, rather than in the SDK's sampler,
 * spares the 99 calls in 100 that are dropped the propagators' parsing of
 * their metadata and the SDK's random ids for a span it would throw away:
 * that was most of what telemetry cost a call at the default ratio.
 */
class PredecidedRootSampler implements Sampler {
  shouldSample(): SamplingResult {
    return { decision: SamplingDecision.RECORD_AND_SAMPLED };
  }

  toString(): string {
    return 'PredecidedRootSampler';
  }
}

/**
 * No implicit context: our spans name their parent explicitly (spans.ts), so
 * nothing asks for the active context. The SDK's default, an
 * AsyncLocalStorage manager, would put async hooks on every promise in the
 * server, traced or not.
 */
class ExplicitContextManager implements ContextManager {
  active(): Context { return ROOT_CONTEXT; }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(_ctx: Context, fn: F, thisArg?: ThisParameterType<F>, ...args: A): ReturnType<F> {
    return fn.call(thisArg, ...args);
  }
  bind<T>(_ctx: Context, target: T): T { return target; }
  enable(): this { return this; }
  disable(): this { return this; }
}

export function telemetryConfigured(c: TelemetryConfig): boolean {
  return c.prometheusPort > 0 || c.otlpEndpoint !== '';
}

export async function startTelemetry(c: TelemetryConfig, log: Logger): Promise<Telemetry> {
  if (!telemetryConfigured(c)) return NOOP_TELEMETRY;
  const readers: IMetricReader[] = [];
  let prometheus: PrometheusExporter | null = null;
  if (c.prometheusPort > 0) {
    prometheus = new PrometheusExporter({ port: c.prometheusPort, host: c.prometheusHost, preventServerStart: true });
    readers.push(prometheus);
  }
  const spanProcessors: SpanProcessor[] = [];
  if (c.otlpEndpoint) {
    const grpc = c.otlpProtocol === 'grpc';
    const url = (path: string) => (grpc ? c.otlpEndpoint : `${c.otlpEndpoint.replace(/\/$/, '')}${path}`);
    readers.push(new PeriodicExportingMetricReader({
      exporter: grpc ? new OtlpMetricsGrpc({ url: url('') }) : new OtlpMetricsHttp({ url: url('/v1/metrics') }),
      exportIntervalMillis: c.otlpIntervalMs,
    }));
    spanProcessors.push(new BatchSpanProcessor(grpc ? new OtlpTraceGrpc({ url: url('') }) : new OtlpTraceHttp({ url: url('/v1/traces') })));
  }
  const sdk = new NodeSDK({
    resource: resourceFromAttributes({ 'service.name': c.serviceName }),
    autoDetectResources: false,
    metricReaders: readers,
    spanProcessors,
    // Parent-based: a caller's sampling decision (traceparent flags) wins; the ratio applies to new traces only.
    sampler: new ParentBasedSampler({ root: new PredecidedRootSampler() }),
    instrumentations: [],
    contextManager: new ExplicitContextManager(),
  });
  sdk.start();
  if (prometheus) await prometheus.startServer();
  log.info('telemetry.started', {
    prometheus: prometheus ? `${c.prometheusHost}:${c.prometheusPort}/metrics` : null,
    otlp: c.otlpEndpoint ? `${c.otlpProtocol} ${c.otlpEndpoint}` : null,
  });
  const meter: Meter = metrics.getMeter('mrm-serve');
  const ratio = c.traceSampleRatio;
  return {
    enabled: true,
    tracer: trace.getTracer('mrm-serve'),
    metrics: new ServerMetrics(meter),
    sampleRoot: () => ratio > 0 && (ratio >= 1 || Math.random() < ratio),
    prometheusPort: prometheus ? c.prometheusPort : null,
    shutdown: async () => {
      try {
        await sdk.shutdown();
      } catch (err) {
        log.warn('telemetry.shutdown_failed', { error: errorFields(err) });
      }
      // The SDK registers itself as the process's global providers, and the API
      // refuses a second registration: a server started later in this process
      // (tests, an embedding host) would record into this stopped one.
      metrics.disable();
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}
