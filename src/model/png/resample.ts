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
import { flatten8Wasm, reduce8Wasm } from './resample-wasm.js';

/**
 * Which implementation runs the 8-bit reduces: the WebAssembly kernels (the
 * default), or the JS ones, kept as the reference the tests hold the
 * kernels to and as the benchmark's before.
 */
export type Kernel = 'wasm' | 'js';

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

export function toModelSquare(px: Pixels, size: number, kernel: Kernel = 'wasm'): Rgb8 {
  let { data, channels } = px;
  if (channels === 2 || channels === 4) {
    data = px.depth === 8 && kernel === 'wasm' ? flatten8Wasm(data as Uint8Array, channels) : flatten(data, channels, px.depth);
    channels = (channels - 1) as 1 | 3;
  }
  const ch = channels as 1 | 3;
  if (px.depth === 8) {
    const src = data as Uint8Array;
    const { width, height } = px;
    if (kernel === 'js' || (width === size && height === size)) return { size, channels: ch, data: reduce8(src, ch, width, height, size) };
    const rows = height === size ? undefined : plan(height, size);
    const cols = width === size ? undefined : plan(width, size);
    return { size, channels: ch, data: reduce8Wasm(src, ch, width, height, size, rows, cols) };
  }
  // 16-bit: both passes at 16 bits, as libvips runs them, then >> 8.
  let wide = data as Uint16Array;
  if (px.height !== size) wide = reduceRows(wide, px.width * ch, px.height, size, new Uint16Array(px.width * ch * size), 0xffff);
  if (px.width !== size) wide = reduceColumns(wide, ch, px.width, size, size, new Uint16Array(size * size * ch), 0xffff);
  const out = new Uint8Array(size * size * ch);
  for (let i = 0; i < out.length; i++) out[i] = wide[i]! >>> 8;
  return { size, channels: ch, data: out };
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
 * weights w[...]. Each line's taps are padded with a zero weight (on a line it
 * already reads) to an even count, so reducePacked sweeps four taps at a time
 * and at most one pair after, and the wasm reduce8 takes taps in pairs; a
 * zero weight adds an exact 0. (128 -> 56 has
 * 13 or 14 nonzero taps a line: padding to fours would add 1-3 dead ones.)
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
    if ((at.length - start[o]!) % 2 !== 0) {
      at.push(at[at.length - 1]!);
      w.push(0);
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
 * The JS 8-bit reduce: the reference the wasm kernel (resample-wasm.ts) is
 * tested against, and bench:image's before. It runs two samples per
 * multiply: sample pairs are packed into one double as lo + hi * 2^26. A
 * lane's sum is at most 255 * sum(|w|) < 2^21 in magnitude, so with a bias
 * of 2^25 the low lane stays in [0, 2^26) and both sums are exact integers
 * (every partial sum stays far below 2^53, so the order of the additions
 * does not matter); floor(s / 2^26) separates them. Same results as
 * reduceRows/reduceColumns, about half the multiplies, and double arithmetic
 * spares V8 its int32 overflow checks.
 *
 * Both passes work on lines of packed values, taps outermost, so the inner
 * loop runs over contiguous memory: the vertical pass on packed rows (columns
 * j and j + half of a row), the horizontal one on packed columns (rows y and
 * y + half of a column). The vertical pass writes its rounded rows straight
 * into the horizontal pass's packed columns, so the transpose costs no pass
 * of its own.
 */
const LANE = 67108864; // 2^26
const LO_BIAS = 33554432; // 2^25
/** The rounding 2048 in both lanes plus the low lane's bias. */
const PACKED_START = 2048 + LO_BIAS + 2048 * LANE;

/**
 * Scratch for packed lines and sums, reused across calls (the reduces are
 * synchronous, so no two calls share one): a 128 px image needs ~300 KB,
 * and allocating, zeroing and collecting that per image cost more than a
 * third of the reduce. One per role, grown on demand, never shrunk.
 */
const scratch = { rows: new Float64Array(0), cols: new Float64Array(0), acc: new Float64Array(0) };
function grown(role: keyof typeof scratch, n: number): Float64Array {
  if (scratch[role].length < n) scratch[role] = new Float64Array(Math.max(n, 2 * scratch[role].length));
  return scratch[role];
}

function clip8(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/**
 * The reduce kernel over packed lines: for output line o, PACKED_START plus
 * the weighted sum of the input lines it taps, `lineLen` packed values per
 * line, into acc[0 .. lineLen). Four taps per sweep (then one pair), so acc
 * is loaded and stored once per four multiply-adds.
 */
function reducePacked(packed: Float64Array, lineLen: number, p: Plan, o: number, acc: Float64Array): void {
  const { at, w } = p;
  const t1 = p.start[o + 1]!;
  let t = p.start[o]!;
  acc.fill(PACKED_START, 0, lineLen);
  for (; t + 4 <= t1; t += 4) {
    const b0 = at[t]! * lineLen, b1 = at[t + 1]! * lineLen, b2 = at[t + 2]! * lineLen, b3 = at[t + 3]! * lineLen;
    const w0 = w[t]!, w1 = w[t + 1]!, w2 = w[t + 2]!, w3 = w[t + 3]!;
    for (let j = 0; j < lineLen; j++) {
      acc[j] = acc[j]! + packed[b0 + j]! * w0 + packed[b1 + j]! * w1 + packed[b2 + j]! * w2 + packed[b3 + j]! * w3;
    }
  }
  if (t < t1) {
    const b0 = at[t]! * lineLen, b1 = at[t + 1]! * lineLen;
    const w0 = w[t]!, w1 = w[t + 1]!;
    for (let j = 0; j < lineLen; j++) acc[j] = acc[j]! + packed[b0 + j]! * w0 + packed[b1 + j]! * w1;
  }
}

/** Lane values of a packed sum, rounded (>> 12) and clipped to 8 bits. */
function lo8(s: number, hi: number): number {
  return clip8((s - hi * LANE - LO_BIAS) >> 12);
}

/**
 * Both reduces of an 8-bit image of `ch` interleaved samples per pixel,
 * width x height -> size x size; either pass is skipped when its axis
 * already has `size` lines.
 */
function reduce8(src: Uint8Array, ch: 1 | 3, width: number, height: number, size: number): Uint8Array {
  const rowLen = width * ch;
  const out = new Uint8Array(size * size * ch);
  if (height === size && width === size) {
    out.set(src.subarray(0, out.length));
    return out;
  }
  // The horizontal pass's packed columns: line x holds rows y (low lane) and
  // y + colHalf (high lane) of column x, ch samples per row.
  const colHalf = (size + 1) >> 1;
  const colLine = colHalf * ch;
  const cols = width === size ? undefined : grown('cols', width * colLine);

  if (height === size) {
    packColumns(src, ch, width, height, cols!, colLine);
  } else {
    const p = plan(height, size);
    const half = (rowLen + 1) >> 1;
    const hiLen = rowLen - half;
    const rows = grown('rows', height * half);
    for (let r = 0; r < height; r++) {
      const a = r * rowLen;
      const b = r * half;
      for (let j = 0; j < hiLen; j++) rows[b + j] = src[a + j]! + src[a + half + j]! * LANE;
      if (hiLen < half) rows[b + hiLen] = src[a + hiLen]!;
    }
    const acc = grown('acc', half);
    for (let o = 0; o < size; o++) {
      reducePacked(rows, half, p, o, acc);
      if (cols === undefined) {
        const q = o * rowLen;
        for (let j = 0; j < half; j++) {
          const s = acc[j]!;
          const hi = Math.floor(s / LANE);
          out[q + j] = lo8(s, hi);
          if (j < hiLen) out[q + half + j] = clip8(hi >> 12);
        }
        continue;
      }
      // Row o into the packed columns: the low lane of line x at rows < colHalf,
      // added as the high lane of the same place for the rows after.
      const high = o >= colHalf;
      const y = (high ? o - colHalf : o) * ch;
      // Sample j of the row is sample k of pixel x: cols[x * colLine + y + k].
      // Low lanes hold samples 0 .. half - 1, high lanes half .. rowLen - 1.
      let i0 = y;
      let k0 = 0;
      let i1 = ((half / ch) | 0) * colLine + y + (half % ch);
      let k1 = half % ch;
      for (let j = 0; j < half; j++) {
        const s = acc[j]!;
        const hi = Math.floor(s / LANE);
        const v0 = lo8(s, hi);
        if (high) cols[i0] = cols[i0]! + v0 * LANE;
        else cols[i0] = v0;
        if (++k0 === ch) { k0 = 0; i0 += colLine - ch + 1; } else i0++;
        if (j < hiLen) {
          const v1 = clip8(hi >> 12);
          if (high) cols[i1] = cols[i1]! + v1 * LANE;
          else cols[i1] = v1;
          if (++k1 === ch) { k1 = 0; i1 += colLine - ch + 1; } else i1++;
        }
      }
    }
    if (cols === undefined) return out;
  }

  const p = plan(width, size);
  const hiRows = size - colHalf;
  const outRow = size * ch;
  const acc = grown('acc', colLine);
  for (let o = 0; o < size; o++) {
    reducePacked(cols!, colLine, p, o, acc);
    for (let y = 0; y < colHalf; y++) {
      for (let k = 0; k < ch; k++) {
        const s = acc[y * ch + k]!;
        const hi = Math.floor(s / LANE);
        out[y * outRow + o * ch + k] = lo8(s, hi);
        if (y < hiRows) out[(y + colHalf) * outRow + o * ch + k] = clip8(hi >> 12);
      }
    }
  }
  return out;
}

/** Packs an image that needs no vertical pass into the horizontal pass's packed columns. */
function packColumns(src: Uint8Array, ch: 1 | 3, width: number, height: number, cols: Float64Array, colLine: number): void {
  const half = (height + 1) >> 1;
  const hiRows = height - half;
  const rowLen = width * ch;
  for (let y = 0; y < half; y++) {
    const lo = y * rowLen;
    const hi = (y + half) * rowLen;
    const hasHi = y < hiRows;
    for (let x = 0; x < width; x++) {
      for (let k = 0; k < ch; k++) {
        const i = x * ch + k;
        cols[x * colLine + y * ch + k] = src[lo + i]! + (hasHi ? src[hi + i]! * LANE : 0);
      }
    }
  }
}
