import { describe, expect, it } from 'vitest';
import { SceneSamplingError } from '../../../trainer/shapes/errors.js';
import { contains, extentOf, radiusOf, relationBetween } from '../../../trainer/shapes/geometry.js';
import { Rng } from '../../../trainer/shapes/rng.js';
import { layoutViolation, MAX_SHAPES, sampleScene } from '../../../trainer/shapes/sampler.js';
import { COLORS, KINDS, matches, RELATIONS, SIZES, type Scene, type Shape } from '../../../trainer/shapes/world.js';

/** Visible fraction of each shape measured on a fine pixel grid, independently of the sampler's point sets. */
function pixelVisibility(scene: Scene, n = 256): number[] {
  const total = new Array<number>(scene.shapes.length).fill(0);
  const visible = new Array<number>(scene.shapes.length).fill(0);
  for (let j = 0; j < n; j++) {
    for (let i = 0; i < n; i++) {
      const x = (i + 0.5) / n;
      const y = (j + 0.5) / n;
      let top = -1;
      scene.shapes.forEach((s, k) => {
        if (contains(s.kind, radiusOf(s.size), x - s.x, y - s.y)) {
          total[k]!++;
          top = k;
        }
      });
      if (top >= 0) visible[top]!++;
    }
  }
  return total.map((t, k) => visible[k]! / t);
}

function inside(s: Shape): boolean {
  const e = extentOf(s.kind, radiusOf(s.size));
  return s.x - e.left >= 0 && s.x + e.right <= 1 && s.y - e.top >= 0 && s.y + e.bottom <= 1;
}

describe('sampleScene', () => {
  it('samples 1 to 6 shapes, all inside the image and at least ~70% visible', () => {
    const rng = Rng.fromSeed(11);
    const sizes = new Set<number>();
    for (let i = 0; i < 300; i++) {
      const scene = sampleScene(rng.child('scene', i));
      sizes.add(scene.shapes.length);
      expect(scene.shapes.length).toBeGreaterThanOrEqual(1);
      expect(scene.shapes.length).toBeLessThanOrEqual(MAX_SHAPES);
      expect(layoutViolation(scene.shapes)).toBeNull();
      for (const s of scene.shapes) expect(inside(s)).toBe(true);
      if (i < 60) for (const v of pixelVisibility(scene)) expect(v).toBeGreaterThan(0.67);
    }
    expect([...sizes].sort()).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('meets "exactly n red circles" for every n', () => {
    const rng = Rng.fromSeed(12);
    for (let n = 0; n <= 6; n++) {
      for (let t = 0; t < 10; t++) {
        const scene = sampleScene(rng.child(n, t), {
          required: Array.from({ length: n }, (_, k) => ({ kind: 'circle' as const, color: 'red' as const, size: SIZES[k % 2]! })),
          allowExtra: (a) => !(a.kind === 'circle' && a.color === 'red'),
        });
        expect(scene.shapes.filter((s) => s.kind === 'circle' && s.color === 'red')).toHaveLength(n);
        expect(layoutViolation(scene.shapes)).toBeNull();
      }
    }
  });

  it('builds clear relations between two required shapes', () => {
    const rng = Rng.fromSeed(13);
    for (let i = 0; i < 80; i++) {
      const relation = RELATIONS[i % 4]!;
      const subject = { kind: KINDS[i % 3]!, color: COLORS[i % 6]!, size: SIZES[i % 2]! };
      const object = { kind: KINDS[(i + 1) % 3]!, color: COLORS[(i + 2) % 6]!, size: SIZES[(i + 1) % 2]! };
      const scene = sampleScene(rng.child(i), {
        required: [subject, object],
        relation: { subject: 0, object: 1, relation },
        allowExtra: (a) => !matches(a, subject) && !matches(a, object),
      });
      const s = scene.shapes.find((x) => x.kind === subject.kind && x.color === subject.color && x.size === subject.size)!;
      const o = scene.shapes.find((x) => x.kind === object.kind && x.color === object.color && x.size === object.size)!;
      const dx = s.x - o.x;
      const dy = s.y - o.y;
      const [dom, other] = relation === 'left' || relation === 'right' ? [dx, dy] : [dy, dx];
      expect(Math.sign(dom)).toBe(relation === 'left' || relation === 'above' ? -1 : 1);
      expect(Math.abs(dom)).toBeGreaterThanOrEqual(0.15);
      expect(Math.abs(dom)).toBeGreaterThanOrEqual(2 * Math.abs(other));
      expect(relationBetween(s, o)).toEqual({ relation, clear: true });
    }
  });

  it('keeps same-coloured shapes apart so that counts stay countable', () => {
    const rng = Rng.fromSeed(14);
    for (let i = 0; i < 40; i++) {
      const scene = sampleScene(rng.child(i), { required: Array.from({ length: 6 }, () => ({ kind: 'square' as const, color: 'blue' as const, size: 'large' as const })) });
      expect(layoutViolation(scene.shapes)).toBeNull();
      for (const v of pixelVisibility(scene, 128)) expect(v).toBe(1);
    }
  });

  it('refuses impossible specs with a SceneSamplingError', () => {
    const rng = Rng.fromSeed(15);
    const three = Array.from({ length: 3 }, () => ({ kind: 'circle' as const, color: 'red' as const, size: 'small' as const }));
    expect(() => sampleScene(rng, { required: three, total: 2 })).toThrow(SceneSamplingError);
    expect(() => sampleScene(rng, { required: three, relation: { subject: 0, object: 0, relation: 'left' } })).toThrow(SceneSamplingError);
    expect(() => sampleScene(rng, { total: 3, allowExtra: () => false })).toThrow(SceneSamplingError);
  });

  it('is deterministic', () => {
    expect(sampleScene(Rng.fromSeed(16))).toEqual(sampleScene(Rng.fromSeed(16)));
    expect(sampleScene(Rng.fromSeed(16))).not.toEqual(sampleScene(Rng.fromSeed(17)));
  });
});
