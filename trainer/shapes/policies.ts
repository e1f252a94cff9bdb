/**
 * Simulated policies: the assistants whose answers make up the pairs. A
 * response is a claim (grammar.ts) in a style: plain is the claim alone, one
 * short sentence; verbose wraps the very same claim sentence in filler,
 * markdown and a confident tone. The filler never contains a grammar word
 * (colour, kind, size, number, yes/no, relation, "there is"), so the claim is
 * the only statement a response makes about the image.
 */
import type { Group, Numerals } from './grammar.js';
import type { Rng } from './rng.js';
import { claimText, referenceAnswer, type Answer, type Question } from './questions.js';
import { UnaskableQuestion } from './errors.js';
import { ALL_ATTRS, COLORS, RELATIONS, type Scene } from './world.js';
import { HELD_OUT_VERBOSE_TEMPLATES } from './paraphrase.js';

export const STYLES = ['plain', 'verbose'] as const;
export type Style = (typeof STYLES)[number];

/** Ways a response can be wrong, by question type. */
export type ErrorKind =
  | 'count' // a hallucinated count
  | 'color' // a hallucinated colour
  | 'object' // claims an object the scene does not have
  | 'missed-object' // denies an object the scene has
  | 'position' // a wrong relation
  | 'count-off-by-one' // description: one group's count off by one
  | 'color-swap' // description: one group's colour swapped
  | 'extra-object' // description: a hallucinated extra object
  | 'missing-object'; // description: one group left out

/** Each keeps the claim sentence verbatim; several so that no one wrapper is the tell. */
export const VERBOSE_TEMPLATES: readonly ((claim: string) => string)[] = [
  (c) => `Looking carefully at the image, I examined every shape in the scene. ${c} I can confidently say that this answer is accurate.`,
  (c) => `## Answer\n\n${c}\n\n**Reasoning:**\n- I examined each shape in the picture in turn.\n- I double-checked every attribute before answering.\n\nI hope this helps!`,
  (c) => `Great question! After a thorough inspection of the picture, here is what I found:\n\n- **${c}**\n\nI am fully confident in this answer.`,
  (c) => `### Analysis\n\nLet me take a close look at the image. ${c}\n\nThis is clearly visible, and I can confidently say the answer is certain.`,
  (c) => `I can confidently say the following after studying the image in detail.\n\n> ${c}\n\n**Summary:** every visual detail supports this answer.`,
  (c) => `**Observation**\n\nI carefully analyzed the picture, paying close attention to every shape, its placement and its appearance.\n\n${c}\n\nLet me know if you have further questions about the image!`,
];

/** `heldOut` picks from the wrappers only the paraphrase eval slice uses (paraphrase.ts). */
export function styled(claim: string, style: Style, template: number, heldOut = false): string {
  if (style === 'plain') return claim;
  const table = heldOut ? HELD_OUT_VERBOSE_TEMPLATES : VERBOSE_TEMPLATES;
  const wrap = table[template];
  if (!wrap) throw new RangeError(`${heldOut ? 'held-out ' : ''}verbose template ${template} of ${table.length}`);
  return wrap(claim);
}

/** How a response is worded, apart from what it claims. */
export interface Wording {
  style: Style;
  numerals: Numerals;
  /** Index into VERBOSE_TEMPLATES (HELD_OUT_VERBOSE_TEMPLATES when heldOut); ignored when plain. */
  template: number;
  /** Claim template (paraphrase.ts); absent means 0, the grammar's sentence. */
  claimTemplate?: number;
  /** Wrap in a held-out verbose template. */
  heldOut?: boolean;
}

export function respond(q: Question, a: Answer, wording: Wording): string {
  return styled(claimText(q, a, wording.numerals, wording.claimTemplate ?? 0), wording.style, wording.template, wording.heldOut ?? false);
}

export function sampleWording(rng: Rng, style: Style): Wording {
  return { style, numerals: rng.pick(['digits', 'words'] as const), template: rng.int(0, VERBOSE_TEMPLATES.length - 1) };
}

