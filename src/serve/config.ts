/**
 * The server's one typed config. Sources, later ones winning:
 * defaults < JSON file (--config) < environment (MRM_*) < command-line flags.
 * Each key has one spelling per source, derived from its path:
 *   encoder.maxBatchSize  ->  {"encoder": {"maxBatchSize": 64}}
 *                             MRM_ENCODER_MAX_BATCH_SIZE=64
 *                             --encoder-max-batch-size 64
 * The merged result is validated once; every error names the key and the
 * source it came from. The defaults' reasons are next to them.
 */
import { readFile } from 'node:fs/promises';
import { LOG_LEVELS, type LogLevel } from './log.js';
import type { TelemetryConfig } from '../telemetry/telemetry.js';

export interface StageConfig {
  maxBatchSize: number;
  maxQueueDelayMs: number;
  maxQueueSize: number;
}

/** The encoder's stage: also how long it waits for the vision stage's queued images (batcher.ts, feederHoldMs). */
export interface EncoderStageConfig extends StageConfig {
  feederHoldMs: number;
}

/** The low-confidence pair log (src/pairlog, src/serve/pair-log.ts). */
export interface LogConfig {
  enabled: boolean;
  band: number;
  sampleRate: number;
  ratePerSec: number;
  burst: number;
  dedupeEntries: number;
  queueRecords: number;
  syncIntervalMs: number;
  syncRecords: number;
  segmentBytes: number;
  maxBytes: number;
  featureCacheBytes: number;
}

export interface ServeConfig {
  host: string;
  port: number;
  stateDir: string;
  seedBundle: string;
  model: string;
  threads: number;
  maxMessageBytes: number;
  maxItemsPerRequest: number;
  maxTextBytes: number;
  batching: boolean;
  caches: boolean;
  vision: StageConfig;
  encoder: EncoderStageConfig;
  cache: { rewardEntries: number; embeddingBytes: number; imageBytes: number };
  admission: { maxInflightBytes: number; deadlineShedding: boolean; maxQueueWaitMs: number; maxLoopLagMs: number };
  connections: { maxConcurrentStreams: number; maxOpenStreams: number; keepaliveTimeMs: number; keepaliveTimeoutMs: number; maxIdleMs: number; maxAgeMs: number };
  shutdownGraceMs: number;
  statsIntervalMs: number;
  logLevel: LogLevel;
  log: LogConfig;
  admin: AdminConfig;
  swap: SwapConfig;
  tls: TlsConfig;
  round: { configFile: string };
  judge: { apiKey: string; apiKeyFile: string };
  telemetry: TelemetryConfig;
}

export interface AdminConfig {
  enabled: boolean;
  host: string;
  port: number;
  token: string;
  tokenFile: string;
  activateTimeoutMs: number;
  clientCa: string;
}

export interface SwapConfig {
  pollIntervalMs: number;
  retryInitialMs: number;
  retryMaxMs: number;
}

export interface TlsConfig {
  cert: string;
  key: string;
}

const MiB = 1024 * 1024;

