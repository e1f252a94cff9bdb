/**
 * ShapesWorld PNGs carry their scene in a tEXt chunk: it reads back exactly,
 * and the pixels the model sees (its tensors and the vision stage's
 * embeddings) are identical with and without it.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { preprocessImage } from '../../../src/model/image.js';
import { sampleSplit } from '../../../trainer/shapes/pairs.js';
import { encodePng, encodePngSync, readPngText } from '../../../trainer/shapes/png.js';
import { rasterize, renderPng } from '../../../trainer/shapes/raster.js';
import { renderPairImages, imageKeys } from '../../../trainer/shapes/render-pairs.js';
import { SCENE_TEXT_KEY, sceneFromPng, sceneText } from '../../../trainer/shapes/scene-text.js';
import { SHAPESNET_IMAGE as IMAGE } from '../../../trainer/shapesnet/stages.js';
import { buildVisionOnnx } from '../../../trainer/shapesnet/vision.js';

const samples = sampleSplit(81, 40);

describe('scene text chunk', () => {
  it('every rendered image (renderPng, renderPairImages on workers and inline) carries its scene exactly', async () => {
    for (const workers of [0, 2]) {
      const pngs = await renderPairImages(samples, { workers });
      for (const s of samples) imageKeys(s).forEach((k, i) => expect(sceneFromPng(pngs.get(k)!)).toEqual(s.images[i]));
    }
    expect(sceneFromPng(await renderPng(samples[0]!.images[0]!))).toEqual(samples[0]!.images[0]);
  });

  it('gives the model identical tensors and vision embeddings with and without the chunk', async () => {
    const vision = await ort.InferenceSession.create(buildVisionOnnx(IMAGE));
    const S = IMAGE.size;
    for (const s of samples.slice(0, 12)) {
      const raster = rasterize(s.images[0]!);
      const plain = encodePngSync(raster);
      const tagged = await encodePng(raster, sceneText(s.images[0]!));
      expect(tagged.equals(plain)).toBe(false);
      expect(readPngText(plain).size).toBe(0);
      const [tp, tt] = await Promise.all([preprocessImage(plain, IMAGE, 'plain'), preprocessImage(tagged, IMAGE, 'tagged')]);
      expect(Buffer.from(tt.buffer).equals(Buffer.from(tp.buffer))).toBe(true);
      const run = async (px: Float32Array) => (await vision.run({ pixels: new ort.Tensor('float32', px, [1, 3, S, S]) })).embedding!.data as Float32Array;
      expect(Array.from(await run(tt))).toEqual(Array.from(await run(tp)));
    }
  });

  it('reads nothing from foreign, truncated or tampered files', async () => {
    const png = await renderPng(samples[1]!.images[0]!);
    expect(sceneFromPng(png.subarray(0, 40))).toBeUndefined();
    expect(sceneFromPng(Buffer.from('not a png at all'))).toBeUndefined();
    const other = await encodePng(rasterize(samples[1]!.images[0]!), { [SCENE_TEXT_KEY]: '{"shapes": "nope"}' });
    expect(sceneFromPng(other)).toBeUndefined();
    expect(() => encodePngSync(rasterize(samples[1]!.images[0]!), { '': 'x' })).toThrow(RangeError);
  });
});
