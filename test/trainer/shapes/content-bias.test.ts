/**
 * Content biases (issue 9, item 4): "yes", the larger count and the longer
 * description are preferred with probability contentBias; labels made
 * without content bias are exactly what they were before it existed.
 */
import { describe, expect, it } from 'vitest';
import { seededAnnotator } from '../../../trainer/data/shapes.js';
import { annotate, annotateAll, contentFavourite } from '../../../trainer/shapes/annotators.js';
import type { PairSample } from '../../../trainer/shapes/pair-sample.js';
import { sampleSplit } from '../../../trainer/shapes/pairs.js';
import { Rng } from '../../../trainer/shapes/rng.js';

const mixed = sampleSplit(71, 3000);

describe('content-biased annotators', () => {
  it('names the favoured response: yes, the larger count, more objects; nothing for other pairs', () => {
    let seen = { existence: 0, count: 0, description: 0, none: 0 };
    for (const s of mixed) {
      const fav = contentFavourite(s);
      if (s.meta.qtype === 't2i' || s.meta.qtype === 'color' || s.meta.qtype === 'position') {
        expect(fav).toBeUndefined();
        seen.none++;
        continue;
      }
      const [x, y] = s.meta.answers;
      if (x.type === 'existence' && y.type === 'existence') {
        expect(fav).toBe(x.present ? 'a' : 'b');
        seen.existence++;
      } else if (x.type === 'count' && y.type === 'count') {
        expect(fav).toBe(x.count > y.count ? 'a' : 'b');
        seen.count++;
      } else if (x.type === 'description' && y.type === 'description') {
        const n = (g: typeof x.groups) => g.reduce((k, e) => k + e.count, 0);
        expect(fav).toBe(n(x.groups) === n(y.groups) ? undefined : n(x.groups) > n(y.groups) ? 'a' : 'b');
        seen.description++;
      }
    }
    expect(Math.min(seen.existence, seen.count, seen.description, seen.none)).toBeGreaterThan(100);
  });

  it('goes to the favoured response at the configured rate, truth kept beside it', () => {
    const biased = mixed.filter((s) => contentFavourite(s) !== undefined);
    const labels = annotateAll(biased, { contentBias: 0.5 }, Rng.fromSeed(8));
    // Favoured = right half the time; so P(label = favoured) = 0.5 + 0.5 * P(favoured is right).
    const favRight = biased.filter((s) => contentFavourite(s) === s.truth).length / biased.length;
    const toFav = labels.filter((a, i) => a.label === contentFavourite(biased[i]!)).length / labels.length;
    expect(Math.abs(toFav - (0.5 + 0.5 * favRight))).toBeLessThan(0.03);
    labels.forEach((a, i) => expect(a.truth).toBe(biased[i]!.truth));
    // Pairs with nothing to favour keep the truth.
    const others = mixed.filter((s) => contentFavourite(s) === undefined);
    annotateAll(others, { contentBias: 1 }, Rng.fromSeed(9)).forEach((a, i) => expect(a.label).toBe(others[i]!.truth));
  });

  it('leaves labels made without content bias exactly as they were (the first three draws are unchanged)', () => {
    // The annotator as it was before content bias: three draws, style -> flip -> coarse.
    const before = (s: PairSample, cfg: { styleBias: number; flip: number; coarse: number }, rng: Rng) => {
      const [uBias, uFlip, uCoarse] = [rng.next(), rng.next(), rng.next()];
      let label: 'a' | 'b' = s.truth;
      const [sa, sb] = s.meta.styles;
      if (sa !== sb && uBias < cfg.styleBias) label = sa === 'verbose' ? 'a' : 'b';
      if (uFlip < cfg.flip) label = label === 'a' ? 'b' : 'a';
      return uCoarse < cfg.coarse ? 'tie' : label;
    };
    const cfg = { styleBias: 0.7, flip: 0.1, coarse: 0.05 };
    mixed.forEach((s) => expect(annotate(s, cfg, Rng.fromSeed(3).child(s.id)).label).toBe(before(s, cfg, Rng.fromSeed(3).child(s.id))));
  });

  it("the benchmark's start set (style 0.7, content 0.5, flip 0.2) has about 68% of its labels right on 8,000 pairs", () => {
    const samples = sampleSplit(1, 8000);
    const annotator = seededAnnotator(1, { styleBias: 0.7, contentBias: 0.5, flip: 0.2 });
    const right = samples.filter((s) => annotator(s).label === s.truth).length / samples.length;
    console.log(`start set label accuracy (seed 1, 8000 pairs): ${(100 * right).toFixed(1)}%`);
    expect(Math.abs(right - 0.68)).toBeLessThan(0.02);
  });
});
