/**
 * resample.ts's 8-bit reduce run by the WebAssembly kernels: the vertical
 * pass as reduce8 over rows, then the horizontal pass as reduce8 over the
 * columns (transposed into lines, and the result transposed back). Same
 * plans, same integer arithmetic, same results as the JS kernels, byte for
 * byte; about a tenth of their CPU for a 128 px image.
 */
import { SLACK, align, kernels, type PlanArrays } from './kernels.js';

/**
 * width x height pixels of `ch` interleaved 8-bit samples -> size x size;
 * `rows` / `cols` are the plans of the vertical / horizontal pass, undefined
 * where that axis already has `size` lines.
 */
export function reduce8Wasm(src: Uint8Array, ch: number, width: number, height: number, size: number,
  rows: PlanArrays | undefined, cols: PlanArrays | undefined): Uint8Array {
  const k = kernels();
  const vp = rows && k.place(rows);
  const hp = cols && k.place(cols);
  const rowLen = width * ch;
  const line = size * ch; // a transposed column: `size` pixels
  let end = k.scratch;
  const input = end; end = align(input + height * rowLen + SLACK);
  const reduced = vp ? end : input; if (vp) end = align(reduced + size * rowLen + SLACK);
  const columns = end; if (hp) end = align(columns + width * line + SLACK);
  const across = end; if (hp) end = align(across + size * line + SLACK);
  const out = end; if (hp) end = align(out + size * line + SLACK);
  k.reserve(end);
  k.bytes().set(src.subarray(0, height * rowLen), input);
  const f = k.fn;
  if (vp) f.reduce8(input, rowLen, rowLen, vp.starts, vp.ats, vp.wpairs, size, reduced, rowLen);
  if (!hp) return k.bytes().slice(reduced, reduced + size * rowLen);
  f.transpose(reduced, rowLen, columns, line, width, size, ch);
  f.reduce8(columns, line, line, hp.starts, hp.ats, hp.wpairs, size, across, line);
  f.transpose(across, line, out, line, size, size, ch);
  return k.bytes().slice(out, out + size * line);
}

/** resample.ts's 8-bit flatten onto white (grey + alpha or RGBA -> grey or RGB) by the flatten8 kernel. */
export function flatten8Wasm(src: Uint8Array, ch: 2 | 4): Uint8Array {
  const k = kernels();
  const pixels = src.length / ch;
  const input = k.scratch;
  const out = align(input + src.length + SLACK);
  k.reserve(align(out + pixels * (ch - 1) + SLACK));
  k.bytes().set(src, input);
  k.fn.flatten8(input, pixels, ch, out);
  return k.bytes().slice(out, out + pixels * (ch - 1));
}
