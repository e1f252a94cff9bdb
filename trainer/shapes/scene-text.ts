/**
 * A ShapesWorld image carries its own truth: the generator writes the scene
 * as JSON into a PNG tEXt chunk. The simulated judge reads it back, so it
 * knows any ShapesWorld image that reaches it (from a data set, the pair log
 * or a live request) without a side channel. Pixel decoders (sharp, the
 * model's preprocessing) ignore ancillary chunks, so tensors do not change;
 * the file bytes, and so image sha256s, do.
 */
import { readPngText, type PngText } from './png.js';
import { BACKGROUND_COLORS, COLORS, KINDS, SIZES, type Scene } from './world.js';

/** The tEXt keyword. Versioned so a later scene schema can live beside this one. */
export const SCENE_TEXT_KEY = 'mrm-shapesworld-scene-v1';

export function sceneText(scene: Scene): PngText {
  return { [SCENE_TEXT_KEY]: JSON.stringify(scene) };
}

/** The scene a PNG carries, or undefined when it has none or it does not read as one. */
export function sceneFromPng(png: Uint8Array): Scene | undefined {
  const text = readPngText(png).get(SCENE_TEXT_KEY);
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  return isScene(v) ? v : undefined;
}

function isScene(v: unknown): v is Scene {
  if (typeof v !== 'object' || v === null) return false;
  const s = v as { shapes?: unknown; background?: unknown };
  if (!Array.isArray(s.shapes) || typeof s.background !== 'object' || s.background === null) return false;
  const fill = (s.background as { fill?: { type?: unknown; color?: unknown; from?: unknown } }).fill;
  if (!fill || (fill.type !== 'solid' && fill.type !== 'gradient')) return false;
  if (fill.type === 'solid' && !(BACKGROUND_COLORS as readonly unknown[]).includes(fill.color)) return false;
  return s.shapes.every((x: unknown) => {
    if (typeof x !== 'object' || x === null) return false;
    const sh = x as Record<string, unknown>;
    return (
      (KINDS as readonly unknown[]).includes(sh.kind) &&
      (COLORS as readonly unknown[]).includes(sh.color) &&
      (SIZES as readonly unknown[]).includes(sh.size) &&
      typeof sh.x === 'number' &&
      typeof sh.y === 'number'
    );
  });
}
