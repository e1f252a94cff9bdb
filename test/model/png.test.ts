import sharp from 'sharp';
import { deflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/model/errors.js';
import type { ImagePreprocess } from '../../src/model/manifest.js';
import { preprocessImage, preprocessWithSharp } from '../../src/model/image.js';
import { readChunks } from '../../src/model/png/chunks.js';
import { decodePixels } from '../../src/model/png/decode.js';
import { resampleMatchesSharp } from '../../src/model/png/resample.js';
import { sampleSplit } from '../../trainer/shapes/pairs.js';
import { renderPng } from '../../trainer/shapes/raster.js';
import { encodeRawPng, pngChunk, type RawPng } from '../fixtures/png.js';
import { Rng } from '../../trainer/shapes/rng.js';

const SPEC: ImagePreprocess = {
  size: 8,
  channelOrder: 'rgb',
  mean: [0.5, 0.25, 0.125],
  std: [0.5, 0.25, 2],
  maxImages: 2,
  maxPixels: 1_000_000,
};

/** Seeded draws in [0, 1), so a failing seed can be re-run. */
function rng(seed: number): () => number {
  const r = Rng.fromSeed(seed);
  return () => r.next();
}

const CHANNELS = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 } as const;
type Case = { colourType: RawPng['colourType']; bitDepth: RawPng['bitDepth']; trns: boolean };

const CASES: Case[] = [
  ...[1, 2, 4, 8, 16].flatMap((d) => [false, true].map((trns) => ({ colourType: 0 as const, bitDepth: d as RawPng['bitDepth'], trns }))),
  ...[8, 16].flatMap((d) => [false, true].map((trns) => ({ colourType: 2 as const, bitDepth: d as RawPng['bitDepth'], trns }))),
  ...[1, 2, 4, 8].flatMap((d) => [false, true].map((trns) => ({ colourType: 3 as const, bitDepth: d as RawPng['bitDepth'], trns }))),
  ...[8, 16].map((d) => ({ colourType: 4 as const, bitDepth: d as RawPng['bitDepth'], trns: false })),
  ...[8, 16].map((d) => ({ colourType: 6 as const, bitDepth: d as RawPng['bitDepth'], trns: false })),
];

/**
 * A width x height image of the case with seeded samples. Values come from a
 * few levels per channel so that tRNS keys match some pixels; alpha takes
 * every level including 0 and the maximum.
 */
function synthetic(c: Case, width: number, height: number, interlace: boolean, seed: number): Buffer {
  const r = rng(seed);
  const max = c.colourType === 3 ? 0 : (1 << c.bitDepth) - 1;
  const entries = c.colourType === 3 ? Math.min(1 << c.bitDepth, 11) : 0;
  const levels = [0, max, Math.floor(max / 3), Math.floor((2 * max) / 3), Math.floor(max / 7)];
  const ch = CHANNELS[c.colourType];
  const samples = Array.from({ length: width * height * ch }, (_, i) => {
    if (c.colourType === 3) return Math.floor(r() * entries);
    const alpha = (c.colourType === 4 || c.colourType === 6) && i % ch === ch - 1;
    return alpha || r() < 0.5 ? Math.floor(r() * (max + 1)) : levels[Math.floor(r() * levels.length)]!;
  });
  const key = samples.slice(0, ch);
  const trns = !c.trns ? undefined
    : c.colourType === 3 ? Uint8Array.from({ length: Math.max(1, entries - 2) }, () => Math.floor(r() * 256))
      : Uint8Array.from(key.flatMap((v) => [v >> 8, v & 0xff]));
  return encodeRawPng({
    width, height, colourType: c.colourType, bitDepth: c.bitDepth, samples, interlace,
    ...(c.colourType === 3 ? { palette: Array.from({ length: entries * 3 }, () => Math.floor(r() * 256)) } : {}),
    ...(trns ? { trns } : {}),
  });
}

/**
 * sharp's decode of `png` at the PNG's own depth. 16-bit grey stays grey;
 * 8-bit grey comes back as RGB (sharp's 'b-w' output drops an 8-bit alpha).
 */
