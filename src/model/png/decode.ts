/**
 * PNG pixel data -> samples, the way libpng hands them to libvips (and so to
 * sharp): palettes expanded to RGB, tRNS to an alpha channel, 1/2/4-bit grey
 * scaled to 8 bits (x 255, 85, 17), 16-bit samples kept at 16 bits.
 * Adam7 interlacing is decoded.
 *
 * The inflate is bounded by the size IHDR implies (maxOutputLength), so a
 * stream that inflates to more than the header's pixels is refused as soon
 * as it passes that size; the caller has already checked the header's pixel
 * count against its limit. It runs on the calling thread (inflateSync): the
 * image path only sends small images here (see image.ts), where zlib's thread
 * pool would cost more in hops than the inflate itself.
 */
import { inflateSync } from 'node:zlib';
import { CHANNELS, type PngChunks } from './chunks.js';
import { PngError } from './errors.js';
import { SLACK, align, kernels } from './kernels.js';
import type { Kernel } from './resample.js';

export interface Pixels {
  width: number;
  height: number;
  /** 1 grey, 2 grey + alpha, 3 RGB, 4 RGBA; interleaved. */
  channels: 1 | 2 | 3 | 4;
  depth: 8 | 16;
  data: Uint8Array | Uint16Array;
}

/** Adam7 passes: x0, y0, dx, dy. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]] as const;

interface Pass { x0: number; y0: number; dx: number; dy: number; w: number; h: number }

function passes(width: number, height: number, interlaced: boolean): Pass[] {
  if (!interlaced) return [{ x0: 0, y0: 0, dx: 1, dy: 1, w: width, h: height }];
  return ADAM7.map(([x0, y0, dx, dy]) => ({
    x0, y0, dx, dy,
    w: Math.max(0, Math.ceil((width - x0) / dx)),
    h: Math.max(0, Math.ceil((height - y0) / dy)),
  })).filter((p) => p.w > 0 && p.h > 0);
}

export function outputChannels(c: PngChunks): 1 | 2 | 3 | 4 {
  const t = c.header.colourType;
  if (t === 3) return c.transparency ? 4 : 3;
  if (t === 0) return c.transparency ? 2 : 1;
  if (t === 2) return c.transparency ? 4 : 3;
  return t === 4 ? 2 : 4;
}

/**
 * `kernel` picks who undoes the filters: the WebAssembly kernel (default;
 * it works in its own memory, where the rows are then read from) or the JS
 * loop below, the reference the tests hold the kernel to.
 */
export function decodePixels(c: PngChunks, kernel: Kernel = 'wasm'): Pixels {
  const { width, height, bitDepth, colourType, interlaced } = c.header;
  const bitsPerPixel = CHANNELS[colourType] * bitDepth;
  const bpp = Math.max(1, bitsPerPixel >> 3);
  const plan = passes(width, height, interlaced);
  const rowBytes = (w: number) => Math.ceil((w * bitsPerPixel) / 8);
  const expected = plan.reduce((n, p) => n + p.h * (rowBytes(p.w) + 1), 0);

  const inflated = inflate(c.idat, expected);
  const { raw, unfilter } = kernel === 'wasm' ? inWasm(inflated) : { raw: inflated, unfilter: unfilterJs };
  const channels = outputChannels(c);
  const depth = bitDepth === 16 ? 16 : 8;
  const data = depth === 16 ? new Uint16Array(width * height * channels) : new Uint8Array(width * height * channels);
  const emit = rowEmitter(c, channels, data);

  let off = 0;
  plan.forEach((p, k) => {
    const stride = rowBytes(p.w) + 1;
    unfilter(raw, off, p.h, stride, bpp, interlaced ? `pass ${k + 1} ` : '');
    for (let j = 0; j < p.h; j++) {
      emit(raw, off + j * stride + 1, p.w, (p.y0 + j * p.dy) * width + p.x0, p.dx);
    }
    off += p.h * stride;
  });
  return { width, height, channels, depth, data };
}

type Unfilter = (buf: Uint8Array, off: number, rows: number, stride: number, bpp: number, where: string) => void;

