/**
 * The project's own rasterizer: a Scene to an RGB buffer, anti-aliased by
 * supersampling, then to PNG (png.ts). Geometry comes from geometry.ts, the
 * same functions the sampler used to guarantee visibility.
 *
 * Speed matters (tens of thousands of images per split), so each shape is
 * visited only inside its bounding box, and only pixels its outline crosses
 * are supersampled: the others are fully in or fully out by a distance test.
 */
import { edgeDistance, extentOf, radiusOf } from './geometry.js';
import { encodePng } from './png.js';
import { sceneText } from './scene-text.js';
import { BACKGROUND_NOISE, BACKGROUND_RGB, COLOR_RGB, type Background, type RGB, type Scene, type Shape } from './world.js';

export interface RasterOptions {
  /** Pixels; default 128. The radius unit scales with the width. */
  width?: number;
  /** Pixels; default = width. Scenes are laid out for square images. */
  height?: number;
  /** Samples per axis in edge pixels; default 4 (16 per pixel). */
  supersample?: number;
}

/** Interleaved 8-bit RGB, row-major, top row first. */
export interface Raster {
  width: number;
  height: number;
  data: Uint8Array;
}

export const DEFAULT_IMAGE_SIZE = 128;
const DEFAULT_SUPERSAMPLE = 4;
/** Half a pixel's diagonal: beyond it from the outline a pixel is entirely in or out. */
const HALF_DIAGONAL = Math.SQRT1_2 + 1e-6;

export function rasterize(scene: Scene, opts: RasterOptions = {}): Raster {
  const width = opts.width ?? DEFAULT_IMAGE_SIZE;
  const height = opts.height ?? width;
  const ss = opts.supersample ?? DEFAULT_SUPERSAMPLE;
  checkDimension('width', width, 1, 8192);
  checkDimension('height', height, 1, 8192);
  checkDimension('supersample', ss, 1, 16);
  const data = new Uint8Array(width * height * 3);
  paintBackground(data, width, height, scene.background);
  const offsets = new Float64Array(ss);
  for (let k = 0; k < ss; k++) offsets[k] = (k + 0.5) / ss;
  for (const shape of scene.shapes) paintShape(data, width, height, shape, offsets);
  return { width, height, data };
}

/** The scene's PNG, carrying the scene itself in a tEXt chunk (scene-text.ts). */
export async function renderPng(scene: Scene, opts: RasterOptions = {}): Promise<Buffer> {
  return encodePng(rasterize(scene, opts), sceneText(scene));
}

function checkDimension(name: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new RangeError(`raster ${name} must be an integer in [${lo}, ${hi}], got ${v}`);
}

function paintBackground(data: Uint8Array, width: number, height: number, bg: Background): void {
  const fill = bg.fill;
  const from = fill.type === 'solid' ? BACKGROUND_RGB[fill.color] : BACKGROUND_RGB[fill.from];
  const to = fill.type === 'solid' ? from : BACKGROUND_RGB[fill.to];
  const vertical = fill.type === 'gradient' && fill.direction === 'vertical';
  // The noiseless colour of each column (horizontal) or row (vertical), already
  // offset by -amplitude so the inner loop only adds a draw in [0, 2 * amp].
  const amp = BACKGROUND_NOISE;
  const levels = 2 * amp + 1;
  const steps = vertical ? height : width;
  const base = new Int16Array(steps * 3);
  for (let k = 0; k < steps; k++) {
    const t = (k + 0.5) / steps;
    for (let ch = 0; ch < 3; ch++) {
      const a = from[ch] as number;
      base[k * 3 + ch] = Math.round(a + ((to[ch] as number) - a) * t) - amp;
    }
  }
  // xorshift32, one draw per pixel (8 bits per channel): the noise needs
  // speed and determinism, not statistical depth.
  let s = bg.noiseSeed >>> 0 || 0x9e3779b9;
  let p = 0;
  for (let j = 0; j < height; j++) {
    for (let i = 0; i < width; i++) {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      const b = (vertical ? j : i) * 3;
      const r = (base[b] as number) + ((((s >>> 0) & 0xff) * levels) >>> 8);
      const g = (base[b + 1] as number) + ((((s >>> 8) & 0xff) * levels) >>> 8);
      const bl = (base[b + 2] as number) + ((((s >>> 16) & 0xff) * levels) >>> 8);
      data[p++] = r < 0 ? 0 : r > 255 ? 255 : r;
      data[p++] = g < 0 ? 0 : g > 255 ? 255 : g;
      data[p++] = bl < 0 ? 0 : bl > 255 ? 255 : bl;
    }
  }
}

function paintShape(data: Uint8Array, width: number, height: number, shape: Shape, offsets: Float64Array): void {
  const color: RGB = shape.rgb ?? COLOR_RGB[shape.color];
  const [cr, cg, cb] = color;
  const r = radiusOf(shape.size) * width;
  const cx = shape.x * width;
  const cy = shape.y * height;
  const e = extentOf(shape.kind, r);
  const x0 = Math.max(0, Math.floor(cx - e.left - 1));
  const x1 = Math.min(width - 1, Math.ceil(cx + e.right + 1));
  const y0 = Math.max(0, Math.floor(cy - e.top - 1));
  const y1 = Math.min(height - 1, Math.ceil(cy + e.bottom + 1));
  const ss = offsets.length;
  const samples = ss * ss;
  const kind = shape.kind;
  for (let j = y0; j <= y1; j++) {
    for (let i = x0; i <= x1; i++) {
      const d = edgeDistance(kind, r, i + 0.5 - cx, j + 0.5 - cy);
      let cover: number;
      if (d >= HALF_DIAGONAL) continue;
      if (d <= -HALF_DIAGONAL) cover = 1;
      else {
        let hits = 0;
        for (let sy = 0; sy < ss; sy++) {
          const dy = j + (offsets[sy] as number) - cy;
          for (let sx = 0; sx < ss; sx++) {
            if (edgeDistance(kind, r, i + (offsets[sx] as number) - cx, dy) <= 0) hits++;
          }
        }
        if (hits === 0) continue;
        cover = hits / samples;
      }
      const p = (j * width + i) * 3;
      data[p] = blend(data[p] as number, cr, cover);
      data[p + 1] = blend(data[p + 1] as number, cg, cover);
      data[p + 2] = blend(data[p + 2] as number, cb, cover);
    }
  }
}

function blend(under: number, over: number, alpha: number): number {
  const v = Math.round(under + (over - under) * alpha);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}
