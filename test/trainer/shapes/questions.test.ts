import { describe, expect, it } from 'vitest';
import { UnaskableQuestion } from '../../../trainer/shapes/errors.js';
import { parseClaim } from '../../../trainer/shapes/parse.js';
import { claimText, describeScene, questionText, referenceAnswer, type Answer, type Question } from '../../../trainer/shapes/questions.js';
import { Rng } from '../../../trainer/shapes/rng.js';
import { sampleScene } from '../../../trainer/shapes/sampler.js';
import { COLORS, KINDS, RELATIONS, SIZES, type Scene, type Shape } from '../../../trainer/shapes/world.js';

/** A random question of each type, unconstrained: many will not be askable. */
function randomQuestion(rng: Rng, type: Question['type'], scene: Scene): Question {
  switch (type) {
    case 'count':
      return { type, kind: rng.pick(KINDS), ...(rng.bernoulli(0.5) ? { color: rng.pick(COLORS) } : {}), template: rng.pick([0, 1] as const) };
    case 'color':
      return { type, kind: rng.pick(KINDS), ...(rng.bernoulli(0.5) ? { size: rng.pick(SIZES) } : {}) };
    case 'existence':
      return { type, kind: rng.pick(KINDS), color: rng.pick(COLORS), ...(rng.bernoulli(0.5) ? { size: rng.pick(SIZES) } : {}) };
    case 'position': {
      // Referents taken from the scene, so that many are unique and the relation is what decides.
      const [s, o] = scene.shapes.length >= 2 ? rng.sample(scene.shapes, 2) : [undefined, undefined];
      return {
        type,
        subject: s ? { color: s.color, kind: s.kind } : { color: rng.pick(COLORS), kind: rng.pick(KINDS) },
        object: o ? { color: o.color, kind: o.kind } : { color: rng.pick(COLORS), kind: rng.pick(KINDS) },
        form: rng.pick(['where', 'left-right'] as const),
      };
    }
    case 'description':
      return { type, template: rng.pick([0, 1, 2] as const) };
  }
}

/** A scene with few colours and kinds, so random questions often hit. */
function denseScene(rng: Rng): Scene {
  const colors = rng.sample(COLORS, 2);
  return sampleScene(rng, { allowExtra: (a) => colors.includes(a.color) });
}

const same = (s: Shape, p: { kind?: string; color?: string; size?: string }): boolean =>
  (p.kind === undefined || s.kind === p.kind) && (p.color === undefined || s.color === p.color) && (p.size === undefined || s.size === p.size);

describe('reference answers', () => {
  it('agree with the scene for every question type', () => {
    const rng = Rng.fromSeed(31);
    const asked = { count: 0, color: 0, existence: 0, position: 0, description: 0 };
    for (let i = 0; i < 3000; i++) {
      const scene = denseScene(rng.child('scene', i));
      const q = randomQuestion(rng.child('q', i), (['count', 'color', 'existence', 'position', 'description'] as const)[i % 5]!, scene);
      const a = referenceAnswer(q, scene);
      const shapes = scene.shapes;
      switch (q.type) {
        case 'count':
          expect(a).toEqual({ type: 'count', count: shapes.filter((s) => same(s, q)).length });
          break;
        case 'color': {
          const hits = shapes.filter((s) => same(s, q));
          if (hits.length === 1) expect(a).toEqual({ type: 'color', color: hits[0]!.color });
          else expect(a).toBeInstanceOf(UnaskableQuestion);
          break;
        }
        case 'existence':
          expect(a).toEqual({ type: 'existence', present: shapes.some((s) => same(s, q)) });
          break;
        case 'position': {
          const subj = shapes.filter((s) => same(s, q.subject));
          const obj = shapes.filter((s) => same(s, q.object));
          if (subj.length !== 1 || obj.length !== 1) {
            expect(a).toBeInstanceOf(UnaskableQuestion);
            break;
          }
          const dx = subj[0]!.x - obj[0]!.x;
          const dy = subj[0]!.y - obj[0]!.y;
          const horizontal = Math.abs(dx) >= Math.abs(dy);
          const [dom, other] = horizontal ? [Math.abs(dx), Math.abs(dy)] : [Math.abs(dy), Math.abs(dx)];
          const rel = horizontal ? (dx < 0 ? 'left' : 'right') : dy < 0 ? 'above' : 'below';
          const unambiguous = dom >= 0.15 && dom >= 2 * other;
          if (!unambiguous || (q.form === 'left-right' && !horizontal)) {
            // Position questions are only asked when the answer is clear.
            expect(a).toBeInstanceOf(UnaskableQuestion);
          } else {
            expect(a).toEqual({ type: 'position', relation: rel });
          }
          break;
        }
        case 'description': {
          const groups = (a as Extract<Answer, { type: 'description' }>).groups;
          expect(groups.reduce((n, g) => n + g.count, 0)).toBe(shapes.length);
          for (const g of groups) expect(shapes.filter((s) => same(s, g)).length).toBe(g.count);
          break;
        }
      }
      if (!(a instanceof UnaskableQuestion)) asked[q.type]++;
    }
    // Every type was really exercised, position included.
    for (const n of Object.values(asked)) expect(n).toBeGreaterThan(50);
  });

  it('refuses unclear relations with the reason', () => {
    const bg = { fill: { type: 'solid' as const, color: 'white' as const }, noiseSeed: 1 };
    const q: Question = { type: 'position', subject: { color: 'red', kind: 'circle' }, object: { color: 'blue', kind: 'square' }, form: 'where' };
    const at = (sx: number, sy: number): Scene => ({
      shapes: [
        { kind: 'circle', color: 'red', size: 'small', x: sx, y: sy },
        { kind: 'square', color: 'blue', size: 'small', x: 0.5, y: 0.5 },
      ],
      background: bg,
    });
    expect(referenceAnswer(q, at(0.2, 0.5))).toEqual({ type: 'position', relation: 'left' });
    expect(referenceAnswer(q, at(0.5, 0.8))).toEqual({ type: 'position', relation: 'below' });
    expect((referenceAnswer(q, at(0.4, 0.5)) as UnaskableQuestion).reason).toBe('ambiguous-relation'); // too close
    expect((referenceAnswer(q, at(0.2, 0.25)) as UnaskableQuestion).reason).toBe('ambiguous-relation'); // diagonal
    expect((referenceAnswer({ ...q, form: 'left-right' }, at(0.5, 0.8)) as UnaskableQuestion).reason).toBe('relation-not-offered');
  });
});

