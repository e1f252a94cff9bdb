import { describe, expect, it } from 'vitest';
import { buildRubricMessages, CRITERIA, isRubricFailure, parseRubricAnswer, parseRubricPrompt } from '../../../trainer/judges/rubric.js';

const ok = (n: number, extra: (i: number) => Record<string, unknown> = () => ({})) =>
  JSON.stringify({ evaluations: Array.from({ length: n }, (_, i) => ({ response: i + 1, ...Object.fromEntries(CRITERIA.map((c) => [c, 5])), overall_score: 3 + i, rationale: 'Fine.', ...extra(i) })) });

describe('rubric', () => {
  it('asks for six criteria and an overall score, says order and length do not decide, gives the reference, and reads back', () => {
    const m = buildRubricMessages({ system: 'Be brief.', prompt: 'How many red circles are there?', reference: 'There are 2 red circles.', responses: ['There are 2 red circles.', 'There are 3 red circles.'] });
    for (const c of CRITERIA) expect(m.after).toContain(`"${c}"`);
    expect(m.after).toMatch(/order in which the responses are listed does not decide quality, and neither does length/);
    expect(m.after).toContain('[Reference Answer]\nThere are 2 red circles.\n[End of Reference Answer]');
    expect(parseRubricPrompt(m.after)).toEqual({ system: 'Be brief.', prompt: 'How many red circles are there?', reference: 'There are 2 red circles.', responses: ['There are 2 red circles.', 'There are 3 red circles.'] });
    const point = buildRubricMessages({ prompt: 'Q?', responses: ['A.'] });
    expect(point.after).not.toContain('Reference');
    expect(parseRubricPrompt(point.after)?.responses).toEqual(['A.']);
  });

  it('reads sloppy JSON leniently: code fences, prose around it, single quotes, trailing commas, string scores', () => {
    expect(parseRubricAnswer(ok(2), 2)).toMatchObject({ overall: [3, 4] });
    expect(parseRubricAnswer('Here you go:\n```json\n' + ok(2) + '\n```', 2)).toMatchObject({ overall: [3, 4] });
    expect(parseRubricAnswer(`{'evaluations': [{'response': 2, 'overall_score': '7',}, {'response': 1, 'Overall Score': 2.5,},]}`, 2)).toMatchObject({ overall: [2.5, 7] });
  });

  it('drops malformed answers: no JSON, missing or out-of-range scores, wrong count, duplicate responses', () => {
    for (const bad of ['I cannot judge this.', ok(1), ok(3), ok(2, () => ({ overall_score: 11 })), ok(2, () => ({ response: 1 })), ok(2, (i) => (i === 0 ? { overall_score: null } : {}))]) {
      const r = parseRubricAnswer(bad, 2);
      expect(isRubricFailure(r) && r.kind, bad).toBe('malformed');
    }
  });

  it('drops answers that cite the reference or another assistant or response', () => {
    for (const why of ['It matches the reference answer.', 'Better than Assistant 2.', 'Unlike Response 2, it is right.', 'According to the reference, yes.']) {
      const r = parseRubricAnswer(ok(2, (i) => (i === 0 ? { rationale: why } : {})), 2);
      expect(isRubricFailure(r) && r.kind, why).toBe('leaking');
    }
    // Speaking of itself, or of numbers in the image, is fine.
    expect(isRubricFailure(parseRubricAnswer(ok(2, (i) => ({ rationale: `Response ${i + 1} counts 3 circles; the answer 3 is right.` })), 2))).toBe(false);
  });
});