/**
 * The inflated rows copied into the kernels' memory, and an unfilter that
 * runs the wasm kernel on them in place. `raw` views that memory: valid
 * until the next kernel call (nothing grows the memory while it is used).
 */
function inWasm(inflated: Uint8Array): { raw: Uint8Array; unfilter: Unfilter } {
  const k = kernels();
  const base = k.scratch;
  k.reserve(align(base + inflated.length + SLACK));
  const raw = k.bytes().subarray(base, base + inflated.length);
  raw.set(inflated);
  const unfilter: Unfilter = (buf, off, rows, stride, bpp, where) => {
    const bad = k.fn.unfilter(base + off, rows, stride, bpp);
    if (bad >= 0) throw badFilter(where, bad, buf[off + bad * stride]!);
  };
  return { raw, unfilter };
}

function badFilter(where: string, y: number, type: number): PngError {
  return new PngError('undecodable', `${where}row ${y} has filter type ${type}, not one of 0-4`);
}

function inflate(idat: Uint8Array[], expected: number): Uint8Array {
  const stream = idat.length === 1 ? idat[0]! : Buffer.concat(idat);
  let out: Buffer;
  try {
    // One output chunk for a small image: a single pass through zlib.
    out = inflateSync(stream, { maxOutputLength: expected, chunkSize: Math.min(Math.max(expected, 64), 1 << 22) });
  } catch (cause) {
    if ((cause as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new PngError('undecodable', `IDAT inflates to more than the ${expected} bytes IHDR implies`, { cause });
    }
    throw new PngError('undecodable', `IDAT is not a valid zlib stream: ${(cause as Error).message}`, { cause });
  }
  if (out.length < expected) throw new PngError('undecodable', `IDAT holds ${out.length} of the ${expected} bytes IHDR implies (truncated image data)`);
  // A plain Uint8Array view, so the unfilter loops only ever see one array class.
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/**
 * Undoes the per-row filters in place; each row is its filter byte and
 * `stride - 1` bytes. One loop per filter type, over absolute indices, with
 * the first row (no row above: b = c = 0) and the first pixel (no pixel to
 * the left: a = c = 0) split off so the inner loops carry no edge tests;
 * Uint8Array stores wrap modulo 256, which is the filters' arithmetic.
 */
export function unfilterJs(buf: Uint8Array, off: number, rows: number, stride: number, bpp: number, where: string): void {
  const n = stride - 1;
  const lead = Math.min(bpp, n);
  for (let y = 0; y < rows; y++) {
    const row = off + y * stride + 1;
    const end = row + n;
    const type = buf[row - 1]!;
    if (type === 0) continue;
    if (type > 4) throw badFilter(where, y, type);
    if (y === 0) {
      // Up adds 0; Paeth's predictor is a; Average's is a >> 1.
      if (type === 1 || type === 4) for (let i = row + lead; i < end; i++) buf[i] = buf[i]! + buf[i - bpp]!;
      else if (type === 3) for (let i = row + lead; i < end; i++) buf[i] = buf[i]! + (buf[i - bpp]! >>> 1);
      continue;
    }
    if (type === 1) {
      for (let i = row + lead; i < end; i++) buf[i] = buf[i]! + buf[i - bpp]!;
    } else if (type === 2) {
      for (let i = row; i < end; i++) buf[i] = buf[i]! + buf[i - stride]!;
    } else if (type === 3) {
      for (let i = row; i < row + lead; i++) buf[i] = buf[i]! + (buf[i - stride]! >>> 1);
      for (let i = row + lead; i < end; i++) buf[i] = buf[i]! + ((buf[i - bpp]! + buf[i - stride]!) >>> 1);
    } else {
      // Paeth with a = c = 0 predicts b.
      for (let i = row; i < row + lead; i++) buf[i] = buf[i]! + buf[i - stride]!;
      for (let i = row + lead; i < end; i++) {
        const a = buf[i - bpp]!;
        const b = buf[i - stride]!;
        const c = buf[i - stride - bpp]!;
        // |p - a|, |p - b|, |p - c| for p = a + b - c.
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        buf[i] = buf[i]! + (pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
      }
    }
  }
}

type Emit = (src: Uint8Array, at: number, n: number, pixel0: number, step: number) => void;

/** Writes one unfiltered row of `n` pixels to pixels pixel0, pixel0 + step, ... of `out`. */
function rowEmitter(c: PngChunks, channels: number, out: Uint8Array | Uint16Array): Emit {
  const { bitDepth, colourType } = c.header;
  const trns = c.transparency;
  if (bitDepth === 16) {
    const o = out as Uint16Array;
    const s = CHANNELS[colourType];
    const key = trns ? Array.from({ length: trns.length / 2 }, (_, i) => (trns[2 * i]! << 8) | trns[2 * i + 1]!) : undefined;
    return (src, at, n, p0, step) => {
      for (let x = 0; x < n; x++) {
        const q = (p0 + x * step) * channels;
        let match = key !== undefined;
        for (let k = 0; k < s; k++) {
          const v = (src[at + 2 * (x * s + k)]! << 8) | src[at + 2 * (x * s + k) + 1]!;
          o[q + k] = v;
          if (key && v !== key[k]) match = false;
        }
        if (key) o[q + s] = match ? 0 : 0xffff;
      }
    };
  }
  const o = out as Uint8Array;
  if (colourType === 3) {
    const pal = c.palette!;
    const entries = pal.length / 3;
    const mask = (1 << bitDepth) - 1;
    return (src, at, n, p0, step) => {
      for (let x = 0; x < n; x++) {
        const bit = x * bitDepth;
        const idx = (src[at + (bit >> 3)]! >> (8 - bitDepth - (bit & 7))) & mask;
        const q = (p0 + x * step) * channels;
        // libpng reads an index past PLTE from its zero-filled 256-entry table: black.
        const known = idx < entries;
        o[q] = known ? pal[3 * idx]! : 0;
        o[q + 1] = known ? pal[3 * idx + 1]! : 0;
        o[q + 2] = known ? pal[3 * idx + 2]! : 0;
        if (trns) o[q + 3] = idx < trns.length ? trns[idx]! : 255;
      }
    };
  }
  if (colourType === 0 && bitDepth < 8) {
    const mask = (1 << bitDepth) - 1;
    const scale = 255 / mask;
    const key = trns ? ((trns[0]! << 8) | trns[1]!) & mask : -1;
    return (src, at, n, p0, step) => {
      for (let x = 0; x < n; x++) {
        const bit = x * bitDepth;
        const v = (src[at + (bit >> 3)]! >> (8 - bitDepth - (bit & 7))) & mask;
        const q = (p0 + x * step) * channels;
        o[q] = v * scale;
        if (trns) o[q + 1] = v === key ? 0 : 255;
      }
    };
  }
  // 8-bit grey, grey + alpha, RGB, RGBA.
  const s = CHANNELS[colourType];
  if (!trns) {
    return (src, at, n, p0, step) => {
      if (step === 1) o.set(src.subarray(at, at + n * s), p0 * s);
      else for (let x = 0; x < n; x++) for (let k = 0; k < s; k++) o[(p0 + x * step) * s + k] = src[at + x * s + k]!;
    };
  }
  const key = Array.from({ length: trns.length / 2 }, (_, i) => trns[2 * i + 1]! | (trns[2 * i]! << 8));
  return (src, at, n, p0, step) => {
    for (let x = 0; x < n; x++) {
      const q = (p0 + x * step) * channels;
      let match = true;
      for (let k = 0; k < s; k++) {
        const v = src[at + x * s + k]!;
        o[q + k] = v;
        if (v !== key[k]) match = false;
      }
      o[q + s] = match ? 0 : 255;
    }
  };
}

/**
 * The wasm kernel on a buffer of the caller's, in place, with unfilterJs's
 * signature and errors (decodePixels instead reads the rows where the kernel
 * left them). For the tests that hold the kernel to unfilterJs.
 */
export function unfilterWasm(buf: Uint8Array, off: number, rows: number, stride: number, bpp: number, where: string): void {
  const { raw, unfilter } = inWasm(buf);
  try {
    unfilter(raw, off, rows, stride, bpp, where);
  } finally {
    buf.set(raw);
  }
}