async function sharpRaw(png: Buffer, depth: 8 | 16, grey: boolean): Promise<{ channels: number; data: Uint8Array | Uint16Array }> {
  const space = depth === 16 ? (grey ? 'grey16' : 'rgb16') : 'srgb';
  const { data, info } = await sharp(png).toColourspace(space).raw(depth === 16 ? { depth: 'ushort' } : {}).toBuffer({ resolveWithObject: true });
  const copy = Uint8Array.from(data);
  return { channels: info.channels, data: depth === 16 ? new Uint16Array(copy.buffer) : copy };
}

async function refusal(p: Promise<unknown>): Promise<InputError> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(InputError);
  return err as InputError;
}

const name = (c: Case, interlace: boolean) =>
  `type ${c.colourType}, ${c.bitDepth}-bit${c.trns ? ', tRNS' : ''}${interlace ? ', Adam7' : ''}`;

describe('PNG decoding', () => {
  const all = CASES.flatMap((c) => [false, true].map((interlace) => [name(c, interlace), c, interlace] as const));

  it.each(all)('decodes %s to the samples sharp decodes', async (_n, c, interlace) => {
    // 13x11: odd sizes leave Adam7's passes and the last byte of packed rows partial.
    for (const [w, h, seed] of [[13, 11, 1], [1, 1, 2], [9, 17, 3]] as const) {
      const png = synthetic(c, w, h, interlace, seed);
      const mine = decodePixels(readChunks(png));
      const ref = await sharpRaw(png, mine.depth, mine.channels <= 2);
      const greyAsRgb = mine.depth === 8 && mine.channels <= 2;
      expect([mine.width, mine.height, greyAsRgb ? mine.channels + 2 : mine.channels]).toEqual([w, h, ref.channels]);
      const samples = greyAsRgb
        ? Array.from({ length: w * h }, (_, i) => {
          const g = mine.data[i * mine.channels]!;
          return mine.channels === 1 ? [g, g, g] : [g, g, g, mine.data[i * 2 + 1]!];
        }).flat()
        : Array.from(mine.data);
      expect(samples).toEqual(Array.from(ref.data));
    }
  });

  it.each(all)('gives the tensor sharp gives for %s', async (_n, c, interlace) => {
    for (const [w, h, seed] of [[13, 11, 4], [8, 8, 5], [31, 9, 6]] as const) {
      expect(resampleMatchesSharp(w, h, SPEC.size)).toBe(true);
      const png = synthetic(c, w, h, interlace, seed);
      expect(await preprocessImage(png, SPEC, 'img')).toEqual(await preprocessWithSharp(png, SPEC, 'img'));
    }
  });

  it('gives the tensor sharp gives at every shrink it handles, 8- and 16-bit, with alpha', async () => {
    const spec = { ...SPEC, size: 56 };
    for (const c of [{ colourType: 2, bitDepth: 8 }, { colourType: 6, bitDepth: 8 }, { colourType: 6, bitDepth: 16 }, { colourType: 4, bitDepth: 8 }] as Case[]) {
      for (const [w, h] of [[56, 56], [57, 56], [100, 61], [128, 128], [150, 223], [223, 199]] as const) {
        const png = synthetic({ ...c, trns: false }, w, h, false, w * h);
        expect(await preprocessImage(png, spec, 'img'), `${name(c, false)} ${w}x${h}`).toEqual(await preprocessWithSharp(png, spec, 'img'));
      }
    }
  });

  it('gives exactly the tensors of the sharp path on 300 ShapesWorld images (128 px -> 56)', async () => {
    const spec = { ...SPEC, size: 56, mean: [0.5, 0.5, 0.5] as [number, number, number], std: [0.25, 0.25, 0.25] as [number, number, number] };
    const pngs: Buffer[] = [];
    for (const p of sampleSplit(11, 400)) {
      for (const s of p.images) if (pngs.length < 300) pngs.push(await renderPng(s));
    }
    expect(pngs.length).toBe(300);
    let differing = 0;
    for (const png of pngs) {
      const [a, b] = [await preprocessImage(png, spec, 'img'), await preprocessWithSharp(png, spec, 'img')];
      if (a.some((v, i) => v !== b[i])) differing++;
    }
    expect(differing).toBe(0);
  });

  it('keeps the resample tables and scratch of each size apart (128, 96, 128, 57x200, 128 px -> 56, in a row)', async () => {
    // The per-(input, output) tap tables are cached and the scratch buffers
    // reused; a cache keyed on the wrong size, or scratch left over from a
    // bigger image, shows as a tensor off sharp's on the image after a switch.
    const spec = { ...SPEC, size: 56 };
    const rgb = { colourType: 2, bitDepth: 8, trns: false } as const;
    const sizes = [[128, 128, 1], [96, 96, 2], [128, 128, 3], [57, 200, 4], [128, 128, 5], [56, 96, 6], [96, 56, 7]] as const;
    for (const [w, h, seed] of sizes) {
      const png = synthetic(rgb, w, h, false, 100 + seed);
      expect(await preprocessImage(png, spec, 'img'), `${w}x${h}`).toEqual(await preprocessWithSharp(png, spec, 'img'));
    }
  });

  it('leaves images it cannot reproduce to sharp', async () => {
    // Upscaling (5x3 -> 8) and a shrink of 4x or more take other libvips code.
    expect(resampleMatchesSharp(5, 3, 8)).toBe(false);
    expect(resampleMatchesSharp(32, 8, 8)).toBe(false);
    const up = synthetic({ colourType: 2, bitDepth: 8, trns: false }, 5, 3, false, 7);
    const big = synthetic({ colourType: 6, bitDepth: 8, trns: false }, 40, 9, false, 8);
    for (const png of [up, big]) expect(await preprocessImage(png, SPEC, 'img')).toEqual(await preprocessWithSharp(png, SPEC, 'img'));
  });
});

