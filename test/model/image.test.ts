import { createHash } from 'node:crypto';
import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/model/errors.js';
import { headerBomb } from '../fixtures/png.js';
import type { ImagePreprocess } from '../../src/model/manifest.js';
import { preprocessImage, preprocessImages, sha256Hex } from '../../src/model/image.js';

const SPEC: ImagePreprocess = {
  size: 8,
  channelOrder: 'rgb',
  mean: [0.5, 0.25, 0.125],
  std: [0.5, 0.25, 2],
  maxImages: 2,
  maxPixels: 1_000_000,
};
const PLANE = SPEC.size * SPEC.size;

type Rgb = [number, number, number];

/** A width x height image of one colour, `channels` 3 (RGB) or 4 (RGBA). */
function solid(width: number, height: number, colour: number[]): Sharp {
  const channels = colour.length as 3 | 4;
  const raw = Buffer.alloc(width * height * channels);
  for (let i = 0; i < raw.length; i++) raw[i] = colour[i % channels]!;
  return sharp(raw, { raw: { width, height, channels } });
}

/** What preprocessing must give for 8-bit value v in tensor channel c. */
function expected(v: number, c: number, spec: ImagePreprocess = SPEC): number {
  return Math.fround((v / 255 - spec.mean[c]!) / spec.std[c]!);
}

function channel(t: Float32Array, c: number): Float32Array {
  return t.subarray(c * PLANE, (c + 1) * PLANE);
}

async function refusal(p: Promise<unknown>): Promise<InputError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(InputError);
  return err as InputError;
}

