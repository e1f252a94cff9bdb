/**
 * The gRPC server and its life: listen first (health answers NOT_SERVING
 * while the model loads, so probes and clients can tell "starting" from
 * "down"), load and warm up the active version, turn SERVING. Shutdown is the
 * reverse: NOT_SERVING, end open streams after their in-flight requests, stop
 * accepting calls and wait for the running ones (up to shutdownGraceMs), then
 * release the ONNX sessions.
 *
 * Once serving, the server follows the registry's ACTIVE pointer (the source,
 * the swapper and the version manager: see swapper.ts), and the admin API
 * listens on its own port (admin-service.ts). Both ports speak TLS when
 * tls.cert/tls.key are set (tls.ts).
 */
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { emptyBatcherStats, type BatcherStats } from './batcher.js';
import { Caches } from './caches.js';
import type { ServeConfig } from './config.js';
import { ImageStage } from './images.js';
import { AdminAuth } from './admin-auth.js';
import { adminServiceDefinition } from './admin-proto.js';
import { AdminRounds } from './admin-rounds.js';
import { AdminService } from './admin-service.js';
import { ServerDetails } from './details.js';
import { loadVersion, openRegistry } from './loader.js';
import { errorFields, type Logger } from './log.js';
import type { WriterIo } from '../pairlog/io.js';
import { PairLogger, type PairLogHealth, type PairLogStats } from './pair-log.js';
import { rewardServerOptions } from './grpc-options.js';
import { loadPackage, REWARD_SERVICE, rewardServiceDefinition } from './proto.js';
import { Scorer } from './scorer.js';
import { RewardService } from './service.js';
import { Swapper, type SwapState } from './swapper.js';
import { serverCredentials } from './tls.js';
import { VersionSource } from './version-source.js';
import { type ServedVersion, type StageSettings, type StageStats, VersionManager } from './versions.js';
import { RoundMetricsPoller } from '../telemetry/round-metrics.js';
import { batchHook } from '../telemetry/spans.js';
import { startTelemetry, type Telemetry } from '../telemetry/telemetry.js';
import { Admission, StageRate, type AdmissionStats } from './admission.js';
import { arrivalGate } from './admission-gate.js';
import { GcPauses } from './gc-pauses.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';

export interface ServerStats {
  rpc: RewardService['stats'];
  scorer: Scorer['stats'];
  images: ImageStage['stats'];
  caches: Caches['stats'] & ReturnType<Caches['sizes']>;
  batches: { vision: BatcherStats; encoder: BatcherStats };
  /** Admission control; droppedAfterDecode: requests decoded, then dropped at a deadline in a queue. */
  admission: AdmissionStats & { droppedAfterDecode: number; ranAfterDeadline: number };
  active: { model: string; version: number; pinned: number } | null;
  /** The pair log's counters; null when it is off or failed to open (health.pairlog says which). */
  pairlog: PairLogStats | null;
  /** Details behind the grpc health status (whose proto has no room for them). */
  health: { pairlog: PairLogHealth | { status: 'off' | 'failed'; detail: string } };
  /** Null when the server does not follow the registry (a substituted first load). */
  swap: SwapState | null;
  admin: AdminService['stats'] | null;
}

export interface RunningServer {
  /** The bound port (config port 0 picks a free one). */
  readonly port: number;
  /** Settles when the first version is loaded and health is SERVING; rejects if loading failed. */
  readonly ready: Promise<ServedVersion>;
  readonly versions: VersionManager;
  /** The pair log (null when off or it failed to open); `pairLog.stats()` is JSON-able. */
  readonly pairLog: PairLogger | null;
  /** The admin API's bound port; null when admin.enabled is false or a substituted load is used. */
  readonly adminPort: number | null;
  stats(): ServerStats;
  /** Health details as JSON (swap state, and whatever other parts add through `healthDetails`). */
  details(): Record<string, unknown>;
  readonly healthDetails: ServerDetails;
  /** Spans and metrics (NOOP_TELEMETRY when telemetry.* configures no exporter). */
  readonly telemetry: Telemetry;
  /** Reads finished round steps into the metrics; null when telemetry is off. */
  readonly rounds: RoundMetricsPoller | null;
  /** Graceful; idempotent. */
  shutdown(reason: string): Promise<void>;
}

