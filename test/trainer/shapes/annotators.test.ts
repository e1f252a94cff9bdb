import { describe, expect, it } from 'vitest';
import { annotate, annotateAll, ORACLE } from '../../../trainer/shapes/annotators.js';
import { toPreferenceRecord } from '../../../trainer/shapes/formats.js';
import type { PairSample } from '../../../trainer/shapes/pair-sample.js';
import { sampleSplit } from '../../../trainer/shapes/pairs.js';
import { Rng } from '../../../trainer/shapes/rng.js';

const verboseSide = (p: PairSample): 'a' | 'b' => (p.meta.styles[0] === 'verbose' ? 'a' : 'b');

describe('annotators', () => {
  const adversarial = sampleSplit(61, 3000, { 'style-adversarial': 1 });
  const mixed = sampleSplit(62, 1000);

  it('the oracle labels the truth', () => {
    const labels = annotateAll(mixed, ORACLE, Rng.fromSeed(1));
    labels.forEach((a, i) => expect(a).toEqual({ label: mixed[i]!.truth, truth: mixed[i]!.truth }));
  });

  it('a style-biased annotator (p = 0.7) prefers the verbose response at the expected rate', () => {
    const labels = annotateAll(adversarial, { styleBias: 0.7 }, Rng.fromSeed(2));
    // Correct is plain here, so the label goes to the verbose (wrong) one exactly when the bias fires.
    const verbose = labels.filter((a, i) => a.label === verboseSide(adversarial[i]!)).length / labels.length;
    expect(Math.abs(verbose - 0.7)).toBeLessThan(0.03);
    labels.forEach((a, i) => expect(a.truth).toBe(adversarial[i]!.truth));
    // Where styles agree, the bias has nothing to act on.
    const same = mixed.filter((p) => p.meta.styles[0] === p.meta.styles[1]);
    annotateAll(same, { styleBias: 0.7 }, Rng.fromSeed(3)).forEach((a, i) => expect(a.label).toBe(same[i]!.truth));
  });

  it('flips after the bias, and coarse labels become ties that give no record', () => {
    const labels = annotateAll(adversarial, { styleBias: 0.7, flip: 0.1 }, Rng.fromSeed(4));
    const verbose = labels.filter((a, i) => a.label === verboseSide(adversarial[i]!)).length / labels.length;
    expect(Math.abs(verbose - (0.7 * 0.9 + 0.3 * 0.1))).toBeLessThan(0.03);

    const flipped = annotateAll(mixed, { flip: 0.2 }, Rng.fromSeed(5)).filter((a) => a.label !== a.truth).length / mixed.length;
    expect(Math.abs(flipped - 0.2)).toBeLessThan(0.04);

    const coarse = annotateAll(mixed, { coarse: 0.25 }, Rng.fromSeed(6));
    const ties = coarse.filter((a) => a.label === 'tie').length / mixed.length;
    expect(Math.abs(ties - 0.25)).toBeLessThan(0.04);
    coarse.forEach((a, i) => {
      const r = toPreferenceRecord(mixed[i]!, a);
      if (a.label === 'tie') expect(r).toBeNull();
      else expect(r?.truth).toBe('chosen');
    });
  });

  it('is deterministic per sample and rejects non-probabilities', () => {
    const p = mixed[0]!;
    expect(annotate(p, { flip: 0.5 }, Rng.fromSeed(7))).toEqual(annotate(p, { flip: 0.5 }, Rng.fromSeed(7)));
    expect(() => annotate(p, { flip: 1.5 }, Rng.fromSeed(7))).toThrow(RangeError);
  });
});
