import { createHash } from 'node:crypto';
import { contentRecord, sha256Hex } from '../../src/model/digest.js';
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

/**
 * A digest of a data set's content (ids, texts, labels as chosen/rejected
 * order, images by sha256), for lineage and the feature cache: each pair
 * framed as the server frames an item (contentRecord).
 */
export function datasetDigest(pairs: LabeledPair[]): string {
  const h = createHash('sha256');
  for (const p of pairs) h.update(contentRecord(p.images.map(sha256Hex), [p.id, p.system ?? '', p.prompt, p.chosen, p.rejected]));
  return h.digest('hex');
}
