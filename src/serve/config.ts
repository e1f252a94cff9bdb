/**
 * The server's one typed config. Sources, later ones winning:
 * defaults < JSON file (--config) < environment (MRM_*) < command-line flags.
 * Each key has one spelling per source, derived from its path:
 *   encoder.maxBatchSize  ->  {"encoder": {"maxBatchSize": 64}}
 *                             MRM_ENCODER_MAX_BATCH_SIZE=64
 *                             --encoder-max-batch-size 64
 * The merged result is validated once; every error names the key and the
 * source it came from. The shape and the defaults, with their reasons:
 * config-defaults.ts.
 */
import { readFile } from 'node:fs/promises';
import { LOG_LEVELS } from './log.js';
import { DEFAULTS, type ServeConfig, type StageConfig } from './config-defaults.js';

export * from './config-defaults.js';

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
  heapGrowingPercent: { doc: "V8's old-generation growing factor as 1 + this/100, set at start-up (src/serve/heap-growth.ts); 0: V8's own dynamic factor, which kept the server in back-to-back full collections", integer: true, min: 0, max: 300 },
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
