import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { edgeDistance, radiusOf } from '../../../trainer/shapes/geometry.js';
import { sampleSplit } from '../../../trainer/shapes/pairs.js';
import { encodePng, encodePngSync } from '../../../trainer/shapes/png.js';
import { rasterize, renderPng } from '../../../trainer/shapes/raster.js';
import { imageKey, imageKeys, renderPairImages } from '../../../trainer/shapes/render-pairs.js';
import { Rng } from '../../../trainer/shapes/rng.js';
import { sampleScene } from '../../../trainer/shapes/sampler.js';
import { BACKGROUND_RGB, COLOR_JITTER, COLOR_RGB, COLORS, type Scene } from '../../../trainer/shapes/world.js';

function pixel(data: Uint8Array, width: number, x: number, y: number): [number, number, number] {
  const p = (y * width + x) * 3;
  return [data[p]!, data[p + 1]!, data[p + 2]!];
}

function dist(a: readonly number[], b: readonly number[]): number {
  return Math.hypot(a[0]! - b[0]!, a[1]! - b[1]!, a[2]! - b[2]!);
}

/**
 * The shape whose fill the pixel must show: the topmost shape covering the
 * pixel's whole area with no later shape touching it; -1 when there is none.
 */
function ownerOf(scene: Scene, width: number, x: number, y: number): number {
  let owner = -1;
  scene.shapes.forEach((s, k) => {
    const d = edgeDistance(s.kind, radiusOf(s.size) * width, x + 0.5 - s.x * width, y + 0.5 - s.y * width);
    if (d <= -0.71) owner = k;
    else if (d < 0.71) owner = -1;
  });
  return owner;
}

describe('rasterize', () => {
  const scenes = Array.from({ length: 40 }, (_, i) => sampleScene(Rng.fromSeed(21).child(i)));

  it('paints shape interiors in their exact fill and never paints a background like a shape colour', () => {
    for (const scene of scenes) {
      const r = rasterize(scene);
      let interior = 0;
      for (let y = 0; y < r.height; y += 3) {
        for (let x = 0; x < r.width; x += 3) {
          const px = pixel(r.data, r.width, x, y);
          const owner = ownerOf(scene, r.width, x, y);
          if (owner >= 0) {
            interior++;
            expect(px).toEqual([...scene.shapes[owner]!.rgb!]);
            continue;
          }
          const covered = scene.shapes.some((s) => edgeDistance(s.kind, radiusOf(s.size) * r.width, x + 0.5 - s.x * r.width, y + 0.5 - s.y * r.width) < 0.71);
          if (covered) continue;
          for (const c of COLORS) expect(dist(px, COLOR_RGB[c])).toBeGreaterThan(60);
        }
      }
      expect(interior).toBeGreaterThan(0);
    }
  });

  it('anti-aliases edges: outline pixels blend shape and background', () => {
    const scene: Scene = { shapes: [{ kind: 'circle', color: 'blue', size: 'large', x: 0.5, y: 0.5 }], background: { fill: { type: 'solid', color: 'white' }, noiseSeed: 1 } };
    const r = rasterize(scene);
    const blue = COLOR_RGB.blue;
    const white = BACKGROUND_RGB.white;
    let blended = 0;
    for (let y = 0; y < r.height; y++) {
      for (let x = 0; x < r.width; x++) {
        const px = pixel(r.data, r.width, x, y);
        if (dist(px, blue) > 20 && dist(px, white) > 20) blended++;
      }
    }
    // A circle of radius 15.4 px has an outline of ~97 px; most of them are partial.
    expect(blended).toBeGreaterThan(50);
    expect(blended).toBeLessThan(200);
  });

  it('keeps the background noise within ±6 and shape jitter within ±12', () => {
    for (const scene of scenes.slice(0, 10)) {
      for (const s of scene.shapes) for (let c = 0; c < 3; c++) expect(Math.abs(s.rgb![c]! - COLOR_RGB[s.color][c]!)).toBeLessThanOrEqual(COLOR_JITTER);
      if (scene.background.fill.type !== 'solid') continue;
      const base = BACKGROUND_RGB[scene.background.fill.color];
      const r = rasterize({ ...scene, shapes: [] });
      const seen = new Set<number>();
      for (let p = 0; p < r.data.length; p++) {
        const d = r.data[p]! - base[p % 3]!;
        expect(Math.abs(d)).toBeLessThanOrEqual(6);
        seen.add(d);
      }
      expect(seen.size).toBe(13);
    }
  });

  it('writes PNGs that sharp decodes to the same pixels, at any size', async () => {
    for (const [width, height] of [
      [128, 128],
      [96, 64],
      [33, 17],
    ] as const) {
      const r = rasterize(scenes[0]!, { width, height });
      for (const png of [encodePngSync(r), await encodePng(r)]) {
        const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
        expect([info.width, info.height, info.channels]).toEqual([width, height, 3]);
        expect(Buffer.compare(data, Buffer.from(r.data))).toBe(0);
      }
    }
    expect(() => rasterize(scenes[0]!, { width: 0 })).toThrow(RangeError);
    expect(() => rasterize(scenes[0]!, { supersample: 1.5 })).toThrow(RangeError);
  });

  it('renders identical bytes for identical scenes, whether on workers or not', async () => {
    const a = await renderPng(scenes[1]!);
    const b = await renderPng(structuredClone(scenes[1]!));
    expect(Buffer.compare(a, b)).toBe(0);
    const pairs = sampleSplit(4, 24);
    const onWorkers = await renderPairImages(pairs, { workers: 2 });
    const inline = await renderPairImages(pairs, { workers: 0 });
    expect([...onWorkers.keys()]).toEqual([...inline.keys()]);
    for (const [k, v] of onWorkers) expect(Buffer.compare(v, inline.get(k)!)).toBe(0);
  });

  it('renders every image of a split, keyed by pair and position, as PNGs of exactly its scenes', async () => {
    const pairs = sampleSplit(2024, 16);
    const pngs = await renderPairImages(pairs);
    const keys = pairs.flatMap((p) => imageKeys(p));
    expect([...pngs.keys()]).toEqual(keys);
    // T2I pairs carry two images: some key must end in /1.
    expect(keys.some((k) => k.endsWith('/1'))).toBe(true);
    for (const p of pairs) {
      for (const [i, scene] of p.images.entries()) {
        const { data, info } = await sharp(pngs.get(imageKey(p.id, i))!).raw().toBuffer({ resolveWithObject: true });
        const want = rasterize(scene);
        expect([info.width, info.height, info.channels]).toEqual([want.width, want.height, 3]);
        expect(Buffer.compare(data, Buffer.from(want.data))).toBe(0);
      }
    }
  });
});
