/**
 * Loaded model versions and which one new requests get.
 *
 * A request pins one version when it starts (a ref-counted handle) and every
 * item of it is scored by that version, whatever happens meanwhile. Making a
 * new version active only changes what later requests pin; the old version
 * keeps its sessions and batchers until its last pinned request releases it,
 * then it is released. That is the whole swap protocol, so the registry
 * watcher of the next issue only has to load, warm up and call `activate`.
 */
import { dims, type Manifest } from '../model/manifest.js';
import type { EncoderItem } from '../model/runtime.js';
import type { Tokenizer } from '../model/text.js';
import { Batcher, type BatcherOptions, type BatcherStats } from './batcher.js';
import type { EncoderStageConfig, StageConfig } from './config.js';
import { ServeError } from './errors.js';
import type { ModelHost } from './model-host.js';

export interface StageSettings {
  vision: StageConfig;
  /** feederHoldMs absent: the encoder does not wait for the vision stage's queue. */
  encoder: StageConfig & Partial<Pick<EncoderStageConfig, 'feederHoldMs'>>;
  /** false: the naive server, every request's batch runs alone. */
  batching: boolean;
  /** Return each item's heads and features too (the pair log is on). */
  details?: boolean;
  /** Telemetry's per-batch hooks (batch spans, batch sizes); absent when it is off. */
  onBatch?: { vision?: BatcherOptions['onBatch']; encoder?: BatcherOptions['onBatch'] };
}

/** The batchers' shared counters, and who hears of each batch (admission's stage rates). */
export interface StageStats {
  vision: BatcherStats;
  encoder: BatcherStats;
  timed?: { vision?: (ms: number, entries: number) => void; encoder?: (ms: number, entries: number) => void };
}

export interface ItemScore {
  reward: number;
  /** The reward on the version's calibrated scale. */
  normalized: number;
  spread: number;
  /** With StageSettings.details: views into the batch's arrays (no copy). */
  detail?: ItemDetail;
}

export interface ItemDetail {
  /** Raw per-head rewards [K]. */
  heads: Float32Array;
  /** Encoder features [D]. */
  features: Float32Array;
}

/**
 * One loaded version with its own batchers: one in-flight batch per stage.
 * Both stages run in the version's one worker thread (model-host.ts), so
 * their batches also take turns there; with a second worker the vision and
 * encoder stages could overlap, at the cost of a second copy of the model.
 */
export class ServedVersion {
  readonly name: string;
  readonly version: number;
  readonly manifest: Manifest;
  readonly tokenizer: Tokenizer;
  /** The version's ONNX sessions, in their worker thread. */
  readonly host: ModelHost;
  /** Embeddings are cached under this: versions that share vision.onnx share embeddings. */
  readonly visionSha: string;
  /** [3, S, S] preprocessed image -> [Dv] embedding. */
  readonly vision: Batcher<Float32Array, Float32Array>;
  /** Encoder + head: one item -> its reward and ensemble spread. */
  readonly encoder: Batcher<EncoderItem, ItemScore>;
  /**
   * Requests decoding images for this version's vision stage: the only ones
   * that may still join its queue (images.ts keeps the count).
   */
  preparingImages = 0;
  private refs = 0;
  private retiring = false;
  private released: Promise<void> | null = null;
  private onDrained: (() => void) | null = null;

  constructor(host: ModelHost, settings: StageSettings, stats: StageStats) {
    this.host = host;
    this.manifest = host.manifest;
    this.tokenizer = host.tokenizer;
    this.name = host.manifest.name;
    this.version = host.manifest.version;
    this.visionSha = host.manifest.files.vision.sha256;
    const per = 3 * this.manifest.preprocess.image.size ** 2;
    const { dv, d, k } = dims(this.manifest);
    const details = settings.details ?? false;
    this.vision = new Batcher<Float32Array, Float32Array>({
      name: `vision v${this.version}`, mergeRequests: settings.batching, ...settings.vision, onBatch: settings.onBatch?.vision, onBatchTimed: stats.timed?.vision, runClock: () => host.runMs,
      // Company for the vision stage can only come from a request still decoding its images.
      expectCompany: () => this.preparingImages > 0,
    }, (images) => host.embedEach(images, per, dv), stats.vision);
    this.encoder = new Batcher<EncoderItem, ItemScore>({
      name: `encoder v${this.version}`,
      mergeRequests: settings.batching,
      ...settings.encoder,
      onBatchTimed: stats.timed?.encoder,
      runClock: () => host.runMs,
      // Company can only come from pinned requests that have not queued yet
      // (still decoding or embedding): a lone request does not wait.
      expectCompany: (queued) => this.refs > queued,
      // One worker thread runs both stages, one message at a time.
      sharesThreadWith: this.vision,
      onBatch: settings.onBatch?.encoder,
    }, async (items) => {
      const out = await host.score(items, details);
      const { heads, features } = out;
      return items.map((_, i): ItemScore => ({
        reward: out.rewards[i]!, normalized: out.normalized[i]!, spread: out.spread[i]!,
        ...(heads && features ? { detail: { heads: heads.subarray(i * k, (i + 1) * k), features: features.subarray(i * d, (i + 1) * d) } } : {}),
      }));
    }, stats.encoder);
  }

  get pinned(): number {
    return this.refs;
  }

  pin(): VersionHandle {
    if (this.retiring) throw new ServeError('unavailable', `${this.name} version ${this.version} is being unloaded`);
    this.refs++;
    let released = false;
    return {
      version: this,
      release: () => {
        if (released) return;
        released = true;
        this.refs--;
        if (this.refs === 0) this.onDrained?.();
      },
    };
  }

  /** Stop new pins; once the pinned requests are done, free the ONNX sessions. Idempotent. */
  retire(): Promise<void> {
    if (this.released) return this.released;
    // The batchers stay open: requests pinned before now still submit to them.
    this.retiring = true;
    const drained = this.refs === 0 ? Promise.resolve() : new Promise<void>((resolve) => { this.onDrained = resolve; });
    this.released = drained
      .then(() => Promise.all([this.vision.idle(), this.encoder.idle()]))
      .then(() => this.host.release());
    return this.released;
  }
}

export interface VersionHandle {
  readonly version: ServedVersion;
  /** Idempotent. */
  release(): void;
}

export class VersionManager {
  private current: ServedVersion | null = null;
  private readonly retiring = new Set<Promise<void>>();
  private closed = false;

  get active(): ServedVersion | null {
    return this.current;
  }

  /** Pin the active version for one request; UNAVAILABLE before a model is loaded or after close. */
  acquire(): VersionHandle {
    if (this.closed) throw new ServeError('unavailable', 'the server is shutting down');
    if (!this.current) throw new ServeError('unavailable', 'no model version is loaded yet; wait for health SERVING');
    return this.current.pin();
  }

  /**
   * `v` (loaded and warmed up) serves new requests from now on. The previous
   * version is retired; the returned promise settles when it is released.
   */
  activate(v: ServedVersion): Promise<void> {
    if (this.closed) throw new ServeError('unavailable', 'the server is shutting down');
    const previous = this.current;
    this.current = v;
    if (!previous || previous === v) return Promise.resolve();
    return this.track(previous.retire());
  }

  /** No new pins; resolves when every version's pinned requests are done and its sessions are released. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.current) this.track(this.current.retire());
    await Promise.all([...this.retiring]);
  }

  private track(p: Promise<void>): Promise<void> {
    const t = p.finally(() => this.retiring.delete(t));
    this.retiring.add(t);
    return t;
  }
}