describe('malformed PNGs', () => {
  const good = () => encodeRawPng({ width: 8, height: 8, colourType: 2, bitDepth: 8, samples: Array.from({ length: 192 }, (_, i) => (i * 37) % 256) });
  /** Offset of chunk `type`'s length field. */
  const find = (png: Buffer, type: string) => png.indexOf(Buffer.from(type, 'latin1')) - 4;

  async function refused(png: Buffer, ...parts: string[]): Promise<InputError> {
    const err = await refusal(preprocessImage(png, SPEC, 'items[2].images[0]'));
    expect(err.kind).toBe('undecodable-image');
    expect(err.field).toBe('items[2].images[0]');
    for (const p of parts) expect(err.message).toContain(p);
    return err;
  }

  it('decodes the unbroken file', async () => {
    expect(await preprocessImage(good(), SPEC, 'x')).toEqual(await preprocessWithSharp(good(), SPEC, 'x'));
  });

  it('refuses a bad CRC, naming the chunk', async () => {
    const png = good();
    png[find(png, 'IDAT') + 10]! ^= 0x01;
    await refused(png, 'cannot decode PNG image', 'CRC mismatch in chunk IDAT');
    const ihdr = good();
    ihdr[find(ihdr, 'IHDR') + 17]! ^= 0x01; // the CRC itself
    await refused(ihdr, 'CRC mismatch in chunk IHDR');
  });

  it('refuses a file cut inside a chunk', async () => {
    const png = good();
    await refused(png.subarray(0, find(png, 'IDAT') + 20), 'truncated in chunk IDAT');
  });

  it('refuses an IDAT whose zlib stream is cut short', async () => {
    const short = encodeRawPng({ width: 8, height: 8, colourType: 2, bitDepth: 8, samples: Array(192).fill(9), idat: (f) => deflateSync(f).subarray(0, 8) });
    await refused(short, 'IDAT is not a valid zlib stream', 'unexpected end of file');
    const fewRows = encodeRawPng({ width: 8, height: 8, colourType: 2, bitDepth: 8, samples: Array(192).fill(9), idat: (f) => deflateSync(f.subarray(0, 100)) });
    await refused(fewRows, 'IDAT holds 100 of the 200 bytes IHDR implies');
  });

  it('refuses a row with an unknown filter type', async () => {
    await refused(encodeRawPng({ width: 8, height: 8, colourType: 2, bitDepth: 8, samples: Array(192).fill(9), filter: (r) => (r === 3 ? 5 : 0) }),
      'row 3 has filter type 5');
    await refused(encodeRawPng({ width: 8, height: 8, colourType: 2, bitDepth: 8, samples: Array(192).fill(9), interlace: true, filter: (r) => (r === 1 ? 7 : 0) }),
      'pass 4 row 1 has filter type 7');
  });

  it.each([
    ['bit depth', 8, 3, 'IHDR bit depth 3 is not valid for colour type 2 (allowed: 8, 16)'],
    ['colour type', 9, 5, 'IHDR colour type 5 is not one of 0, 2, 3, 4, 6'],
    ['compression', 10, 1, 'IHDR compression method 1'],
    ['filter method', 11, 1, 'IHDR filter method 1'],
    ['interlace', 12, 2, 'IHDR interlace method 2'],
    ['width', 0, 0, 'IHDR width 0'],
  ])('refuses an IHDR with a wrong %s', async (_f, offset, value, message) => {
    const png = good();
    const at = find(png, 'IHDR') + 8;
    if (offset === 0) png.writeUInt32BE(value, at);
    else png[at + offset] = value;
    png.writeUInt32BE(crc(png.subarray(at - 4, at + 13)), at + 13);
    await refused(png, message);
  });

  it('refuses a palette image without PLTE', async () => {
    await refused(encodeRawPng({ width: 8, height: 8, colourType: 3, bitDepth: 8, samples: Array(64).fill(0) }), 'without a PLTE chunk');
  });

  it('reads palette indices past PLTE as opaque black, as libpng (and so sharp) does', async () => {
    const samples = Array.from({ length: 64 }, (_, i) => i % 4);
    for (const trns of [undefined, Uint8Array.of(7)]) {
      const png = encodeRawPng({ width: 8, height: 8, colourType: 3, bitDepth: 8, samples, palette: [10, 20, 30, 40, 50, 60], ...(trns ? { trns } : {}) });
      expect(await preprocessImage(png, SPEC, 'x')).toEqual(await preprocessWithSharp(png, SPEC, 'x'));
      const px = decodePixels(readChunks(png));
      expect(Array.from(px.data.subarray(2 * px.channels, 3 * px.channels))).toEqual(trns ? [0, 0, 0, 255] : [0, 0, 0]);
    }
  });

  it('refuses an IDAT that inflates past the size IHDR implies, without inflating it all', async () => {
    // 8x8 RGB implies 8 * (1 + 24) = 200 bytes; this stream holds 64 MiB.
    const bomb = encodeRawPng({ width: 8, height: 8, colourType: 2, bitDepth: 8, samples: Array(192).fill(0), idat: () => deflateSync(Buffer.alloc(64 << 20), { level: 9 }) });
    expect(bomb.length).toBeLessThan(100_000);
    const before = process.memoryUsage().arrayBuffers;
    await refused(bomb, 'IDAT inflates to more than the 200 bytes IHDR implies');
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 << 20);
  });

  it('refuses an unknown critical chunk and chunks out of order', async () => {
    const png = good();
    const at = find(png, 'IDAT');
    const withCritical = Buffer.concat([png.subarray(0, at), pngChunk('ABCD', Buffer.alloc(1)), png.subarray(at)]);
    await refused(withCritical, 'unknown critical chunk ABCD');
    const ancillary = Buffer.concat([png.subarray(0, at), pngChunk('abCD', Buffer.alloc(1)), png.subarray(at)]);
    expect(await preprocessImage(ancillary, SPEC, 'x')).toEqual(await preprocessImage(png, SPEC, 'x'));
    const ihdr = find(png, 'IHDR');
    const idatFirst = Buffer.concat([png.subarray(0, 8), png.subarray(at), png.subarray(ihdr, at)]);
    await refused(idatFirst, 'first chunk is IDAT, expected IHDR');
  });
});

function crc(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}
