import { describe, expect, it } from 'vitest';
import type { T2IMeta } from '../../../trainer/shapes/pair-sample.js';
import { sampleSplit } from '../../../trainer/shapes/pairs.js';
import { Rng } from '../../../trainer/shapes/rng.js';
import { layoutViolation } from '../../../trainer/shapes/sampler.js';
import { captionText, dt2itPrompt, sampleT2I, sceneMatchesCaption, T2I_ERRORS, toDt2itPair, type T2ISample } from '../../../trainer/shapes/t2i.js';
import { COLORS, KINDS, type Shape } from '../../../trainer/shapes/world.js';

const ATTRS = ['kind', 'color', 'size'] as const;

/** The attribute differences between two scenes with the same shapes in the same order. */
function differences(a: Shape[], b: Shape[]): string[] {
  const out: string[] = [];
  a.forEach((s, i) => {
    const t = b[i]!;
    for (const k of ATTRS) if (s[k] !== t[k]) out.push(`${i}.${k}`);
    if (s.x !== t.x || s.y !== t.y) out.push(`${i}.position`);
  });
  return out;
}

function checkOneChange(t: T2ISample): void {
  const [b, w] = [t.better.shapes, t.worse.shapes];
  expect(t.worse.background).toEqual(t.better.background);
  expect(layoutViolation(w)).toBeNull();
  const c = t.change;
  switch (c.type) {
    case 'color':
    case 'kind':
    case 'size':
      expect(differences(b, w)).toEqual([`${c.shape}.${c.type}`]);
      expect(b[c.shape]![c.type]).toBe(c.from);
      expect(w[c.shape]![c.type]).toBe(c.to);
      break;
    case 'count':
      if (c.delta === 1) {
        expect(w).toHaveLength(b.length + 1);
        expect(w.slice(0, -1)).toEqual(b);
      } else {
        expect(w).toHaveLength(b.length - 1);
        expect(w).toEqual(b.filter((_, i) => i !== c.shape));
      }
      break;
    case 'relation': {
      // The same two shapes, their places swapped: only the relation differs.
      expect(w).toHaveLength(2);
      expect(w.map((s) => [s.kind, s.color, s.size])).toEqual(b.map((s) => [s.kind, s.color, s.size]));
      expect([w[0]!.x, w[0]!.y, w[1]!.x, w[1]!.y]).toEqual([b[1]!.x, b[1]!.y, b[0]!.x, b[0]!.y]);
      expect(c.to).not.toBe(c.from);
      break;
    }
  }
}

describe('T2I samples', () => {
  it('pair a matching image with one that has exactly one attribute wrong', () => {
    const rng = Rng.fromSeed(51);
    for (let i = 0; i < 400; i++) {
      const kind = T2I_ERRORS[i % T2I_ERRORS.length]!;
      const t = sampleT2I(rng.child(i), kind);
      expect(t.errorKind).toBe(kind);
      expect(t.change.type).toBe(kind);
      expect(sceneMatchesCaption(t.spec, t.better)).toBe(true);
      expect(sceneMatchesCaption(t.spec, t.worse)).toBe(false);
      checkOneChange(t);
    }
  });

  it('write captions in the noun-phrase grammar', () => {
    const color = COLORS.join('|');
    const kind = KINDS.join('|');
    const np = `(a|an|[0-6]|zero|one|two|three|four|five|six) ((small|large) )?(${color}) (${kind})s?`;
    const relation = new RegExp(`^(a|an) (small|large) (${color}) (${kind}) (to the left of|to the right of|above|below) (a|an) (small|large) (${color}) (${kind})\\.$`, 'i');
    const groups = new RegExp(`^${np}((, ${np})* and ${np})?\\.$`, 'i');
    const rng = Rng.fromSeed(52);
    for (let i = 0; i < 200; i++) {
      const t = sampleT2I(rng.child(i), T2I_ERRORS[i % 5]!);
      expect(t.caption).toMatch(t.spec.type === 'relation' ? relation : groups);
      expect(t.caption[0]).toBe(t.caption[0]!.toUpperCase());
    }
    expect(captionText({ type: 'relation', subject: { kind: 'circle', color: 'red', size: 'small' }, object: { kind: 'square', color: 'blue', size: 'large' }, relation: 'left' }, 'words')).toBe(
      'A small red circle to the left of a large blue square.',
    );
    expect(
      captionText(
        {
          type: 'groups',
          groups: [
            { count: 2, color: 'green', kind: 'triangle' },
            { count: 1, color: 'yellow', kind: 'circle' },
          ],
        },
        'words',
      ),
    ).toBe('Two green triangles and a yellow circle.');
  });

  it('become DT2IT pairs with the exact prompt and answers, better image first half of the time', () => {
    const rng = Rng.fromSeed(53);
    const t = sampleT2I(rng, 'color');
    const first = toDt2itPair(t, true, 'p1');
    const second = toDt2itPair(t, false, 'p2');
    expect(first.prompt).toBe(`Image 1: <image> Image 2: <image> Which image matches the text caption better? Text Caption: ${t.caption}`);
    expect(first.prompt).toBe(dt2itPrompt(t.caption));
    expect(first.responses).toEqual(['Image 1 is better than Image 2.', 'Image 2 is better than Image 1.']);
    expect(first.images).toEqual([t.better, t.worse]);
    expect(first.truth).toBe('a');
    expect(second.images).toEqual([t.worse, t.better]);
    expect(second.truth).toBe('b');
    expect(second.reference).toBe('Image 2 is better than Image 1.');

    const split = sampleSplit(54, 1000).filter((p) => p.slice === 't2i');
    expect(split).toHaveLength(150);
    const betterFirst = split.filter((p) => (p.meta as T2IMeta).betterFirst).length;
    expect(Math.abs(2 * betterFirst - split.length)).toBeLessThanOrEqual(T2I_ERRORS.length);
    for (const p of split) {
      const m = p.meta as T2IMeta;
      expect(p.truth).toBe(m.betterFirst ? 'a' : 'b');
      expect(p.images).toHaveLength(2);
      const better = p.images[m.betterFirst ? 0 : 1]!;
      const worse = p.images[m.betterFirst ? 1 : 0]!;
      expect(sceneMatchesCaption(m.captionSpec, better)).toBe(true);
      expect(sceneMatchesCaption(m.captionSpec, worse)).toBe(false);
      expect(p.prompt.endsWith(`Text Caption: ${m.caption}`)).toBe(true);
      expect(p.prompt).not.toContain('[');
    }
  });
});
