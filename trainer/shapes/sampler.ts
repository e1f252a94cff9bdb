/**
 * Scene sampling: free scenes, and scenes built to make a statement true
 * ("exactly 3 red circles", "a unique red circle clearly left of a unique blue
 * square"). Attributes are decided first (required shapes + extras allowed by
 * a predicate), then positions by rejection, so every constraint holds by
 * construction rather than by luck.
 *
 * Layout rules every scene obeys, so that the ground truth is visible:
 * - each shape lies fully inside the image (with a small margin for its
 *   anti-aliased edge);
 * - each shape keeps at least MIN_VISIBLE of its area uncovered by shapes
 *   drawn after it;
 * - shapes of the same colour never touch: two touching red circles would
 *   read as one red blob, and the count would stop being a fact of the image.
 */
import { SceneSamplingError } from './errors.js';
import { extentOf, insideImage, radiusOf, relationBetween, shapesTouch, visibleFraction } from './geometry.js';
import type { Rng } from './rng.js';
import {
  ALL_ATTRS,
  BACKGROUND_COLORS,
  COLOR_JITTER,
  COLOR_RGB,
  type Attrs,
  type Background,
  type BackgroundColor,
  type Color,
  type RGB,
  type Relation,
  type Scene,
  type Shape,
} from './world.js';

export const MAX_SHAPES = 6;
export const MIN_VISIBLE = 0.7;
export const EDGE_MARGIN = 0.01;
export const SAME_COLOR_GAP = 0.025;

const POSITION_TRIES = 60;
const SCENE_TRIES = 300;

export interface RelationConstraint {
  /** Indices into `SceneSpec.required`. */
  subject: number;
  object: number;
  relation: Relation;
}

export interface SceneSpec {
  /** Shapes that must appear, fully specified. */
  required?: readonly Attrs[];
  /** Total shape count, required included. Default: uniform in [max(1, required), MAX_SHAPES]. */
  total?: number;
  /** Extras are drawn uniformly from the attribute combinations this accepts. */
  allowExtra?: (a: Attrs) => boolean;
  /** A relation that must clearly hold between two required shapes. */
  relation?: RelationConstraint;
}

export function jitterColor(color: Color, rng: Rng): RGB {
  const [r, g, b] = COLOR_RGB[color];
  const j = (v: number): number => Math.min(255, Math.max(0, v + rng.int(-COLOR_JITTER, COLOR_JITTER)));
  return [j(r), j(g), j(b)];
}

export function sampleBackground(rng: Rng): Background {
  const noiseSeed = rng.uint32();
  if (rng.bernoulli(0.6)) return { fill: { type: 'solid', color: rng.pick(BACKGROUND_COLORS) }, noiseSeed };
  const [from, to] = rng.sample(BACKGROUND_COLORS, 2) as [BackgroundColor, BackgroundColor];
  return { fill: { type: 'gradient', direction: rng.pick(['vertical', 'horizontal'] as const), from, to }, noiseSeed };
}

/** A scene meeting `spec`; throws SceneSamplingError when the spec cannot be met. */
export function sampleScene(rng: Rng, spec: SceneSpec = {}): Scene {
  const required = spec.required ?? [];
  const relation = spec.relation;
  if (relation && (!required[relation.subject] || !required[relation.object] || relation.subject === relation.object)) {
    throw new SceneSamplingError(describeSpec(spec), 0, { cause: new RangeError('relation indices do not name two required shapes') });
  }
  const extrasPool = ALL_ATTRS.filter(spec.allowExtra ?? (() => true));
  const minTotal = Math.max(1, required.length);
  if (spec.total !== undefined && (spec.total < minTotal || spec.total > MAX_SHAPES)) {
    throw new SceneSamplingError(describeSpec(spec), 0, { cause: new RangeError(`total ${spec.total} outside [${minTotal}, ${MAX_SHAPES}]`) });
  }
  if (required.length > MAX_SHAPES) throw new SceneSamplingError(describeSpec(spec), 0);
  const background = sampleBackground(rng);
  for (let attempt = 0; attempt < SCENE_TRIES; attempt++) {
    const total = spec.total ?? rng.int(minTotal, MAX_SHAPES);
    if (total > required.length && extrasPool.length === 0) break;
    const attrs = [...required];
    while (attrs.length < total) attrs.push(rng.pick(extrasPool));
    const shapes = layout(rng, attrs, relation);
    if (shapes) return { shapes, background };
  }
  throw new SceneSamplingError(describeSpec(spec), SCENE_TRIES);
}

