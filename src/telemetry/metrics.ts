/**
 * The server's metrics, named once here. Names follow OpenTelemetry's
 * conventions (dots, units in the instrument); Prometheus sees them with
 * underscores (mrm_rpc_calls_total, mrm_rpc_duration_bucket ...); this exporter
 * version puts no unit suffix in the names.
 */
import type { Attributes, Counter, Histogram, Meter, ObservableCounter, ObservableGauge } from '@opentelemetry/api';

/**
 * Things the metrics read when collected rather than being told on every
 * change: the server already counts them (cache and pair log stats), so the
 * hot path pays nothing for metrics it would otherwise update per lookup.
 */
export interface MetricSources {
  queueDepth(): { stage: string; depth: number }[];
  activeVersion(): { model: string; version: number } | null;
  /** Cumulative lookups per cache. */
  cacheLookups(): { cache: string; hits: number; misses: number }[];
  /** Cumulative pair log counts; null when the pair log is off. */
  pairLog(): { records: number; errors: Record<string, number> } | null;
}

export class ServerMetrics {
  /** Finished calls by method and status, counted here and read when metrics are collected (see call()). */
  private readonly callCounts = new Map<string, { attributes: Attributes; n: number }>();
  // One attributes object per method and stage rather than one per call.
  private readonly methodAttributes = new Map<string, Attributes>();
  private readonly stageAttributes = new Map<string, Attributes>();
  private readonly latency: Histogram;
  private readonly batchSize: Histogram;
  private readonly swaps: Counter;
  private readonly failedLoads: Counter;
  private readonly roundSteps: Counter;
  private readonly roundStepSeconds: Histogram;
  private readonly judgeCalls: Counter;
  private readonly judgeErrors: Counter;
  private readonly judgeTokens: Counter;
  private readonly observed: (ObservableGauge | ObservableCounter)[] = [];

  constructor(private readonly meter: Meter | null) {
    const m = meter;
    // A null meter is the no-op; every method below then returns at once.
    const counter = (name: string, description: string, unit?: string) => m?.createCounter(name, { description, ...(unit ? { unit } : {}) }) as Counter;
    const histogram = (name: string, description: string, unit: string, boundaries?: number[]) =>
      m?.createHistogram(name, { description, unit, ...(boundaries ? { advice: { explicitBucketBoundaries: boundaries } } : {}) }) as Histogram;
    m?.createObservableCounter('mrm.rpc.calls', { description: 'finished calls (ScoreStream: requests) by method and status' })
      .addCallback((r) => { for (const c of this.callCounts.values()) r.observe(c.n, c.attributes); });
    // Cache hits are ~0.1 ms, saturated group calls a few hundred ms.
    this.latency = histogram('mrm.rpc.duration', 'call latency by method', 'ms', [0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]);
    this.batchSize = histogram('mrm.batch.size', 'entries per model batch by stage', '{entries}', [1, 2, 4, 8, 16, 32, 64, 128, 256]);
    this.swaps = counter('mrm.model.swaps', 'versions made active');
    this.failedLoads = counter('mrm.model.load_failures', 'versions that failed to load or warm up');
    this.roundSteps = counter('mrm.round.steps', 'round steps finished, by step and status');
    this.roundStepSeconds = histogram('mrm.round.step.duration', 'round step duration by step', 's', [0.1, 1, 5, 15, 30, 60, 120, 300, 900]);
    this.judgeCalls = counter('mrm.judge.calls', 'judge calls made (cache hits excluded)');
    this.judgeErrors = counter('mrm.judge.errors', 'judge call failures by kind');
    this.judgeTokens = counter('mrm.judge.tokens', 'judge tokens used, from the usage field');
  }

  /** Queue depths and the active version are read when metrics are collected. */
  observe(src: MetricSources): void {
    if (!this.meter) return;
    const depth = this.meter.createObservableGauge('mrm.batch.queue_depth', { description: 'entries waiting per stage' });
    depth.addCallback((r) => { for (const q of src.queueDepth()) r.observe(q.depth, { stage: q.stage }); });
    const active = this.meter.createObservableGauge('mrm.model.active_version', { description: 'the version serving new requests' });
    active.addCallback((r) => {
      const a = src.activeVersion();
      if (a) r.observe(a.version, { model: a.model });
    });
    const cache = this.meter.createObservableCounter('mrm.cache.lookups', { description: 'cache lookups by cache and result' });
    cache.addCallback((r) => {
      for (const c of src.cacheLookups()) {
        r.observe(c.hits, { cache: c.cache, result: 'hit' });
        r.observe(c.misses, { cache: c.cache, result: 'miss' });
      }
    });
    const logged = this.meter.createObservableCounter('mrm.pairlog.records', { description: 'low-confidence pairs written to the pair log' });
    const logErrors = this.meter.createObservableCounter('mrm.pairlog.errors', { description: 'pair log write errors and dropped records, by kind' });
    logged.addCallback((r) => {
      const p = src.pairLog();
      if (p) r.observe(p.records);
    });
    logErrors.addCallback((r) => {
      const p = src.pairLog();
      if (p) for (const [kind, n] of Object.entries(p.errors)) r.observe(n, { kind });
    });
    this.observed.push(depth, active, cache, logged, logErrors);
  }

  /**
   * One finished call. The count is a number in a map, observed when metrics
   * are collected: the SDK's counter would hash the attributes and look up
   * its series on every call, which was half of what metrics cost a call.
   */
  call(method: string, status: string, ms: number): void {
    if (!this.meter) return;
    const key = `${method} ${status}`;
    const c = this.callCounts.get(key);
    if (c) c.n++;
    else this.callCounts.set(key, { attributes: { method, status }, n: 1 });
    let a = this.methodAttributes.get(method);
    if (!a) this.methodAttributes.set(method, (a = { method }));
    this.latency.record(ms, a);
  }

  batch(stage: string, size: number): void {
    if (!this.meter) return;
    let a = this.stageAttributes.get(stage);
    if (!a) this.stageAttributes.set(stage, (a = { stage }));
    this.batchSize.record(size, a);
  }

  swap(model: string, version: number): void {
    this.swaps?.add(1, { model, version: String(version) });
  }

  loadFailed(model: string, version: number): void {
    this.failedLoads?.add(1, { model, version: String(version) });
  }

  roundStep(step: string, status: 'done' | 'failed', seconds: number | null): void {
    if (!this.meter) return;
    this.roundSteps.add(1, { step, status });
    if (seconds !== null) this.roundStepSeconds.record(seconds, { step });
  }

  judge(calls: number, errors: Record<string, number>, tokens: number): void {
    if (!this.meter) return;
    if (calls > 0) this.judgeCalls.add(calls);
    for (const [kind, n] of Object.entries(errors)) if (n > 0) this.judgeErrors.add(n, { kind });
    if (tokens > 0) this.judgeTokens.add(tokens);
  }
}

export const NOOP_METRICS = new ServerMetrics(null);