export const DEFAULTS: ServeConfig = {
  // All interfaces: the server runs in a container behind a load balancer.
  host: '0.0.0.0',
  port: 50051,
  stateDir: 'var',
  seedBundle: 'models/shapes-mrm',
  model: '',
  // One intra-op thread per ONNX session (they run in the version's worker
  // thread). With 2, onnxruntime's pool threads spin between runs and take the
  // core sharp decodes on: on this 2-core machine one item (decode, vision,
  // encoder+head at batch 1) went from 13 to 21 ms, and from 13 to 42 ms of CPU.
  threads: 1,
  // 8x grpc's 4 MiB: a Score call with 64 items that each carry a 512 KiB
  // image fits; larger batches should use sha256 references or split.
  maxMessageBytes: 32 * MiB,
  // A GRPO step of 64 prompts x 16 responses in one call.
  maxItemsPerRequest: 1024,
  // Far above the models' token caps (the default model: 160 response tokens);
  // it bounds tokenizer work on the event loop, not what the model sees.
  maxTextBytes: 64 * 1024,
  // Off for both is the "naive server" the benchmark compares against.
  batching: true,
  caches: true,
  vision: {
    // The vision stage is compute-bound: the default model runs its graph
    // image by image, ~2.0-2.6 ms each at batch sizes 1 to 64, so a large
    // batch mostly holds a newly arrived image (a GRPO group's) longer: 8
    // images is ~20 ms, 32 is ~70 ms. (With the earlier 5.5 ms/image graph,
    // distinct single items at concurrency 64 ran at 98 / 111 / 108
    // rewards/s with batches of 2 / 8 / 32.)
    maxBatchSize: 8,
    // Nothing to gain from waiting for company (see above).
    maxQueueDelayMs: 0,
    // The most images one maximal request can bring (1024 items x 2 images);
    // ~5 s of vision work at ~450 images/s. Entries whose caller gave up are
    // dropped when reached, at no model cost.
    maxQueueSize: 2048,
  },
  encoder: {
    // Encoder+head per item: ~0.9 ms at batch 1, 0.11-0.15 ms from batch 32
    // up; 64 is ~7 ms per batch, at the per-item floor without long stalls.
    maxBatchSize: 64,
    // Under load batches fill while the previous one runs; the wait helps
    // moderate load: groups of 16 at concurrency 8 ran at ~1200 rewards/s
    // with 1 ms and ~1000 with 0 ms. A request waits only while another one
    // is still on its way to the encoder, so a lone caller never pays it.
    maxQueueDelayMs: 1,
    // Under a second of encoder work; four maximal requests.
    maxQueueSize: 4096,
    // While images queued for the vision stage (the encoder's next inputs)
    // run first, an encoder batch waits at most this long from its oldest
    // entry. At 64 single items in flight the encoder otherwise ran between
    // every two vision batches on the ~4 items the last one fed it: ~0.12 ms
    // of CPU per item and a worker round trip per batch, against ~0.05 ms
    // from 32 items up. 20 ms is about two full vision batches (8 images at
    // ~0.85 ms of CPU each, on a core shared with the event loop): enough for
    // the queue a closed-loop client keeps to drain, short against the
    // latency such a load already has (64 in flight at ~300 rewards/s is
    // ~200 ms), and a bound when arrivals keep the vision queue from
    // emptying. Nothing queued upstream (a lone request): no wait. 0: off.
    feederHoldMs: 20,
  },
  cache: {
    // 255 bytes an entry (key, object, LRU slots; scripts/cache-bytes.ts):
    // ~24 MiB. 100k, not 200k: with full caches the server held 491 MiB
    // (npm run cache-rss, rewards at 120k of 200k, embeddings at half), and
    // the flood's in-flight budget comes on top of that.
    rewardEntries: 100_000,
    // Counted with each entry's overhead (844 bytes with the default model's
    // 108 floats): ~40k images, several trainers' working sets of images.
    embeddingBytes: 32 * MiB,
    // Room for ~1.7k typical 28 KiB PNGs (the ShapesWorld images), or 96
    // 512 KiB photos, for sha256 references; a client that misses resends
    // the bytes (NOT_FOUND), so a miss costs bandwidth, not an answer.
    // 48 MiB: the memory sum below.
    imageBytes: 48 * MiB,
  },
  // Memory at the defaults (the <= 600 MiB target of a 10,000-call flood).
  // Every size-bounded cache counts its entries' real bytes (caches.ts).
  // Measured by `npm run cache-rss` (2026-12-01, with images at 64 MiB):
  // warm baseline 263-281 MiB (Node, onnxruntime, the default model and its
  // arenas), and 508 MiB with every cache full (embeddings at 95%): the
  // caches' 135 MiB plus ~110 MiB of heap overhead they bring.
  //   baseline (warm)                                         ~280 MiB
  //   caches: rewards 24 + embeddings 32 + images 48
  //     + log.featureCacheBytes 16                            120 MiB
  //   heap overhead with full caches                         ~110 MiB
  //   admission.maxInflightBytes (counted request bytes)       64 MiB
  //   sum                                                     ~575 MiB
  // With these defaults every cache full measured 477 MiB (warm 225 MiB).
  admission: {
    // ~300 typical requests of a 128 px image (image + RGBA pixels + tensor
    // ~ 200 KiB each): several full vision batches queued, so the stages
    // never starve, while a flood waits in the client rather than the heap.
    maxInflightBytes: 64 * MiB,
    // Refusing at once what cannot make its deadline saves the decode.
    deadlineShedding: true,
    // Admission by work, as Triton's and TF Serving's bounded queues: a
    // request is refused when the work admitted ahead of it (at the measured
    // drain rate) would keep it waiting longer than this, from 64 requests
    // ahead (admission.ts MIN_QUEUE_FOR_WAIT: a closed-loop trainer with 64
    // in flight is never refused by it, however slow the machine). Bytes
    // alone let a flood queue ~300 requests, seconds of work. 1000 ms, because
    // both sides were measured on the idle machine (2026-12-01): at 200 ms,
    // chosen so a flood's admitted calls would stay within 2x the saturation
    // p99 (172 ms), the 10-minute soak at 80% load had 9.6% of its calls
    // refused by this bound (64,428, none by any other) and the flood's
    // admitted p99 was still 20x (its calls wait behind the storm's HEADERS,
    // admission-loop.ts, not behind admitted work); at 1000 ms the same soak
    // (2 min) refused none. A trainer at 80% load must not see "not now".
    maxQueueWaitMs: 1000,
    // The storm rule (admission-loop.ts): every new call is refused while
    // the event loop has been late by more than this turn after turn for
    // 100 ms and over 64 more calls arrived than finished meanwhile. A loop
    // turn that long holds the sockets' unread HEADERS as long, which no
    // wait estimate sees: in the 1000 ms flood the median call reached the
    // gate 2.3 s after its client sent it. 50 ms is a quarter of the 2x
    // budget above; the soak at 80% load has loop p99 25-50 ms (10 ms
    // resolution) and single long turns (GC, a stolen core) of 120-280 ms,
    // which the rule ignores (it needs 3 late turns in a row and a backlog).
    maxLoopLagMs: 50,
  },
  connections: {
    // Streams per HTTP/2 connection: a trainer multiplexes its calls on a few
    // connections; 1000 keeps one client from holding unbounded stream state
    // (each open stream buffers up to its flow-control window, 64 KiB).
    maxConcurrentStreams: 1000,
    // ScoreStreams open at once on the whole server, over all connections. An
    // open stream can hold a flow-control window of unread requests (64 KiB)
    // plus up to 16 unsent responses: 512 bounds that at ~32 MiB, well inside
    // the memory sum above, and is more streams than a fleet of trainers
    // (one or a few per rollout worker) keeps open.
    maxOpenStreams: 512,
    // Ping an idle-looking connection every 2 minutes and drop it if no ack in
    // 20 s: a vanished peer (no FIN) stops holding a socket and its streams.
    keepaliveTimeMs: 120_000,
    keepaliveTimeoutMs: 20_000,
    // A connection with no call for 5 minutes is closed (clients reconnect).
    maxIdleMs: 300_000,
    // Every connection is re-established after 30 minutes (with a grace for
    // calls in flight), so clients re-resolve DNS and spread to new replicas.
    maxAgeMs: 1_800_000,
  },
  // Longer than any reasonable in-flight batch; then in-flight calls are cut.
  shutdownGraceMs: 30_000,
  // One stats log line per minute; 0 turns it off.
  statsIntervalMs: 60_000,
  logLevel: 'info',
  log: {
    // On: the improvement loop learns from what the servers log; it costs
    // serving little (npm run bench:cost measures it).
    enabled: true,
    // P(a > b) within 0.4..0.6 (|margin| <= 0.41): pairs the model orders no
    // better than a coin flip, plus any pair its heads disagree on. Wider
    // bands fill the log with pairs the model already orders.
    band: 0.1,
    // Keep every qualifying pair; the rate limit bounds the volume.
    sampleRate: 1,
    // A record is ~1 KiB with the default model (D = 67): 20/s is ~70 MB and
    // 72k pairs an hour per replica, far more than a round labels, and little
    // disk traffic. The burst lets a GRPO step's groups in at once.
    ratePerSec: 20,
    burst: 200,
    // ~150 bytes a key: ~15 MB; at 20 accepted pairs/s it remembers the last
    // ~80 minutes. A repeat after that is logged again (rounds dedupe by id).
    dedupeEntries: 100_000,
    // ~1-2 KiB per queued record (texts, features): at most ~20 MB while the
    // disk stalls; at the default rate that is minutes of records.
    queueRecords: 10_000,
    // A crash loses at most ~1 s of records (~20 at the default rate: a
    // round labels thousands). The writer works once per commit (an image
    // pack append and fsync when there are new images, one segment write and
    // fsync), ~1.5 ms of CPU a commit with the kernel's part (a writer alone
    // at 20 records/s: 0.2 s commits cost ~8 ms a second more than 1 s ones),
    // so commits a second are what the log costs serving beyond its records:
    // at 0.2 s that was ~1% of a saturated server's core.
    syncIntervalMs: 1000,
    // Bounds the unsynced window when the rate limit is raised.
    syncRecords: 1000,
    // A segment and its image packs (the cap's unit): readers hold the unread
    // part of a segment in memory, at most ~30k records when every record
    // reuses an image, ~1,100 when each brings its own 27 KiB PNG.
    segmentBytes: 32 * MiB,
    // All replicas' segments and packs together: a round takes at most
    // 20,000 records (round maxLogged), ~570 MB at worst (every record with
    // its own 27 KiB image), so this holds three rounds' worth; about an hour
    // of logging at the default rate in that worst case, days when the
    // records share images (groups, repeated prompts).
    maxBytes: 2048 * MiB,
    // Heads + features of recently scored items (668 bytes each with the
    // default model, overhead included: ~25k items; ~1k with D = 4096), so a pair
    // whose side came from the reward cache can still be logged. Keeping
    // them in every reward cache entry would cost 100k x that: ~55 MB with
    // the default model, 1.6 GB at D = 4096.
    // 16 MiB, not 32: the memory sum above.
    featureCacheBytes: 16 * MiB,
  },
  admin: {
    enabled: true,
    // Loopback: the admin API changes what every replica serves, so reaching
    // it from outside the host is an explicit choice (and then needs a token).
    host: '127.0.0.1',
    // The reward port + 1, the usual neighbour for an admin port.
    port: 50052,
    token: '',
    tokenFile: '',
    // Loading and warming up the default model takes ~0.5 s here; a large
    // model on a busy node can take tens of seconds. Past this Activate answers
    // FAILED_PRECONDITION, while the pointer stays moved and the swap goes on.
    activateTimeoutMs: 60_000,
    clientCa: '',
  },
  swap: {
    // fs.watch gets local changes at once; the poll is for shared volumes
    // (NFS, many CSI drivers) that deliver no events. One stat + a ~100-byte
    // read per second per replica is nothing; replicas follow within ~1 s.
    pollIntervalMs: 1000,
    // A failed load is retried at 1 s, 2 s, 4 s ... up to a minute: a
    // half-copied bundle is fixed in seconds, a truly broken one should not
    // keep a core busy loading it.
    retryInitialMs: 1000,
    retryMaxMs: 60_000,
  },
  // Both empty: plaintext (TLS terminated by a mesh or load balancer).
  tls: { cert: '', key: '' },
  // Empty: a round gets only what TriggerRound sends (and the trainer's defaults).
  round: { configFile: '' },
  // Handed to round processes through their environment; never logged.
  judge: { apiKey: '', apiKeyFile: '' },
  telemetry: {
    // Off by default: a scrape endpoint is an open port, so it is opted into
    // (the deploy manifests set 9464, the OpenTelemetry Prometheus default).
    prometheusPort: 0,
    // All interfaces when on: Prometheus scrapes the pod IP.
    prometheusHost: '0.0.0.0',
    otlpEndpoint: '',
    // grpc is what collectors listen on by default (4317).
    otlpProtocol: 'grpc',
    // OpenTelemetry's default export interval; a Prometheus scrape is similar.
    otlpIntervalMs: 60_000,
    // One new trace in 100. Tracing every call measured +5 to +15% server
    // CPU per reward on groups (bench:serve --telemetry-compare --trace-sample 1),
    // and at a GRPO step's thousands of calls a second every call is far more
    // spans than a collector keeps. Triton samples 1 in 1000 by default. A
    // caller that sends a sampled traceparent is always traced in full.
    traceSampleRatio: 0.01,
    serviceName: 'mrm-serve',
  },
};