/**
 * Positions for `attrs` (indices as given), in a random drawing order; or
 * undefined when this attempt got stuck. The two shapes of `relation` are
 * placed first, the second relative to the first.
 */
export function layout(rng: Rng, attrs: readonly Attrs[], relation?: RelationConstraint): Shape[] | undefined {
  const drawOrder = rng.shuffle(attrs.map((_, i) => i));
  const rank = new Array<number>(attrs.length);
  drawOrder.forEach((idx, pos) => (rank[idx] = pos));
  const placeOrder = attrs.map((_, i) => i);
  if (relation) {
    const first = rng.bernoulli(0.5) ? relation.subject : relation.object;
    const second = first === relation.subject ? relation.object : relation.subject;
    placeOrder.splice(0, placeOrder.length, first, second, ...placeOrder.filter((i) => i !== first && i !== second));
  }
  const placed: Placed[] = [];
  const byIndex = new Map<number, Shape>();
  for (const idx of placeOrder) {
    const a = attrs[idx] as Attrs;
    const rgb = jitterColor(a.color, rng);
    let anchor: { shape: Shape; subjectIsNew: boolean } | undefined;
    if (relation && (idx === relation.subject || idx === relation.object)) {
      const other = byIndex.get(idx === relation.subject ? relation.object : relation.subject);
      if (other) anchor = { shape: other, subjectIsNew: idx === relation.subject };
    }
    let shape: Shape | undefined;
    for (let t = 0; t < POSITION_TRIES && !shape; t++) {
      const pos = anchor ? offsetFrom(rng, anchor.shape, relation!.relation, anchor.subjectIsNew) : freePosition(rng, a);
      const candidate: Shape = { ...a, x: pos.x, y: pos.y, rgb };
      if (fits(candidate, rank[idx] as number, placed)) shape = candidate;
    }
    if (!shape) return undefined;
    placed.push({ shape, rank: rank[idx] as number });
    byIndex.set(idx, shape);
  }
  if (relation) {
    const reading = relationBetween(byIndex.get(relation.subject)!, byIndex.get(relation.object)!);
    if (!reading.clear || reading.relation !== relation.relation) return undefined;
  }
  return drawOrder.map((idx) => byIndex.get(idx) as Shape);
}

/** Puts a new shape with `a` on top of `shapes`; undefined if no position fits. */
export function placeOnTop(rng: Rng, shapes: readonly Shape[], a: Attrs): Shape | undefined {
  const placed = shapes.map((shape, rank) => ({ shape, rank }));
  const rgb = jitterColor(a.color, rng);
  for (let t = 0; t < POSITION_TRIES; t++) {
    const pos = freePosition(rng, a);
    const candidate: Shape = { ...a, x: pos.x, y: pos.y, rgb };
    if (fits(candidate, shapes.length, placed)) return candidate;
  }
  return undefined;
}

/** The first layout rule `shapes` (in drawing order) breaks, or null when it obeys them all. */
export function layoutViolation(shapes: readonly Shape[]): string | null {
  for (let i = 0; i < shapes.length; i++) {
    const s = shapes[i] as Shape;
    if (!insideImage(s, EDGE_MARGIN)) return `shape ${i} (${s.color} ${s.kind}) is not inside the image`;
    const vis = visibleFraction(s, shapes.slice(i + 1));
    if (vis < MIN_VISIBLE) return `shape ${i} (${s.color} ${s.kind}) is only ${(vis * 100).toFixed(0)}% visible`;
    for (let j = i + 1; j < shapes.length; j++) {
      const o = shapes[j] as Shape;
      if (o.color === s.color && shapesTouch(s, o, SAME_COLOR_GAP)) return `shapes ${i} and ${j} are both ${s.color} and touch`;
    }
  }
  return null;
}

