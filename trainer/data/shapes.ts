/**
 * ShapesWorld samples as LabeledPairs: images rendered to PNG, the label from
 * an annotator (the oracle by default), the truth kept beside it.
 */
import { annotate, type Annotation, type AnnotatorConfig } from '../shapes/annotators.js';
import type { PairSample } from '../shapes/pair-sample.js';
import { Rng } from '../shapes/rng.js';
import { imageKeys, renderPairImages } from '../shapes/render-pairs.js';
import type { LabeledPair } from './labeled-pair.js';

/** Which response an annotator prefers; 'tie' pairs are dropped. */
export type Labeler = (sample: PairSample, index: number) => 'a' | 'b' | 'tie';

export const oracle: Labeler = (s) => s.truth;

/** An annotator whose draws for a sample depend only on the seed and the sample id. */
export function seededAnnotator(seed: number, cfg: AnnotatorConfig): (s: PairSample) => Annotation {
  const root = Rng.fromSeed(seed).child('annotator');
  return (s) => annotate(s, cfg, root.child(s.id));
}

export function noisyLabeler(seed: number, cfg: AnnotatorConfig): Labeler {
  const annotator = seededAnnotator(seed, cfg);
  return (s) => annotator(s).label;
}

export async function labeledShapesPairs(samples: PairSample[], label: Labeler = oracle): Promise<LabeledPair[]> {
  const pngs = await renderPairImages(samples);
  const out: LabeledPair[] = [];
  samples.forEach((s, i) => {
    const pick = label(s, i);
    if (pick === 'tie') return;
    const [a, b] = s.responses;
    out.push({
      id: s.id,
      images: imageKeys(s).map((k) => pngs.get(k)!),
      ...(s.system !== undefined ? { system: s.system } : {}),
      prompt: s.prompt,
      chosen: pick === 'a' ? a : b,
      rejected: pick === 'a' ? b : a,
      truth: pick === s.truth ? 'chosen' : 'rejected',
      slice: s.slice,
    });
  });
  return out;
}
