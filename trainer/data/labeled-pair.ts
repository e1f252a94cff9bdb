import { createHash } from 'node:crypto';
import type { PreferenceRecord } from '../shapes/formats.js';

/**
 * The trainer's unit of data: a preference pair with its image bytes, the
 * label it was given (chosen over rejected) and, where known, the truth.
 * ShapesWorld samples, imported data sets and labeled log pairs all become
 * this before featurizing, fitting or evaluating.
 */
export type LabeledPair = Omit<PreferenceRecord, 'images' | 'meta'> & {
  /** PNG/JPEG/WebP bytes, in prompt order (a record holds their paths). */
  images: Uint8Array[];
  /** Preference strength or other per-pair weight, when the source has one. */
  weight?: number;
};

/** A digest of a data set's content (texts and image bytes), for lineage. */
export function datasetDigest(pairs: LabeledPair[]): string {
  const h = createHash('sha256');
  for (const p of pairs) {
    h.update(JSON.stringify([p.id, p.system ?? '', p.prompt, p.chosen, p.rejected]));
    for (const img of p.images) h.update(img);
  }
  return h.digest('hex');
}
