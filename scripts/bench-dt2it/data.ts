/**
 * The benchmark's data for one seed, as round pairs with features from the
 * default model's frozen stages (cached on disk by content):
 * - base: the noisy preference set a first model is fitted on (no T2I);
 * - logged: unlabeled pairs as a server logs them (the policies' answers to
 *   ShapesWorld questions), truth kept for evaluation only;
 * - t2i: caption + (better, worse) image triples, reformulated;
 * - eval: a fixed ShapesWorld split with every slice, true labels.
 */
import type { AnnotatorConfig } from '../../trainer/shapes/annotators.js';
import { labeledShapesPairs, noisyLabeler, oracle, type Labeler } from '../../trainer/data/shapes.js';
import type { LabeledPair } from '../../trainer/data/labeled-pair.js';
import { featurizeWith } from '../../trainer/fit/fit-bundle.js';
import { fromLabeled, type PairOrigin, type RoundPair } from '../../trainer/dt2it/round-pair.js';
import { reformulateT2I, type T2ITriple } from '../../trainer/dt2it/t2i.js';
import type { PairSample } from '../../trainer/shapes/pair-sample.js';
import { sampleSplit } from '../../trainer/shapes/pairs.js';
import { renderPairImages, imageKey } from '../../trainer/shapes/render-pairs.js';
import { Rng } from '../../trainer/shapes/rng.js';
import { sampleT2I, T2I_ERRORS, toDt2itPair } from '../../trainer/shapes/t2i.js';

export interface BenchSizes {
  base: number;
  logged: number;
  t2i: number;
  eval: number;
}

/** The start set of issue 9: about 68% of its labels right. */
export const NOISE: AnnotatorConfig = { styleBias: 0.7, contentBias: 0.5, flip: 0.2 };

/** Every slice but t2i, in the default proportions: the start set and the logs have no T2I data. */
const NO_T2I = { grounded: 0.4, 'style-adversarial': 0.15, 'style-aligned': 0.15, description: 0.15 };

export interface SeedData {
  base: RoundPair[];
  logged: RoundPair[];
  t2i: RoundPair[];
}

export interface DataContext {
  model: string;
  cache: string;
  threads: number;
}

/**
 * Samples as round pairs in their own a/b order, labeled by `labeler` (ties
 * dropped) or, when null, unlabeled. Featurized in truth order whatever the
 * labels, so the feature cache (keyed by content, chosen side first) is
 * shared by every labeling of the same samples.
 */
async function shapesRoundPairs(ctx: DataContext, samples: PairSample[], origin: PairOrigin, labeler: Labeler | null): Promise<RoundPair[]> {
  const pairs = await labeledShapesPairs(samples, oracle);
  const { runtime, features } = await featurizeWith(ctx.model, [pairs], ctx.threads, ctx.cache);
  await runtime.release();
  const withRef = pairs.map((p, i) => ({ ...p, reference: samples[i]!.reference }));
  const unlabeled = fromLabeled(withRef, features[0]!, origin, { labeled: false, aIsChosen: (i) => samples[i]!.truth === 'a' });
  if (!labeler) return unlabeled;
  return unlabeled.flatMap((p, i) => {
    const l = labeler(samples[i]!, i);
    return l === 'tie' ? [] : [{ ...p, label: l }];
  });
}

export async function seedData(ctx: DataContext, seed: number, sizes: BenchSizes, noise: AnnotatorConfig): Promise<SeedData> {
  const baseSamples = sampleSplit(1000 * seed + 1, sizes.base, NO_T2I);
  const loggedSamples = sampleSplit(1000 * seed + 2, sizes.logged, NO_T2I);
  const base = await shapesRoundPairs(ctx, baseSamples, 'base', noisyLabeler(seed, noise));
  const logged = await shapesRoundPairs(ctx, loggedSamples, 'logged', null);
  return { base, logged, t2i: await t2iTriplePairs(ctx, seed, sizes.t2i) };
}

/** T2I triples from ShapesWorld, reformulated (the step under test), then featurized. */
async function t2iTriplePairs(ctx: DataContext, seed: number, n: number): Promise<RoundPair[]> {
  const rng = Rng.fromSeed(1000 * seed + 3);
  const raw = Array.from({ length: n }, (_, i) => {
    const t = sampleT2I(rng.child('triple', i), T2I_ERRORS[i % T2I_ERRORS.length]!);
    return { t, sample: toDt2itPair(t, true, `t2i-${seed}-${String(i).padStart(6, '0')}`) };
  });
  const png = await renderPairImages(raw.map((r) => r.sample));
  const triples: T2ITriple[] = raw.map(({ t, sample }) => ({
    id: sample.id,
    caption: t.caption,
    better: png.get(imageKey(sample.id, 0))!,
    worse: png.get(imageKey(sample.id, 1))!,
  }));
  const pairs: LabeledPair[] = reformulateT2I(triples, seed).output;
  const { runtime, features } = await featurizeWith(ctx.model, [pairs], ctx.threads, ctx.cache);
  await runtime.release();
  return fromLabeled(pairs, features[0]!, 't2i', {
    labeled: true,
    aIsChosen: (i) => pairs[i]!.chosen === 'Image 1 is better than Image 2.',
  });
}

/** The evaluation split: ShapesWorld seed 99, every slice; what `mrm eval --seed 99 --n N` scores. */
export const EVAL_SEED = 99;

export function evalSamples(n: number): PairSample[] {
  return sampleSplit(EVAL_SEED, n);
}

export async function evalData(ctx: DataContext, n: number): Promise<RoundPair[]> {
  const samples = evalSamples(n);
  return shapesRoundPairs(ctx, samples, 'base', null);
}
