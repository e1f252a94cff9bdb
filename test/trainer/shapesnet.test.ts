import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { preprocessImage } from '../../src/model/image.js';
import { encodeText, Tokenizer } from '../../src/model/text.js';
import { renderPng } from '../../trainer/shapes/raster.js';
import { sampleSplit } from '../../trainer/shapes/pairs.js';
import type { Scene, Shape } from '../../trainer/shapes/world.js';
import { buildEncoderOnnx, ENCODER_D, FEATURE_NAMES } from '../../trainer/shapesnet/encoder.js';
import { buildTokenizerSpec } from '../../trainer/shapesnet/lexicon.js';
import { cellIndex, COLOR_ORDER, KIND_ORDER, NCELL, SIZE_ORDER } from '../../trainer/shapesnet/palette.js';
import { SHAPESNET_IMAGE as IMAGE, SHAPESNET_TEXT as TEXT } from '../../trainer/shapesnet/stages.js';
import { buildVisionOnnx, VISION_DV } from '../../trainer/shapesnet/vision.js';

let vision: ort.InferenceSession;
let encoder: ort.InferenceSession;
const tokSpec = buildTokenizerSpec();
const tok = new Tokenizer(tokSpec);

beforeAll(async () => {
  vision = await ort.InferenceSession.create(buildVisionOnnx(IMAGE));
  encoder = await ort.InferenceSession.create(buildEncoderOnnx(IMAGE, TEXT, tokSpec));
});

async function embed(scenes: Scene[]): Promise<Float32Array[]> {
  const S = IMAGE.size;
  const per = 3 * S * S;
  const px = new Float32Array(scenes.length * per);
  for (const [i, s] of scenes.entries()) px.set(await preprocessImage(await renderPng(s), IMAGE, `scene ${i}`), i * per);
  const out = await vision.run({ pixels: new ort.Tensor('float32', px, [scenes.length, 3, S, S]) });
  const e = out.embedding!.data as Float32Array;
  return scenes.map((_, i) => e.slice(i * VISION_DV, (i + 1) * VISION_DV));
}

const counts = (s: Scene) => {
  const t = new Array<number>(NCELL).fill(0);
  for (const sh of s.shapes) t[cellIndex(COLOR_ORDER.indexOf(sh.color), KIND_ORDER.indexOf(sh.kind), SIZE_ORDER.indexOf(sh.size))]!++;
  return t;
};

describe('ShapesNet vision', () => {
  it('counts every (color, kind, size) right in most rendered scenes', async () => {
    const scenes = sampleSplit(11, 60).map((p) => p.images[0]!);
    const emb = await embed(scenes);
    const exact = scenes.filter((s, i) => counts(s).every((c, j) => Math.round(emb[i]![j]!) === c)).length;
    expect(exact / scenes.length).toBeGreaterThan(0.9);
  });
});

describe('ShapesNet encoder', () => {
  const shape = (kind: Shape['kind'], color: Shape['color'], size: Shape['size'], x: number, y: number): Shape => ({ kind, color, size, x, y });
  const scene: Scene = {
    shapes: [shape('circle', 'red', 'small', 0.2, 0.3), shape('circle', 'red', 'large', 0.7, 0.7), shape('square', 'blue', 'small', 0.8, 0.2)],
    background: { fill: { type: 'solid', color: 'white' }, noiseSeed: 1 },
  };
  const other: Scene = { ...scene, shapes: [shape('triangle', 'green', 'large', 0.5, 0.5)] };

  async function features(cases: [string, string][], images: Scene[]): Promise<Record<string, number>[]> {
    const emb = await embed(images);
    const n = cases.length;
    const M = IMAGE.maxImages;
    const e = new Float32Array(n * M * VISION_DV);
    const mask = new Float32Array(n * M);
    const p = new BigInt64Array(n * TEXT.maxPromptTokens);
    const r = new BigInt64Array(n * TEXT.maxResponseTokens);
    cases.forEach(([prompt, response], i) => {
      emb.forEach((x, j) => { e.set(x, (i * M + j) * VISION_DV); mask[i * M + j] = 1; });
      const t = encodeText(tok, TEXT, { prompt, response });
      t.promptIds.forEach((id, j) => { p[i * TEXT.maxPromptTokens + j] = BigInt(id); });
      t.responseIds.forEach((id, j) => { r[i * TEXT.maxResponseTokens + j] = BigInt(id); });
    });
    const out = await encoder.run({
      image_embeddings: new ort.Tensor('float32', e, [n, M, VISION_DV]),
      image_mask: new ort.Tensor('float32', mask, [n, M]),
      prompt_ids: new ort.Tensor('int64', p, [n, TEXT.maxPromptTokens]),
      response_ids: new ort.Tensor('int64', r, [n, TEXT.maxResponseTokens]),
    });
    const f = out.features!.data as Float32Array;
    return cases.map((_, i) => Object.fromEntries(FEATURE_NAMES.map((name, j) => [name, f[i * ENCODER_D + j]!])));
  }

  it('measures claimed counts, existence, colors and directions against the image', async () => {
    const [right, wrong, bare, yes, no, color, badColor, left, rightOf] = await features([
      ['How many red circles are there?', 'There are 2 red circles.'],
      ['How many red circles are there?', 'There are three red circles.'],
      ['How many red circles are there?', '2'],
      ['Is there a blue square in the image?', 'Yes, there is a blue square in the image.'],
      ['Is there a blue square in the image?', 'No, there is no blue square in the image.'],
      ['What color is the square?', 'The square is blue.'],
      ['What color is the square?', 'The square is red.'],
      ['Where is the small red circle relative to the blue square?', 'The small red circle is to the left of the blue square.'],
      ['Where is the small red circle relative to the blue square?', 'The small red circle is to the right of the blue square.'],
    ], [scene]);
    expect([right!['resp.num_right'], right!['q.count_right'], right!['q.count_wrong']]).toEqual([1, 1, 0]);
    expect([wrong!['resp.num_wrong'], wrong!['q.count_wrong'], wrong!['q.count_right']]).toEqual([1, 1, 0]);
    expect(bare!['q.count_right']).toBe(1);
    expect([yes!['q.yes_present'], yes!['resp.a_present']]).toEqual([1, 1]);
    expect([no!['q.no_present'], no!['resp.no_present']]).toEqual([1, 1]);
    expect([color!['q.color_right'], color!['q.color_wrong']]).toEqual([1, 0]);
    expect([badColor!['q.color_right'], badColor!['q.color_wrong']]).toEqual([0, 1]);
    expect(left!['q.dir_right']).toBeGreaterThan(0.99);
    expect(rightOf!['q.dir_wrong']).toBeGreaterThan(0.99);
  });

  it('signs the caption agreement difference by the image the response picks (T2I)', async () => {
    const prompt = 'Image 1: <image> Image 2: <image> Which image matches the text caption better? Text Caption: A large red circle and a small blue square.';
    const [one, two] = await features([[prompt, 'Image 1 is better than Image 2.'], [prompt, 'Image 2 is better than Image 1.']], [scene, other]);
    expect(one!['t2i.a_present']).toBe(2);
    expect(two!['t2i.a_present']).toBe(-2);
    expect(one!['t2i.picks']).toBe(1);
    expect(one!['q.count_right']).toBe(0); // single-image features are off for two images
  });
});
