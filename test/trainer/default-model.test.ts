/**
 * The README's claims about the shipped default model, pinned on small fixed
 * splits so they run in CI: the bundle is what the code builds, its accuracy,
 * and the blind check. The splits are fixed seeds and inference is
 * deterministic, so each figure is exact today; the bands leave room for a
 * pair or two to flip (an onnxruntime upgrade) and no more.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle, type LoadedBundle } from '../../src/model/bundle.js';
import { sha256Hex } from '../../src/model/digest.js';
import type { Manifest } from '../../src/model/manifest.js';
import { labeledShapesPairs } from '../../trainer/data/shapes.js';
import type { LabeledPair } from '../../trainer/data/labeled-pair.js';
import { blindPairs } from '../../trainer/eval/blind.js';
import { scorePairs, toScored } from '../../trainer/eval/evaluate.js';
import { evaluatePairs, type EvalReport } from '../../trainer/eval/metrics.js';
import { sampleSplit } from '../../trainer/shapes/pairs.js';
import { buildFrozenStages } from '../../trainer/shapesnet/stages.js';
import { SHIPPED } from '../fixtures/shipped.js';

const acc = (r: EvalReport, slice: string) => r.slices.find((s) => s.slice === slice)!.accuracy;

describe('the shipped bundle', () => {
  it('holds the frozen stages the code builds, byte for byte', async () => {
    const manifest = JSON.parse(await readFile(join(SHIPPED, 'manifest.json'), 'utf8')) as Manifest;
    const built = buildFrozenStages();
    // writeBundle serializes a tokenizer spec exactly so.
    const bytes = { vision: built.vision, encoder: built.encoder, tokenizer: new TextEncoder().encode(JSON.stringify(built.tokenizer)) };
    for (const [key, b] of Object.entries(bytes) as [keyof typeof bytes, Uint8Array][]) {
      const ref = manifest.files[key];
      expect(sha256Hex(b), key).toBe(ref.sha256);
      expect(sha256Hex(await readFile(join(SHIPPED, ref.path!))), key).toBe(ref.sha256);
    }
  });
});

describe('the shipped model on ShapesWorld seed 99 (400 pairs)', () => {
  let bundle: LoadedBundle;
  let pairs: LabeledPair[];
  beforeAll(async () => {
    [bundle, pairs] = await Promise.all([loadBundle(SHIPPED, { threads: 2 }), labeledShapesPairs(sampleSplit(99, 400))]);
  });
  afterAll(() => bundle?.runtime.release());

  // Today: overall 99.1%, grounded 99.4% (160 pairs), style-adversarial
  // 100% (60), T2I 95.8% (60); ECE 0.009. Each lower bound is today's figure
  // less about one percentage point of the slice (1-4 pairs).
  it('is as accurate as the README says, per slice', async () => {
    const r = evaluatePairs(toScored(pairs, await scorePairs(bundle.runtime, pairs)));
    expect(acc(r, 'overall')).toBeGreaterThanOrEqual(0.98);
    expect(acc(r, 'grounded')).toBeGreaterThanOrEqual(0.98);
    expect(acc(r, 'style-adversarial')).toBeGreaterThanOrEqual(0.98);
    expect(acc(r, 't2i')).toBeGreaterThanOrEqual(0.93);
    expect(r.ece).toBeLessThan(0.02);
  });

  // Today 50.6% on the 160 grounded pairs; chance within about 2 standard
  // errors (0.04 at n = 160). A model that half-used the images would land
  // near 75% and fail.
  it('falls to chance on grounded pairs when every pair gets another scene', async () => {
    const blind = blindPairs(pairs);
    const r = evaluatePairs(toScored(blind, await scorePairs(bundle.runtime, blind)));
    expect(acc(r, 'grounded')).toBeGreaterThan(0.42);
    expect(acc(r, 'grounded')).toBeLessThan(0.58);
  });
});
