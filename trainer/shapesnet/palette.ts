/**
 * What the default model's frozen stages know of ShapesWorld: its colors,
 * kinds and sizes (in the order the vision embedding lays them out) and its
 * geometry, taken from the domain itself so the two cannot drift apart.
 */
import { RADIUS_UNIT } from '../shapes/geometry.js';
import { COLOR_RGB, COLORS, KINDS, SIZES } from '../shapes/world.js';

export const COLOR_ORDER = COLORS;
export const KIND_ORDER = KINDS;
export const SIZE_ORDER = SIZES;
export const PALETTE = COLOR_RGB;
/** Radius unit of each size as a fraction of the image side. */
export const SIZE_UNIT = RADIUS_UNIT;

export const NC = COLOR_ORDER.length;
export const NK = KIND_ORDER.length;
export const NS = SIZE_ORDER.length;
/** Cells of the vision embedding: one per (color, kind, size). */
export const NCELL = NC * NK * NS;

export function cellIndex(c: number, k: number, s: number): number {
  return (c * NK + k) * NS + s;
}