describe('preprocessImage', () => {
  const colour: Rgb = [200, 100, 50];

  it('decodes a PNG to exact normalized CHW values', async () => {
    const t = await preprocessImage(await solid(8, 8, colour).png().toBuffer(), SPEC, 'img');
    expect(t).toBeInstanceOf(Float32Array);
    expect(t.length).toBe(3 * PLANE);
    for (let c = 0; c < 3; c++) expect(Array.from(channel(t, c))).toEqual(Array(PLANE).fill(expected(colour[c]!, c)));
  });

  it('keeps solid colours exact through a resize', async () => {
    const t = await preprocessImage(await solid(5, 3, colour).png().toBuffer(), SPEC, 'img');
    for (let c = 0; c < 3; c++) expect(Array.from(channel(t, c))).toEqual(Array(PLANE).fill(expected(colour[c]!, c)));
  });

  it.each([
    ['JPEG', (s: Sharp) => s.jpeg({ quality: 95 })],
    ['WebP', (s: Sharp) => s.webp({ quality: 95 })],
  ])('decodes a %s to approximately the colour', async (_name, encode) => {
    const t = await preprocessImage(await encode(solid(16, 16, colour)).toBuffer(), SPEC, 'img');
    expect(t.length).toBe(3 * PLANE);
    for (let c = 0; c < 3; c++) {
      // Lossy codecs (and their chroma subsampling) move values by a few levels.
      const tol = 4 / 255 / SPEC.std[c]!;
      for (const x of channel(t, c)) expect(Math.abs(x - expected(colour[c]!, c))).toBeLessThan(tol);
    }
  });

  it('emits channels in channelOrder, with mean/std indexed in that order', async () => {
    const png = await solid(8, 8, colour).png().toBuffer();
    const bgr: ImagePreprocess = { ...SPEC, channelOrder: 'bgr' };
    const t = await preprocessImage(png, bgr, 'img');
    expect(channel(t, 0)[0]).toBe(expected(colour[2], 0, bgr));
    expect(channel(t, 1)[0]).toBe(expected(colour[1], 1, bgr));
    expect(channel(t, 2)[0]).toBe(expected(colour[0], 2, bgr));
  });

  it('normalizes with each call\'s own mean and std when specs alternate (tables are cached)', async () => {
    const png = await solid(8, 8, colour).png().toBuffer();
    const other: ImagePreprocess = { ...SPEC, mean: [0.5, 0.25, 0.75], std: [0.5, 0.25, 0.5] };
    const stdOnly: ImagePreprocess = { ...other, std: [0.25, 0.25, 0.5] };
    for (const spec of [SPEC, other, SPEC, stdOnly, other]) {
      const t = await preprocessImage(png, spec, 'img');
      for (let c = 0; c < 3; c++) expect(channel(t, c)[5]).toBe(expected(colour[c]!, c, spec));
    }
  });

  it('flattens alpha onto white', async () => {
    const w = 8;
    const raw = Buffer.alloc(w * w * 4);
    // Left half transparent red, right half opaque blue.
    for (let y = 0; y < w; y++) {
      for (let x = 0; x < w; x++) raw.set(x < w / 2 ? [255, 0, 0, 0] : [0, 0, 255, 255], (y * w + x) * 4);
    }
    const png = await sharp(raw, { raw: { width: w, height: w, channels: 4 } }).png().toBuffer();
    const t = await preprocessImage(png, SPEC, 'img');
    const at = (c: number, x: number, y: number) => channel(t, c)[y * w + x];
    for (let c = 0; c < 3; c++) expect(at(c, 0, 3)).toBe(expected(255, c));
    expect([at(0, 7, 3), at(1, 7, 3), at(2, 7, 3)]).toEqual([expected(0, 0), expected(0, 1), expected(255, 2)]);

    const half = await preprocessImage(await solid(8, 8, [0, 0, 0, 128]).png().toBuffer(), SPEC, 'img');
    // 50% black over white: 255 * 127 / 255.
    for (let c = 0; c < 3; c++) expect(Math.abs(channel(half, c)[0]! - expected(127, c))).toBeLessThanOrEqual(1 / 255 / SPEC.std[c]! + 1e-6);
  });

  it('resizes a non-square image by stretching (fit fill)', async () => {
    // 32x8 with its left quarter black: stretched to 8x8 the black is the
    // first two columns of every row. Cropping (cover) would lose it,
    // letterboxing (contain) would add rows of background.
    const [w, h] = [32, 8];
    const raw = Buffer.alloc(w * h * 3);
    for (let i = 0; i < w * h; i++) raw.fill(i % w < w / 4 ? 0 : 255, i * 3, i * 3 + 3);
    const png = await sharp(raw, { raw: { width: w, height: h, channels: 3 } }).png().toBuffer();
    const t = await preprocessImage(png, SPEC, 'img');
    expect(t.length).toBe(3 * PLANE);
    const r = channel(t, 0);
    const level = (x: number, y: number) => Math.round((r[y * SPEC.size + x]! * SPEC.std[0] + SPEC.mean[0]) * 255);
    for (let y = 0; y < SPEC.size; y++) {
      expect(Math.abs(level(0, y) - 0)).toBeLessThanOrEqual(8);
      for (let x = 3; x < SPEC.size; x++) expect(Math.abs(level(x, y) - 255)).toBeLessThanOrEqual(8);
    }
  });

  it('converts greyscale input to three channels', async () => {
    const png = await sharp(Buffer.alloc(64, 77), { raw: { width: 8, height: 8, channels: 1 } }).png().toBuffer();
    const t = await preprocessImage(png, SPEC, 'img');
    for (let c = 0; c < 3; c++) expect(channel(t, c)[10]).toBe(expected(77, c));
  });

  it('refuses a header that claims too many pixels, before decoding', async () => {
    const bomb = headerBomb(30000, 30000);
    expect(bomb.length).toBeLessThan(100);
    const start = performance.now();
    const err = await refusal(preprocessImage(bomb, SPEC, 'items[3].images[1]'));
    expect(performance.now() - start).toBeLessThan(200);
    expect(err.kind).toBe('too-many-pixels');
    expect(err.field).toBe('items[3].images[1]');
    expect(err.limit).toBe(SPEC.maxPixels);
    expect(err.message).toContain('items[3].images[1]');
    expect(err.message).toContain('30000x30000');
    expect(err.message).toContain('900000000');
    expect(err.message).toContain(String(SPEC.maxPixels));
  });

  it('refuses a real image just over maxPixels', async () => {
    const png = await solid(101, 100, colour).png().toBuffer();
    const err = await refusal(preprocessImage(png, { ...SPEC, maxPixels: 10_000 }, 'img'));
    expect(err.kind).toBe('too-many-pixels');
    await expect(preprocessImage(png, { ...SPEC, maxPixels: 10_100 }, 'img')).resolves.toHaveLength(3 * PLANE);
  });

  it('calls bytes no loader recognises an unsupported format', async () => {
    const err = await refusal(preprocessImage(Buffer.from('definitely not an image, just text'), SPEC, 'x'));
    expect(err.kind).toBe('unsupported-image-format');
    expect(err.field).toBe('x');
  });

  it.each([
    ['GIF', (s: Sharp) => s.gif()],
    ['TIFF', (s: Sharp) => s.tiff()],
  ])('refuses a %s as an unsupported format', async (name, encode) => {
    const err = await refusal(preprocessImage(await encode(solid(8, 8, colour)).toBuffer(), SPEC, 'x'));
    expect(err.kind).toBe('unsupported-image-format');
    expect(err.message).toContain(name);
  });

  it('calls a recognised format with broken data undecodable', async () => {
    const png = await solid(64, 64, colour).png({ compressionLevel: 0 }).toBuffer();
    const truncated = await refusal(preprocessImage(png.subarray(0, png.length / 2), SPEC, 'x'));
    expect(truncated.kind).toBe('undecodable-image');

    const jpeg = await solid(64, 64, colour).jpeg().toBuffer();
    const cut = await refusal(preprocessImage(jpeg.subarray(0, jpeg.length / 2), SPEC, 'x'));
    expect(cut.kind).toBe('undecodable-image');

    const sig = Buffer.concat([png.subarray(0, 8), Buffer.from('garbage after a PNG signature')]);
    expect((await refusal(preprocessImage(sig, SPEC, 'x'))).kind).toBe('undecodable-image');

    expect((await refusal(preprocessImage(new Uint8Array(0), SPEC, 'x'))).kind).toBe('undecodable-image');
  });
});

