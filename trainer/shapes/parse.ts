/**
 * Reading a claim back out of a response, plain or verbose: the inverse of
 * grammar.ts. The simulated judge grades with it and the tests use it to
 * prove that every generated response says exactly what it was meant to.
 * Matching is case-insensitive and looks for the claim anywhere in the text,
 * because verbose responses wrap it in filler that holds no grammar words.
 */
import { NUMBER_WORDS, type Group } from './grammar.js';
import type { Answer, QType } from './questions.js';
import { COLORS, KINDS, SIZES, type Color, type Kind, type Relation, type Size } from './world.js';

const COLOR = `(${COLORS.join('|')})`;
const KIND = `(${KINDS.join('|')})s?`;
const SIZE = `(${SIZES.join('|')})`;
const NUM = `([0-6]|${NUMBER_WORDS.join('|')})`;
const GROUP = `(?:a|an|[0-6]|${NUMBER_WORDS.join('|')}) (?:(?:${SIZES.join('|')}) )?(?:${COLORS.join('|')}) (?:${KINDS.join('|')})s?`;

const PATTERNS: Readonly<Record<QType, RegExp>> = {
  count: new RegExp(`\\bThere (?:is|are) ${NUM} (?:${COLOR} )?${KIND}\\.`, 'i'),
  color: new RegExp(`\\bThe (?:${SIZE} )?${KIND} is ${COLOR}\\.`, 'i'),
  existence: new RegExp(`\\b(Yes|No), there is (?:a|an|no) (?:${SIZE} )?${COLOR} ${KIND} in the image\\.`, 'i'),
  position: new RegExp(`\\bThe ${COLOR} ${KIND} is (to the left of|to the right of|above|below) the ${COLOR} ${KIND}\\.`, 'i'),
  description: new RegExp(`\\bThere (?:is|are) (${GROUP}(?:, ${GROUP})*(?: and ${GROUP})?)\\.`, 'i'),
};

const GROUP_PARTS = new RegExp(`^(a|an|[0-6]|${NUMBER_WORDS.join('|')}) (?:${SIZE} )?${COLOR} ${KIND}$`, 'i');

const RELATIONS_BY_PHRASE: Readonly<Record<string, Relation>> = {
  'to the left of': 'left',
  'to the right of': 'right',
  above: 'above',
  below: 'below',
};

/** The claim `text` makes about a question of `type`, or null when it makes none. */
export function parseClaim(type: QType, text: string): Answer | null {
  const m = PATTERNS[type].exec(text);
  if (!m) return null;
  switch (type) {
    case 'count':
      return { type, count: parseNumber(m[1] as string) };
    case 'color':
      return { type, color: lower(m[3]) as Color };
    case 'existence':
      return { type, present: lower(m[1]) === 'yes' };
    case 'position':
      return { type, relation: RELATIONS_BY_PHRASE[lower(m[3])] as Relation };
    case 'description': {
      const groups: Group[] = [];
      for (const part of (m[1] as string).split(/, | and /)) {
        const g = GROUP_PARTS.exec(part);
        if (!g) return null;
        const size = g[2] ? (lower(g[2]) as Size) : undefined;
        groups.push({ count: parseNumber(g[1] as string), ...(size ? { size } : {}), color: lower(g[3]) as Color, kind: lower(g[4]) as Kind });
      }
      return { type, groups };
    }
  }
}

/** Also the referents a position claim names, for checking that they are the question's. */
export function parsePositionReferents(text: string): { subject: { color: Color; kind: Kind }; object: { color: Color; kind: Kind } } | null {
  const m = PATTERNS.position.exec(text);
  if (!m) return null;
  return {
    subject: { color: lower(m[1]) as Color, kind: lower(m[2]) as Kind },
    object: { color: lower(m[4]) as Color, kind: lower(m[5]) as Kind },
  };
}

function parseNumber(word: string): number {
  const w = word.toLowerCase();
  if (w === 'a' || w === 'an') return 1;
  if (/^[0-6]$/.test(w)) return Number(w);
  return NUMBER_WORDS.indexOf(w as (typeof NUMBER_WORDS)[number]);
}

function lower(s: string | undefined): string {
  return (s ?? '').toLowerCase();
}
