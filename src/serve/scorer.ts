/**
 * Units -> scores on one pinned version: reward cache, then for the misses
 * tokenize (cheap, synchronous), embed their images (images.ts), and run the
 * encoder + head through the version's batcher. Identical units within a
 * request (same images and texts) run once.
 *
 * Every check that can fail on the caller's input (texts without tokens, bad
 * or unknown images, a full queue) happens before the first item of the
 * request is queued for the encoder.
 */
import type { EncoderItem } from '../model/runtime.js';
import { encodeText, type PromptMemo } from '../model/text.js';
import { rewardKey, type Caches } from './caches.js';
import { throwIfDead, type Liveness } from './context.js';
import { relabel } from './errors.js';
import { dims } from '../model/manifest.js';
import type { ImageStage } from './images.js';
import type { Unit } from './request.js';
import type { RpcTrace } from '../telemetry/spans.js';
import type { ItemDetail, ServedVersion } from './versions.js';

export interface UnitScore {
  reward: number;
  normalized: number;
  spread: number;
  truncated: boolean;
  cached: boolean;
  /**
   * Heads and features, when the version returns them (the pair log is on):
   * always for units scored now, for cache hits while the detail cache still
   * has them.
   */
  detail?: ItemDetail;
}

export interface ScorerStats {
  /** Units whose reward came from the model (not the cache). */
  scored: number;
  /** Units answered by another identical unit of the same request. */
  deduplicated: number;
}

export class Scorer {
  readonly stats: ScorerStats = { scored: 0, deduplicated: 0 };

  constructor(private readonly caches: Caches, private readonly images: ImageStage, private readonly dedupe: boolean) {}

  /**
   * The model work `units` would cause now: texts whose reward is not
   * cached, and the distinct images of those whose embedding is not. A
   * peek (no lookup counted, no recency touched), for admission's estimate:
   * counting hits as work made a workload of repeats look cheaper per unit
   * of work than it was (a drain factor below 1), and a flood of new images
   * that followed was admitted at a fifth of its cost.
   */
  uncached(units: Unit[], v: ServedVersion): { images: number; units: number } {
    const images = new Set<string>();
    let texts = 0;
    for (const u of units) {
      if (this.caches.hasReward(rewardKey(v.name, v.version, u.digest))) continue;
      texts++;
      for (const img of u.images) if (!this.caches.hasEmbedding(img.sha, v.visionSha)) images.add(img.sha);
    }
    return { images: images.size, units: texts };
  }

  /** `rt`: the call's trace, null when telemetry is off (then no span is built). */
  async score(units: Unit[], v: ServedVersion, live: Liveness, rt: RpcTrace | null = null): Promise<UnitScore[]> {
    throwIfDead(live);
    const k = this.caches.keepsDetails ? dims(v.manifest).k : 0;
    const endCache = rt?.start('cache', { 'mrm.cache': 'reward' });
    const out: (UnitScore | undefined)[] = units.map((u) => {
      const key = rewardKey(v.name, v.version, u.digest);
      const hit = this.caches.reward(key);
      if (!hit) return undefined;
      const detail = k > 0 ? this.caches.detail(key, k) : undefined;
      return detail ? { ...hit, cached: true, detail } : { ...hit, cached: true };
    });
    endCache?.();

    // The units to run: one per distinct digest among the misses.
    const runs: { unit: Unit; members: number[] }[] = [];
    const byDigest = new Map<string, (typeof runs)[number]>();
    out.forEach((hit, i) => {
      if (hit) return;
      const u = units[i]!;
      const same = this.dedupe ? byDigest.get(u.digest) : undefined;
      if (same) {
        same.members.push(i);
        this.stats.deduplicated++;
        return;
      }
      const run = { unit: u, members: [i] };
      runs.push(run);
      byDigest.set(u.digest, run);
    });
    if (runs.length === 0) return out as UnitScore[];

    v.encoder.assertRoom(runs.length);
    const { text } = v.manifest.preprocess;
    const prompts: PromptMemo = new Map();
    const encoded = runs.map(({ unit }) => {
      try {
        return encodeText(v.tokenizer, text, unit.text, prompts);
      } catch (err) {
        throw relabel(err, unit.responseField);
      }
    });

    const refs = runs.flatMap(({ unit }) => unit.images);
    const embeddings = await this.images.embed(refs, v, live, rt);
    let next = 0;
    const items: EncoderItem[] = runs.map(({ unit }, i) => ({
      imageEmbeddings: unit.images.map(() => embeddings[next++]!),
      promptIds: encoded[i]!.promptIds,
      responseIds: encoded[i]!.responseIds,
    }));

    throwIfDead(live);
    const st = rt?.stage('encoder');
    let scores: Awaited<ReturnType<typeof v.encoder.submit>[number]>[];
    try {
      scores = await Promise.all(v.encoder.submit(items, live, st));
    } finally {
      st?.done();
    }
    this.stats.scored += runs.length;
    runs.forEach(({ unit, members }, i) => {
      const { detail, ...score } = scores[i]!;
      const s = { ...score, truncated: encoded[i]!.truncated };
      const key = rewardKey(v.name, v.version, unit.digest);
      this.caches.putReward(key, s);
      if (detail) this.caches.putDetail(key, detail.heads, detail.features);
      for (const m of members) out[m] = detail ? { ...s, cached: false, detail } : { ...s, cached: false };
    });
    return out as UnitScore[];
  }
}