describe('preprocessImages', () => {
  it('concatenates the tensors in order', async () => {
    const a = await solid(8, 8, [10, 20, 30]).png().toBuffer();
    const b = await solid(4, 4, [200, 210, 220]).webp({ lossless: true }).toBuffer();
    const { pixels, count } = await preprocessImages([a, b], SPEC, 'items[0].images');
    expect(count).toBe(2);
    expect(pixels.length).toBe(2 * 3 * PLANE);
    expect(pixels[0]).toBe(expected(10, 0));
    expect(pixels[3 * PLANE]).toBe(expected(200, 0));
    expect(pixels[3 * PLANE + 2 * PLANE]).toBe(expected(220, 2));
    expect(await preprocessImages([], SPEC, 'p')).toEqual({ pixels: new Float32Array(0), count: 0 });
  });

  it('refuses more than maxImages', async () => {
    const a = await solid(8, 8, [1, 2, 3]).png().toBuffer();
    const err = await refusal(preprocessImages([a, a, a], SPEC, 'items[2].images'));
    expect(err.kind).toBe('too-many-images');
    expect(err.field).toBe('items[2].images');
    expect(err.limit).toBe(SPEC.maxImages);
  });

  it('names the failing image by index, the lowest one when several fail', async () => {
    const ok = await solid(8, 8, [1, 2, 3]).png().toBuffer();
    const spec = { ...SPEC, maxImages: 3 };
    const err = await refusal(preprocessImages([ok, headerBomb(30000, 30000), Buffer.from('junk')], spec, 'items[1].images'));
    expect(err.field).toBe('items[1].images[1]');
    expect(err.kind).toBe('too-many-pixels');
  });
});

describe('sha256Hex', () => {
  it('hashes the bytes', () => {
    const bytes = new Uint8Array([1, 2, 3]);
    expect(sha256Hex(bytes)).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(sha256Hex(new Uint8Array(0))).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});
