/**
 * The server config's shape and its defaults, each with the reason it is
 * what it is. Where the config enters (files, environment, flags, the
 * rules each key is checked by): config.ts.
 */
import type { LogLevel } from './log.js';
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
  heapGrowingPercent: number;
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
  // Full collections at twice the live heap: V8's own factor sat near its
  // floor here and ran a mark-compact every ~40 calls (heap-growth.ts).
  heapGrowingPercent: 100,
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