export interface StartOptions {
  /** How the first version is loaded; the default reads the registry. Tests substitute one. */
  load?: (stats: StageStats) => Promise<ServedVersion>;
  /** The pair log's file operations; tests inject failures (a full disk). */
  pairlogIo?: WriterIo;
  /** The pair log's stats for the admin API's LogStats; default: the server's own pair log (null when it is off). */
  logStats?: () => object | null;
}

const HEALTH_NAMES = ['', REWARD_SERVICE];
const ROUNDS_POLL_MS = 5000;

export async function startServer(config: ServeConfig, log: Logger, opts: StartOptions = {}): Promise<RunningServer> {
  // Config mistakes that the merged config cannot see (token file, loopback rule, PEM files) fail before anything binds.
  const follow = !opts.load;
  const auth = follow && config.admin.enabled ? AdminAuth.fromConfig(config) : null;
  const creds = serverCredentials(config);
  const pkg = loadPackage();
  // First, so that its endpoint is up (and a taken port fails) before anything else binds.
  const telemetry = await startTelemetry(config.telemetry, log);
  const onBatch: StageSettings['onBatch'] = telemetry.enabled
    ? { vision: batchHook(telemetry, 'vision'), encoder: batchHook(telemetry, 'encoder') }
    : undefined;
  // Initial stage rates: the default model on one core (bench:serve); the batches correct them within ~10.
  const admission = new Admission(config.admission, new StageRate(1), new StageRate(0.2));
  // The storm detector's ticks (admission-loop.ts), unref'd; stopped at shutdown.
  const stopLoopTicks = admission.loop?.start();
  const server = new grpc.Server({
    // Unary calls meet admission at their headers, before their messages are read (admission.ts).
    interceptors: [arrivalGate(admission, new Set(['Score', 'Compare'].map((m) => `/${REWARD_SERVICE}/${m}`)), (err, remote) => {
      log.warn('connection.error', { remote, error: errorFields(err) });
    })],
    ...rewardServerOptions(config),
  });
  const caches = new Caches({ ...config.cache, detailBytes: config.log.enabled ? config.log.featureCacheBytes : 0 }, config.caches);
  // A pair log that cannot open (unwritable or full state directory) must not keep the server from serving.
  let pairLog: PairLogger | null = null;
  let pairLogFailure: string | null = null;
  if (config.log.enabled) {
    try {
      pairLog = await PairLogger.open(config.log, config.stateDir, caches, log, opts.pairlogIo);
    } catch (err) {
      pairLogFailure = `the pair log failed to open: ${(err as Error).message}`;
      log.error('pairlog.open_failed', { error: errorFields(err), message: 'serving without the pair log' });
    }
  }
  const images = new ImageStage(caches, config.caches);
  const scorer = new Scorer(caches, images, config.caches);
  const versions = new VersionManager();
  // The drain rate counts the busiest thread's time (admission.ts DrainRate): the loop's and the active version's worker's.
  admission.busyClocks = () => ({ loopMs: performance.eventLoopUtilization().active, workerMs: versions.active?.host.runMs ?? 0 });
  const service = new RewardService({
    versions,
    scorer,
    limits: { maxItemsPerRequest: config.maxItemsPerRequest, maxTextBytes: config.maxTextBytes },
    log,
    pairLog,
    telemetry,
    admission,
    maxOpenStreams: config.connections.maxOpenStreams,
  });
  server.addService(rewardServiceDefinition(pkg), service.handlers());
  const health = new HealthImplementation(Object.fromEntries(HEALTH_NAMES.map((n) => [n, 'NOT_SERVING'])));
  health.addToServer(server);
  // Reflection lists the services of the package it is given: reward, health and reflection itself.
  new ReflectionService(pkg).addToServer(server);
  const setHealth = (status: 'SERVING' | 'NOT_SERVING') => HEALTH_NAMES.forEach((n) => health.setStatus(n, status));

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${config.host}:${config.port}`, creds.reward, (err, p) => (err ? reject(err) : resolve(p)));
  });
  log.info('server.listening', { host: config.host, port, health: 'NOT_SERVING', tls: creds.tls });

  const admin = auth ? new AdminService(auth, log, telemetry) : null;
  let adminServer: grpc.Server | null = null;
  let adminPort: number | null = null;
  if (admin && auth) {
    adminServer = new grpc.Server();
    adminServer.addService(adminServiceDefinition(), admin.handlers());
    try {
      adminPort = await bind(adminServer, `${config.admin.host}:${config.admin.port}`, creds.admin);
    } catch (err) {
      server.forceShutdown();
      throw err;
    }
    log.info('admin.listening', { host: config.admin.host, port: adminPort, tls: creds.tls, mutualTls: creds.mutualAdmin, token: auth.required });
    if (!auth.required) log.warn('admin.no_token', { message: 'admin API open to every local process; set MRM_ADMIN_TOKEN or admin.tokenFile' });
  }
  const details = new ServerDetails();
  let swapper: Swapper | null = null;
  let source: VersionSource | null = null;

  const batchStats = { vision: emptyBatcherStats(), encoder: emptyBatcherStats() };
  const stageStats: StageStats = {
    ...batchStats,
    timed: { vision: (ms, n) => admission.vision.observe(ms, n), encoder: (ms, n) => admission.encoder.observe(ms, n) },
  };
  let stopping: Promise<void> | null = null;
  let registry: Awaited<ReturnType<typeof openRegistry>> | null = null;
  const load = opts.load ?? (async (stats) => {
    registry = await openRegistry(config, log);
    const pointer = await registry.active();
    if (!pointer) throw new Error(`registry ${registry.modelDir} has no active version`);
    return loadVersion(registry, pointer.version, config, stats, log, onBatch);
  });
  const ready = load(stageStats).then(async (v) => {
    if (stopping) {
      await v.retire();
      throw new Error('shut down before the model finished loading');
    }
    await versions.activate(v);
    if (registry) await follow_(registry);
    setHealth('SERVING');
    log.info('server.serving', { model: v.name, version: v.version, port, adminPort });
    return v;
  });

  /** From now on the registry's pointer decides what is served. */
  const follow_ = async (reg: NonNullable<typeof registry>) => {
    const sw = new Swapper({
      versions,
      load: (n) => loadVersion(reg, n, config, stageStats, log, onBatch),
      events: {
        swapped: (model, version) => telemetry.metrics.swap(model, version),
        loadFailed: (version) => telemetry.metrics.loadFailed(reg.model, version),
      },
      retryInitialMs: config.swap.retryInitialMs,
      retryMaxMs: config.swap.retryMaxMs,
      log,
    });
    const src = new VersionSource(reg, config.swap.pollIntervalMs, log, (p) => sw.aspire(p.version));
    swapper = sw;
    source = src;
    details.add('swap', () => sw.state());
    details.add('pairlog', () => (pairLog ? pairLog.health() : pairLogFailure ? { status: 'failed', detail: pairLogFailure } : { status: 'off', detail: 'log.enabled is false' }));
    details.add('source', () => src.stats);
    await src.start();
    admin?.open({
      registry: reg,
      versions,
      swapper: sw,
      source: src,
      activateTimeoutMs: config.admin.activateTimeoutMs,
      logStats: opts.logStats ?? (() => (pairLog ? pairLog.stats() : null)),
      details: () => details.snapshot(),
      rounds: new AdminRounds(config, () => reg.model),
    });
  };
  // `ready` is also awaited by the caller; this only keeps a failed load from being unhandled.
  ready.catch((err: unknown) => log.error('model.load_failed', { error: errorFields(err) }));

  const stats = (): ServerStats => {
    const a = versions.active;
    // A copy: counters keep moving, and callers compare snapshots.
    return structuredClone({
      rpc: service.stats,
      scorer: scorer.stats,
      images: images.stats,
      caches: { ...caches.stats, ...caches.sizes() },
      batches: batchStats,
      admission: {
        ...admission.snapshot(),
        droppedAfterDecode: batchStats.vision.dropped + batchStats.encoder.dropped,
        ranAfterDeadline: batchStats.vision.late + batchStats.encoder.late,
      },
      active: a ? { model: a.name, version: a.version, pinned: a.pinned } : null,
      pairlog: pairLog ? pairLog.stats() : null,
      health: {
        pairlog: pairLog ? pairLog.health() : pairLogFailure ? { status: 'failed', detail: pairLogFailure } : { status: 'off', detail: 'log.enabled is false' },
      },
      swap: (swapper as Swapper | null)?.state() ?? null,
      admin: admin?.stats ?? null,
    });
  };
  telemetry.metrics.observe({
    queueDepth: () => {
      const a = versions.active;
      return a ? [{ stage: 'vision', depth: a.vision.queued }, { stage: 'encoder', depth: a.encoder.queued }] : [];
    },
    activeVersion: () => {
      const a = versions.active;
      return a ? { model: a.name, version: a.version } : null;
    },
    cacheLookups: () => [
      { cache: 'reward', hits: caches.stats.rewardHits, misses: caches.stats.rewardMisses },
      { cache: 'embedding', hits: caches.stats.embeddingHits, misses: caches.stats.embeddingMisses },
      { cache: 'image', hits: caches.stats.imageHits, misses: caches.stats.imageMisses },
    ],
    pairLog: () => {
      if (!pairLog) return null;
      const p = pairLog.stats();
      const errors: Record<string, number> = { write: p.writer.errors, internal: p.internalErrors, 'without-features': p.withoutFeatures };
      for (const [reason, n] of Object.entries(p.writer.dropped)) errors[`dropped-${reason}`] = n;
      return { records: p.writer.written, errors };
    },
  });
  // Rounds run in other processes; a few seconds' lag on their metrics is fine next to minutes-long steps.
  const rounds = telemetry.enabled ? new RoundMetricsPoller(config.stateDir, telemetry.metrics, log) : null;
  await rounds?.start(ROUNDS_POLL_MS);
  // Event-loop delay per stats interval: a blocked loop shows here before it shows in p99.
  const loopDelay = monitorEventLoopDelay({ resolution: 10 });
  const gc = new GcPauses();
  if (config.statsIntervalMs > 0) {
    loopDelay.enable();
    gc.start();
  }
  const statsTimer = config.statsIntervalMs > 0 ? setInterval(() => {
    const eventLoop = { p50Ms: loopDelay.percentile(50) / 1e6, p99Ms: loopDelay.percentile(99) / 1e6, maxMs: loopDelay.max / 1e6 };
    loopDelay.reset();
    log.info('server.stats', { ...stats(), eventLoop, gc: gc.take(), callTiming: admission.timing.take(), memory: memoryMiB() });
  }, config.statsIntervalMs) : null;
  statsTimer?.unref();

  const shutdown = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      const t0 = performance.now();
      log.info('server.stopping', { reason, graceMs: config.shutdownGraceMs });
      setHealth('NOT_SERVING');
      service.drain();
      admin?.close();
      (source as VersionSource | null)?.stop();
      // Admin calls waiting for a swap are answered UNAVAILABLE by the swapper's stop.
      const swapStopped = (swapper as Swapper | null)?.stop();
      await Promise.all([stopAccepting(server, config.shutdownGraceMs, log), adminServer && stopAccepting(adminServer, 2000, log)]);
      await swapStopped;
      await versions.close();
      // After the last call: every pair offered is queued; flush, sync, close the segment.
      await pairLog?.close();
      if (statsTimer) clearInterval(statsTimer);
      stopLoopTicks?.();
      loopDelay.disable();
      gc.stop();
      log.info('server.stopped', { reason, ms: Math.round(performance.now() - t0), stats: stats() });
      rounds?.stop();
      // Last: the spans and metrics of everything above get flushed.
      await telemetry.shutdown();
    })();
    return stopping;
  };

  return { port, adminPort, ready, versions, pairLog, stats, shutdown, details: () => details.snapshot(), healthDetails: details, telemetry, rounds };
}

function bind(server: grpc.Server, address: string, creds: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => server.bindAsync(address, creds, (err, p) => (err ? reject(err) : resolve(p))));
}

/** tryShutdown refuses new calls and waits for running ones; past the grace period they are cut. */
function stopAccepting(server: grpc.Server, graceMs: number, log: Logger): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      log.warn('server.grace_expired', { graceMs, message: 'cancelling the calls still running' });
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * The main thread's memory by kind (MiB), beside the process RSS a soak
 * samples from /proc: a growing RSS with a flat heap is native memory
 * (onnxruntime, the allocator's arenas), not a leak in our objects.
 */
function memoryMiB(): { heapUsed: number; heapTotal: number; external: number; arrayBuffers: number } {
  const m = process.memoryUsage();
  const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
  return { heapUsed: mib(m.heapUsed), heapTotal: mib(m.heapTotal), external: mib(m.external), arrayBuffers: mib(m.arrayBuffers) };
}
