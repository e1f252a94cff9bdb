/**
 * The pair sampler: a split of PairSamples with a given slice mix.
 *
 * Every pair is built from its own random stream, derived from the split seed
 * and its index, so pair #i does not depend on what pair #(i-1) drew. What
 * pair #i *is* (slice, question type, whether the correct response is a or b)
 * comes from an assignment table laid out for exact proportions and then
 * shuffled, so slices, question types and answer positions are balanced
 * exactly rather than only in expectation.
 */
import { buildCase } from './cases.js';
import { SLICES, type PairSample, type Slice } from './pair-sample.js';
import { respond, sampleWording, STYLES, type Style } from './policies.js';
import { QTYPES, questionText, referenceAnswer, referenceText, type QType } from './questions.js';
import { Rng } from './rng.js';
import { sampleT2I, T2I_ERRORS, toDt2itPair, type T2IErrorKind } from './t2i.js';
import { UnaskableQuestion } from './errors.js';
import { HELD_OUT_CLAIM_TEMPLATES, HELD_OUT_VERBOSE_TEMPLATES, TRAIN_CLAIM_TEMPLATES } from './paraphrase.js';

export const DEFAULT_MIX: Readonly<Record<Slice, number>> = {
  grounded: 0.4,
  'style-adversarial': 0.15,
  'style-aligned': 0.15,
  description: 0.15,
  t2i: 0.15,
  // An eval slice: never in a training split, asked for by sampleParaphraseSplit.
  paraphrase: 0,
};

/** Question types (error kinds for t2i) each slice spreads evenly over. */
export const SLICE_TYPES: Readonly<Record<Slice, readonly (QType | T2IErrorKind)[]>> = {
  grounded: ['count', 'color', 'existence', 'position'],
  'style-adversarial': QTYPES,
  'style-aligned': QTYPES,
  description: ['description'],
  t2i: T2I_ERRORS,
  paraphrase: QTYPES,
};

export const SYSTEM_PROMPTS = [
  'You are a helpful assistant that answers questions about images.',
  'Answer the question about the picture.',
] as const;

export interface PairAssignment {
  slice: Slice;
  /** A question type, or for t2i the kind of attribute the worse image gets wrong. */
  type: QType | T2IErrorKind;
  /** Where the correct response goes (for t2i: 'a' = better image first). */
  truth: 'a' | 'b';
}

/**
 * `n` pairs. `mix` weights the slices; a given mix replaces the default
 * entirely (slices it leaves out get none) and is normalized.
 */
export interface SplitOptions {
  /**
   * Probability that a QA pair is worded with one of the training paraphrase
   * templates (paraphrase.ts) instead of the grammar's sentence. 0 (the
   * default) draws nothing, so splits stay as they were before paraphrases.
   */
  reword?: number;
}

export function sampleSplit(seed: number, n: number, mix?: Partial<Record<Slice, number>>, opts: SplitOptions = {}): PairSample[] {
  const root = Rng.fromSeed(seed);
  const plan = assignments(root.child('assign'), n, mix ?? DEFAULT_MIX);
  return plan.map((a, i) => samplePair(root.child('pair', i), pairId(seed, i), a, opts));
}

/**
 * `n` pairs of the `paraphrase` eval slice: the question types of the QA
 * slices, worded only with held-out templates. Its streams hang off their own
 * label, so the pairs are unrelated to those of sampleSplit(seed, ...).
 */
export function sampleParaphraseSplit(seed: number, n: number): PairSample[] {
  const root = Rng.fromSeed(seed).child('paraphrase');
  const plan = assignments(root.child('assign'), n, { paraphrase: 1 });
  return plan.map((a, i) => samplePair(root.child('pair', i), `sw-${seed}-p${String(i).padStart(6, '0')}`, a));
}

export function pairId(seed: number, index: number): string {
  return `sw-${seed}-${String(index).padStart(6, '0')}`;
}

