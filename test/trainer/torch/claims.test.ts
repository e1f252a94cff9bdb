/**
 * The grounding stage's claims (trainer/torch/mrm_torch/claims.py) are the
 * generator's sentences: for scenes the TypeScript sampler draws, every
 * question Python asks is one questions.ts can ask of that scene, every
 * claim it calls true is the TypeScript reference claim of an askable
 * question (training templates 0-2, either numerals), and every claim it
 * calls false is not. So the stage teaches the grammar the pairs use, and
 * never the held-out paraphrase template.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimText, questionText, referenceAnswer, type Question } from '../../../trainer/shapes/questions.js';
import { TRAIN_CLAIM_TEMPLATES } from '../../../trainer/shapes/paraphrase.js';
import { Rng } from '../../../trainer/shapes/rng.js';
import { sampleScene } from '../../../trainer/shapes/sampler.js';
import { UnaskableQuestion } from '../../../trainer/shapes/errors.js';
import { captionText, sceneMatchesCaption, type CaptionSpec } from '../../../trainer/shapes/t2i.js';
import { rasterize } from '../../../trainer/shapes/raster.js';
import { COLORS, KINDS, SIZES, type Scene } from '../../../trainer/shapes/world.js';
import { runPython } from './helpers.js';

/** The scene drawn flipped along `axis`: what the grounding stage's Flip of its image shows. */
function flipped(scene: Scene, axis: 'x' | 'y'): Scene {
  const fill = scene.background.fill;
  // A gradient along the flip runs the other way.
  const along = fill.type === 'gradient' && (fill.direction === 'horizontal') === (axis === 'x');
  return {
    ...scene,
    shapes: scene.shapes.map((s) => (axis === 'x' ? { ...s, x: 1 - s.x } : { ...s, y: 1 - s.y })),
    background: { ...scene.background, fill: along ? { ...fill, from: fill.to, to: fill.from } : fill },
  };
}

/** Two draws of the background noise (BACKGROUND_NOISE, +-6 a channel) differ by at most 12 or so. */
const FLIP_TOLERANCE = 14;

function questions(scene: Scene): Question[] {
  const qs: Question[] = [];
  const sizes = [undefined, ...SIZES];
  for (const kind of KINDS) {
    for (const color of [undefined, ...COLORS]) for (const template of [0, 1] as const) qs.push({ type: 'count', kind, color, template });
    for (const size of sizes) qs.push({ type: 'color', kind, size });
    for (const color of COLORS) for (const size of sizes) qs.push({ type: 'existence', kind, color, size });
  }
  for (const s of scene.shapes) {
    for (const o of scene.shapes) {
      if (s === o) continue;
      for (const form of ['where', 'left-right'] as const) {
        qs.push({ type: 'position', subject: { color: s.color, kind: s.kind }, object: { color: o.color, kind: o.kind }, form });
      }
    }
  }
  for (const template of [0, 1, 2] as const) qs.push({ type: 'description', template });
  return qs;
}

