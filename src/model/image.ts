/**
 * Image preprocessing of the model contract: encoded bytes -> the CHW float32
 * tensor the vision stage takes. Everything a caller can get wrong surfaces as
 * an InputError naming the caller's field.
 *
 * Small PNGs take a path of their own (png/): inflated with node:zlib,
 * unfiltered and resampled with libvips' own arithmetic by WebAssembly SIMD
 * kernels (png/kernels.wat), on the calling thread, to the same bytes sharp
 * gives. Most of sharp's cost for a small image is per call; `npm run
 * bench:image` measures both paths and checks they agree bit for bit (pinned
 * to one core of the loaded 2-core VM: ~0.6 ms of CPU per 128 px image
 * against ~2.4 ms with the JS kernels and ~5-6 ms through sharp; about half
 * of the 0.6 is zlib's inflate). Everything else goes to sharp.
 */
import sharp, { type Metadata } from 'sharp';
import { InputError } from './errors.js';
import type { ImagePreprocess } from './manifest.js';
import { isPng, readChunks } from './png/chunks.js';
import { decodePixels } from './png/decode.js';
import { PngError } from './png/errors.js';
import { SLACK, align, kernels } from './png/kernels.js';
import { resampleMatchesSharp, toModelSquare, type Rgb8 } from './png/resample.js';
export { sha256Hex } from './digest.js';

// Every request brings new buffers, so libvips' operation cache never hits;
// keeping it costs its bookkeeping. Off, 400 distinct 128 px ShapesWorld PNGs
// took ~3.8 instead of ~4.25 ms of CPU each and ~15% less wall time
// (1024x768 JPEGs ran at the same speed either way).
sharp.cache(false);

const ACCEPTED = new Set(['png', 'jpeg', 'webp']);

/**
 * PNGs of at most this many pixels are decoded on the calling thread (the
 * server's event loop), synchronously: node:zlib's async inflate cost about
 * twice the CPU of inflateSync for a 128 px image (the hop to the pool and
 * back; bench:image prints both) and would still leave unfilter and resample
 * on the loop. The work grows with the pixels (~4x for 256x256 over
 * 128x128), so past this size an image holds the loop for milliseconds and
 * goes to sharp, whose work runs in the libuv pool.
 */
export const PNG_FAST_PATH_MAX_PIXELS = 256 * 256;
const WHITE = { r: 255, g: 255, b: 255 };

export async function preprocessImage(bytes: Uint8Array, spec: ImagePreprocess, field: string): Promise<Float32Array> {
  const out = new Float32Array(3 * spec.size * spec.size);
  await decodeInto(bytes, spec, field, out);
  return out;
}

/** The images of one item, decoded concurrently, as `count` tensors back to back. */
export async function preprocessImages(
  images: Uint8Array[],
  spec: ImagePreprocess,
  fieldPrefix: string,
): Promise<{ pixels: Float32Array; count: number }> {
  if (images.length > spec.maxImages) {
    throw new InputError('too-many-images', fieldPrefix,
      `${images.length} images, at most ${spec.maxImages} per item`, spec.maxImages);
  }
  const per = 3 * spec.size * spec.size;
  const pixels = new Float32Array(images.length * per);
  const settled = await Promise.allSettled(images.map((img, i) =>
    decodeInto(img, spec, `${fieldPrefix}[${i}]`, pixels.subarray(i * per, (i + 1) * per))));
  // Wait for all so the reported error is the lowest index, not the first to finish.
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  return { pixels, count: images.length };
}

async function decodeInto(bytes: Uint8Array, spec: ImagePreprocess, field: string, out: Float32Array): Promise<void> {
  if (bytes.length === 0) throw new InputError('undecodable-image', field, 'empty image (0 bytes)');
  if (isPng(bytes)) {
    const fast = decodePngFast(bytes, spec, field);
    if (fast) return normalize(fast.data, fast.channels, spec, out);
  }
  return decodeWithSharp(bytes, spec, field, out);
}