describe('question and response grammar', () => {
  it('words the questions as specified', () => {
    expect(questionText({ type: 'count', kind: 'circle', color: 'red', template: 0 })).toBe('How many red circles are there?');
    expect(questionText({ type: 'count', kind: 'square', template: 1 })).toBe('Count the squares in the image.');
    expect(questionText({ type: 'color', kind: 'triangle', size: 'large' })).toBe('What color is the large triangle?');
    expect(questionText({ type: 'existence', kind: 'square', color: 'blue', size: 'small' })).toBe('Is there a small blue square in the image?');
    expect(questionText({ type: 'existence', kind: 'circle', color: 'orange' })).toBe('Is there an orange circle in the image?');
    const pos = { subject: { color: 'red', kind: 'circle' }, object: { color: 'blue', kind: 'square' } } as const;
    expect(questionText({ type: 'position', ...pos, form: 'where' })).toBe('Where is the red circle relative to the blue square?');
    expect(questionText({ type: 'position', ...pos, form: 'left-right' })).toBe('Is the red circle to the left of or to the right of the blue square?');
    expect([0, 1, 2].map((t) => questionText({ type: 'description', template: t as 0 | 1 | 2 }))).toEqual([
      'Describe the image.',
      'What shapes are in this picture?',
      'List the shapes you see.',
    ]);
  });

  it('writes claims in the specified forms', () => {
    const count = { type: 'count', kind: 'circle', color: 'red', template: 0 } as const;
    expect(claimText(count, { type: 'count', count: 3 }, 'digits')).toBe('There are 3 red circles.');
    expect(claimText(count, { type: 'count', count: 1 }, 'words')).toBe('There is one red circle.');
    expect(claimText(count, { type: 'count', count: 0 }, 'words')).toBe('There are zero red circles.');
    expect(claimText({ type: 'color', kind: 'triangle', size: 'large' }, { type: 'color', color: 'green' }, 'digits')).toBe('The large triangle is green.');
    const ex = { type: 'existence', kind: 'square', color: 'blue', size: 'small' } as const;
    expect(claimText(ex, { type: 'existence', present: true }, 'digits')).toBe('Yes, there is a small blue square in the image.');
    expect(claimText({ ...ex, size: undefined }, { type: 'existence', present: false }, 'digits')).toBe('No, there is no blue square in the image.');
    const pos = { type: 'position', subject: { color: 'red', kind: 'circle' }, object: { color: 'blue', kind: 'square' }, form: 'where' } as const;
    expect(claimText(pos, { type: 'position', relation: 'left' }, 'digits')).toBe('The red circle is to the left of the blue square.');
    expect(claimText(pos, { type: 'position', relation: 'above' }, 'digits')).toBe('The red circle is above the blue square.');
    const groups = [
      { count: 1, size: 'small', color: 'red', kind: 'circle' },
      { count: 2, size: 'large', color: 'blue', kind: 'square' },
      { count: 1, size: 'small', color: 'orange', kind: 'triangle' },
    ] as const;
    expect(claimText({ type: 'description', template: 0 }, { type: 'description', groups: [...groups] }, 'words')).toBe(
      'There is a small red circle, two large blue squares and a small orange triangle.',
    );
  });

  it('parses every claim back to the answer it states', () => {
    const rng = Rng.fromSeed(32);
    for (let i = 0; i < 2000; i++) {
      const scene = denseScene(rng.child('scene', i));
      const q = randomQuestion(rng.child('q', i), (['count', 'color', 'existence', 'position', 'description'] as const)[i % 5]!, scene);
      let a = referenceAnswer(q, scene);
      if (a instanceof UnaskableQuestion) {
        if (q.type === 'color') a = { type: 'color', color: rng.pick(COLORS) };
        else if (q.type === 'position') a = { type: 'position', relation: rng.pick(RELATIONS) };
        else throw a;
      }
      for (const numerals of ['digits', 'words'] as const) {
        const text = claimText(q, a, numerals);
        expect(parseClaim(q.type, text)).toEqual(a);
        // NUMBER? SIZE? COLOR? KIND: a colour word never follows its kind within a phrase.
        expect(text).not.toMatch(/\b(circle|square|triangle)s?,? (that|which|colored|coloured|red|green|blue|yellow|purple|orange)\b/);
      }
    }
    expect(describeScene({ shapes: [], background: { fill: { type: 'solid', color: 'white' }, noiseSeed: 0 } })).toEqual([]);
  });
});
