/**
 * The DT2IT judging rubric: what a judge is asked and how its answer is read.
 *
 * Listwise (the default): one call sees every response, in the order the
 * caller shuffled them into, scores each on six criteria and gives each an
 * Overall Score. Pointwise: one response per call, same form. The wording is
 * this project's own (the paper's released prompts were not reachable from
 * here); it keeps the paper's points: the reference answer is given when
 * there is one, the judge is told that order and length do not decide
 * quality, and each response is judged on its own, without citing the
 * others or the reference (answers that do are dropped by `parseRubricAnswer`).
 *
 * The six criteria (scores 1-10), chosen for image QA:
 *   accuracy        - the claims agree with what the image(s) show
 *   completeness    - the question is answered in full
 *   relevance       - it answers this question, not another
 *   clarity         - it is easy to read and unambiguous
 *   no_hallucination - it claims nothing the image does not show
 *   helpfulness     - it would serve the person who asked
 * and overall_score (1-10), which is what the labeler uses.
 *
 * The simulated judge reads the prompt back with `parseRubricPrompt`, so the
 * two stay in step: change the layout and RUBRIC_VERSION together.
 */
import { jsonrepair } from 'jsonrepair';

/** In every judgment cache key: a new wording must not reuse old answers. */
export const RUBRIC_VERSION = 'dt2it-rubric-v1';

export const CRITERIA = ['accuracy', 'completeness', 'relevance', 'clarity', 'no_hallucination', 'helpfulness'] as const;
export type Criterion = (typeof CRITERIA)[number];

export type RubricMode = 'listwise' | 'pointwise';

export interface RubricInput {
  system?: string;
  prompt: string;
  reference?: string;
  /** In the order the judge sees them (the caller shuffles). */
  responses: string[];
}

export interface RubricMessages {
  system: string;
  /** Text before the images, then the images in prompt order, then `after`. */
  before: string;
  after: string;
}

const SYSTEM = [
  'You are an impartial expert judge of answers to questions about images.',
  'You look at the image(s) yourself and judge every response by what the image(s) actually show.',
].join(' ');

const CRITERIA_TEXT: Readonly<Record<Criterion, string>> = {
  accuracy: 'Accuracy: are the claims correct for the image(s)?',
  completeness: 'Completeness: does it answer the whole question?',
  relevance: 'Relevance: does it answer this question and not another one?',
  clarity: 'Clarity: is it clear and unambiguous?',
  no_hallucination: 'No hallucination: does it avoid claiming anything the image(s) do not show? (10 = nothing invented)',
  helpfulness: 'Helpfulness: would it serve the person who asked?',
};

export function buildRubricMessages(input: RubricInput): RubricMessages {
  const n = input.responses.length;
  if (n < 1) throw new RangeError('the rubric needs at least one response');
  const parts: string[] = [];
  if (input.system !== undefined) parts.push(`[System Prompt]\n${input.system}\n[End of System Prompt]`);
  parts.push(`[Question]\n${input.prompt}\n[End of Question]`);
  if (input.reference !== undefined) parts.push(`[Reference Answer]\n${input.reference}\n[End of Reference Answer]`);
  input.responses.forEach((r, i) => parts.push(`[Response ${i + 1}]\n${r}\n[End of Response ${i + 1}]`));
  const example = `{"evaluations": [${input.responses
    .map((_, i) => `{"response": ${i + 1}, ${CRITERIA.map((c) => `"${c}": <1-10>`).join(', ')}, "overall_score": <1-10>, "rationale": "<one or two sentences>"}`)
    .join(', ')}]}`;
  const instructions = [
    n === 1
      ? 'Evaluate the response above as an answer to the question about the image(s).'
      : `Evaluate each of the ${n} responses above, on its own, as an answer to the question about the image(s).`,
    'Score every response from 1 (worst) to 10 (best) on each criterion:',
    ...CRITERIA.map((c, i) => `${i + 1}. ${CRITERIA_TEXT[c]}`),
    'Then give an Overall Score from 1 to 10 that weighs correctness about the image(s) above everything else.',
    input.reference !== undefined ? 'The reference answer is correct; use it to check the responses, but judge each response by the image(s) and the question.' : '',
    'The order in which the responses are listed does not decide quality, and neither does length: a longer, more confident or more elaborately formatted answer is not better for it. A short answer that is right beats a long one that is wrong.',
    'In each rationale, speak only about that response: do not mention other responses by number or name, and do not quote or mention the reference answer.',
    `Answer with JSON only, exactly in this form:\n${example}`,
  ].filter((s) => s !== '');
  return {
    system: SYSTEM,
    before: 'Image(s) for the question, in order:',
    after: `${parts.join('\n\n')}\n\n${instructions.join('\n')}`,
  };
}

/** Why an answer was dropped. */
export type RubricFailure = { kind: 'malformed' | 'leaking'; detail: string };

export interface RubricScores {
  /** Overall Score per response, in the order the judge saw them. */
  overall: number[];
  criteria: Record<Criterion, number>[];
}

