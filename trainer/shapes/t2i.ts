/**
 * Text-to-image data: a caption, an image that matches it, and an image with
 * exactly one attribute wrong (a colour, a kind, a count, a size or the
 * relation); and the DT2IT reformulation of such a triple into a
 * discriminative pair over two images.
 *
 * Captions describe the whole image (relation captions: exactly the two
 * shapes; group captions: every shape), so "matches" is decidable and the
 * one changed attribute is the only reason the worse image does not match.
 */
import { relationBetween } from './geometry.js';
import { capitalize, groupPhrase, listPhrase, RELATION_PHRASES, type Group, type Numerals } from './grammar.js';
import type { PairSample } from './pair-sample.js';
import type { Rng } from './rng.js';
import { jitterColor, layoutViolation, placeOnTop, sampleScene } from './sampler.js';
import { COLORS, KINDS, matches, RELATIONS, SIZES, uniqueMatching, type Attrs, type Relation, type Scene, type Shape } from './world.js';

export const T2I_ERRORS = ['color', 'kind', 'count', 'size', 'relation'] as const;
export type T2IErrorKind = (typeof T2I_ERRORS)[number];

export type CaptionSpec =
  | { type: 'relation'; subject: Attrs; object: Attrs; relation: Relation }
  /** Groups carry a size exactly when the caption mentions sizes. */
  | { type: 'groups'; groups: Group[] };

/** What differs between the better and the worse image. Shape indices are in drawing order. */
export type T2IChange =
  | { type: 'color' | 'kind' | 'size'; shape: number; from: string; to: string }
  /** +1: a shape appended (drawn last); -1: the shape at `shape` removed. */
  | { type: 'count'; delta: 1 | -1; shape: number }
  /** The two shapes swapped places. */
  | { type: 'relation'; from: Relation; to: Relation };

export interface T2ISample {
  caption: string;
  spec: CaptionSpec;
  better: Scene;
  worse: Scene;
  errorKind: T2IErrorKind;
  change: T2IChange;
}

export const DT2IT_RESPONSES = ['Image 1 is better than Image 2.', 'Image 2 is better than Image 1.'] as const;

export function dt2itPrompt(caption: string): string {
  return `Image 1: <image> Image 2: <image> Which image matches the text caption better? Text Caption: ${caption}`;
}

export function captionText(spec: CaptionSpec, numerals: Numerals): string {
  if (spec.type === 'relation') {
    const s = groupPhrase({ count: 1, ...spec.subject }, numerals);
    const o = groupPhrase({ count: 1, ...spec.object }, numerals);
    return capitalize(`${s} ${RELATION_PHRASES[spec.relation]} ${o}.`);
  }
  return capitalize(`${listPhrase(spec.groups, numerals)}.`);
}

export function sceneMatchesCaption(spec: CaptionSpec, scene: Scene): boolean {
  if (spec.type === 'relation') {
    const s = uniqueMatching(scene, spec.subject);
    const o = uniqueMatching(scene, spec.object);
    if (scene.shapes.length !== 2 || !s || !o) return false;
    const reading = relationBetween(s, o);
    return reading.clear && reading.relation === spec.relation;
  }
  const withSize = spec.groups.some((g) => g.size !== undefined);
  const key = (g: { size?: string; color: string; kind: string }): string => `${withSize ? g.size : '-'} ${g.color} ${g.kind}`;
  const want = new Map<string, number>();
  for (const g of spec.groups) want.set(key(g), (want.get(key(g)) ?? 0) + g.count);
  const have = new Map<string, number>();
  for (const s of scene.shapes) have.set(key(s), (have.get(key(s)) ?? 0) + 1);
  if (want.size !== have.size) return false;
  for (const [k, n] of want) if (have.get(k) !== n) return false;
  return true;
}

const T2I_TRIES = 100;

export function sampleT2I(rng: Rng, errorKind: T2IErrorKind): T2ISample {
  for (let attempt = 0; attempt < T2I_TRIES; attempt++) {
    const relationCaption = errorKind === 'relation' || (errorKind !== 'count' && rng.bernoulli(0.5));
    const { spec, better } = relationCaption ? relationScene(rng) : groupsScene(rng, errorKind === 'size' || rng.bernoulli(0.5));
    const perturbed = perturb(rng, spec, better, errorKind);
    if (!perturbed) continue;
    if (!sceneMatchesCaption(spec, better) || sceneMatchesCaption(spec, perturbed.worse)) {
      throw new Error(`ShapesWorld bug: t2i ${errorKind} sample does not separate the images`);
    }
    const caption = captionText(spec, rng.pick(['digits', 'words'] as const));
    return { caption, spec, better, worse: perturbed.worse, errorKind, change: perturbed.change };
  }
  throw new Error(`ShapesWorld: no ${errorKind} t2i sample in ${T2I_TRIES} attempts`);
}