/** The shuffled assignment table: slice counts by largest remainder, types round-robin, truth alternating. */
export function assignments(rng: Rng, n: number, mix: Partial<Record<Slice, number>>): PairAssignment[] {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`pair count must be a non-negative integer, got ${n}`);
  const weights = SLICES.map((s) => mix[s] ?? 0);
  if (weights.some((w) => !Number.isFinite(w) || w < 0)) throw new RangeError(`slice weights must be finite and >= 0: ${JSON.stringify(mix)}`);
  const total = weights.reduce((a, b) => a + b, 0);
  if (total <= 0) throw new RangeError(`slice weights sum to ${total}`);
  const exact = weights.map((w) => (w / total) * n);
  const counts = exact.map(Math.floor);
  const byRemainder = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (let k = 0; counts.reduce((a, b) => a + b, 0) < n; k++) {
    const idx = (byRemainder[k % byRemainder.length] as { i: number }).i;
    counts[idx] = (counts[idx] as number) + 1;
  }
  const table: PairAssignment[] = [];
  SLICES.forEach((slice, si) => {
    const types = SLICE_TYPES[slice];
    for (let j = 0; j < (counts[si] as number); j++) {
      table.push({ slice, type: types[j % types.length] as QType | T2IErrorKind, truth: Math.floor(j / types.length) % 2 === 0 ? 'a' : 'b' });
    }
  });
  return rng.shuffle(table);
}

/** One pair from its own stream. */
export function samplePair(rng: Rng, id: string, a: PairAssignment, opts: SplitOptions = {}): PairSample {
  if (a.slice === 't2i') {
    return toDt2itPair(sampleT2I(rng.child('t2i'), a.type as T2IErrorKind), a.truth === 'a', id);
  }
  const qtype = a.type as QType;
  const c = buildCase(qtype, rng.child('case'));
  const wrng = rng.child('wording');
  const [correctStyle, wrongStyle] = slicesStyles(a.slice, wrng);
  // Same numerals and the same verbose template on both sides: the wording
  // differs only where the slice says it should.
  const base = { ...sampleWording(wrng, 'plain'), ...paraphraseWording(rng, a.slice, opts.reword ?? 0) };
  const correct = respond(c.question, c.truth, { ...base, style: correctStyle });
  const wrong = respond(c.question, c.wrong, { ...base, style: wrongStyle });
  const ref = referenceAnswer(c.question, c.scene);
  if (ref instanceof UnaskableQuestion) throw ref;
  const system = rng.child('system');
  const first = a.truth === 'a';
  return {
    id,
    slice: a.slice,
    images: [c.scene],
    ...(system.bernoulli(0.5) ? { system: system.pick(SYSTEM_PROMPTS) } : {}),
    prompt: questionText(c.question),
    responses: first ? [correct, wrong] : [wrong, correct],
    truth: a.truth,
    reference: referenceText(c.question, ref),
    meta: {
      qtype,
      styles: first ? [correctStyle, wrongStyle] : [wrongStyle, correctStyle],
      errorKind: c.errorKind,
      question: c.question,
      answers: first ? [c.truth, c.wrong] : [c.wrong, c.truth],
      numerals: base.numerals,
      template: base.template,
      ...(base.claimTemplate ? { claimTemplate: base.claimTemplate } : {}),
      ...(base.heldOut ? { heldOut: true as const } : {}),
    },
  };
}

/**
 * Held-out claim and wrapper templates for the paraphrase slice; for other
 * slices, a training paraphrase with probability `reword`. Draws come from
 * their own stream, and none at all when there is nothing to choose, so the
 * rest of the pair is what it would have been without paraphrases.
 */
function paraphraseWording(rng: Rng, slice: Slice, reword: number): { template?: number; claimTemplate?: number; heldOut?: boolean } {
  if (slice === 'paraphrase') {
    const p = rng.child('paraphrase');
    return { claimTemplate: p.pick(HELD_OUT_CLAIM_TEMPLATES), template: p.int(0, HELD_OUT_VERBOSE_TEMPLATES.length - 1), heldOut: true };
  }
  if (reword <= 0) return {};
  const p = rng.child('reword');
  return p.bernoulli(reword) ? { claimTemplate: p.int(1, TRAIN_CLAIM_TEMPLATES - 1) } : {};
}

/** [style of the correct response, style of the wrong one]. */
function slicesStyles(slice: Exclude<Slice, 't2i'>, rng: Rng): [Style, Style] {
  switch (slice) {
    case 'style-adversarial':
      return ['plain', 'verbose'];
    case 'style-aligned':
      return ['verbose', 'plain'];
    case 'grounded':
    case 'description':
    case 'paraphrase': {
      const s = rng.pick(STYLES);
      return [s, s];
    }
  }
}
