/**
 * The shipped learned bundle (models/shapes-mrm-learned, `npm run
 * build:learned`): it loads as bundle v1, carries its PyTorch weights for a
 * full fine-tune round, stays small enough for git, and scores what the
 * README says on a small fixed split. Inference is deterministic, so each
 * figure is exact today; the bounds leave about a point (a few pairs) for an
 * onnxruntime upgrade, no more.
 */
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle, type LoadedBundle } from '../../../src/model/bundle.js';
import { sha256Hex } from '../../../src/model/digest.js';
import type { Manifest } from '../../../src/model/manifest.js';
import { loadDataset } from '../../../trainer/data/datasets.js';
import { labeledShapesPairs } from '../../../trainer/data/shapes.js';
import type { LabeledPair } from '../../../trainer/data/labeled-pair.js';
import { blindPairs } from '../../../trainer/eval/blind.js';
import { scorePairs, toScored } from '../../../trainer/eval/evaluate.js';
import { evaluatePairs, type EvalReport } from '../../../trainer/eval/metrics.js';
import { sampleSplit } from '../../../trainer/shapes/pairs.js';
import { runPython, writeShapesData } from './helpers.js';

const LEARNED = fileURLToPath(new URL('../../../models/shapes-mrm-learned/', import.meta.url));
const acc = (r: EvalReport, slice: string) => r.slices.find((s) => s.slice === slice)!.accuracy;

describe('the shipped learned bundle', () => {
  let bundle: LoadedBundle;
  let pairs: LabeledPair[];
  beforeAll(async () => {
    [bundle, pairs] = await Promise.all([loadBundle(LEARNED, { threads: 2 }), labeledShapesPairs(sampleSplit(99, 400))]);
  });
  afterAll(() => bundle?.runtime.release());

  it('names every file with its sha256, its PyTorch weights included, in at most 20 MiB', async () => {
    const manifest = JSON.parse(await readFile(join(LEARNED, 'manifest.json'), 'utf8')) as Manifest;
    let bytes = 0;
    for (const [key, ref] of Object.entries(manifest.files)) {
      const path = join(LEARNED, ref.path!);
      expect(sha256Hex(await readFile(path)), key).toBe(ref.sha256);
      bytes += (await stat(path)).size;
    }
    expect(Object.keys(manifest.files)).toContain('torch');
    expect(bytes).toBeLessThanOrEqual(20 * 2 ** 20);
  });

  // Today on these 400 pairs: overall 97.5%, grounded 98.1% (160 pairs); on
  // seed 99's 2,000 + 400 paraphrases (`mrm eval`) 98.0% and 98.1%, the
  // issue's 97% and 95%.
  it('is as accurate as the README says', async () => {
    const r = evaluatePairs(toScored(pairs, await scorePairs(bundle.runtime, pairs)));
    expect(acc(r, 'overall')).toBeGreaterThanOrEqual(0.965);
    expect(acc(r, 'grounded')).toBeGreaterThanOrEqual(0.97);
  });

  // Today 52.5% on these 160 grounded pairs: what it gets
  // right it gets from the image. Chance within 2 standard errors (0.04).
  it('falls to chance on grounded pairs when every pair gets another scene', async () => {
    const blind = blindPairs(pairs);
    const r = evaluatePairs(toScored(blind, await scorePairs(bundle.runtime, blind)));
    expect(acc(r, 'grounded')).toBeGreaterThan(0.42);
    expect(acc(r, 'grounded')).toBeLessThan(0.6);
  });

  // The ONNX files are what is served and torch.pt is what a full round
  // fine-tunes: they must be the same model. 200 pairs it never saw (seed 7),
  // scored by onnxruntime here and by PyTorch from the bundle's own torch.pt.
  it('serves what its PyTorch weights compute: 200 unseen pairs within 1e-4', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mrm-shipped-parity-'));
    try {
      await writeShapesData(dir, 7, 180, 20);
      const data = await loadDataset(dir, 'llamafactory');
      const onnx = await scorePairs(bundle.runtime, data);
      const torch = new Map((await runPython('mrm_torch.score', ['--bundle', LEARNED, '--checkpoint', join(LEARNED, 'torch.pt'), '--data', dir]))
        .trim().split('\n').map((l) => JSON.parse(l) as { id: string; chosen: number; rejected: number }).map((r) => [r.id, r]));
      expect(torch.size).toBe(200);
      let worst = 0;
      data.forEach((p, i) => {
        const t = torch.get(p.id)!;
        worst = Math.max(worst, Math.abs(onnx.chosen[i]! - t.chosen), Math.abs(onnx.rejected[i]! - t.rejected));
      });
      expect(worst).toBeLessThanOrEqual(1e-4);
      // Not a constant model: the rewards differ between responses.
      expect(Math.max(...onnx.chosen) - Math.min(...onnx.chosen)).toBeGreaterThan(1e-2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 300_000);
});
