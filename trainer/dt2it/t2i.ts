/**
 * Step 3 of a round, T2I reformulation: a text-to-image preference triple
 * (caption, better image, worse image) becomes a discriminative pair over two
 * images that the reward model can score like any other pair: the prompt
 * and the two answers are ShapesWorld's (trainer/shapes/t2i.ts, the same
 * strings its t2i slice uses), the better image first in exactly half the
 * pairs, chosen by a seeded shuffle.
 *
 * The default model's encoder reads these prompts: it finds the caption
 * after "Text Caption:", measures it against image 1 and image 2, and signs
 * the difference by which image the response names (t2i.* features), so a
 * head can only score these pairs through the images.
 */
import type { LabeledPair } from '../data/labeled-pair.js';
import { DT2IT_RESPONSES, dt2itPrompt } from '../shapes/t2i.js';
import { Rng } from '../shapes/rng.js';
import type { StepResult } from './counts.js';

export interface T2ITriple {
  id: string;
  caption: string;
  /** Image bytes (PNG/JPEG/WebP). */
  better: Uint8Array;
  worse: Uint8Array;
}

/** The pairs, chosen = the answer naming the better image; `truth` is 'chosen' (the triple's label is taken as given). */
export function reformulateT2I(triples: readonly T2ITriple[], seed: number): StepResult<LabeledPair[]> {
  const rng = Rng.fromSeed(seed).child('t2i-order');
  const order = rng.shuffle(triples.map((_, i) => i));
  const betterFirst = new Set(order.slice(0, Math.ceil(triples.length / 2)));
  const out = triples.map((t, i): LabeledPair => {
    const first = betterFirst.has(i);
    return {
      id: t.id,
      images: first ? [t.better, t.worse] : [t.worse, t.better],
      prompt: dt2itPrompt(t.caption),
      chosen: first ? DT2IT_RESPONSES[0] : DT2IT_RESPONSES[1],
      rejected: first ? DT2IT_RESPONSES[1] : DT2IT_RESPONSES[0],
      truth: 'chosen',
      slice: 't2i',
    };
  });
  return { output: out, counts: { in: triples.length, out: out.length, betterFirst: betterFirst.size } };
}
