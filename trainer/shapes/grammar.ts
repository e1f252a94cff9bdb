/**
 * The response grammar. A model's text parser is written against it, so
 * every sentence the domain produces comes from here, and each claim has one
 * shape:
 *
 *   noun phrase   NUMBER? SIZE? COLOR? KIND     (a colour never follows its kind)
 *   NUMBER        digits 0-6 | zero..six | a | an (a/an = one, in lists and existence)
 *   count         There is|are NUMBER [COLOR] KIND(s).
 *   color         The [SIZE] KIND is COLOR.
 *   existence     Yes, there is a|an [SIZE] COLOR KIND in the image.
 *                 No, there is no [SIZE] COLOR KIND in the image.
 *   position      The COLOR KIND is to the left of|to the right of|above|below the COLOR KIND.
 *   description   There is|are GROUP(, GROUP)*( and GROUP)?.   GROUP = NUMBER SIZE COLOR KIND(s)
 *
 * Words are lowercase except the sentence's first letter; plurals add "s".
 */
import type { Color, Kind, Relation, Size } from './world.js';

export type Numerals = 'digits' | 'words';

export const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six'] as const;

export function numberText(n: number, numerals: Numerals): string {
  if (!Number.isInteger(n) || n < 0 || n >= NUMBER_WORDS.length) throw new RangeError(`count ${n} is outside 0..6`);
  return numerals === 'digits' ? String(n) : (NUMBER_WORDS[n] as string);
}

export function kindWord(kind: Kind, count: number): string {
  return count === 1 ? kind : `${kind}s`;
}

export function article(nextWord: string): 'a' | 'an' {
  return /^[aeiou]/.test(nextWord) ? 'an' : 'a';
}

export function capitalize(text: string): string {
  return text.length === 0 ? text : (text[0] as string).toUpperCase() + text.slice(1);
}

/** One group of identical shapes; size is left out where the text does not mention it. */
export interface Group {
  count: number;
  size?: Size;
  color: Color;
  kind: Kind;
}

/** "a small red circle", "two large blue squares", "3 green triangles". */
export function groupPhrase(g: Group, numerals: Numerals): string {
  const words = [g.size, g.color, kindWord(g.kind, g.count)].filter((w): w is string => w !== undefined);
  const lead = g.count === 1 ? article(words[0] as string) : numberText(g.count, numerals);
  return `${lead} ${words.join(' ')}`;
}

/** "a, b and c". */
export function listPhrase(groups: readonly Group[], numerals: Numerals): string {
  const parts = groups.map((g) => groupPhrase(g, numerals));
  if (parts.length <= 1) return parts.join('');
  return `${parts.slice(0, -1).join(', ')} and ${parts[parts.length - 1] as string}`;
}

export function countClaim(count: number, color: Color | undefined, kind: Kind, numerals: Numerals): string {
  const noun = [color, kindWord(kind, count)].filter((w) => w !== undefined).join(' ');
  return `There ${count === 1 ? 'is' : 'are'} ${numberText(count, numerals)} ${noun}.`;
}

export function colorClaim(kind: Kind, size: Size | undefined, color: Color): string {
  return `The ${size ? `${size} ` : ''}${kind} is ${color}.`;
}

export function existenceClaim(present: boolean, target: { size?: Size; color: Color; kind: Kind }): string {
  const noun = `${target.size ? `${target.size} ` : ''}${target.color} ${target.kind}`;
  return present ? `Yes, there is ${article(noun)} ${noun} in the image.` : `No, there is no ${noun} in the image.`;
}

export const RELATION_PHRASES: Readonly<Record<Relation, string>> = {
  left: 'to the left of',
  right: 'to the right of',
  above: 'above',
  below: 'below',
};

export interface Referent {
  color: Color;
  kind: Kind;
}

export function positionClaim(subject: Referent, relation: Relation, object: Referent): string {
  return `The ${subject.color} ${subject.kind} is ${RELATION_PHRASES[relation]} the ${object.color} ${object.kind}.`;
}

export function descriptionClaim(groups: readonly Group[], numerals: Numerals): string {
  if (groups.length === 0) throw new RangeError('a description needs at least one group');
  const first = groups[0] as Group;
  return `There ${first.count === 1 ? 'is' : 'are'} ${listPhrase(groups, numerals)}.`;
}