interface Placed {
  shape: Shape;
  rank: number;
}

function freePosition(rng: Rng, a: Attrs): { x: number; y: number } {
  const e = extentOf(a.kind, radiusOf(a.size));
  return {
    x: rng.float(e.left + EDGE_MARGIN, 1 - e.right - EDGE_MARGIN),
    y: rng.float(e.top + EDGE_MARGIN, 1 - e.bottom - EDGE_MARGIN),
  };
}

/**
 * A position for the new shape of a relation pair. The displacement is built
 * with a margin over the thresholds of `relationBetween` (dominant >= 0.18,
 * ratio >= 2.5), so the relation reads clearly in the picture too.
 */
function offsetFrom(rng: Rng, anchor: Shape, relation: Relation, subjectIsNew: boolean): { x: number; y: number } {
  const dominant = rng.float(0.18, 0.6);
  const other = rng.float(-dominant / 2.5, dominant / 2.5);
  // Displacement of subject minus object.
  const [dx, dy] =
    relation === 'left' ? [-dominant, other] : relation === 'right' ? [dominant, other] : relation === 'above' ? [other, -dominant] : [other, dominant];
  const sign = subjectIsNew ? 1 : -1;
  return { x: anchor.x + sign * dx, y: anchor.y + sign * dy };
}

function boxesNear(a: Shape, b: Shape, gap: number): boolean {
  const ea = extentOf(a.kind, radiusOf(a.size));
  const eb = extentOf(b.kind, radiusOf(b.size));
  return (
    a.x - ea.left - gap < b.x + eb.right &&
    b.x - eb.left - gap < a.x + ea.right &&
    a.y - ea.top - gap < b.y + eb.bottom &&
    b.y - eb.top - gap < a.y + ea.bottom
  );
}

/**
 * Whether `c`, drawn at `rank`, keeps every layout rule with the shapes placed
 * so far. Visibility only shrinks as shapes are added, so checking each
 * addition is enough for the final scene. Only shapes whose boxes meet are
 * examined: that keeps sampling cheap.
 */
function fits(c: Shape, rank: number, placed: readonly Placed[]): boolean {
  if (!insideImage(c, EDGE_MARGIN)) return false;
  // The gap test grows polygons by their edge half-planes, whose mitred
  // triangle apex reaches out twice the gap: the box filter must allow that.
  const near = placed.filter((p) => boxesNear(p.shape, c, 2 * SAME_COLOR_GAP));
  for (const p of near) if (p.shape.color === c.color && shapesTouch(p.shape, c, SAME_COLOR_GAP)) return false;
  const aboveC = near.filter((p) => p.rank > rank).map((p) => p.shape);
  if (aboveC.length > 0 && visibleFraction(c, aboveC) < MIN_VISIBLE) return false;
  for (const p of near) {
    if (p.rank > rank) continue;
    const above = placed.filter((q) => q.rank > p.rank && boxesNear(q.shape, p.shape, 0)).map((q) => q.shape);
    above.push(c);
    if (visibleFraction(p.shape, above) < MIN_VISIBLE) return false;
  }
  return true;
}

function describeSpec(spec: SceneSpec): string {
  const req = (spec.required ?? []).map((a) => `${a.size} ${a.color} ${a.kind}`).join(', ');
  const rel = spec.relation ? `, #${spec.relation.subject} ${spec.relation.relation} #${spec.relation.object}` : '';
  return `required [${req}]${rel}, total ${spec.total ?? 'any'}`;
}
