import { describe, expect, it } from 'vitest';
import { loadBundle } from '../../../src/model/bundle.js';
import { featurizePairs } from '../../../trainer/data/featurize.js';
import { reformulateT2I, type T2ITriple } from '../../../trainer/dt2it/t2i.js';
import { fromLabeled } from '../../../trainer/dt2it/round-pair.js';
import { sideRewards } from '../../../trainer/dt2it/scoring.js';
import { readBundleHead } from '../../../trainer/dt2it/head-weights.js';
import { renderPairImages, imageKey } from '../../../trainer/shapes/render-pairs.js';
import { Rng } from '../../../trainer/shapes/rng.js';
import { sampleT2I, T2I_ERRORS, toDt2itPair } from '../../../trainer/shapes/t2i.js';
import { FEATURE_NAMES } from '../../../trainer/shapesnet/encoder.js';

const bytes = (s: string) => new TextEncoder().encode(s);

describe('reformulateT2I', () => {
  const triples: T2ITriple[] = Array.from({ length: 9 }, (_, i) => ({ id: `t${i}`, caption: `A red circle ${i}.`, better: bytes(`good${i}`), worse: bytes(`bad${i}`) }));

  it('puts the better image first in half the pairs (seeded) and names it in the chosen answer', () => {
    const r = reformulateT2I(triples, 5);
    const first = r.output.filter((p) => p.images[0] === triples[Number(p.id.slice(1))]!.better);
    expect(first.length).toBe(5);
    expect(r.counts).toMatchObject({ in: 9, out: 9, betterFirst: 5 });
    r.output.forEach((p, i) => {
      const t = triples[i]!;
      expect(p.prompt).toBe(`Image 1: <image> Image 2: <image> Which image matches the text caption better? Text Caption: ${t.caption}`);
      const betterFirst = p.images[0] === t.better;
      expect(p.images).toEqual(betterFirst ? [t.better, t.worse] : [t.worse, t.better]);
      expect(p.chosen).toBe(betterFirst ? 'Image 1 is better than Image 2.' : 'Image 2 is better than Image 1.');
      expect(p.rejected).toBe(betterFirst ? 'Image 2 is better than Image 1.' : 'Image 1 is better than Image 2.');
      expect(p.slice).toBe('t2i');
    });
    expect(reformulateT2I(triples, 5).output.map((p) => p.chosen)).toEqual(r.output.map((p) => p.chosen));
    expect(reformulateT2I(triples, 6).output.map((p) => p.chosen)).not.toEqual(r.output.map((p) => p.chosen));
  });

  it("is what the default model's encoder reads: t2i features fire and the shipped head prefers the better image", async () => {
    const rng = Rng.fromSeed(41);
    const raw = T2I_ERRORS.flatMap((kind, i) => [0, 1].map((j) => toDt2itPair(sampleT2I(rng.child(i, j), kind), true, `x${i}-${j}`)));
    const png = await renderPairImages(raw, { workers: 0 });
    const triples2 = raw.map((s) => ({ id: s.id, caption: s.meta.qtype === 't2i' ? s.meta.caption : '', better: png.get(imageKey(s.id, 0))!, worse: png.get(imageKey(s.id, 1))! }));
    const pairs = reformulateT2I(triples2, 1).output;
    const { runtime } = await loadBundle('models/shapes-mrm', { threads: 1 });
    try {
      const f = await featurizePairs(runtime, pairs);
      const t2iCols = FEATURE_NAMES.flatMap((n, i) => (n.startsWith('t2i.') ? [i] : []));
      for (let i = 0; i < f.n; i++) {
        const row = f.chosen.subarray(i * f.d, (i + 1) * f.d);
        expect(t2iCols.some((c) => row[c] !== 0)).toBe(true);
      }
      const rp = fromLabeled(pairs, f, 't2i', { labeled: true });
      const { ra, rb } = sideRewards(await readBundleHead('models/shapes-mrm'), rp);
      // Never the worse image; a tie only where the encoder cannot see the
      // difference (a count caption like "A purple square" against the same
      // scene with one more shape: its referents all still match).
      const wrong = rp.filter((_, i) => ra[i]! < rb[i]!);
      const ties = rp.flatMap((_, i) => (ra[i] === rb[i] ? [raw[i]!.meta.errorKind] : []));
      expect(wrong).toEqual([]);
      expect(ties.every((k) => k === 'count')).toBe(true);
      expect(ties.length).toBeLessThanOrEqual(2);
    } finally {
      await runtime.release();
    }
  });
});
