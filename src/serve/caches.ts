/**
 * The server's three caches (lru-cache), shared by every loaded version:
 *
 * - rewards by (model, version, item digest): an item scored before is
 *   answered without touching the model;
 * - image embeddings by (image sha256, vision.onnx sha256): a head-only
 *   version shares its parent's vision file and therefore its embeddings;
 * - image bytes by sha256, so clients can send a sha256 instead of bytes.
 *
 * Embeddings and bytes are bounded by total size, rewards by count (their
 * entries are all the same size). With caches off (the benchmark's naive
 * server) every lookup misses and nothing is stored.
 */
import { LRUCache } from 'lru-cache';
import { contentRecord, sha256Hex } from '../model/digest.js';
import { DetailStore } from './detail-store.js';

export interface CachedReward {
  reward: number;
  /** Per version, like the key: normalization is the version's calibration. */
  normalized: number;
  spread: number;
  truncated: boolean;
}

export interface CacheLimits {
  rewardEntries: number;
  embeddingBytes: number;
  imageBytes: number;
  /**
   * Heads + features per (model, version, item digest), for the pair log: a
   * pair whose side was answered from the reward cache is logged only while
   * its features are still here. 0: not kept (logging off).
   */
  detailBytes?: number;
}

export interface CacheStats {
  rewardHits: number;
  rewardMisses: number;
  embeddingHits: number;
  embeddingMisses: number;
  imageHits: number;
  imageMisses: number;
}

/**
 * Bytes an entry costs beyond its value's bytes: the key string, the typed
 * array object and its backing-store record, the LRU's slots. Measured with
 * scripts/cache-bytes.ts (Node 20.20, 100k entries, after a full GC):
 * embedding 844 bytes per entry with 432 of floats (the default model's
 * 108), a 27 KiB image 27,942 with 27,648. Before they were counted, a
 * 64 MiB embedding cache held ~125 MiB. (Details: detail-store.ts.)
 */
export const ENTRY_OVERHEAD = { embedding: 412, image: 300 } as const;

/**
 * A received image is cached without a copy when it is at least this share of
 * the buffer under it: at most 1/16 of the entry's bytes is not image (a
 * group's texts next to its one image, for instance).
 */
const KEEP_VIEW_SHARE = 15 / 16;

/** A reward entry (count-bounded): key, object and LRU slots, measured the same way. */
export const REWARD_ENTRY_BYTES = 255;

export class Caches {
  private readonly rewards: LRUCache<string, CachedReward> | null;
  private readonly embeddings: LRUCache<string, Float32Array> | null;
  private readonly images: LRUCache<string, Uint8Array> | null;
  private readonly details: DetailStore | null;
  readonly stats: CacheStats = { rewardHits: 0, rewardMisses: 0, embeddingHits: 0, embeddingMisses: 0, imageHits: 0, imageMisses: 0 };

  constructor(limits: CacheLimits, readonly enabled = true) {
    this.rewards = enabled ? new LRUCache({ max: limits.rewardEntries }) : null;
    // Sizes count each entry's whole cost (its value, key, objects and LRU
    // slots), so the configured bytes are what the cache really holds.
    this.embeddings = enabled ? new LRUCache({ maxSize: limits.embeddingBytes, sizeCalculation: (v) => v.byteLength + ENTRY_OVERHEAD.embedding }) : null;
    // An image kept as a view holds its whole buffer: counted (putImage).
    this.images = enabled ? new LRUCache({ maxSize: limits.imageBytes, sizeCalculation: (v) => v.buffer.byteLength + ENTRY_OVERHEAD.image }) : null;
    this.details = enabled && (limits.detailBytes ?? 0) > 0 ? new DetailStore(limits.detailBytes!) : null;
  }

  get keepsDetails(): boolean {
    return this.details !== null;
  }

  /** Heads [K] and features of a scored item (copies), if still cached; not counted in stats. */
  detail(key: string, k: number): { heads: Float32Array; features: Float32Array } | undefined {
    return this.details?.get(key, k);
  }

  /** Stores a copy (the arguments are views into a whole batch's arrays). */
  putDetail(key: string, heads: Float32Array, features: Float32Array): void {
    this.details?.put(key, heads, features);
  }

  /** Image bytes without counting a lookup (the pair log's, not a request's). */
  peekImage(sha: string): Uint8Array | undefined {
    return this.images?.peek(sha);
  }

  reward(key: string): CachedReward | undefined {
    const v = this.rewards?.get(key);
    if (v) this.stats.rewardHits++;
    else this.stats.rewardMisses++;
    return v;
  }

  /** Whether a reward is cached, without counting a lookup or touching its recency (admission's estimate). */
  hasReward(key: string): boolean {
    return this.rewards?.has(key) ?? false;
  }

  /** Whether an embedding is cached, without counting a lookup or touching its recency. */
  hasEmbedding(imageSha: string, visionSha: string): boolean {
    return this.embeddings?.has(`${imageSha}:${visionSha}`) ?? false;
  }

  putReward(key: string, v: CachedReward): void {
    this.rewards?.set(key, v);
  }

  /** `recheck`: a second look within one request, not counted as a lookup. */
  embedding(imageSha: string, visionSha: string, recheck = false): Float32Array | undefined {
    const v = this.embeddings?.get(`${imageSha}:${visionSha}`);
    if (!recheck) {
      if (v) this.stats.embeddingHits++;
      else this.stats.embeddingMisses++;
    }
    return v;
  }

  putEmbedding(imageSha: string, visionSha: string, v: Float32Array): void {
    this.embeddings?.set(`${imageSha}:${visionSha}`, v);
  }

  image(sha: string): Uint8Array | undefined {
    const v = this.images?.get(sha);
    if (v) this.stats.imageHits++;
    else this.stats.imageMisses++;
    return v;
  }

  /**
   * Decoded message fields are views into the whole received message. A view
   * that is nearly all of its buffer (a single item's image: the message is
   * the image and ~150 bytes around it) is stored as it is, and counted at
   * the buffer's size; any other view is copied, so that a cached image never
   * keeps a large message alive. The copy it saves was ~30 us and 27 KiB of
   * garbage per new image on this machine. An image larger than the whole
   * cache is not stored.
   */
  putImage(sha: string, bytes: Uint8Array): void {
    if (!this.images || this.images.has(sha)) return;
    this.images.set(sha, bytes.byteLength >= bytes.buffer.byteLength * KEEP_VIEW_SHARE ? bytes : new Uint8Array(bytes));
  }

  sizes(): { rewards: number; embeddings: number; embeddingBytes: number; images: number; imageBytes: number; details: number; detailBytes: number } {
    return {
      details: this.details?.size ?? 0,
      detailBytes: this.details?.usedBytes ?? 0,
      rewards: this.rewards?.size ?? 0,
      embeddings: this.embeddings?.size ?? 0,
      embeddingBytes: this.embeddings?.calculatedSize ?? 0,
      images: this.images?.size ?? 0,
      imageBytes: this.images?.calculatedSize ?? 0,
    };
  }
}

export interface ItemText {
  system: string;
  prompt: string;
  response: string;
  reference: string;
}

/**
 * The reward cache key of an item: sha256 over its image sha256s and texts,
 * framed by contentRecord in one hash update: ~4-5 us an item, where a
 * length-prefixed update per field took ~8-13 us.
 */
export function itemDigest(imageShas: readonly string[], text: ItemText): string {
  return sha256Hex(contentRecord(imageShas, [text.system, text.prompt, text.response, text.reference]));
}

export const rewardKey = (model: string, version: number, digest: string) => `${model}@${version}:${digest}`;