/** The discriminative pair: which of two images matches the caption; `betterFirst` decides the order. */
export function toDt2itPair(t: T2ISample, betterFirst: boolean, id: string): PairSample {
  return {
    id,
    slice: 't2i',
    images: betterFirst ? [t.better, t.worse] : [t.worse, t.better],
    prompt: dt2itPrompt(t.caption),
    responses: [DT2IT_RESPONSES[0], DT2IT_RESPONSES[1]],
    truth: betterFirst ? 'a' : 'b',
    reference: betterFirst ? DT2IT_RESPONSES[0] : DT2IT_RESPONSES[1],
    meta: {
      qtype: 't2i',
      styles: ['plain', 'plain'],
      errorKind: t.errorKind,
      caption: t.caption,
      captionSpec: t.spec,
      change: t.change,
      betterFirst,
    },
  };
}

function relationScene(rng: Rng): { spec: CaptionSpec; better: Scene } {
  const subject: Attrs = { kind: rng.pick(KINDS), color: rng.pick(COLORS), size: rng.pick(SIZES) };
  let object: Attrs;
  do object = { kind: rng.pick(KINDS), color: rng.pick(COLORS), size: rng.pick(SIZES) };
  while (object.kind === subject.kind && object.color === subject.color);
  const relation = rng.pick(RELATIONS);
  const better = sampleScene(rng, { required: [subject, object], total: 2, relation: { subject: 0, object: 1, relation } });
  return { spec: { type: 'relation', subject, object, relation }, better };
}

function groupsScene(rng: Rng, withSizes: boolean): { spec: CaptionSpec; better: Scene } {
  const n = rng.int(1, 3);
  const pairs = rng.sample(
    KINDS.flatMap((kind) => COLORS.map((color) => ({ kind, color }))),
    n,
  );
  let budget = 6;
  const groups: Group[] = pairs.map((p, i) => {
    const count = rng.int(1, Math.min(3, budget - (n - 1 - i)));
    budget -= count;
    return { count, ...(withSizes ? { size: rng.pick(SIZES) } : {}), color: p.color, kind: p.kind };
  });
  const required: Attrs[] = groups.flatMap((g) =>
    Array.from({ length: g.count }, () => ({ kind: g.kind, color: g.color, size: g.size ?? rng.pick(SIZES) })),
  );
  return { spec: { type: 'groups', groups }, better: sampleScene(rng, { required, total: required.length }) };
}

const PERTURB_TRIES = 20;

function perturb(rng: Rng, spec: CaptionSpec, better: Scene, errorKind: T2IErrorKind): { worse: Scene; change: T2IChange } | undefined {
  const shapes = better.shapes;
  const withShapes = (next: Shape[]): Scene | undefined => (layoutViolation(next) === null ? { shapes: next, background: better.background } : undefined);
  for (let t = 0; t < PERTURB_TRIES; t++) {
    const idx = rng.int(0, shapes.length - 1);
    const s = shapes[idx] as Shape;
    const replaced = (changed: Shape): Shape[] => shapes.map((x, i) => (i === idx ? changed : x));
    switch (errorKind) {
      case 'color': {
        const color = rng.pick(COLORS.filter((c) => c !== s.color));
        const worse = withShapes(replaced({ ...s, color, rgb: jitterColor(color, rng) }));
        if (worse) return { worse, change: { type: 'color', shape: idx, from: s.color, to: color } };
        break;
      }
      case 'kind': {
        const kind = rng.pick(KINDS.filter((k) => k !== s.kind));
        const worse = withShapes(replaced({ ...s, kind }));
        if (worse) return { worse, change: { type: 'kind', shape: idx, from: s.kind, to: kind } };
        break;
      }
      case 'size': {
        const size = s.size === 'small' ? 'large' : 'small';
        const worse = withShapes(replaced({ ...s, size }));
        if (worse) return { worse, change: { type: 'size', shape: idx, from: s.size, to: size } };
        break;
      }
      case 'count': {
        const add = shapes.length < 6 && (shapes.length < 2 || rng.bernoulli(0.5));
        if (!add) {
          return { worse: { shapes: shapes.filter((_, i) => i !== idx), background: better.background }, change: { type: 'count', delta: -1, shape: idx } };
        }
        const g = spec.type === 'groups' ? rng.pick(spec.groups) : undefined;
        const like: Attrs = g ? { kind: g.kind, color: g.color, size: g.size ?? rng.pick(SIZES) } : s;
        const added = placeOnTop(rng, shapes, like);
        if (added) return { worse: { shapes: [...shapes, added], background: better.background }, change: { type: 'count', delta: 1, shape: shapes.length } };
        break;
      }
      case 'relation': {
        if (spec.type !== 'relation' || shapes.length !== 2) return undefined;
        const [a, b] = shapes as [Shape, Shape];
        const worse = withShapes([
          { ...a, x: b.x, y: b.y },
          { ...b, x: a.x, y: a.y },
        ]);
        if (!worse) return undefined;
        const subject = matches(a, spec.subject) ? 0 : 1;
        const to = relationBetween(worse.shapes[subject] as Shape, worse.shapes[1 - subject] as Shape).relation;
        return { worse, change: { type: 'relation', from: spec.relation, to } };
      }
    }
  }
  return undefined;
}