type Scalar = string | number | boolean;
interface Rule {
  doc: string;
  min?: number;
  max?: number;
  integer?: boolean;
  oneOf?: readonly string[];
  /** Printed as "[redacted]", never echoed in an error or in --help. */
  secret?: boolean;
}

type Leaves<T, P extends string = ''> = {
  [K in keyof T & string]: T[K] extends Scalar ? `${P}${K}` : Leaves<T[K], `${P}${K}.`>;
}[keyof T & string];
export type ConfigKey = Leaves<ServeConfig>;

// Computed keys widen to string, hence the cast; `satisfies` below still checks every key has a rule.
const stage = <N extends 'vision' | 'encoder'>(name: N) => ({
  [`${name}.maxBatchSize` as const]: { doc: `most ${name === 'vision' ? 'images' : 'items'} per ${name} batch`, integer: true, min: 1, max: 4096 },
  [`${name}.maxQueueDelayMs` as const]: { doc: `longest an idle ${name} stage waits to fill a batch`, min: 0, max: 1000 },
  [`${name}.maxQueueSize` as const]: { doc: `queued ${name} entries before RESOURCE_EXHAUSTED`, integer: true, min: 1 },
}) as Record<`${N}.${keyof StageConfig}`, Rule>;

export const RULES = {
  host: { doc: 'interface to listen on' },
  port: { doc: 'TCP port (0: any free port)', integer: true, min: 0, max: 65535 },
  stateDir: { doc: 'state directory (registry, pair log)' },
  seedBundle: { doc: 'bundle that seeds an empty registry' },
  model: { doc: "model name in the registry; empty: the seed bundle's manifest name" },
  threads: { doc: 'onnxruntime intra-op threads per session', integer: true, min: 1, max: 64 },
  maxMessageBytes: { doc: 'largest request message', integer: true, min: 1024, max: 2 ** 31 - 1 },
  maxItemsPerRequest: { doc: 'items + group responses (+ 2 per Compare pair) per request', integer: true, min: 1 },
  maxTextBytes: { doc: 'UTF-8 bytes per text field', integer: true, min: 1 },
  batching: { doc: 'batch across requests (false: each request runs alone)' },
  caches: { doc: 'reward, embedding and image caches and in-flight sharing' },
  ...stage('vision'),
  ...stage('encoder'),
  'encoder.feederHoldMs': { doc: 'longest an encoder batch waits while images queued for the vision stage run first (0: no wait)', min: 0, max: 1000 },
  'cache.rewardEntries': { doc: 'reward cache entries (~255 bytes each)', integer: true, min: 1 },
  'cache.embeddingBytes': { doc: 'image embedding cache size in bytes, each entry counted with its overhead (~412 bytes)', integer: true, min: 1 },
  'cache.imageBytes': { doc: 'image bytes cache (for sha256 references) in bytes, each entry counted with its overhead (~300 bytes)', integer: true, min: 1 },
  'admission.maxInflightBytes': { doc: 'budget for bytes of requests in flight (images, decoded pixels, tensors, texts); beyond it RESOURCE_EXHAUSTED with grpc-retry-pushback-ms; 0: off. Peak memory ~ baseline ~280 MiB (Node, onnxruntime, default model, warm) + caches (rewardEntries x 255 B + embeddingBytes + imageBytes + log.featureCacheBytes: 120 MiB at the defaults) + ~110 MiB heap overhead with full caches + this: ~575 MiB at the defaults (npm run cache-rss measures it)', integer: true, min: 0 },
  'admission.maxQueueWaitMs': { doc: 'refuse (RESOURCE_EXHAUSTED, grpc-retry-pushback-ms) a request when the work admitted ahead of it, at the measured drain rate, would keep it waiting longer than this (ms), from 64 requests ahead (a closed-loop client of 64 in flight is never refused by it); keeps the admitted calls of a flood near their latency at saturation; 0: off', integer: true, min: 0 },
  'admission.maxLoopLagMs': { doc: 'refuse (RESOURCE_EXHAUSTED, grpc-retry-pushback-ms) every new call while the event loop has been late by more than this (ms) for 3+ turns in a row over 100 ms and over 64 more calls arrived than finished meanwhile (a flood of HEADERS: calls read that late already waited in the sockets); 0: off', integer: true, min: 0 },
  'admission.deadlineShedding': { doc: 'refuse (RESOURCE_EXHAUSTED) before decoding a request whose deadline the queued work (recent batch times) cannot meet' },
  'connections.maxConcurrentStreams': { doc: 'concurrent HTTP/2 streams (calls) per connection (grpc.max_concurrent_streams)', integer: true, min: 1 },
  'connections.maxOpenStreams': { doc: 'ScoreStreams open at once on the server; the excess is refused with RESOURCE_EXHAUSTED', integer: true, min: 1 },
  'connections.keepaliveTimeMs': { doc: 'server keepalive ping interval (grpc.keepalive_time_ms)', integer: true, min: 1000 },
  'connections.keepaliveTimeoutMs': { doc: 'close a connection whose keepalive ping is not acked within this (grpc.keepalive_timeout_ms)', integer: true, min: 1000 },
  'connections.maxIdleMs': { doc: 'close connections idle this long (grpc.max_connection_idle_ms)', integer: true, min: 1000 },
  'connections.maxAgeMs': { doc: 'close connections this old, after a grace for their calls, so clients re-resolve (grpc.max_connection_age_ms)', integer: true, min: 1000 },
  shutdownGraceMs: { doc: 'how long shutdown waits for in-flight calls', integer: true, min: 0 },
  statsIntervalMs: { doc: 'stats log interval (0: off)', integer: true, min: 0 },
  logLevel: { doc: 'debug, info, warn or error', oneOf: LOG_LEVELS },
  'log.enabled': { doc: 'log low-confidence pairs to <stateDir>/pairlog' },
  'log.band': { doc: 'log a pair when |P(a>b) - 0.5| <= band (or its heads disagree)', min: 0, max: 0.5 },
  'log.sampleRate': { doc: 'fraction of qualifying pairs logged', min: 0, max: 1 },
  'log.ratePerSec': { doc: 'pair log token bucket: records per second', min: 0 },
  'log.burst': { doc: 'pair log token bucket: burst', integer: true, min: 1 },
  'log.dedupeEntries': { doc: 'pairs remembered to log each once', integer: true, min: 1 },
  'log.queueRecords': { doc: 'records queued for the writer before they are dropped', integer: true, min: 1 },
  'log.syncIntervalMs': { doc: 'group commit: fsync at least this often (ms)', integer: true, min: 1, max: 60_000 },
  'log.syncRecords': { doc: 'group commit: fsync after this many records', integer: true, min: 1 },
  'log.segmentBytes': { doc: 'a segment and its image packs together before rotation', integer: true, min: 4096 },
  'log.maxBytes': { doc: 'all segments and their image packs together (all replicas); the oldest closed segments go first, each with its packs', integer: true, min: 8192 },
  'log.featureCacheBytes': { doc: 'heads + features of recently scored items, so cached sides can be logged', integer: true, min: 0 },
  'admin.enabled': { doc: 'serve mrm.v1.AdminService on its own port' },
  'admin.host': { doc: 'admin interface (non-loopback requires a token)' },
  'admin.port': { doc: 'admin TCP port (0: any free port)', integer: true, min: 0, max: 65535 },
  'admin.token': { doc: 'bearer token admin calls must send (prefer MRM_ADMIN_TOKEN or admin.tokenFile)', secret: true },
  'admin.tokenFile': { doc: 'file holding the admin bearer token' },
  'admin.activateTimeoutMs': { doc: 'how long Activate/Rollback wait for this server to swap', integer: true, min: 1 },
  'admin.clientCa': { doc: 'CA file: admin clients must present a certificate it signed (mutual TLS)' },
  'swap.pollIntervalMs': { doc: 'how often the ACTIVE pointer is polled (besides fs.watch)', integer: true, min: 10 },
  'swap.retryInitialMs': { doc: 'first retry delay after a failed version load', integer: true, min: 1 },
  'swap.retryMaxMs': { doc: 'longest retry delay after failed loads (doubling)', integer: true, min: 1 },
  'tls.cert': { doc: 'PEM certificate chain file (with tls.key: TLS on both ports)' },
  'tls.key': { doc: 'PEM private key file of tls.cert' },
  'round.configFile': { doc: 'JSON file of round settings (trainer/round/config.ts) that TriggerRound starts from' },
  'judge.apiKey': { doc: "the judge endpoint's API key for rounds (prefer judge.apiKeyFile)", secret: true },
  'judge.apiKeyFile': { doc: "file holding the judge endpoint's API key for rounds" },
  'telemetry.prometheusPort': { doc: 'Prometheus scrape endpoint port, GET /metrics (0: off)', integer: true, min: 0, max: 65535 },
  'telemetry.prometheusHost': { doc: 'Prometheus scrape endpoint interface' },
  'telemetry.otlpEndpoint': { doc: "OTLP collector URL for traces and metrics ('': off)" },
  'telemetry.otlpProtocol': { doc: 'OTLP transport: grpc or http (JSON over HTTP)', oneOf: ['grpc', 'http'] },
  'telemetry.otlpIntervalMs': { doc: 'how often metrics are pushed over OTLP', integer: true, min: 100 },
  'telemetry.traceSampleRatio': { doc: "share of root traces kept (a caller's sampled trace is always continued)", min: 0, max: 1 },
  'telemetry.serviceName': { doc: 'service.name resource attribute' },
} satisfies Record<ConfigKey, Rule> as Record<ConfigKey, Rule>;

