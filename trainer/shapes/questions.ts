/**
 * The five question types, their wording, and their exact reference answers
 * computed from the scene. A question that would have no single right answer
 * for a scene (a referent that is missing or not unique, a relation that is
 * not clear) is refused with an UnaskableQuestion value, never answered.
 */
import { UnaskableQuestion } from './errors.js';
import { relationBetween } from './geometry.js';
import { colorClaimT, countClaimT, descriptionClaimT, existenceClaimT, positionClaimT } from './paraphrase.js';
import {
  article,
  RELATION_PHRASES,
  type Group,
  type Numerals,
  type Referent,
} from './grammar.js';
import { COLORS, countMatching, KINDS, SIZES, uniqueMatching, type Color, type Kind, type Relation, type Scene, type Size } from './world.js';

export const QTYPES = ['count', 'color', 'existence', 'position', 'description'] as const;
export type QType = (typeof QTYPES)[number];

export type Question =
  | { type: 'count'; kind: Kind; color?: Color; template: 0 | 1 }
  | { type: 'color'; kind: Kind; size?: Size }
  | { type: 'existence'; kind: Kind; color: Color; size?: Size }
  /** The subject is mentioned first. 'left-right' offers only left and right. */
  | { type: 'position'; subject: Referent; object: Referent; form: 'where' | 'left-right' }
  | { type: 'description'; template: 0 | 1 | 2 };

export type Answer =
  | { type: 'count'; count: number }
  | { type: 'color'; color: Color }
  | { type: 'existence'; present: boolean }
  | { type: 'position'; relation: Relation }
  /** Every group carries its size. */
  | { type: 'description'; groups: Group[] };

const DESCRIPTION_PROMPTS = ['Describe the image.', 'What shapes are in this picture?', 'List the shapes you see.'] as const;

export function questionText(q: Question): string {
  switch (q.type) {
    case 'count': {
      const noun = `${q.color ? `${q.color} ` : ''}${q.kind}s`;
      return q.template === 0 ? `How many ${noun} are there?` : `Count the ${noun} in the image.`;
    }
    case 'color':
      return `What color is the ${q.size ? `${q.size} ` : ''}${q.kind}?`;
    case 'existence': {
      const noun = `${q.size ? `${q.size} ` : ''}${q.color} ${q.kind}`;
      return `Is there ${article(noun)} ${noun} in the image?`;
    }
    case 'position': {
      const s = `the ${q.subject.color} ${q.subject.kind}`;
      const o = `the ${q.object.color} ${q.object.kind}`;
      return q.form === 'where'
        ? `Where is ${s} relative to ${o}?`
        : `Is ${s} ${RELATION_PHRASES.left} or ${RELATION_PHRASES.right} ${o}?`;
    }
    case 'description':
      return DESCRIPTION_PROMPTS[q.template];
  }
}

/** The exact answer the scene gives, or why the question cannot be asked of it. */
export function referenceAnswer(q: Question, scene: Scene): Answer | UnaskableQuestion {
  switch (q.type) {
    case 'count':
      return { type: 'count', count: countMatching(scene, { kind: q.kind, color: q.color }) };
    case 'color': {
      const pattern = { kind: q.kind, size: q.size };
      const n = countMatching(scene, pattern);
      if (n !== 1) return new UnaskableQuestion(n === 0 ? 'missing-referent' : 'ambiguous-referent', questionText(q));
      return { type: 'color', color: (uniqueMatching(scene, pattern) as Scene['shapes'][number]).color };
    }
    case 'existence':
      return { type: 'existence', present: countMatching(scene, { kind: q.kind, color: q.color, size: q.size }) > 0 };
    case 'position': {
      const subject = uniqueMatching(scene, q.subject);
      const object = uniqueMatching(scene, q.object);
      if (!subject || !object) {
        const missing = countMatching(scene, q.subject) === 0 || countMatching(scene, q.object) === 0;
        return new UnaskableQuestion(missing ? 'missing-referent' : 'ambiguous-referent', questionText(q));
      }
      const reading = relationBetween(subject, object);
      if (!reading.clear) return new UnaskableQuestion('ambiguous-relation', questionText(q));
      if (q.form === 'left-right' && reading.relation !== 'left' && reading.relation !== 'right') {
        return new UnaskableQuestion('relation-not-offered', questionText(q));
      }
      return { type: 'position', relation: reading.relation };
    }
    case 'description':
      return { type: 'description', groups: describeScene(scene) };
  }
}

/** Groups of identical (size, color, kind) shapes, in a canonical order: kind, then color, then size. */
export function describeScene(scene: Scene): Group[] {
  const groups: Group[] = [];
  for (const kind of KINDS) {
    for (const color of COLORS) {
      for (const size of SIZES) {
        const count = countMatching(scene, { kind, color, size });
        if (count > 0) groups.push({ count, size, color, kind });
      }
    }
  }
  return groups;
}

/**
 * The answer as one plain sentence: the grammar's (grammar.ts) with template
 * 0, a paraphrase of it otherwise (paraphrase.ts).
 */
export function claimText(q: Question, a: Answer, numerals: Numerals, template = 0): string {
  if (q.type !== a.type) throw new TypeError(`a ${a.type} answer to a ${q.type} question`);
  switch (a.type) {
    case 'count': {
      const cq = q as Extract<Question, { type: 'count' }>;
      return countClaimT(a.count, cq.color, cq.kind, numerals, template);
    }
    case 'color': {
      const cq = q as Extract<Question, { type: 'color' }>;
      return colorClaimT(cq.kind, cq.size, a.color, template);
    }
    case 'existence': {
      const eq = q as Extract<Question, { type: 'existence' }>;
      return existenceClaimT(a.present, eq, template);
    }
    case 'position': {
      const pq = q as Extract<Question, { type: 'position' }>;
      return positionClaimT(pq.subject, a.relation, pq.object, template);
    }
    case 'description':
      return descriptionClaimT(a.groups, numerals, template);
  }
}

/** The reference answer as text: the plain claim with digits. */
export function referenceText(q: Question, a: Answer): string {
  return claimText(q, a, 'digits');
}

/** Equality of answers; descriptions compare as multisets of groups. */
export function sameAnswer(a: Answer, b: Answer): boolean {
  if (a.type !== b.type) return false;
  switch (a.type) {
    case 'count':
      return a.count === (b as typeof a).count;
    case 'color':
      return a.color === (b as typeof a).color;
    case 'existence':
      return a.present === (b as typeof a).present;
    case 'position':
      return a.relation === (b as typeof a).relation;
    case 'description': {
      const key = (gs: readonly Group[]): string =>
        gs
          .map((g) => `${g.count} ${g.size ?? '-'} ${g.color} ${g.kind}`)
          .sort()
          .join('|');
      return key(a.groups) === key((b as typeof a).groups);
    }
  }
}