/**
 * The PNG path: the header and every chunk's CRC are checked first (so the
 * pixel limit is enforced before anything is inflated), then small images
 * are decoded here. undefined sends the image to sharp: too big for the
 * calling thread, an ICC profile or EXIF orientation to apply, or a resize
 * (upscaling, shrinking 4x or more) whose libvips arithmetic png/resample.ts
 * does not reproduce.
 */
function decodePngFast(bytes: Uint8Array, spec: ImagePreprocess, field: string): Rgb8 | undefined {
  try {
    const chunks = readChunks(bytes);
    const { width, height } = chunks.header;
    if (width * height > spec.maxPixels) throw tooManyPixels(width, height, spec, field);
    if (chunks.hasIccProfile || chunks.hasExif || width * height > PNG_FAST_PATH_MAX_PIXELS
      || !resampleMatchesSharp(width, height, spec.size)) return undefined;
    return toModelSquare(decodePixels(chunks), spec.size);
  } catch (cause) {
    if (cause instanceof PngError) throw new InputError('undecodable-image', field, `cannot decode PNG image: ${cause.message}`, undefined, { cause });
    throw cause;
  }
}

function tooManyPixels(width: number, height: number, spec: ImagePreprocess, field: string, cause?: unknown): InputError {
  return new InputError('too-many-pixels', field,
    `image is ${width}x${height} = ${width * height} pixels, more than the limit of ${spec.maxPixels}`, spec.maxPixels, { cause });
}

/**
 * Today's path for every format (and the reference the PNG path is tested
 * against): sharp flattens onto white, resizes with lanczos3, converts to
 * 8-bit sRGB. Exported for the tests and the image benchmark.
 */
export async function preprocessWithSharp(bytes: Uint8Array, spec: ImagePreprocess, field: string): Promise<Float32Array> {
  const out = new Float32Array(3 * spec.size * spec.size);
  if (bytes.length === 0) throw new InputError('undecodable-image', field, 'empty image (0 bytes)');
  await decodeWithSharp(bytes, spec, field, out);
  return out;
}

async function decodeWithSharp(bytes: Uint8Array, spec: ImagePreprocess, field: string, out: Float32Array): Promise<void> {
  // Bytes of no accepted format never reach a decoder; the slow path names the format.
  if (!sniffAccepted(bytes)) throw await explain(bytes, spec, field);

  let data: Buffer;
  try {
    // One sharp call per image on the happy path (a separate metadata() call
    // cost ~0.4 ms of CPU a 128 px image). limitInputPixels is checked
    // against the header before any pixel is decoded, so a few bytes that
    // claim a huge image are still refused without decoding it; explain()
    // then reads the header again to report its size.
    const res = await sharp(bytes, { limitInputPixels: spec.maxPixels })
      .autoOrient() // the model should see the image as a person viewing it does
      .flatten({ background: WHITE })
      .resize(spec.size, spec.size, { fit: 'fill' })
      .toColourspace('srgb') // grey, 16-bit and CMYK inputs all become 8-bit RGB
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (res.info.channels !== 3 || res.info.width !== spec.size || res.info.height !== spec.size) {
      throw new Error(`decoded to ${res.info.width}x${res.info.height}x${res.info.channels}, expected ${spec.size}x${spec.size}x3`);
    }
    data = res.data;
  } catch (cause) {
    throw await explain(bytes, spec, field, cause);
  }
  normalize(data, 3, spec, out);
}

/** PNG, JPEG and WebP by their magic numbers. */
function sniffAccepted(b: Uint8Array): boolean {
  const at = (off: number, ...xs: number[]) => xs.every((x, i) => b[off + i] === x);
  return at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a) // \x89PNG\r\n\x1a\n
    || at(0, 0xff, 0xd8, 0xff) // JPEG SOI + first marker
    || (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)); // RIFF....WEBP
}