/** A wrong answer to `q` whose right answer is `truth`, and what kind of mistake it is. */
export function wrongAnswer(q: Question, truth: Answer, rng: Rng): { answer: Answer; errorKind: ErrorKind } {
  switch (truth.type) {
    case 'count': {
      const c = truth.count;
      const adjacent = [c - 1, c + 1].filter((n) => n >= 0 && n <= 6);
      const others = [0, 1, 2, 3, 4, 5, 6].filter((n) => n !== c);
      const count = rng.bernoulli(0.5) ? rng.pick(adjacent) : rng.pick(others);
      return { answer: { type: 'count', count }, errorKind: 'count' };
    }
    case 'color':
      return { answer: { type: 'color', color: rng.pick(COLORS.filter((c) => c !== truth.color)) }, errorKind: 'color' };
    case 'existence':
      return { answer: { type: 'existence', present: !truth.present }, errorKind: truth.present ? 'missed-object' : 'object' };
    case 'position': {
      const offered = q.type === 'position' && q.form === 'left-right' ? (['left', 'right'] as const) : RELATIONS;
      return { answer: { type: 'position', relation: rng.pick(offered.filter((r) => r !== truth.relation)) }, errorKind: 'position' };
    }
    case 'description': {
      const { groups, errorKind } = corruptDescription(truth.groups, rng);
      return { answer: { type: 'description', groups }, errorKind };
    }
  }
}

/**
 * A description with exactly one group wrong, in the same order as `groups`
 * (so that the two texts differ only where the mistake is).
 */
export function corruptDescription(groups: readonly Group[], rng: Rng): { groups: Group[]; errorKind: ErrorKind } {
  const total = groups.reduce((n, g) => n + g.count, 0);
  const present = new Set(groups.map(groupKey));
  // A count can go up while the scene has room for one more shape (at most 6),
  // and down where a group has two or more (1 -> 0 is 'missing-object').
  const canUp = total < 6;
  const countable = groups.flatMap((g, i) => (canUp || g.count >= 2 ? [i] : []));
  const options: ErrorKind[] = ['color-swap', 'extra-object'];
  if (countable.length > 0) options.push('count-off-by-one');
  if (groups.length >= 2) options.push('missing-object');
  const kind = rng.pick(options);
  const out = groups.map((g) => ({ ...g }));
  const i = kind === 'count-off-by-one' ? rng.pick(countable) : rng.int(0, out.length - 1);
  const g = out[i] as Group;
  switch (kind) {
    case 'count-off-by-one': {
      const canDown = g.count >= 2;
      g.count += canUp && (!canDown || rng.bernoulli(0.5)) ? 1 : -1;
      break;
    }
    case 'color-swap': {
      const colors = COLORS.filter((c) => c !== g.color && !present.has(groupKey({ ...g, color: c })));
      g.color = rng.pick(colors);
      break;
    }
    case 'extra-object': {
      const a = rng.pick(ALL_ATTRS.filter((x) => !present.has(groupKey(x))));
      out.splice(rng.int(0, out.length), 0, { count: 1, size: a.size, color: a.color, kind: a.kind });
      break;
    }
    case 'missing-object':
      out.splice(i, 1);
      break;
    default:
      throw new RangeError(`not a description error: ${kind}`);
  }
  return { groups: out, errorKind: kind };
}

function groupKey(g: { size?: string; color: string; kind: string }): string {
  return `${g.size ?? '-'} ${g.color} ${g.kind}`;
}

export interface PolicyConfig {
  /** Probability that a response is correct. */
  accuracy: number;
  /** Probability that a response is verbose. */
  verbosity: number;
}

export interface PolicyResponse {
  text: string;
  answer: Answer;
  correct: boolean;
  wording: Wording;
  errorKind?: ErrorKind;
}

/**
 * One response of a simulated policy to a question about a scene: the free
 * setting (scene first), as when a policy answers prompts during RL. The pair
 * sampler does not use it for grounded pairs, which need the answers chosen
 * before the scene (pairs.ts).
 */
export function simulatePolicy(q: Question, scene: Scene, cfg: PolicyConfig, rng: Rng): PolicyResponse | UnaskableQuestion {
  const truth = referenceAnswer(q, scene);
  if (truth instanceof UnaskableQuestion) return truth;
  const wording = sampleWording(rng, rng.bernoulli(cfg.verbosity) ? 'verbose' : 'plain');
  if (q.type === 'description' && truth.type === 'description') {
    truth.groups = rng.shuffle(truth.groups);
  }
  if (rng.bernoulli(cfg.accuracy)) return { text: respond(q, truth, wording), answer: truth, correct: true, wording };
  const wrong = wrongAnswer(q, truth, rng);
  return { text: respond(q, wrong.answer, wording), answer: wrong.answer, correct: false, wording, errorKind: wrong.errorKind };
}

