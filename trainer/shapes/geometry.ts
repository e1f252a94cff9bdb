/**
 * Shape geometry, shared by the scene sampler (bounds, overlap, visibility)
 * and the rasterizer (coverage), so that what the sampler guarantees is what
 * gets drawn. Lengths are in units of the image width; a shape's offsets
 * (dx, dy) are measured from its center, y down.
 */
import type { Kind, Relation, Shape, Size } from './world.js';

/** The radius unit R as a fraction of the image width. */
export const RADIUS_UNIT: Readonly<Record<Size, number>> = { small: 0.075, large: 0.12 };
/** Square half-side, in units of R. */
export const SQUARE_HALF_SIDE = 0.9;
/** Triangle circumradius, in units of R. */
export const TRIANGLE_CIRCUMRADIUS = 1.15;

const SQRT3_2 = Math.sqrt(3) / 2;

export function radiusOf(size: Size): number {
  return RADIUS_UNIT[size];
}

/** Distance from the center to each side of the bounding box (all positive). */
export interface Extent {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export function extentOf(kind: Kind, r: number): Extent {
  switch (kind) {
    case 'circle':
      return { left: r, right: r, top: r, bottom: r };
    case 'square': {
      const h = SQUARE_HALF_SIDE * r;
      return { left: h, right: h, top: h, bottom: h };
    }
    case 'triangle': {
      // Pointing up, centered at the centroid: apex at -c, base at +c/2.
      const c = TRIANGLE_CIRCUMRADIUS * r;
      return { left: c * SQRT3_2, right: c * SQRT3_2, top: c, bottom: c / 2 };
    }
  }
}

/**
 * Signed distance to the outline: negative inside, exact inside and for the
 * circle; for the polygons it is the max over their edge half-planes, which
 * outside never exceeds the true distance. The rasterizer relies on that: a
 * pixel whose center is farther than half a diagonal is certainly untouched.
 */
export function edgeDistance(kind: Kind, r: number, dx: number, dy: number): number {
  switch (kind) {
    case 'circle':
      return Math.sqrt(dx * dx + dy * dy) - r;
    case 'square': {
      const h = SQUARE_HALF_SIDE * r;
      return Math.max(Math.abs(dx) - h, Math.abs(dy) - h);
    }
    case 'triangle': {
      const c = TRIANGLE_CIRCUMRADIUS * r;
      const inr = c / 2;
      return Math.max(dy - inr, SQRT3_2 * dx - dy / 2 - inr, -SQRT3_2 * dx - dy / 2 - inr);
    }
  }
}

export function contains(kind: Kind, r: number, dx: number, dy: number): boolean {
  return edgeDistance(kind, r, dx, dy) <= 0;
}

export function areaOf(kind: Kind, r: number): number {
  switch (kind) {
    case 'circle':
      return Math.PI * r * r;
    case 'square':
      return 4 * (SQUARE_HALF_SIDE * r) ** 2;
    case 'triangle':
      return ((3 * Math.sqrt(3)) / 4) * (TRIANGLE_CIRCUMRADIUS * r) ** 2;
  }
}

/** Whether `shape` lies inside the unit image with `margin` to spare on every side. */
export function insideImage(shape: Shape, margin: number): boolean {
  const e = extentOf(shape.kind, radiusOf(shape.size));
  return (
    shape.x - e.left >= margin &&
    shape.x + e.right <= 1 - margin &&
    shape.y - e.top >= margin &&
    shape.y + e.bottom <= 1 - margin
  );
}

/** A point of `shape` in absolute coordinates lies within `grow` of `other`. */
export function pointNear(other: Shape, x: number, y: number, grow: number): boolean {
  return edgeDistance(other.kind, radiusOf(other.size), x - other.x, y - other.y) <= grow;
}

const POINT_GRID = 16;
const pointCache = new Map<string, Float64Array>();

/**
 * Offsets of a regular grid of points inside the shape (x0, y0, x1, y1, ...):
 * a fixed, deterministic stand-in for its area when measuring overlap.
 */
export function interiorPoints(kind: Kind, size: Size): Float64Array {
  const key = `${kind}/${size}`;
  const cached = pointCache.get(key);
  if (cached) return cached;
  const r = radiusOf(size);
  const e = extentOf(kind, r);
  const pts: number[] = [];
  for (let j = 0; j < POINT_GRID; j++) {
    const dy = -e.top + ((j + 0.5) / POINT_GRID) * (e.top + e.bottom);
    for (let i = 0; i < POINT_GRID; i++) {
      const dx = -e.left + ((i + 0.5) / POINT_GRID) * (e.left + e.right);
      if (contains(kind, r, dx, dy)) pts.push(dx, dy);
    }
  }
  const arr = Float64Array.from(pts);
  pointCache.set(key, arr);
  return arr;
}

/** Fraction of `below` not hidden by any of `above` (shapes drawn after it). */
export function visibleFraction(below: Shape, above: readonly Shape[]): number {
  const pts = interiorPoints(below.kind, below.size);
  const n = pts.length / 2;
  let visible = 0;
  for (let k = 0; k < n; k++) {
    const x = below.x + (pts[2 * k] as number);
    const y = below.y + (pts[2 * k + 1] as number);
    let hidden = false;
    for (const s of above) {
      if (pointNear(s, x, y, 0)) {
        hidden = true;
        break;
      }
    }
    if (!hidden) visible++;
  }
  return visible / n;
}

/** Whether two shapes come within `gap` of each other (checked both ways on the point grids). */
export function shapesTouch(a: Shape, b: Shape, gap: number): boolean {
  return pointsNear(a, b, gap) || pointsNear(b, a, gap);
}

function pointsNear(a: Shape, b: Shape, gap: number): boolean {
  const pts = interiorPoints(a.kind, a.size);
  for (let k = 0; k < pts.length; k += 2) {
    if (pointNear(b, a.x + (pts[k] as number), a.y + (pts[k + 1] as number), gap)) return true;
  }
  return false;
}

/** Positions questions are asked only when the dominant offset is at least this... */
export const RELATION_MIN_DOMINANT = 0.15;
/** ...and at least this many times the other axis' offset. */
export const RELATION_MIN_RATIO = 2;

export interface RelationReading {
  relation: Relation;
  /** False when the displacement is too small or too diagonal to name one relation. */
  clear: boolean;
}

/** The relation of `subject` to `object` by the dominant axis of their center displacement. */
export function relationBetween(
  subject: { x: number; y: number },
  object: { x: number; y: number },
): RelationReading {
  const dx = subject.x - object.x;
  const dy = subject.y - object.y;
  const horizontal = Math.abs(dx) >= Math.abs(dy);
  const dominant = horizontal ? Math.abs(dx) : Math.abs(dy);
  const other = horizontal ? Math.abs(dy) : Math.abs(dx);
  const relation: Relation = horizontal ? (dx < 0 ? 'left' : 'right') : dy < 0 ? 'above' : 'below';
  return {
    relation,
    clear: dominant >= RELATION_MIN_DOMINANT && dominant >= RELATION_MIN_RATIO * other,
  };
}
