import { describe, expect, it } from 'vitest';
import type { Group } from '../../../trainer/shapes/grammar.js';
import { parseClaim } from '../../../trainer/shapes/parse.js';
import { corruptDescription, respond, simulatePolicy, styled, VERBOSE_TEMPLATES, wrongAnswer } from '../../../trainer/shapes/policies.js';
import { describeScene, sameAnswer, type Question } from '../../../trainer/shapes/questions.js';
import { Rng } from '../../../trainer/shapes/rng.js';
import { sampleScene } from '../../../trainer/shapes/sampler.js';
import { COLORS, KINDS, SIZES } from '../../../trainer/shapes/world.js';

/** Words a claim is made of: filler must contain none, or a parser could read a claim into it. */
const GRAMMAR_WORDS = [
  ...COLORS,
  ...KINDS,
  ...KINDS.map((k) => `${k}s`),
  ...SIZES,
  'zero', 'one', 'two', 'three', 'four', 'five', 'six',
  'yes', 'no', 'not', 'none', 'left', 'right', 'above', 'below',
];

describe('verbose style', () => {
  it('wraps the claim verbatim in filler that says nothing about the image', () => {
    const claim = 'There are 3 red circles.';
    expect(styled(claim, 'plain', 0)).toBe(claim);
    for (let t = 0; t < VERBOSE_TEMPLATES.length; t++) {
      const text = styled(claim, 'verbose', t);
      expect(text).toContain(claim);
      expect(text.length).toBeGreaterThan(claim.length + 80);
      const filler = text.replace(claim, ' ').toLowerCase();
      const words = filler.split(/[^a-z0-9]+/).filter(Boolean);
      for (const w of GRAMMAR_WORDS) expect(words, `template ${t} has '${w}'`).not.toContain(w);
      expect(filler).not.toMatch(/[0-9]/);
      expect(filler).not.toMatch(/there (is|are)/);
    }
    // Markdown and a confident tone appear across the templates.
    const all = VERBOSE_TEMPLATES.map((f) => f(claim)).join('\n');
    expect(all).toMatch(/\*\*/);
    expect(all).toMatch(/^#{2,3} /m);
    expect(all).toMatch(/^- /m);
    expect(all).toMatch(/confidently/);
    expect(() => styled(claim, 'verbose', VERBOSE_TEMPLATES.length)).toThrow(RangeError);
  });
});

describe('wrong answers', () => {
  it('always differ from the truth, in the way their kind says', () => {
    const rng = Rng.fromSeed(41);
    const questions: Question[] = [
      { type: 'count', kind: 'circle', color: 'red', template: 0 },
      { type: 'color', kind: 'square' },
      { type: 'existence', kind: 'triangle', color: 'blue' },
      { type: 'position', subject: { color: 'red', kind: 'circle' }, object: { color: 'blue', kind: 'square' }, form: 'left-right' },
    ];
    for (let i = 0; i < 400; i++) {
      const q = questions[i % 4]!;
      const truth =
        q.type === 'count'
          ? ({ type: 'count', count: rng.int(0, 6) } as const)
          : q.type === 'color'
            ? ({ type: 'color', color: rng.pick(COLORS) } as const)
            : q.type === 'existence'
              ? ({ type: 'existence', present: rng.bernoulli(0.5) } as const)
              : ({ type: 'position', relation: rng.pick(['left', 'right'] as const) } as const);
      const w = wrongAnswer(q, truth, rng);
      expect(sameAnswer(w.answer, truth)).toBe(false);
      if (q.type === 'position') expect(['left', 'right']).toContain((w.answer as { relation: string }).relation);
      if (q.type === 'existence') expect(w.errorKind).toBe((truth as { present: boolean }).present ? 'missed-object' : 'object');
    }
  });

  it('corrupt exactly one group of a description', () => {
    const rng = Rng.fromSeed(42);
    const seen = new Set<string>();
    for (let i = 0; i < 600; i++) {
      const groups = rng.shuffle(describeScene(sampleScene(rng.child(i))));
      const { groups: bad, errorKind } = corruptDescription(groups, rng.child('c', i));
      seen.add(errorKind);
      const key = (g: Group): string => `${g.size} ${g.color} ${g.kind}`;
      const before = new Map(groups.map((g) => [key(g), g.count]));
      const after = new Map(bad.map((g) => [key(g), g.count]));
      const changedKeys = [...new Set([...before.keys(), ...after.keys()])].filter((k) => before.get(k) !== after.get(k));
      switch (errorKind) {
        case 'count-off-by-one':
          expect(changedKeys).toHaveLength(1);
          expect(Math.abs(before.get(changedKeys[0]!)! - after.get(changedKeys[0]!)!)).toBe(1);
          break;
        case 'color-swap':
          expect(changedKeys).toHaveLength(2); // the old group gone, a new-coloured one in its place
          expect(bad).toHaveLength(groups.length);
          break;
        case 'extra-object':
          expect(changedKeys).toHaveLength(1);
          expect(before.has(changedKeys[0]!)).toBe(false);
          break;
        case 'missing-object':
          expect(changedKeys).toHaveLength(1);
          expect(after.has(changedKeys[0]!)).toBe(false);
          break;
        default:
          throw new Error(`unexpected ${errorKind}`);
      }
      expect(bad.reduce((n, g) => n + g.count, 0)).toBeLessThanOrEqual(7);
      for (const g of bad) expect(g.count).toBeGreaterThanOrEqual(1);
    }
    expect([...seen].sort()).toEqual(['color-swap', 'count-off-by-one', 'extra-object', 'missing-object']);
  });
});

describe('simulatePolicy', () => {
  it('answers correctly at its accuracy, in its verbosity, and says what it claims', () => {
    const rng = Rng.fromSeed(43);
    let correct = 0;
    let verbose = 0;
    const n = 1500;
    for (let i = 0; i < n; i++) {
      const scene = sampleScene(rng.child('s', i));
      const q: Question = { type: 'existence', kind: rng.pick(KINDS), color: rng.pick(COLORS) };
      const r = simulatePolicy(q, scene, { accuracy: 0.8, verbosity: 0.3 }, rng.child('p', i));
      if (r instanceof Error) throw r;
      if (r.correct) correct++;
      if (r.wording.style === 'verbose') verbose++;
      expect(parseClaim('existence', r.text)).toEqual(r.answer);
      expect(r.text).toBe(respond(q, r.answer, r.wording));
    }
    expect(correct / n).toBeCloseTo(0.8, 1);
    expect(verbose / n).toBeCloseTo(0.3, 1);
  });
});
