/**
 * The vocabulary of ShapesWorld: what a scene is made of. Scenes are plain
 * JSON-serializable data so they can travel in pair metadata and be rendered
 * again later, bit for bit.
 */

export const COLORS = ['red', 'green', 'blue', 'yellow', 'purple', 'orange'] as const;
export const KINDS = ['circle', 'square', 'triangle'] as const;
export const SIZES = ['small', 'large'] as const;
export const RELATIONS = ['left', 'right', 'above', 'below'] as const;

export type Color = (typeof COLORS)[number];
export type Kind = (typeof KINDS)[number];
export type Size = (typeof SIZES)[number];
/** Where a subject is relative to an object, by the dominant axis of subject - object (y down). */
export type Relation = (typeof RELATIONS)[number];

export type RGB = readonly [number, number, number];

/** The attributes a text can talk about. */
export interface Attrs {
  kind: Kind;
  color: Color;
  size: Size;
}

export interface Shape extends Attrs {
  /** Center in [0, 1] image coordinates, y down. */
  x: number;
  y: number;
  /**
   * The exact fill after the per-shape jitter. Optional so hand-written scenes
   * stay short; without it the nominal color is drawn.
   */
  rgb?: RGB;
}

export const BACKGROUND_COLORS = ['white', 'light-gray', 'cream', 'pale-blue-gray', 'charcoal'] as const;
export type BackgroundColor = (typeof BACKGROUND_COLORS)[number];

export type BackgroundFill =
  | { type: 'solid'; color: BackgroundColor }
  | { type: 'gradient'; direction: 'vertical' | 'horizontal'; from: BackgroundColor; to: BackgroundColor };

export interface Background {
  fill: BackgroundFill;
  /** Seeds the per-pixel noise, so a scene renders identically every time. */
  noiseSeed: number;
}

export interface Scene {
  /** In drawing order: later shapes are drawn over earlier ones. */
  shapes: Shape[];
  background: Background;
}

/** Saturated and far apart in RGB, so a colour name is never a judgement call. */
export const COLOR_RGB: Readonly<Record<Color, RGB>> = {
  red: [220, 40, 40],
  green: [40, 170, 60],
  blue: [40, 80, 220],
  yellow: [235, 200, 30],
  purple: [140, 60, 180],
  orange: [245, 130, 20],
};

/** Maximum per-channel jitter of a shape's fill. */
export const COLOR_JITTER = 12;

/** Pale or dark neutrals: none of them, nor any mix of two, reads as a shape colour. */
export const BACKGROUND_RGB: Readonly<Record<BackgroundColor, RGB>> = {
  white: [246, 246, 244],
  'light-gray': [208, 208, 206],
  cream: [243, 236, 214],
  'pale-blue-gray': [204, 213, 224],
  charcoal: [58, 60, 64],
};

/** Amplitude of the background's per-pixel, per-channel noise. */
export const BACKGROUND_NOISE = 6;

export function attrsOf(shape: Attrs): Attrs {
  return { kind: shape.kind, color: shape.color, size: shape.size };
}

/** Whether `shape` has every attribute `pattern` fixes. */
export function matches(shape: Attrs, pattern: Partial<Attrs>): boolean {
  return (
    (pattern.kind === undefined || shape.kind === pattern.kind) &&
    (pattern.color === undefined || shape.color === pattern.color) &&
    (pattern.size === undefined || shape.size === pattern.size)
  );
}

export function countMatching(scene: Scene, pattern: Partial<Attrs>): number {
  let n = 0;
  for (const s of scene.shapes) if (matches(s, pattern)) n++;
  return n;
}

/** The only shape matching `pattern`, or undefined when there is none or more than one. */
export function uniqueMatching(scene: Scene, pattern: Partial<Attrs>): Shape | undefined {
  let found: Shape | undefined;
  for (const s of scene.shapes) {
    if (!matches(s, pattern)) continue;
    if (found) return undefined;
    found = s;
  }
  return found;
}

/** Every combination of attributes, in a fixed order. */
export const ALL_ATTRS: readonly Attrs[] = KINDS.flatMap((kind) =>
  COLORS.flatMap((color) => SIZES.map((size) => ({ kind, color, size }))),
);
