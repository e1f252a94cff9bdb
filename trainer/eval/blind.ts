/**
 * The blind check: give every pair the images of another pair of the same
 * slice (another scene). Both responses still share the images, so text-only
 * cues are untouched; a model that grounds its reward in the image should
 * fall to chance on the grounded slice.
 */
import type { LabeledPair } from '../data/labeled-pair.js';

export function blindPairs(pairs: LabeledPair[]): LabeledPair[] {
  const bySlice = new Map<string, number[]>();
  pairs.forEach((p, i) => {
    const key = `${p.slice ?? ''}/${p.images.length}`;
    bySlice.set(key, [...(bySlice.get(key) ?? []), i]);
  });
  const out = pairs.slice();
  for (const idx of bySlice.values()) {
    // Rotate by half the group so no pair keeps a neighbour's near-copy.
    const shift = Math.max(1, Math.floor(idx.length / 2));
    idx.forEach((i, j) => { out[i] = { ...pairs[i]!, images: pairs[idx[(j + shift) % idx.length]!]!.images }; });
  }
  return out;
}
