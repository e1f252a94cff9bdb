/**
 * Decoded samples -> the model's square of 8-bit samples, computed the way
 * sharp computes it in image.ts's pipeline (sharp 0.35 / libvips 8.18:
 * flatten onto white, resize with fit 'fill' and the default lanczos3
 * kernel, then 16-bit -> 8-bit), so tensors from this path and from sharp are
 * the same numbers. What libvips does, and is copied here:
 *
 * - flatten (vips_flatten, before the resize, so no premultiplication):
 *   8-bit `trunc((v*a + 255*(255-a)) / 255)`; 16-bit in doubles with sharp's
 *   background 255*256 = 65280 and max alpha 65535, truncated.
 * - resize (vips_resize -> vips_reducev, then vips_reduceh, gap 2): for a
 *   shrink under 4x per axis there is no integer pre-shrink and the whole
 *   factor is a separable lanczos3 reduce. Each output row/column centre
 *   maps to input position X = (x + 0.5) * shrink - 0.5 - offset; the mask is
 *   picked from 65 precomputed sub-pixel phases, each 2*rint(3*shrink)+1 taps
 *   of lanczos3((i - half) / shrink) normalised to sum 1, truncated to 12-bit
 *   fixed point; edges extend by copying. The sum rounds with +2048 >> 12 and
 *   is clipped to the sample range, once per direction (the vertical pass is
 *   stored as integers before the horizontal one).
 * - 16-bit -> 8-bit by >> 8 (vips_cast with shift), grey to RGB by repeating.
 *
 * Upscaling and shrinks of 4x or more take other libvips code (affine
 * interpolation, box pre-shrink); image.ts sends those images to sharp.
 */
import type { Pixels } from './decode.js';

export interface Rgb8 {
  size: number;
  /** 1 (grey, to be repeated) or 3. */
  channels: 1 | 3;
  data: Uint8Array;
}

/** Whether toModelSquare reproduces sharp for a width x height image and output `size`. */
export function resampleMatchesSharp(width: number, height: number, size: number): boolean {
  const ok = (n: number) => n >= size && Math.floor(n / size / 2) <= 1;
  return ok(width) && ok(height);
}

export function toModelSquare(px: Pixels, size: number): Rgb8 {
  let { data, channels } = px;
  if (channels === 2 || channels === 4) {
    data = flatten(data, channels, px.depth);
    channels = (channels - 1) as 1 | 3;
  }
  const max = px.depth === 16 ? 0xffff : 0xff;
  const alloc = (n: number) => (px.depth === 16 ? new Uint16Array(n) : new Uint8Array(n));
  let h = px.height;
  const eight = px.depth === 8;
  if (h !== size) {
    const rowLen = px.width * channels;
    data = eight
      ? reduceRows8(data as Uint8Array, rowLen, h, size)
      : reduceRows(data, rowLen, h, size, alloc(rowLen * size), max);
    h = size;
  }
  if (px.width !== size) {
    data = eight
      ? reduceColumns8(data as Uint8Array, channels as 1 | 3, px.width, h, size)
      : reduceColumns(data, channels as 1 | 3, px.width, h, size, alloc(size * size * channels), max);
  }
  if (px.depth === 16) {
    const out = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) out[i] = data[i]! >>> 8;
    data = out;
  }
  return { size, channels: channels as 1 | 3, data: data as Uint8Array };
}

function flatten(src: Uint8Array | Uint16Array, channels: 2 | 4, depth: 8 | 16): Uint8Array | Uint16Array {
  const colours = channels - 1;
  const n = src.length / channels;
  if (depth === 8) {
    const out = new Uint8Array(n * colours);
    for (let i = 0; i < n; i++) {
      const a = src[i * channels + colours]!;
      const bg = 255 * (255 - a);
      for (let k = 0; k < colours; k++) out[i * colours + k] = Math.trunc((src[i * channels + k]! * a + bg) / 255);
    }
    return out;
  }
  const out = new Uint16Array(n * colours);
  for (let i = 0; i < n; i++) {
    const a = src[i * channels + colours]!;
    const bg = 65280 * (65535 - a);
    for (let k = 0; k < colours; k++) out[i * colours + k] = Math.trunc((src[i * channels + k]! * a + bg) / 65535);
  }
  return out;
}

/**
 * Taps of each output line, zero weights dropped: output line o reads input
 * lines at[start[o] .. start[o + 1]) (edge-clamped indices) with 12-bit
 * weights w[...].
 */
interface Plan { start: Int32Array; at: Int32Array; w: Int32Array }