export const CONFIG_KEYS = Object.keys(RULES) as ConfigKey[];

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly key: string, readonly source: string, message: string, options?: { cause?: unknown }) {
    super(`config ${key} (${source}): ${message}`, options);
  }
}

export const envName = (key: ConfigKey) => `MRM_${key.replace(/\./g, '_').replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
export const flagName = (key: ConfigKey) => key.replace(/\./g, '-').replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();

function getPath(obj: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
}

function setPath(obj: Record<string, unknown>, key: string, value: unknown): void {
  const parts = key.split('.');
  let o = obj;
  for (const p of parts.slice(0, -1)) o = o[p] as Record<string, unknown>;
  o[parts[parts.length - 1]!] = value;
}

/** A raw value from any source -> the key's type, or a ConfigError. */
function coerce(key: ConfigKey, raw: unknown, source: string, text: boolean): Scalar {
  const want = typeof getPath(DEFAULTS, key);
  // Env and flags are text; a JSON file has types, and "64" there is a mistake.
  const fromText = typeof raw === 'string' && text;
  if (want === 'number') {
    const v = fromText && (raw as string).trim() !== '' ? Number(raw) : raw;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ConfigError(key, source, `expected a number, got ${JSON.stringify(raw)}`);
    return v;
  }
  if (want === 'boolean') {
    if (typeof raw === 'boolean') return raw;
    if (fromText && /^(true|1|yes)$/i.test(raw as string)) return true;
    if (fromText && /^(false|0|no)$/i.test(raw as string)) return false;
    throw new ConfigError(key, source, `expected true or false, got ${JSON.stringify(raw)}`);
  }
  if (typeof raw !== 'string') throw new ConfigError(key, source, `expected a string, got ${RULES[key].secret ? '[redacted]' : JSON.stringify(raw)}`);
  return raw;
}

function check(key: ConfigKey, v: Scalar, source: string): void {
  const r = RULES[key];
  const fail = (what: string) => { throw new ConfigError(key, source, `expected ${what}, got ${r.secret ? '[redacted]' : JSON.stringify(v)}`); };
  if (typeof v === 'number') {
    if (r.integer && !Number.isInteger(v)) fail('an integer');
    if (r.min !== undefined && v < r.min) fail(`>= ${r.min}`);
    if (r.max !== undefined && v > r.max) fail(`<= ${r.max}`);
  }
  if (typeof v === 'string' && r.oneOf && !r.oneOf.includes(v)) fail(`one of ${r.oneOf.join(', ')}`);
}

/** Flatten a config file's object to dotted keys; unknown keys are errors (typos must not pass silently). */
function flattenFile(value: unknown, file: string, prefix = ''): [ConfigKey, unknown][] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ConfigError(prefix || '(root)', file, 'expected an object');
  }
  return Object.entries(value).flatMap(([k, v]): [ConfigKey, unknown][] => {
    const key = prefix + k;
    if ((CONFIG_KEYS as string[]).includes(key)) return [[key as ConfigKey, v]];
    if (CONFIG_KEYS.some((c) => c.startsWith(`${key}.`))) return flattenFile(v, file, `${key}.`);
    throw new ConfigError(key, file, `unknown key; known keys: ${CONFIG_KEYS.join(', ')}`);
  });
}

export interface ConfigSources {
  /** Path of a JSON config file. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Flag values by flag name (see flagName), as strings. */
  flags?: Record<string, string | undefined>;
}

export type Layer = { kind: 'file' | 'env' | 'flags'; file?: string; values: [ConfigKey, unknown][] };

export async function loadConfig(sources: ConfigSources = {}): Promise<ServeConfig> {
  const layers: Layer[] = [];
  if (sources.file) {
    let text: string;
    try {
      text = await readFile(sources.file, 'utf8');
    } catch (cause) {
      throw new ConfigError('--config', sources.file, `cannot read: ${(cause as Error).message}`, { cause });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (cause) {
      throw new ConfigError('(root)', sources.file, `invalid JSON: ${(cause as Error).message}`, { cause });
    }
    layers.push({ kind: 'file', file: sources.file, values: flattenFile(parsed, sources.file) });
  }
  const env = sources.env ?? {};
  layers.push({ kind: 'env', values: CONFIG_KEYS.flatMap((k): [ConfigKey, unknown][] => (env[envName(k)] !== undefined ? [[k, env[envName(k)]]] : [])) });
  const flags = sources.flags ?? {};
  layers.push({ kind: 'flags', values: CONFIG_KEYS.flatMap((k): [ConfigKey, unknown][] => (flags[flagName(k)] !== undefined ? [[k, flags[flagName(k)]]] : [])) });
  return resolveConfig(layers);
}

/** Apply layers over the defaults and validate; exported for tests and embedders. */
export function resolveConfig(layers: Layer[]): ServeConfig {
  const config = structuredClone(DEFAULTS);
  for (const layer of layers) {
    for (const [key, raw] of layer.values) {
      const source = layer.kind === 'env' ? envName(key) : layer.kind === 'flags' ? `--${flagName(key)}` : layer.file ?? 'file';
      const v = coerce(key, raw, source, layer.kind !== 'file');
      check(key, v, source);
      setPath(config as unknown as Record<string, unknown>, key, v);
    }
  }
  for (const key of CONFIG_KEYS) check(key, getPath(config, key) as Scalar, 'defaults');
  // A request larger than the queue could never be admitted.
  if (config.maxItemsPerRequest > config.encoder.maxQueueSize) {
    throw new ConfigError('maxItemsPerRequest', 'merged config',
      `${config.maxItemsPerRequest} is larger than encoder.maxQueueSize (${config.encoder.maxQueueSize}); such a request could never be queued`);
  }
  // A cap below two segments would delete each segment as soon as it closes.
  if (config.log.maxBytes < 2 * config.log.segmentBytes) {
    throw new ConfigError('log.maxBytes', 'merged config',
      `${config.log.maxBytes} is less than 2 x log.segmentBytes (${config.log.segmentBytes}); the cap would delete every segment as soon as it closes`);
  }
  if (config.swap.retryMaxMs < config.swap.retryInitialMs) {
    throw new ConfigError('swap.retryMaxMs', 'merged config', `${config.swap.retryMaxMs} is below swap.retryInitialMs (${config.swap.retryInitialMs})`);
  }
  if ((config.tls.cert === '') !== (config.tls.key === '')) {
    throw new ConfigError(config.tls.cert === '' ? 'tls.cert' : 'tls.key', 'merged config', 'tls.cert and tls.key go together: set both (TLS) or neither (plaintext)');
  }
  if (config.admin.clientCa !== '' && config.tls.cert === '') {
    throw new ConfigError('admin.clientCa', 'merged config', 'mutual TLS needs the server side of TLS too: set tls.cert and tls.key');
  }
  if (config.admin.token !== '' && config.admin.tokenFile !== '') {
    throw new ConfigError('admin.tokenFile', 'merged config', 'set admin.token or admin.tokenFile, not both');
  }
  return config;
}

/** The config as printed at start: every key, secrets replaced. */
export function redacted(config: ServeConfig): Record<string, unknown> {
  const out = structuredClone(config) as unknown as Record<string, unknown>;
  for (const key of CONFIG_KEYS) if (RULES[key].secret) setPath(out, key, '[redacted]');
  return out;
}

/** Per key for --help: `--flag  doc (default)`, then its JSON key and environment variable. */
export function configHelp(): string {
  return CONFIG_KEYS.map((k) => `  --${flagName(k).padEnd(28)} ${RULES[k].doc} (${RULES[k].secret ? 'secret' : `default ${JSON.stringify(getPath(DEFAULTS, k))}`})\n${' '.repeat(33)}JSON ${k}, env ${envName(k)}`).join('\n');
}
