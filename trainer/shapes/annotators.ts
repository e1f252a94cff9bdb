/**
 * Annotators: noisy labels the way open-source preference sets are noisy,
 * with the ground truth kept beside every label.
 *
 * - style bias: with probability `styleBias`, when the two responses differ
 *   in style, the label goes to the verbose one whatever its correctness;
 * - content bias: then, with probability `contentBias`, when the two
 *   responses differ in a content dimension annotators are known to favour,
 *   the label goes to the favoured one whatever its correctness: "yes" in
 *   existence questions, the larger count in count questions, the
 *   description with more objects (open-source preference sets are wrong
 *   about content this way, not only about style). When both biases fire
 *   and disagree, content wins: it is the later, more specific reading;
 * - flip: then, with probability `flip`, the label is swapped;
 * - coarse: then, with probability `coarse`, it becomes a tie (no
 *   preference), which exporters drop.
 * All zero is the oracle: label = truth.
 */
import type { PairSample } from './pair-sample.js';
import type { Answer } from './questions.js';
import type { Rng } from './rng.js';

export interface AnnotatorConfig {
  styleBias?: number;
  contentBias?: number;
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
  const contentBias = probability('contentBias', cfg.contentBias);
  // Four draws every time, so one sample's label under a config does not
  // depend on which of the earlier steps happened to apply. The content draw
  // comes last: the first three are the ones labels were made with before
  // content bias existed, so those labels stay as they were.
  const uBias = rng.next();
  const uFlip = rng.next();
  const uCoarse = rng.next();
  const uContent = rng.next();
  const truth = sample.truth;
  let label: 'a' | 'b' = truth;
  const [sa, sb] = sample.meta.styles;
  if (sa !== sb && uBias < styleBias) label = sa === 'verbose' ? 'a' : 'b';
  if (uContent < contentBias) label = contentFavourite(sample) ?? label;
  if (uFlip < flip) label = label === 'a' ? 'b' : 'a';
  if (uCoarse < coarse) return { label: 'tie', truth };
  return { label, truth };
}

/**
 * The response a content-biased annotator favours, or undefined when the
 * pair does not differ in a favoured dimension: 'yes' over 'no', the larger
 * count, the description naming more objects.
 */
export function contentFavourite(sample: PairSample): 'a' | 'b' | undefined {
  const meta = sample.meta;
  if (meta.qtype === 't2i') return undefined;
  const [x, y] = meta.answers;
  const size = (a: Answer): number | undefined => {
    switch (a.type) {
      case 'existence':
        return a.present ? 1 : 0;
      case 'count':
        return a.count;
      case 'description':
        return a.groups.reduce((n, g) => n + g.count, 0);
      default:
        return undefined;
    }
  };
  const sx = size(x);
  const sy = size(y);
  if (sx === undefined || sy === undefined || sx === sy) return undefined;
  return sx > sy ? 'a' : 'b';
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