const plans = new Map<string, Plan>();

/** C's rint: halves to even. */
function rint(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function sinc(v: number): number {
  return v === 0 ? 1 : Math.sin(v * Math.PI) / (v * Math.PI);
}

function lanczos3(x: number): number {
  return x < -3 || x > 3 ? 0 : sinc(x) * sinc(x / 3);
}

/** libvips' reduce of `inSize` lines to `outSize`, as sharp calls it (scale 1 / (inSize / outSize)). */
function plan(inSize: number, outSize: number): Plan {
  const key = `${inSize}:${outSize}`;
  const cached = plans.get(key);
  if (cached) return cached;
  const shrink = 1 / (1 / (inSize / outSize));
  const n = 2 * rint(3 * shrink) + 1;
  const extra = outSize * shrink - inSize;
  const offset = (1 + extra) / 2 - 1;
  const pad = Math.ceil(n / 2) - 1; // vips_embed's margin: input line i sits at i + pad
  const masks: Int16Array[] = [];
  for (let t = 0; t <= 64; t++) {
    const half = t / 64 + n / 2 - 1;
    const c = new Float64Array(n);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += c[i] = lanczos3((i - half) / shrink);
    masks.push(Int16Array.from(c, (v) => Math.trunc((v / sum) * 4096)));
  }
  const start = new Int32Array(outSize + 1);
  const at: number[] = [];
  const w: number[] = [];
  let pos = 0.5 * shrink - 0.5 - offset; // libvips steps it by adding, so do we
  for (let o = 0; o < outSize; o++) {
    const first = Math.trunc(pos) - pad;
    const mask = masks[((Math.trunc(pos * 128) & 127) + 1) >> 1]!;
    for (let i = 0; i < n; i++) {
      if (mask[i] === 0) continue;
      at.push(Math.min(Math.max(first + i, 0), inSize - 1));
      w.push(mask[i]!);
    }
    start[o + 1] = at.length;
    pos += shrink;
  }
  const p = { start, at: Int32Array.from(at), w: Int32Array.from(w) };
  plans.set(key, p);
  return p;
}

/** Vertical reduce: `height` rows of `rowLen` samples -> `outSize` rows. */
function reduceRows<T extends Uint8Array | Uint16Array>(src: T, rowLen: number, height: number, outSize: number, out: T, max: number): T {
  const { start, at, w } = plan(height, outSize);
  for (let o = 0; o < outSize; o++) {
    const t0 = start[o]!;
    const t1 = start[o + 1]!;
    const q = o * rowLen;
    for (let x = 0; x < rowLen; x++) {
      let s = 2048;
      for (let t = t0; t < t1; t++) s += src[at[t]! * rowLen + x]! * w[t]!;
      const v = s >> 12;
      out[q + x] = v < 0 ? 0 : v > max ? max : v;
    }
  }
  return out;
}

/** Horizontal reduce: `height` rows of `width` pixels of `ch` samples -> rows of `outSize` pixels. */
function reduceColumns<T extends Uint8Array | Uint16Array>(src: T, ch: 1 | 3, width: number, height: number, outSize: number, out: T, max: number): T {
  const { start, at, w } = plan(width, outSize);
  for (let y = 0; y < height; y++) {
    const row = y * width * ch;
    let q = y * outSize * ch;
    for (let o = 0; o < outSize; o++) {
      const t0 = start[o]!;
      const t1 = start[o + 1]!;
      if (ch === 3) {
        let r = 2048, g = 2048, b = 2048;
        for (let t = t0; t < t1; t++) {
          const p = row + at[t]! * 3;
          const k = w[t]!;
          r += src[p]! * k;
          g += src[p + 1]! * k;
          b += src[p + 2]! * k;
        }
        r >>= 12; g >>= 12; b >>= 12;
        out[q++] = r < 0 ? 0 : r > max ? max : r;
        out[q++] = g < 0 ? 0 : g > max ? max : g;
        out[q++] = b < 0 ? 0 : b > max ? max : b;
      } else {
        let s = 2048;
        for (let t = t0; t < t1; t++) s += src[row + at[t]!]! * w[t]!;
        s >>= 12;
        out[q++] = s < 0 ? 0 : s > max ? max : s;
      }
    }
  }
  return out;
}

/*
 * The 8-bit reduces, which every ShapesWorld image takes, run two samples per
 * multiply: sample pairs are packed into one double as lo + hi * 2^26. A
 * lane's sum is at most 255 * sum(|w|) < 2^21 in magnitude, so with a bias
 * of 2^25 the low lane stays in [0, 2^26) and both sums are exact integers
 * (the total stays far below 2^53); floor(s / 2^26) separates them. Same
 * results as reduceRows/reduceColumns, about half the multiplies, and double
 * arithmetic spares V8 its int32 overflow checks.
 */
const LANE = 67108864; // 2^26
const LO_BIAS = 33554432; // 2^25
/** The rounding 2048 in both lanes plus the low lane's bias. */
const PACKED_START = 2048 + LO_BIAS + 2048 * LANE;

/**
 * Scratch for the packed lines, reused across calls (the reduces are
 * synchronous, so no two calls share it): a 128 px image needs ~200 KB,
 * and allocating, zeroing and collecting that per image cost more than a
 * third of the reduce.
 */
let scratch = new Float64Array(0);
function packedScratch(n: number): Float64Array {
  if (scratch.length < n) scratch = new Float64Array(Math.max(n, 2 * scratch.length));
  return scratch;
}

function clip8(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * The reduce kernel over packed lines: for each output line o, the weighted
 * sum of the input lines it taps, `lineLen` packed values per line, into
 * `acc` (taps outermost, so the inner loop runs over contiguous memory).
 */
function reducePacked(packed: Float64Array, lineLen: number, p: Plan, o: number, acc: Float64Array): void {
  acc.fill(PACKED_START);
  const t1 = p.start[o + 1]!;
  for (let t = p.start[o]!; t < t1; t++) {
    const base = p.at[t]! * lineLen;
    const k = p.w[t]!;
    for (let j = 0; j < lineLen; j++) acc[j] = acc[j]! + packed[base + j]! * k;
  }
}

function reduceRows8(src: Uint8Array, rowLen: number, height: number, outSize: number): Uint8Array {
  const p = plan(height, outSize);
  // Packed row r holds columns j (low) and j + half (high) of row r.
  const half = (rowLen + 1) >> 1;
  const hiLen = rowLen - half;
  const packed = packedScratch(height * half);
  for (let r = 0; r < height; r++) {
    const a = r * rowLen;
    const b = r * half;
    for (let j = 0; j < hiLen; j++) packed[b + j] = src[a + j]! + src[a + half + j]! * LANE;
    if (hiLen < half) packed[b + hiLen] = src[a + hiLen]!;
  }
  const out = new Uint8Array(outSize * rowLen);
  const acc = new Float64Array(half);
  for (let o = 0; o < outSize; o++) {
    reducePacked(packed, half, p, o, acc);
    const q = o * rowLen;
    for (let j = 0; j < half; j++) {
      const s = acc[j]!;
      const hi = Math.floor(s / LANE);
      out[q + j] = clip8((s - hi * LANE - LO_BIAS) >> 12);
      if (j < hiLen) out[q + half + j] = clip8(hi >> 12);
    }
  }
  return out;
}

/**
 * The horizontal reduce as a vertical one on the transposed image: packed
 * line x holds column x, rows y (low) and y + half (high), so the kernel
 * again runs over contiguous memory.
 */
function reduceColumns8(src: Uint8Array, ch: 1 | 3, width: number, height: number, outSize: number): Uint8Array {
  const p = plan(width, outSize);
  const half = (height + 1) >> 1;
  const hiRows = height - half;
  const lineLen = half * ch;
  const rowLen = width * ch;
  const packed = packedScratch(width * lineLen);
  for (let y = 0; y < half; y++) {
    const lo = y * rowLen;
    const hi = (y + half) * rowLen;
    const hasHi = y < hiRows;
    for (let x = 0; x < width; x++) {
      for (let k = 0; k < ch; k++) {
        const i = x * ch + k;
        packed[x * lineLen + y * ch + k] = src[lo + i]! + (hasHi ? src[hi + i]! * LANE : 0);
      }
    }
  }
  const outRow = outSize * ch;
  const out = new Uint8Array(height * outRow);
  const acc = new Float64Array(lineLen);
  for (let o = 0; o < outSize; o++) {
    reducePacked(packed, lineLen, p, o, acc);
    for (let y = 0; y < half; y++) {
      for (let k = 0; k < ch; k++) {
        const s = acc[y * ch + k]!;
        const hi = Math.floor(s / LANE);
        out[y * outRow + o * ch + k] = clip8((s - hi * LANE - LO_BIAS) >> 12);
        if (y < hiRows) out[(y + half) * outRow + o * ch + k] = clip8(hi >> 12);
      }
    }
  }
  return out;
}
