/**
 * Paraphrases: other ways to say the claims of grammar.ts, and other verbose
 * wrappers. Template 0 of every claim is the grammar's own sentence (the only
 * one the default splits use, so they stay byte-identical); templates
 * 1..TRAIN_CLAIM_TEMPLATES-1 may appear in training data (`reword`), and the
 * HELD_OUT templates appear only in the `paraphrase` eval slice.
 *
 * Held-out templates recombine words and phrasings the training templates
 * and wrappers already use ("I see", "in the picture", "I count", "has"); no
 * word appears only in a held-out template (a test checks it). Held-out claims
 * still name every fact with the grammar's own words (numbers, colours,
 * kinds, sizes, relation phrases), so a reader of the claims can score them;
 * only the frame around the facts is new.
 */
import {
  article, capitalize, colorClaim, countClaim, descriptionClaim, existenceClaim, kindWord, listPhrase, numberText,
  positionClaim, RELATION_PHRASES, type Group, type Numerals, type Referent,
} from './grammar.js';
import type { Color, Kind, Relation, Size } from './world.js';

/** Claim templates 0..2 are for training data; 3 is held out. */
export const TRAIN_CLAIM_TEMPLATES = 3;
export const HELD_OUT_CLAIM_TEMPLATES = [3] as const;
export const CLAIM_TEMPLATES = 4;

function checkTemplate(t: number): void {
  if (!Number.isInteger(t) || t < 0 || t >= CLAIM_TEMPLATES) throw new RangeError(`claim template ${t} of ${CLAIM_TEMPLATES}`);
}

/** "three red circles", "one red circle" (a bare noun phrase with its number). */
function counted(count: number, color: Color | undefined, kind: Kind, numerals: Numerals): string {
  return [numberText(count, numerals), color, kindWord(kind, count)].filter((w) => w !== undefined).join(' ');
}

export function countClaimT(count: number, color: Color | undefined, kind: Kind, numerals: Numerals, t: number): string {
  checkTemplate(t);
  const np = counted(count, color, kind, numerals);
  switch (t) {
    case 0: return countClaim(count, color, kind, numerals);
    case 1: return `I count ${np}.`;
    case 2: return `${capitalize(np)} ${count === 1 ? 'is' : 'are'} visible.`;
    default: return `In the image I see ${np}.`;
  }
}

export function colorClaimT(kind: Kind, size: Size | undefined, color: Color, t: number): string {
  checkTemplate(t);
  const np = `${size ? `${size} ` : ''}${kind}`;
  switch (t) {
    case 0: return colorClaim(kind, size, color);
    case 1: return `The color of the ${np} is ${color}.`;
    case 2: return `${capitalize(color)} is the color of the ${np}.`;
    default: return `The ${np} in the image is ${color}.`;
  }
}

export function existenceClaimT(present: boolean, target: { size?: Size; color: Color; kind: Kind }, t: number): string {
  checkTemplate(t);
  const noun = `${target.size ? `${target.size} ` : ''}${target.color} ${target.kind}`;
  const some = present ? `${article(noun)} ${noun}` : `no ${noun}`;
  const lead = present ? 'Yes' : 'No';
  switch (t) {
    case 0: return existenceClaim(present, target);
    case 1: return `${lead}, the image has ${some}.`;
    case 2: return `${lead}, I see ${some}.`;
    default: return `${lead}, I can see ${some} in the picture.`;
  }
}

export function positionClaimT(subject: Referent, relation: Relation, object: Referent, t: number): string {
  checkTemplate(t);
  const s = `the ${subject.color} ${subject.kind}`;
  const o = `the ${object.color} ${object.kind}`;
  const phrase = RELATION_PHRASES[relation];
  switch (t) {
    case 0: return positionClaim(subject, relation, object);
    case 1: return `I see ${s} ${phrase} ${o}.`;
    // "to the left of" loses its "of" when the object comes first.
    case 2: return `Relative to ${o}, ${s} is ${phrase.replace(/ of$/, '')}.`;
    default: return `In the image, ${s} is ${phrase} ${o}.`;
  }
}

export function descriptionClaimT(groups: readonly Group[], numerals: Numerals, t: number): string {
  checkTemplate(t);
  if (groups.length === 0) throw new RangeError('a description needs at least one group');
  const list = listPhrase(groups, numerals);
  switch (t) {
    case 0: return descriptionClaim(groups, numerals);
    case 1: return `I see ${list}.`;
    case 2: return `The image has ${list}.`;
    default: return `In the picture I count ${list}.`;
  }
}

/**
 * Verbose wrappers no training split uses. Like the training ones
 * (policies.ts) they keep the claim verbatim and hold no grammar word; their
 * phrases are the training wrappers' own, put together differently.
 */
export const HELD_OUT_VERBOSE_TEMPLATES: readonly ((claim: string) => string)[] = [
  (c) => `Let me take a close look at the picture, paying close attention to every shape.\n\n${c}\n\nI hope this helps!`,
  (c) => `**Answer**\n\nAfter studying the image in detail, here is what I found: ${c}\n\n**Summary:** I am fully confident in this answer.`,
];
