/**
 * Curation scored on another bundle's features (the round's `curateWith`).
 *
 * Curation step 1 needs scoring models that see content. A learned model
 * trained end to end on a noisy set has had content trained out of its own
 * features by the noisy labels (bench:learned-noise, seed 1: a head fitted
 * with the true labels on them reaches 57%), so heads on those features flip
 * right labels. The label-free base of the same lineage (the pretrained
 * tower and grounding stage, before any preference label) has not been
 * through that, so the round fits its scoring heads on the base's features
 * instead; everything after curation (candidate head, gate, fine-tune) works
 * on the version's own features as before.
 */
import { loadBundle } from '../../src/model/bundle.js';
import { cachedFeatures } from '../data/feature-cache.js';
import type { LabeledPair } from '../data/labeled-pair.js';
import { join } from 'node:path';
import type { RoundPair } from '../dt2it/round-pair.js';
import type { RoundConfig } from './config.js';
import type { ImageStore, StoredPair } from './pairs-file.js';

/** Pairs featurized at a time: their images are read for the chunk only, so memory stays bounded on a large log. */
const CHUNK = 512;

export class CurateFeaturesError extends Error {
  override readonly name = 'CurateFeaturesError';
}

/**
 * The same pairs with fa/fb from the bundle at `dir` (its vision and encoder
 * over each pair's images and texts, a as chosen, b as rejected), through the
 * round's feature cache, which keys features by the bundle's stages.
 */
export async function featuresOf<P extends StoredPair>(cfg: RoundConfig, dir: string, lists: readonly (readonly P[])[], store: ImageStore): Promise<P[][]> {
  let loaded;
  try {
    loaded = await loadBundle(dir, { threads: cfg.threads });
  } catch (cause) {
    throw new CurateFeaturesError(`curateWith: ${dir} is not a bundle that loads: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  const { runtime } = loaded;
  try {
    const out: P[][] = [];
    for (const pairs of lists) {
      const done: P[] = [];
      for (let i = 0; i < pairs.length; i += CHUNK) {
        const chunk = pairs.slice(i, i + CHUNK);
        const labeled: LabeledPair[] = await Promise.all(chunk.map(async (p) => ({
          id: p.item.id,
          images: p.item.images.length > 0 ? p.item.images : await Promise.all(p.imageRefs.map((r) => store.bytes(r))),
          ...(p.item.system !== undefined ? { system: p.item.system } : {}),
          prompt: p.item.prompt,
          chosen: p.item.a,
          rejected: p.item.b,
        })));
        const f = await cachedFeatures(runtime, labeled, join(cfg.stateDir, 'cache', 'features'));
        store.forget();
        chunk.forEach((p, j) => done.push({ ...p, fa: f.chosen.slice(j * f.d, (j + 1) * f.d), fb: f.rejected.slice(j * f.d, (j + 1) * f.d) }));
      }
      out.push(done);
    }
    return out;
  } finally {
    await runtime.release();
  }
}

/**
 * Curated pairs back on the version's own features: labels, strengths and
 * weights as curation left them, features from `own` by pair id (curation
 * never exchanges sides, but a pair whose a and b come back exchanged gets
 * its features exchanged too, so they always follow the texts).
 */
export function withOwnFeatures<P extends RoundPair>(curated: readonly P[], own: readonly RoundPair[]): P[] {
  const byId = new Map(own.map((p) => [p.item.id, p]));
  return curated.map((p) => {
    const o = byId.get(p.item.id);
    if (!o) throw new CurateFeaturesError(`curated pair ${p.item.id} is not among the round's training pairs`);
    const same = o.item.a === p.item.a && o.item.b === p.item.b;
    return { ...p, fa: same ? o.fa : o.fb, fb: same ? o.fb : o.fa };
  });
}