/** Why an image was refused, from its header: only on the error path. */
async function explain(bytes: Uint8Array, spec: ImagePreprocess, field: string, decodeError?: unknown): Promise<InputError> {
  let meta: Metadata;
  try {
    // limitInputPixels off so the header's size can be reported.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (cause) {
    // sharp's wording is the only signal that no loader recognised the bytes
    // at all, as opposed to a recognised format with a broken header.
    if (/unsupported image format/i.test(String((cause as Error).message))) {
      return new InputError('unsupported-image-format', field, 'not a recognised image format; send PNG, JPEG or WebP', undefined, { cause });
    }
    return new InputError('undecodable-image', field, `cannot read the image header: ${(cause as Error).message}`, undefined, { cause });
  }
  if (!ACCEPTED.has(meta.format)) {
    return new InputError('unsupported-image-format', field, `${meta.format.toUpperCase()} is not accepted; send PNG, JPEG or WebP`);
  }
  const { width, height } = meta;
  if (width * height > spec.maxPixels) return tooManyPixels(width, height, spec, field, decodeError);
  const message = decodeError === undefined ? 'its first bytes are no PNG, JPEG or WebP signature' : String((decodeError as Error).message);
  if (/pixel limit/i.test(message)) {
    // The decoder disagreed with the header about the size.
    return new InputError('too-many-pixels', field, `image decodes to more than the limit of ${spec.maxPixels} pixels`, spec.maxPixels, { cause: decodeError });
  }
  return new InputError('undecodable-image', field, `cannot decode ${meta.format.toUpperCase()} image: ${message}`, undefined, { cause: decodeError });
}

/**
 * Interleaved 8-bit RGB (or grey, `channels` 1) -> planar normalized channels
 * in channelOrder, one table lookup per value, run by the wasm kernel (in JS
 * the loop cost ~0.15 ms of CPU per 56 px tensor on this project's VM, a
 * fifth of the PNG path). Exported for the tests.
 */
export function normalize(rgb: Uint8Array, channels: 1 | 3, spec: ImagePreprocess, out: Float32Array): void {
  const plane = spec.size * spec.size;
  const luts = normalizeTables(spec);
  const k = kernels();
  let end = k.scratch;
  const src = end; end = align(src + rgb.length + SLACK);
  const tables = end; end = align(tables + 3 * 256 * 4);
  const dst = end; end = align(dst + out.length * 4);
  k.reserve(end);
  const mem = k.bytes();
  mem.set(rgb, src);
  for (let c = 0; c < 3; c++) new Float32Array(mem.buffer, tables + c * 1024, 256).set(luts[c]!);
  for (let c = 0; c < 3; c++) {
    const from = channels === 1 ? 0 : spec.channelOrder === 'rgb' ? c : 2 - c;
    k.fn.normalize(src + from, channels, plane, tables + c * 1024, dst + c * plane * 4);
  }
  out.set(new Float32Array(mem.buffer, dst, 3 * plane));
}

/**
 * A table per tensor channel (mean/std are indexed like the tensor's
 * channels, i.e. in channelOrder), so every pixel is one lookup and the
 * values are exactly (v / 255 - mean) / std. Kept for the last mean/std
 * seen: a server has one model's spec, so the 768 divisions are paid once
 * rather than per image.
 */
let lastTables: { mean: readonly number[]; std: readonly number[]; luts: Float32Array[] } | undefined;
function normalizeTables(spec: ImagePreprocess): Float32Array[] {
  const { mean, std } = spec;
  const same = (a: readonly number[], b: readonly number[]) => a[0] === b[0] && a[1] === b[1] && a[2] === b[2];
  if (lastTables && same(lastTables.mean, mean) && same(lastTables.std, std)) return lastTables.luts;
  const luts = [0, 1, 2].map((c) => {
    const lut = new Float32Array(256);
    for (let v = 0; v < 256; v++) lut[v] = (v / 255 - mean[c]!) / std[c]!;
    return lut;
  });
  lastTables = { mean: [...mean], std: [...std], luts };
  return luts;
}
