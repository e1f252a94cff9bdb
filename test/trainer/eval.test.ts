import { describe, expect, it } from 'vitest';
import { blindPairs } from '../../trainer/eval/blind.js';
import { accuracy, evaluatePairs, expectedCalibrationError } from '../../trainer/eval/metrics.js';
import type { LabeledPair } from '../../trainer/data/labeled-pair.js';
import { Rng } from '../../trainer/shapes/rng.js';

describe('metrics', () => {
  it('counts ties as half and reports every core slice, even when empty', () => {
    expect(accuracy([{ better: 1, worse: 0 }, { better: 0, worse: 0 }])).toBe(0.75);
    const r = evaluatePairs([{ slice: 'grounded', better: 2, worse: 1 }, { slice: 'description', better: 0, worse: 1 }]);
    expect(r.slices.map((s) => s.slice)).toEqual(['overall', 'grounded', 'style-adversarial', 't2i', 'description']);
    expect(r.slices[0]!.accuracy).toBe(0.5);
    expect(Number.isNaN(r.slices[2]!.accuracy)).toBe(true);
  });

  it('gives a small ECE to a calibrated model and a large one to an overconfident one', () => {
    const rng = Rng.fromSeed(3);
    const calibrated = [];
    const overconfident = [];
    for (let i = 0; i < 20000; i++) {
      const margin = rng.float(-4, 4);
      // The truly better side wins with probability sigmoid(margin).
      const right = rng.next() < 1 / (1 + Math.exp(-margin));
      calibrated.push(right ? { better: margin, worse: 0 } : { better: 0, worse: margin });
      overconfident.push(right ? { better: 5 * margin, worse: 0 } : { better: 0, worse: 5 * margin });
    }
    expect(expectedCalibrationError(calibrated)).toBeLessThan(0.02);
    expect(expectedCalibrationError(overconfident)).toBeGreaterThan(0.1);
  });
});

describe('blindPairs', () => {
  const img = (n: number) => new Uint8Array([n]);
  const pair = (id: number, slice: string, images: Uint8Array[]): LabeledPair => ({ id: String(id), images, prompt: `p${id}`, chosen: 'a', rejected: 'b', slice });

  it('gives each pair another pair\'s images from the same slice and image count, texts untouched', () => {
    const pairs = [pair(0, 'grounded', [img(0)]), pair(1, 'grounded', [img(1)]), pair(2, 't2i', [img(2), img(3)]), pair(3, 't2i', [img(4), img(5)]), pair(4, 'grounded', [img(6)])];
    const blind = blindPairs(pairs);
    blind.forEach((b, i) => {
      expect(b.prompt).toBe(pairs[i]!.prompt);
      expect(b.images).not.toBe(pairs[i]!.images);
      expect(b.images.length).toBe(pairs[i]!.images.length);
    });
    const groundedImages = new Set(blind.filter((p) => p.slice === 'grounded').map((p) => p.images[0]![0]));
    expect(groundedImages).toEqual(new Set([0, 1, 6]));
  });
});
