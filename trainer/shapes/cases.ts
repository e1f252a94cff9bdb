/**
 * Grounded cases: a question, a scene, the right answer and a wrong one.
 *
 * No text-only shortcuts: for count, color, existence and position the two
 * candidate answers are picked first, a fair coin picks which one is true,
 * and only then is the scene built to make it true. So the answer texts on
 * their own say nothing about which is right ("the larger number", "yes",
 * "the first colour alphabetically" all sit at chance); only the image does.
 * Descriptions start from a free scene and corrupt one group.
 */
import type { Rng } from './rng.js';
import { UnaskableQuestion } from './errors.js';
import { corruptDescription, type ErrorKind } from './policies.js';
import type { Group } from './grammar.js';
import { claimText, describeScene, referenceAnswer, sameAnswer, type Answer, type QType, type Question } from './questions.js';
import { sampleScene } from './sampler.js';
import { COLORS, KINDS, matches, RELATIONS, SIZES, type Attrs, type Color, type Kind, type Relation, type Scene } from './world.js';

export interface GroundedCase {
  question: Question;
  scene: Scene;
  truth: Answer;
  wrong: Answer;
  errorKind: ErrorKind;
}

export function buildCase(qtype: QType, rng: Rng): GroundedCase {
  const c = BUILDERS[qtype](rng);
  // The construction is the guarantee; this re-derivation from the scene is
  // the proof, and turns a builder bug into a loud failure, not bad labels.
  const ref = referenceAnswer(c.question, c.scene);
  if (ref instanceof UnaskableQuestion || !sameAnswer(ref, c.truth) || sameAnswer(ref, c.wrong)) {
    throw new Error(`ShapesWorld bug: ${qtype} case disagrees with its scene (${ref instanceof Error ? ref.message : JSON.stringify(ref)})`);
  }
  return c;
}

const BUILDERS: Readonly<Record<QType, (rng: Rng) => GroundedCase>> = {
  count: countCase,
  color: colorCase,
  existence: existenceCase,
  position: positionCase,
  description: descriptionCase,
};

/** Picks one of two candidates as the truth, by a fair coin. */
function coin<T>(rng: Rng, a: T, b: T): [truth: T, wrong: T] {
  return rng.bernoulli(0.5) ? [a, b] : [b, a];
}

function countCase(rng: Rng): GroundedCase {
  const kind = rng.pick(KINDS);
  const color = rng.bernoulli(0.6) ? rng.pick(COLORS) : undefined;
  const question: Question = { type: 'count', kind, ...(color ? { color } : {}), template: rng.pick([0, 1] as const) };
  // Half the time neighbours (the hard, realistic mistake), half any two.
  let a: number;
  let b: number;
  if (rng.bernoulli(0.5)) {
    a = rng.int(0, 5);
    b = a + 1;
  } else {
    [a, b] = rng.sample([0, 1, 2, 3, 4, 5, 6], 2) as [number, number];
  }
  const [truth, wrong] = coin(rng, a, b);
  const required: Attrs[] = Array.from({ length: truth }, () => ({ kind, color: color ?? rng.pick(COLORS), size: rng.pick(SIZES) }));
  const scene = sampleScene(rng, { required, allowExtra: (x) => !matches(x, { kind, color }) });
  return { question, scene, truth: { type: 'count', count: truth }, wrong: { type: 'count', count: wrong }, errorKind: 'count' };
}

function colorCase(rng: Rng): GroundedCase {
  const kind = rng.pick(KINDS);
  const size = rng.pick(SIZES);
  const withSize = rng.bernoulli(0.5);
  const question: Question = { type: 'color', kind, ...(withSize ? { size } : {}) };
  const [a, b] = rng.sample(COLORS, 2) as [Color, Color];
  const [truth, wrong] = coin(rng, a, b);
  const referent = withSize ? { kind, size } : { kind };
  const required: Attrs[] = [{ kind, size, color: truth }];
  // A lure in the wrong colour, so "the colour that is in the picture" is no shortcut either.
  if (rng.bernoulli(0.5)) required.push(lure(rng, referent, { color: wrong }));
  const scene = sampleScene(rng, { required, allowExtra: (x) => !matches(x, referent) });
  return { question, scene, truth: { type: 'color', color: truth }, wrong: { type: 'color', color: wrong }, errorKind: 'color' };
}

