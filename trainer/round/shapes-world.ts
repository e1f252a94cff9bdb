/**
 * The improvement loop's world on ShapesWorld, for the demo, the end-to-end
 * tests and the benchmark: a start model fitted on a noisy preference set,
 * a trusted gate set and T2I triples on disk, and RLHF-like traffic.
 *
 * The noise is the DT2IT issue's start set: style bias 0.7, content bias 0.5,
 * flips 0.2 (about 68% of labels right).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadBundle } from '../../src/model/bundle.js';
import { Registry } from '../../src/model/registry.js';
import type { LabeledPair } from '../data/labeled-pair.js';
import { scorePairs, toScored } from '../eval/evaluate.js';
import { evaluatePairs, type EvalReport } from '../eval/metrics.js';
import { loadDataset } from '../data/datasets.js';
import { labeledShapesPairs, seededAnnotator } from '../data/shapes.js';
import { fitBundle } from '../fit/fit-bundle.js';
import type { AnnotatorConfig } from '../shapes/annotators.js';
import { writeDataset } from '../shapes/dataset.js';
import { toPreferenceRecord, type PreferenceRecord } from '../shapes/formats.js';
import type { PairSample } from '../shapes/pair-sample.js';
import { sampleSplit } from '../shapes/pairs.js';
import { renderPairImages, imageKey, streamPairImages } from '../shapes/render-pairs.js';
import { Rng } from '../shapes/rng.js';
import { sampleT2I, T2I_ERRORS, toDt2itPair } from '../shapes/t2i.js';

export const START_NOISE: Readonly<AnnotatorConfig> = { styleBias: 0.7, contentBias: 0.5, flip: 0.2 };
/** No T2I pairs: the start set and the traffic have none; T2I data comes as triples. */
export const NO_T2I = { grounded: 0.4, 'style-adversarial': 0.15, 'style-aligned': 0.15, description: 0.15 };
export const DEFAULT_BUNDLE = 'models/shapes-mrm';

/**
 * Seeds the registry with the shipped model (version 1), writes the noisy
 * preference set to `<scratch>/base` (LLaMA-Factory format: the base set a
 * round starts from), and registers and activates a start model (version 2):
 * the shipped frozen stages with a head fitted on that set.
 */
export async function seedStartModel(stateDir: string, o: { n: number; seed: number; scratch: string; bundle?: string; noise?: AnnotatorConfig }): Promise<number> {
  const bundle = o.bundle ?? DEFAULT_BUNDLE;
  const registry = new Registry(stateDir, 'shapes-mrm');
  await registry.seedIfEmpty(bundle);
  const baseDir = join(o.scratch, 'base');
  const samples = sampleSplit(o.seed, o.n, NO_T2I);
  const annotate = seededAnnotator(o.seed, o.noise ?? START_NOISE);
  const records = samples.map((s) => toPreferenceRecord(s, annotate(s))).filter((r): r is PreferenceRecord => r !== null);
  await writeDataset(baseDir, records, 'llamafactory', streamPairImages(samples));
  const pairs = await loadDataset(baseDir, 'llamafactory');
  const out = join(o.scratch, 'start-model');
  await fitBundle(pairs, {
    base: bundle, out, name: 'shapes-mrm', version: 2, parent: 1, referenceSet: `noisy ShapesWorld seed ${o.seed} n ${o.n}`,
    notes: 'start model: the shipped frozen stages, head fitted on a noisy preference set (style 0.7, content 0.5, flip 0.2)',
    featureCache: join(stateDir, 'cache', 'features'),
  });
  const v = await registry.register(out);
  await registry.activate(v, 'start model for the improvement loop');
  return v;
}

/** A labeled set with true labels (the operator's trusted gate set), in LLaMA-Factory format. */
export async function writeTruthSet(dir: string, seed: number, n: number, mix?: Record<string, number>): Promise<void> {
  const samples = sampleSplit(seed, n, mix);
  const records = samples.map((s) => toPreferenceRecord(s, { label: s.truth, truth: s.truth })).filter((r): r is PreferenceRecord => r !== null);
  await writeDataset(dir, records, 'llamafactory', streamPairImages(samples));
}

/** T2I triples as a JSONL file of {id, caption, better, worse} with PNGs beside it. */
export async function writeT2ITriples(dir: string, seed: number, n: number): Promise<string> {
  await mkdir(join(dir, 'images'), { recursive: true });
  const rng = Rng.fromSeed(seed);
  const raw = Array.from({ length: n }, (_, i) => {
    const t = sampleT2I(rng.child('triple', i), T2I_ERRORS[i % T2I_ERRORS.length]!);
    return { t, sample: toDt2itPair(t, true, `t2i-${seed}-${String(i).padStart(6, '0')}`) };
  });
  const png = await renderPairImages(raw.map((r) => r.sample));
  const lines: string[] = [];
  for (const { t, sample } of raw) {
    const better = `images/${sample.id}-better.png`;
    const worse = `images/${sample.id}-worse.png`;
    await writeFile(join(dir, better), png.get(imageKey(sample.id, 0))!);
    await writeFile(join(dir, worse), png.get(imageKey(sample.id, 1))!);
    lines.push(JSON.stringify({ id: sample.id, caption: t.caption, better, worse }));
  }
  const file = join(dir, 'triples.jsonl');
  await writeFile(file, lines.join('\n') + '\n');
  return file;
}

/** RLHF-like traffic: ShapesWorld pairs with rendered images (the scene rides in a PNG text chunk the judge reads). */
export async function trafficPairs(seed: number, n: number): Promise<{ sample: PairSample; images: Buffer[] }[]> {
  const samples = sampleSplit(seed, n, NO_T2I);
  const png = await renderPairImages(samples);
  return samples.map((s) => ({ sample: s, images: s.images.map((_, j) => png.get(imageKey(s.id, j))!) }));
}

/** Per-slice accuracy (against the truth) of a registry version on a fresh ShapesWorld split. */
export async function evaluateVersion(stateDir: string, version: number, pairs: LabeledPair[]): Promise<EvalReport> {
  const registry = new Registry(stateDir, 'shapes-mrm');
  const { runtime } = await loadBundle(registry.versionDir(version), { resolveFile: (key) => registry.resolveFile(version, key) });
  try {
    return evaluatePairs(toScored(pairs, await scorePairs(runtime, pairs)));
  } finally {
    await runtime.release();
  }
}

/** A ShapesWorld split with true labels, for evaluation. */
export function truthPairs(seed: number, n: number): Promise<LabeledPair[]> {
  return labeledShapesPairs(sampleSplit(seed, n));
}
