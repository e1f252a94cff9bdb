import { createHash } from 'node:crypto';

/**
 * The trainer's unit of data: a preference pair with its image bytes, the
 * label it was given (chosen over rejected) and, where known, the truth.
 * ShapesWorld samples, imported data sets and labeled log pairs all become
 * this before featurizing, fitting or evaluating.
 */
export interface LabeledPair {
  id: string;
  /** PNG/JPEG/WebP bytes, in prompt order. */
  images: Uint8Array[];
  system?: string;
  prompt: string;
  chosen: string;
  rejected: string;
  /** Whether the label is right: 'chosen' when chosen really is better. Unknown for real data. */
  truth?: 'chosen' | 'rejected';
  /** Evaluation slice (ShapesWorld: grounded, style-adversarial, ...). */
  slice?: string;
  /** Preference strength or other per-pair weight, when the source has one. */
  weight?: number;
}

/** A digest of a data set's content (texts and image bytes), for lineage. */
export function datasetDigest(pairs: LabeledPair[]): string {
  const h = createHash('sha256');
  for (const p of pairs) {
    h.update(JSON.stringify([p.id, p.system ?? '', p.prompt, p.chosen, p.rejected]));
    for (const img of p.images) h.update(img);
  }
  return h.digest('hex');
}
