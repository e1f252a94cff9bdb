/**
 * Annotators: noisy labels the way open-source preference sets are noisy,
 * with the ground truth kept beside every label.
 *
 * - style bias: with probability `styleBias`, when the two responses differ
 *   in style, the label goes to the verbose one whatever its correctness;
 * - flip: then, with probability `flip`, the label is swapped;
 * - coarse: then, with probability `coarse`, it becomes a tie (no
 *   preference), which exporters drop.
 * All zero is the oracle: label = truth.
 */
import type { PairSample } from './pair-sample.js';
import type { Rng } from './rng.js';

export interface AnnotatorConfig {
  styleBias?: number;
  flip?: number;
  coarse?: number;
}

export interface Annotation {
  label: 'a' | 'b' | 'tie';
  truth: 'a' | 'b';
}

export const ORACLE: Readonly<AnnotatorConfig> = {};

export function annotate(sample: PairSample, cfg: AnnotatorConfig, rng: Rng): Annotation {
  const styleBias = probability('styleBias', cfg.styleBias);
  const flip = probability('flip', cfg.flip);
  const coarse = probability('coarse', cfg.coarse);
  // Three draws every time, so one sample's label under a config does not
  // depend on which of the earlier steps happened to apply.
  const uBias = rng.next();
  const uFlip = rng.next();
  const uCoarse = rng.next();
  const truth = sample.truth;
  let label: 'a' | 'b' = truth;
  const [sa, sb] = sample.meta.styles;
  if (sa !== sb && uBias < styleBias) label = sa === 'verbose' ? 'a' : 'b';
  if (uFlip < flip) label = label === 'a' ? 'b' : 'a';
  if (uCoarse < coarse) return { label: 'tie', truth };
  return { label, truth };
}

/** Annotates a split, each sample from its own stream (seed + sample id). */
export function annotateAll(samples: readonly PairSample[], cfg: AnnotatorConfig, rng: Rng): Annotation[] {
  return samples.map((s) => annotate(s, cfg, rng.child('annotate', s.id)));
}

function probability(name: string, p: number | undefined): number {
  const v = p ?? 0;
  if (!Number.isFinite(v) || v < 0 || v > 1) throw new RangeError(`annotator ${name} must be a probability in [0, 1], got ${p}`);
  return v;
}