function existenceCase(rng: Rng): GroundedCase {
  const kind = rng.pick(KINDS);
  const color = rng.pick(COLORS);
  const size = rng.pick(SIZES);
  const withSize = rng.bernoulli(0.5);
  const target = withSize ? { kind, color, size } : { kind, color };
  const question: Question = { type: 'existence', ...target };
  const [present] = coin(rng, true, false);
  let scene: Scene;
  if (present) {
    scene = sampleScene(rng, { required: [{ kind, color, size }] });
  } else {
    // Near misses (same kind other colour, ...) make "no" a fact to be looked at.
    const required = rng.bernoulli(0.7) ? [lure(rng, target, {})] : [];
    scene = sampleScene(rng, { required, allowExtra: (x) => !matches(x, target) });
  }
  return {
    question,
    scene,
    truth: { type: 'existence', present },
    wrong: { type: 'existence', present: !present },
    errorKind: present ? 'missed-object' : 'object',
  };
}

function positionCase(rng: Rng): GroundedCase {
  const subject = { color: rng.pick(COLORS), kind: rng.pick(KINDS) };
  let object: { color: Color; kind: Kind };
  do object = { color: rng.pick(COLORS), kind: rng.pick(KINDS) };
  while (object.color === subject.color && object.kind === subject.kind);
  const form = rng.pick(['where', 'left-right'] as const);
  const question: Question = { type: 'position', subject, object, form };
  const [a, b] = form === 'left-right' ? (['left', 'right'] as const) : (rng.sample(RELATIONS, 2) as [Relation, Relation]);
  const [truth, wrong] = coin<Relation>(rng, a, b);
  const scene = sampleScene(rng, {
    required: [
      { ...subject, size: rng.pick(SIZES) },
      { ...object, size: rng.pick(SIZES) },
    ],
    relation: { subject: 0, object: 1, relation: truth },
    allowExtra: (x) => !matches(x, subject) && !matches(x, object),
  });
  return { question, scene, truth: { type: 'position', relation: truth }, wrong: { type: 'position', relation: wrong }, errorKind: 'position' };
}

function descriptionCase(rng: Rng): GroundedCase {
  const question: Question = { type: 'description', template: rng.pick([0, 1, 2] as const) };
  const scene = sampleScene(rng);
  // Responses list the groups in a random order; both responses share it.
  const groups = rng.shuffle(describeScene(scene));
  const truth: Answer = { type: 'description', groups };
  // Left alone, mistakes lengthen descriptions more often than they shorten
  // them (an extra object is always possible, a left-out one needs two
  // groups), and "the shorter description is right" would be a shortcut. So
  // a coin says which way this one goes, and corruptions are redrawn until
  // the length moves that way (or not at all) in both numeral styles.
  const longer = rng.bernoulli(0.5);
  let wrong = corruptDescription(groups, rng);
  for (let t = 0; t < 30 && !lengthGoes(question, truth, wrong.groups, longer); t++) wrong = corruptDescription(groups, rng);
  return { question, scene, truth, wrong: { type: 'description', groups: wrong.groups }, errorKind: wrong.errorKind };
}

function lengthGoes(q: Question, truth: Answer, wrongGroups: Group[], longer: boolean): boolean {
  return (['digits', 'words'] as const).every((n) => {
    const d = claimText(q, { type: 'description', groups: wrongGroups }, n).length - claimText(q, truth, n).length;
    return d === 0 || d > 0 === longer;
  });
}

/**
 * A shape that resembles `referent` but does not match it: another kind, or
 * the same kind in the other size when the referent names a size. `fixed`
 * pins attributes of the lure.
 */
function lure(rng: Rng, referent: Partial<Attrs>, fixed: Partial<Attrs>): Attrs {
  for (;;) {
    const a: Attrs = {
      kind: fixed.kind ?? (rng.bernoulli(0.5) && referent.kind ? referent.kind : rng.pick(KINDS)),
      color: fixed.color ?? (rng.bernoulli(0.5) && referent.color ? referent.color : rng.pick(COLORS)),
      size: fixed.size ?? rng.pick(SIZES),
    };
    if (!matches(a, referent)) return a;
  }
}
