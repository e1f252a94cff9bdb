/**
 * The unit every DT2IT step works on: one pair as the judges see it (images,
 * prompt, responses a and b), the frozen stages' features of both sides, and
 * the label it currently carries. Steps never re-featurize: a flip or a
 * re-judgment only changes `label`, so a round over logged pairs (whose
 * features the server already computed) never runs vision or the encoder.
 */
import type { PairSet } from '../fit/bradley-terry.js';
import type { PairToJudge } from '../judges/types.js';

export type PairOrigin = 'base' | 'logged' | 't2i';
export type Side = 'a' | 'b';

export interface RoundPair {
  /** What a judge is shown; `item.id` is the pair's id. */
  item: PairToJudge;
  origin: PairOrigin;
  /** Evaluation slice, when known (ShapesWorld, a labeled gate set). */
  slice?: string;
  /** Encoder features [d] of response a and response b. */
  fa: Float32Array;
  fb: Float32Array;
  /** The preferred side; absent while a logged pair is unlabeled. */
  label?: Side;
  /** Judge score gap |scoreA - scoreB| when a judge decided the label. */
  strength?: number;
  /** Training weight (style/length balance); 1 when absent. */
  weight?: number;
  /**
   * The truly better side, when known (ShapesWorld, a trusted gate set). Only
   * evaluation and the gate read it; no curation step does.
   */
  truth?: Side;
}

export const other = (s: Side): Side => (s === 'a' ? 'b' : 'a');

/** The same pair with the label on the other side. */
export function flipLabel(p: RoundPair): RoundPair {
  if (!p.label) throw new Error(`pair ${p.item.id} has no label to flip`);
  return { ...p, label: other(p.label) };
}

/**
 * The same pair with responses a and b exchanged (features, label, truth
 * follow): a presentation change, not a change of preference.
 */
export function swapSides(p: RoundPair): RoundPair {
  const { a, b } = p.item;
  return {
    ...p,
    item: { ...p.item, a: b, b: a },
    fa: p.fb,
    fb: p.fa,
    ...(p.label ? { label: other(p.label) } : {}),
    ...(p.truth ? { truth: other(p.truth) } : {}),
  };
}

export function chosenText(p: RoundPair): string {
  return labelOf(p) === 'a' ? p.item.a : p.item.b;
}

export function rejectedText(p: RoundPair): string {
  return labelOf(p) === 'a' ? p.item.b : p.item.a;
}

export function labelOf(p: RoundPair): Side {
  if (!p.label) throw new Error(`pair ${p.item.id} is unlabeled`);
  return p.label;
}

/**
 * Labeled pairs as fitting rows (chosen, rejected). `marginScale` > 0 turns a
 * judge's preference strength into a Bradley-Terry margin (pairs without a
 * strength get none).
 */
export function toPairSet(pairs: readonly RoundPair[], opts: { marginScale?: number } = {}): PairSet {
  if (pairs.length === 0) throw new RangeError('no labeled pairs to fit on');
  const d = pairs[0]!.fa.length;
  const n = pairs.length;
  const chosen = new Float32Array(n * d);
  const rejected = new Float32Array(n * d);
  const weight = new Float32Array(n);
  const margin = new Float32Array(n);
  const scale = opts.marginScale ?? 0;
  pairs.forEach((p, i) => {
    const first = labelOf(p) === 'a';
    chosen.set(first ? p.fa : p.fb, i * d);
    rejected.set(first ? p.fb : p.fa, i * d);
    weight[i] = p.weight ?? 1;
    margin[i] = scale * (p.strength ?? 0);
  });
  return { d, n, chosen, rejected, weight, ...(scale > 0 ? { margin } : {}) };
}

/** Both sides' features as [2n, d]: rows 0..n-1 are the a sides, n..2n-1 the b sides. */
export function sideRows(pairs: readonly RoundPair[]): { x: Float32Array; n: number; d: number } {
  const n = pairs.length;
  const d = n > 0 ? pairs[0]!.fa.length : 0;
  const x = new Float32Array(2 * n * d);
  pairs.forEach((p, i) => {
    x.set(p.fa, i * d);
    x.set(p.fb, (n + i) * d);
  });
  return { x, n, d };
}

/** Share of labeled pairs whose label is the truth (pairs without truth are skipped). */
export function labelAccuracy(pairs: readonly RoundPair[]): number {
  const known = pairs.filter((p) => p.label && p.truth);
  return known.length === 0 ? NaN : known.filter((p) => p.label === p.truth).length / known.length;
}

/**
 * Round pairs from labeled pairs and their features (featurize.ts order: row
 * i of `chosen`/`rejected`). `aIsChosen(i)` says which side goes first, so a
 * source whose chosen response always comes first (a LabeledPair) can be put
 * back in its original order; `labeled: false` keeps only the truth, as for
 * pairs the server logged.
 */
export function fromLabeled(
  pairs: readonly LabeledPairLike[],
  f: { d: number; chosen: Float32Array; rejected: Float32Array },
  origin: PairOrigin,
  o: { labeled: boolean; aIsChosen?: (i: number) => boolean },
): RoundPair[] {
  const d = f.d;
  return pairs.map((p, i) => {
    const first = o.aIsChosen?.(i) ?? true;
    const fc = f.chosen.subarray(i * d, (i + 1) * d);
    const fr = f.rejected.subarray(i * d, (i + 1) * d);
    const truthChosen: Side = first ? 'a' : 'b';
    return {
      item: {
        id: p.id,
        images: p.images,
        ...(p.system !== undefined ? { system: p.system } : {}),
        prompt: p.prompt,
        ...(p.reference !== undefined ? { reference: p.reference } : {}),
        a: first ? p.chosen : p.rejected,
        b: first ? p.rejected : p.chosen,
      },
      origin,
      ...(p.slice !== undefined ? { slice: p.slice } : {}),
      fa: first ? fc : fr,
      fb: first ? fr : fc,
      ...(o.labeled ? { label: truthChosen } : {}),
      ...(p.truth ? { truth: p.truth === 'chosen' ? truthChosen : other(truthChosen) } : {}),
      ...(p.weight !== undefined ? { weight: p.weight } : {}),
    };
  });
}

/** The fields of a LabeledPair this module reads. */
export interface LabeledPairLike {
  id: string;
  images: Uint8Array[];
  system?: string;
  prompt: string;
  reference?: string;
  chosen: string;
  rejected: string;
  truth?: 'chosen' | 'rejected';
  slice?: string;
  weight?: number;
}