// What a rationale may not do: cite another assistant or response, or the reference.
const LEAK_PATTERNS: readonly RegExp[] = [
  /\bassistant\s*#?\s*\d+/i,
  /\breference\s+(answer|response|solution)\b/i,
  // "the reference" in any role: told not to mention it, a judge that does leans on it.
  /\bthe\s+reference\b/i,
];
const RESPONSE_MENTION = /\bresponse\s*#?\s*(\d+)\b/gi;

/**
 * Reads a judge's answer: JSON, possibly in a code fence, possibly sloppy
 * (jsonrepair mends quotes, commas, truncation). A value when every one of
 * the `n` responses has exactly one finite overall score in [1, 10] and no
 * rationale cites the reference or another response; a RubricFailure otherwise.
 */
export function parseRubricAnswer(text: string, n: number): RubricScores | RubricFailure {
  const start = text.search(/[[{]/);
  if (start < 0) return { kind: 'malformed', detail: 'no JSON in the answer' };
  let value: unknown;
  const body = text.slice(start).replace(/```\s*$/, '');
  try {
    // Well-formed answers (nearly all) need no repair; jsonrepair's scan cost
    // as much CPU as the rest of reading an answer. For valid JSON it returns
    // the same document, so only the time changes.
    value = JSON.parse(body);
  } catch {
    try {
      value = JSON.parse(jsonrepair(body));
    } catch (err) {
      return { kind: 'malformed', detail: `not JSON even after repair: ${(err as Error).message.slice(0, 80)}` };
    }
  }
  const list = Array.isArray(value) ? value : (value as { evaluations?: unknown } | null)?.evaluations;
  if (!Array.isArray(list)) return { kind: 'malformed', detail: 'no "evaluations" array' };
  if (list.length !== n) return { kind: 'malformed', detail: `${list.length} evaluations for ${n} responses` };
  const overall: number[] = new Array<number>(n).fill(NaN);
  const criteria: Record<Criterion, number>[] = new Array(n);
  for (let i = 0; i < list.length; i++) {
    const e = list[i] as Record<string, unknown> | null;
    if (typeof e !== 'object' || e === null) return { kind: 'malformed', detail: `evaluation ${i} is not an object` };
    const idx = list.length === 1 && e.response === undefined ? 1 : Number(e.response);
    if (!Number.isInteger(idx) || idx < 1 || idx > n || !Number.isNaN(overall[idx - 1])) {
      return { kind: 'malformed', detail: `evaluation ${i} names response ${String(e.response)}` };
    }
    const score = readScore(e, ['overall_score', 'Overall Score', 'overall', 'overallScore']);
    if (score === undefined) return { kind: 'malformed', detail: `response ${idx} has no overall_score in [1, 10]` };
    overall[idx - 1] = score;
    const c = {} as Record<Criterion, number>;
    for (const k of CRITERIA) c[k] = readScore(e, [k]) ?? NaN;
    criteria[idx - 1] = c;
    for (const s of strings(e)) {
      const leak = LEAK_PATTERNS.find((p) => p.test(s));
      if (leak) return { kind: 'leaking', detail: `response ${idx}'s rationale cites ${leak.source}` };
      for (const m of s.matchAll(RESPONSE_MENTION)) {
        if (Number(m[1]) !== idx) return { kind: 'leaking', detail: `response ${idx}'s rationale cites response ${m[1]}` };
      }
    }
  }
  return { overall, criteria };
}

export function isRubricFailure(v: RubricScores | RubricFailure): v is RubricFailure {
  return (v as RubricFailure).kind !== undefined;
}

function readScore(e: Record<string, unknown>, keys: readonly string[]): number | undefined {
  for (const k of keys) {
    const v = e[k];
    const x = typeof v === 'string' ? Number(v.trim()) : v;
    if (typeof x === 'number' && Number.isFinite(x) && x >= 1 && x <= 10) return x;
  }
  return undefined;
}

function* strings(v: unknown): Generator<string> {
  if (typeof v === 'string') yield v;
  else if (Array.isArray(v)) for (const x of v) yield* strings(x);
  else if (typeof v === 'object' && v !== null) for (const x of Object.values(v)) yield* strings(x);
}

/** What the simulated judge reads back out of a rubric prompt (the text after the images). */
export interface ParsedRubricPrompt {
  system?: string;
  prompt: string;
  reference?: string;
  responses: string[];
}

export function parseRubricPrompt(text: string): ParsedRubricPrompt | undefined {
  const section = (name: string): string | undefined => {
    const open = `[${name}]\n`;
    const close = `\n[End of ${name}]`;
    const i = text.indexOf(open);
    if (i < 0) return undefined;
    const j = text.indexOf(close, i + open.length);
    return j < 0 ? undefined : text.slice(i + open.length, j);
  };
  const prompt = section('Question');
  if (prompt === undefined) return undefined;
  const responses: string[] = [];
  for (let k = 1; ; k++) {
    const r = section(`Response ${k}`);
    if (r === undefined) break;
    responses.push(r);
  }
  if (responses.length === 0) return undefined;
  const system = section('System Prompt');
  const reference = section('Reference Answer');
  return { prompt, responses, ...(system !== undefined ? { system } : {}), ...(reference !== undefined ? { reference } : {}) };
}
