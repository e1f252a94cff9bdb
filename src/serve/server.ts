/**
 * The gRPC server and its life: listen first (health answers NOT_SERVING
 * while the model loads, so probes and clients can tell "starting" from
 * "down"), load and warm up the active version, turn SERVING. Shutdown is the
 * reverse: NOT_SERVING, end open streams after their in-flight requests, stop
 * accepting calls and wait for the running ones (up to shutdownGraceMs), then
 * release the ONNX sessions.
 */
import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import { emptyBatcherStats, type BatcherStats } from './batcher.js';
import { Caches } from './caches.js';
import type { ServeConfig } from './config.js';
import { ImageStage } from './images.js';
import { loadActiveVersion } from './loader.js';
import { errorFields, type Logger } from './log.js';
import type { WriterIo } from '../pairlog/io.js';
import { PairLogger, type PairLogHealth, type PairLogStats } from './pair-log.js';
import { loadPackage, REWARD_SERVICE, rewardServiceDefinition } from './proto.js';
import { Scorer } from './scorer.js';
import { RewardService } from './service.js';
import { type ServedVersion, VersionManager } from './versions.js';

export interface ServerStats {
  rpc: RewardService['stats'];
  scorer: Scorer['stats'];
  images: ImageStage['stats'];
  caches: Caches['stats'] & ReturnType<Caches['sizes']>;
  batches: { vision: BatcherStats; encoder: BatcherStats };
  active: { model: string; version: number; pinned: number } | null;
  /** The pair log's counters; null when it is off or failed to open (health.pairlog says which). */
  pairlog: PairLogStats | null;
  /** Details behind the grpc health status (whose proto has no room for them). */
  health: { pairlog: PairLogHealth | { status: 'off' | 'failed'; detail: string } };
}

export interface RunningServer {
  /** The bound port (config port 0 picks a free one). */
  readonly port: number;
  /** Settles when the first version is loaded and health is SERVING; rejects if loading failed. */
  readonly ready: Promise<ServedVersion>;
  readonly versions: VersionManager;
  /** The pair log (null when off or it failed to open); `pairLog.stats()` is JSON-able. */
  readonly pairLog: PairLogger | null;
  stats(): ServerStats;
  /** Graceful; idempotent. */
  shutdown(reason: string): Promise<void>;
}

export interface StartOptions {
  /** How the first version is loaded; the default reads the registry. Tests substitute one. */
  load?: (stats: { vision: BatcherStats; encoder: BatcherStats }) => Promise<ServedVersion>;
  /** The pair log's file operations; tests inject failures (a full disk). */
  pairlogIo?: WriterIo;
}

const HEALTH_NAMES = ['', REWARD_SERVICE];

export async function startServer(config: ServeConfig, log: Logger, opts: StartOptions = {}): Promise<RunningServer> {
  const pkg = loadPackage();
  const server = new grpc.Server({
    'grpc.max_receive_message_length': config.maxMessageBytes,
    'grpc.max_send_message_length': -1,
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
  const service = new RewardService({
    versions,
    scorer,
    limits: { maxItemsPerRequest: config.maxItemsPerRequest, maxTextBytes: config.maxTextBytes },
    log,
    pairLog,
  });
  server.addService(rewardServiceDefinition(pkg), service.handlers());
  const health = new HealthImplementation(Object.fromEntries(HEALTH_NAMES.map((n) => [n, 'NOT_SERVING'])));
  health.addToServer(server);
  // Reflection lists the services of the package it is given: reward, health and reflection itself.
  new ReflectionService(pkg).addToServer(server);
  const setHealth = (status: 'SERVING' | 'NOT_SERVING') => HEALTH_NAMES.forEach((n) => health.setStatus(n, status));

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${config.host}:${config.port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p)));
  });
  log.info('server.listening', { host: config.host, port, health: 'NOT_SERVING' });

  const batchStats = { vision: emptyBatcherStats(), encoder: emptyBatcherStats() };
  let stopping: Promise<void> | null = null;
  const load = opts.load ?? ((stats) => loadActiveVersion(config, stats, log));
  const ready = load(batchStats).then(async (v) => {
    if (stopping) {
      await v.retire();
      throw new Error('shut down before the model finished loading');
    }
    await versions.activate(v);
    setHealth('SERVING');
    log.info('server.serving', { model: v.name, version: v.version, port });
    return v;
  });
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
      active: a ? { model: a.name, version: a.version, pinned: a.pinned } : null,
      pairlog: pairLog ? pairLog.stats() : null,
      health: {
        pairlog: pairLog ? pairLog.health() : pairLogFailure ? { status: 'failed', detail: pairLogFailure } : { status: 'off', detail: 'log.enabled is false' },
      },
    });
  };
  const statsTimer = config.statsIntervalMs > 0 ? setInterval(() => log.info('server.stats', { ...stats() }), config.statsIntervalMs) : null;
  statsTimer?.unref();

  const shutdown = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      const t0 = performance.now();
      log.info('server.stopping', { reason, graceMs: config.shutdownGraceMs });
      setHealth('NOT_SERVING');
      service.drain();
      await stopAccepting(server, config.shutdownGraceMs, log);
      await versions.close();
      // After the last call: every pair offered is queued; flush, sync, close the segment.
      await pairLog?.close();
      if (statsTimer) clearInterval(statsTimer);
      log.info('server.stopped', { reason, ms: Math.round(performance.now() - t0), stats: stats() });
    })();
    return stopping;
  };

  return { port, ready, versions, pairLog, stats, shutdown };
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
