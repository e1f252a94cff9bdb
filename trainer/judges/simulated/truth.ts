/**
 * What the simulated judge knows: which responses are right, decided from
 * the scenes the images carry (scene-text.ts), the question (read back from
 * its wording, the inverse of questions.ts) and each response's claim
 * (parse.ts). Its accuracy is then a parameter, not an accident of parsing.
 */
import { UnaskableQuestion } from '../../shapes/errors.js';
import { parseClaim, parsePositionReferents } from '../../shapes/parse.js';
import { questionText, referenceAnswer, sameAnswer, type Question } from '../../shapes/questions.js';
import { DT2IT_RESPONSES, sceneMatchesCaption, type CaptionSpec } from '../../shapes/t2i.js';
import { COLORS, KINDS, RELATIONS, SIZES, type Color, type Kind, type Relation, type Scene, type Size } from '../../shapes/world.js';

const C = `(${COLORS.join('|')})`;
const K = `(${KINDS.join('|')})`;
const S = `(${SIZES.join('|')})`;

// Built once: parseQuestion runs on every judge request.
const COUNT_Q = new RegExp(`^How many (?:${C} )?${K}s are there\\?$`);
const COUNT_THE_Q = new RegExp(`^Count the (?:${C} )?${K}s in the image\\.$`);
const COLOR_Q = new RegExp(`^What color is the (?:${S} )?${K}\\?$`);
const EXISTS_Q = new RegExp(`^Is there an? (?:${S} )?${C} ${K} in the image\\?$`);
const WHERE_Q = new RegExp(`^Where is the ${C} ${K} relative to the ${C} ${K}\\?$`);
const LEFT_RIGHT_Q = new RegExp(`^Is the ${C} ${K} to the left of or to the right of the ${C} ${K}\\?$`);

/** The ShapesWorld question `text` asks, or undefined when it is not one. Checked by re-wording it. */
export function parseQuestion(text: string): Question | undefined {
  const t = text.trim();
  const candidates: Question[] = [];
  let m: RegExpExecArray | null;
  if ((m = COUNT_Q.exec(t))) candidates.push({ type: 'count', kind: m[2] as Kind, ...(m[1] ? { color: m[1] as Color } : {}), template: 0 });
  if ((m = COUNT_THE_Q.exec(t))) candidates.push({ type: 'count', kind: m[2] as Kind, ...(m[1] ? { color: m[1] as Color } : {}), template: 1 });
  if ((m = COLOR_Q.exec(t))) candidates.push({ type: 'color', kind: m[2] as Kind, ...(m[1] ? { size: m[1] as Size } : {}) });
  if ((m = EXISTS_Q.exec(t))) {
    candidates.push({ type: 'existence', kind: m[3] as Kind, color: m[2] as Color, ...(m[1] ? { size: m[1] as Size } : {}) });
  }
  if ((m = WHERE_Q.exec(t))) {
    candidates.push({ type: 'position', subject: { color: m[1] as Color, kind: m[2] as Kind }, object: { color: m[3] as Color, kind: m[4] as Kind }, form: 'where' });
  }
  if ((m = LEFT_RIGHT_Q.exec(t))) {
    candidates.push({ type: 'position', subject: { color: m[1] as Color, kind: m[2] as Kind }, object: { color: m[3] as Color, kind: m[4] as Kind }, form: 'left-right' });
  }
  for (const template of [0, 1, 2] as const) candidates.push({ type: 'description', template });
  return candidates.find((q) => questionText(q) === t);
}

const T2I_PROMPT = /^Image 1: <image> Image 2: <image> Which image matches the text caption better\? Text Caption: (.+)$/s;
const RELATION_CAPTION = new RegExp(
  `^an? ${S} ${C} ${K} (to the left of|to the right of|above|below) an? ${S} ${C} ${K}\\.$`,
  'i',
);
const RELATION_BY_PHRASE: Readonly<Record<string, Relation>> = { 'to the left of': 'left', 'to the right of': 'right', above: 'above', below: 'below' };

/** The caption of a DT2IT T2I prompt, as the spec sceneMatchesCaption checks. */
export function parseT2ICaption(prompt: string): CaptionSpec | undefined {
  const m = T2I_PROMPT.exec(prompt.trim());
  if (!m) return undefined;
  const caption = (m[1] as string).trim();
  const r = RELATION_CAPTION.exec(caption);
  if (r) {
    const relation = RELATION_BY_PHRASE[(r[4] as string).toLowerCase()];
    if (!relation || !RELATIONS.includes(relation)) return undefined;
    return {
      type: 'relation',
      subject: { size: lc(r[1]) as Size, color: lc(r[2]) as Color, kind: lc(r[3]) as Kind },
      object: { size: lc(r[5]) as Size, color: lc(r[6]) as Color, kind: lc(r[7]) as Kind },
      relation,
    };
  }
  // A group caption is a description's list: read it with the description grammar.
  const claim = parseClaim('description', `There are ${caption}`);
  if (!claim || claim.type !== 'description') return undefined;
  return { type: 'groups', groups: claim.groups };
}

/**
 * Per response: true if right, false if wrong, null when the judge cannot
 * know (no scene in the images, a question that is not ShapesWorld's).
 */
export function assessResponses(scenes: readonly (Scene | undefined)[], prompt: string, responses: readonly string[]): (boolean | null)[] {
  const unknown = responses.map(() => null);
  const spec = parseT2ICaption(prompt);
  if (spec) {
    const [s1, s2] = scenes;
    if (scenes.length !== 2 || !s1 || !s2) return unknown;
    const m1 = sceneMatchesCaption(spec, s1);
    const m2 = sceneMatchesCaption(spec, s2);
    if (m1 === m2) return unknown;
    const right = m1 ? DT2IT_RESPONSES[0] : DT2IT_RESPONSES[1];
    const wrong = m1 ? DT2IT_RESPONSES[1] : DT2IT_RESPONSES[0];
    return responses.map((r) => (r.includes(right) ? true : r.includes(wrong) ? false : null));
  }
  const q = parseQuestion(prompt);
  const scene = scenes[0];
  if (!q || !scene || scenes.length !== 1) return unknown;
  const ref = referenceAnswer(q, scene);
  if (ref instanceof UnaskableQuestion) return unknown;
  return responses.map((r) => {
    const claim = parseClaim(q.type, r);
    if (!claim) return false; // says nothing checkable: not an answer
    if (q.type === 'position') {
      const names = parsePositionReferents(r);
      const same = (a: { color: Color; kind: Kind }, b: { color: Color; kind: Kind }): boolean => a.color === b.color && a.kind === b.kind;
      if (!names || !same(names.subject, q.subject) || !same(names.object, q.object)) return false;
    }
    return sameAnswer(claim, ref);
  });
}

/** Verbose: more than the one claim sentence (filler, markdown, line breaks). */
export function isVerbose(response: string): boolean {
  const t = response.trim();
  return t.includes('\n') || (t.match(/[.!?](?=\s|$)/g) ?? []).length > 1;
}

function lc(s: string | undefined): string {
  return (s ?? '').toLowerCase();
}