/** Runs `module` on `scenes` (written to a temporary scenes.json) with `args`; its stdout's JSON lines. */
async function pythonRows<T>(module: string, scenes: Scene[], args: string[]): Promise<T[]> {
  const dir = await mkdtemp(join(tmpdir(), 'mrm-claims-'));
  try {
    await writeFile(join(dir, 'scenes.json'), JSON.stringify(scenes));
    return (await runPython(module, [join(dir, 'scenes.json'), ...args])).trim().split('\n').map((l) => JSON.parse(l) as T);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Question texts and true claims of every askable question, per scene. */
function truth(scene: Scene): { asked: Set<string>; claims: Set<string> } {
  const asked = new Set<string>();
  const claims = new Set<string>();
  for (const q of questions(scene)) {
    const a = referenceAnswer(q, scene);
    if (a instanceof UnaskableQuestion) continue;
    asked.add(questionText(q));
    for (let t = 0; t < TRAIN_CLAIM_TEMPLATES; t++) for (const n of ['digits', 'words'] as const) claims.add(claimText(q, a, n, t));
  }
  return { asked, claims };
}

describe('mrm_torch.claims', () => {
  it('asks askable questions and calls a claim true exactly when the TypeScript grammar does', async () => {
    const rng = new Rng(31);
    const scenes = Array.from({ length: 60 }, () => sampleScene(rng));
    const rows = await pythonRows<[number, string, string, string, string]>('mrm_torch.claims', scenes, ['20']);
    const truths = scenes.map(truth);
    const types = new Set(rows.map((r) => r[1]));
    expect([...types].sort()).toEqual(['color', 'count', 'count_present', 'description', 'existence', 'position']);
    expect(rows.length).toBeGreaterThan(600);
    for (const [i, , question, yes, no] of rows) {
      const t = truths[i]!;
      expect(t.asked.has(question), question).toBe(true);
      expect(t.claims.has(yes), `${question} -> ${yes}`).toBe(true);
      expect(t.claims.has(no), `${question} -> ${no}`).toBe(false);
    }
  }, 120_000);

  // The grounding stage's T2I questions (t2i_claims.py): the caption is the
  // one t2i.ts writes for the spec, and it fits the better image and not the
  // worse one by t2i.ts's own rule.
  it('writes T2I captions as t2i.ts does, fitting the better image only', async () => {
    const rng = new Rng(37);
    const scenes = Array.from({ length: 80 }, () => sampleScene(rng));
    const rows = await pythonRows<[number, number, CaptionSpec, 'digits' | 'words', string]>('mrm_torch.t2i_claims', scenes, ['300']);
    expect(rows.length).toBeGreaterThan(250);
    expect(new Set(rows.map((r) => r[2].type))).toEqual(new Set(['groups', 'relation']));
    for (const [better, worse, spec, numerals, caption] of rows) {
      expect(captionText(spec, numerals)).toBe(caption);
      expect(sceneMatchesCaption(spec, scenes[better]!), caption).toBe(true);
      expect(sceneMatchesCaption(spec, scenes[worse]!), caption).toBe(false);
    }
  }, 120_000);

  // Mirror questions (t2i_claims.py mirror_draw): a relation caption set
  // against its own image flipped. The flipped scene must be the caption's
  // near miss by t2i.ts's rule, top-bottom flips never hold a triangle (they
  // point up), and flipping the pixels must draw that scene: the renderer's
  // picture of the flipped scene differs from the flipped picture by its
  // per-pixel noise alone.
  it('sets relation captions against their image flipped, which draws the swapped scene', async () => {
    const rng = new Rng(41);
    const scenes = Array.from({ length: 200 }, () => sampleScene(rng));
    const rows = await pythonRows<[number, { row: number; axis: 'x' | 'y' }, CaptionSpec, 'digits' | 'words', string]>('mrm_torch.t2i_claims', scenes, ['200', 'mirror']);
    expect(rows.length).toBeGreaterThan(150);
    expect(new Set(rows.map((r) => r[1].axis))).toEqual(new Set(['x', 'y']));
    for (const [better, worse, spec, numerals, caption] of rows) {
      const scene = scenes[better]!;
      expect(spec.type).toBe('relation');
      expect(worse.row).toBe(better);
      expect(captionText(spec, numerals)).toBe(caption);
      expect(sceneMatchesCaption(spec, scene), caption).toBe(true);
      expect(sceneMatchesCaption(spec, flipped(scene, worse.axis)), `${caption} (${worse.axis})`).toBe(false);
      if (worse.axis === 'y') expect(scene.shapes.some((s) => s.kind === 'triangle')).toBe(false);
    }
    for (const [better, { axis }] of rows.slice(0, 20)) {
      const a = rasterize(scenes[better]!);
      const b = rasterize(flipped(scenes[better]!, axis));
      const w = a.width;
      let far = 0;
      for (let y = 0; y < w; y++) {
        for (let x = 0; x < w; x++) {
          const fy = axis === 'y' ? w - 1 - y : y;
          const fx = axis === 'x' ? w - 1 - x : x;
          for (let c = 0; c < 3; c++) if (Math.abs(a.data[(fy * w + fx) * 3 + c]! - b.data[(y * w + x) * 3 + c]!) > FLIP_TOLERANCE) far++;
        }
      }
      expect(far, `scene ${better} flipped along ${axis}`).toBe(0);
    }
  }, 120_000);
});
