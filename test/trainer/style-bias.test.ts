/**
 * The failure the DT2IT loop exists to repair, pinned small enough for CI: a
 * head fitted on style-biased labels (annotators prefer the more verbose
 * answer 70% of the time, then flip 10%) fails on style-adversarial pairs,
 * where the shipped model, fitted on oracle labels, does not.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../src/model/bundle.js';
import { labeledShapesPairs, noisyLabeler } from '../../trainer/data/shapes.js';
import type { LabeledPair } from '../../trainer/data/labeled-pair.js';
import { scorePairs, toScored } from '../../trainer/eval/evaluate.js';
import { evaluatePairs } from '../../trainer/eval/metrics.js';
import { fitBundle, withTempDir } from '../../trainer/fit/fit-bundle.js';
import { sampleSplit } from '../../trainer/shapes/pairs.js';
import { SHIPPED } from '../fixtures/shipped.js';

let adversarial: LabeledPair[];
beforeAll(async () => { adversarial = await labeledShapesPairs(sampleSplit(99, 150, { 'style-adversarial': 1 })); });

describe('a head fitted on style-biased labels (400 pairs of seed 1)', () => {
  // Today 98.7% of these 150 pairs; one standard error at n = 150 is ~1%.
  it('(contrast) the shipped model, fitted on oracle labels, gets the same pairs right', async () => {
    const { runtime } = await loadBundle(SHIPPED, { threads: 2 });
    try {
      const r = evaluatePairs(toScored(adversarial, await scorePairs(runtime, adversarial)));
      expect(r.slices[0]!.accuracy).toBeGreaterThanOrEqual(0.96);
    } finally {
      await runtime.release();
    }
  });

  // Today 26.0% (the README's 19% is the same fit on 8,000 pairs). The band
  // is about 2 standard errors (0.036 at n = 150) either side: a fit that
  // stopped following the bias (> 34%) or a harsher failure (< 18%) both mean
  // the data, the annotator or the fit changed.
  it('fails on style-adversarial pairs', async () => {
    const train = await labeledShapesPairs(sampleSplit(1, 400), noisyLabeler(1, { styleBias: 0.7, flip: 0.1, coarse: 0 }));
    const r = await withTempDir('mrm-biased-', (out) => fitBundle(train, { base: SHIPPED, out, version: 2, heldOut: adversarial, referenceSet: 'style-biased seed 1', threads: 2 }));
    const a = r.heldOut!.slices.find((s) => s.slice === 'style-adversarial')!;
    expect(a.pairs).toBe(150);
    expect(a.accuracy).toBeGreaterThan(0.18);
    expect(a.accuracy).toBeLessThan(0.34);
  });
});
