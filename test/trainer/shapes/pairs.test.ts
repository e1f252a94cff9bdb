import { describe, expect, it } from 'vitest';
import type { PairSample, QaMeta } from '../../../trainer/shapes/pair-sample.js';
import { assignments, DEFAULT_MIX, pairId, samplePair, sampleSplit, SLICE_TYPES } from '../../../trainer/shapes/pairs.js';
import { parseClaim } from '../../../trainer/shapes/parse.js';
import { styled } from '../../../trainer/shapes/policies.js';
import { claimText, referenceAnswer, sameAnswer, type Answer } from '../../../trainer/shapes/questions.js';
import { renderPairImages } from '../../../trainer/shapes/render-pairs.js';
import { Rng } from '../../../trainer/shapes/rng.js';
import { COLORS, KINDS } from '../../../trainer/shapes/world.js';

const qa = (p: PairSample): QaMeta => {
  if (p.meta.qtype === 't2i') throw new Error('not a QA pair');
  return p.meta as QaMeta;
};
const correctIndex = (p: PairSample): 0 | 1 => (p.truth === 'a' ? 0 : 1);

describe('sampleSplit', () => {
  it('is deterministic down to the PNG bytes, and another seed gives another split', async () => {
    const a = sampleSplit(7, 60);
    const b = sampleSplit(7, 60);
    const c = sampleSplit(8, 60);
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    const [pa, pb, pc] = await Promise.all([renderPairImages(a), renderPairImages(b), renderPairImages(c)]);
    expect([...pa.keys()]).toEqual([...pb.keys()]);
    for (const [k, v] of pa) expect(Buffer.compare(v, pb.get(k)!)).toBe(0);
    expect(a.map((p) => p.responses.join('|'))).not.toEqual(c.map((p) => p.responses.join('|')));
    const differing = [...pa.values()].filter((v, i) => Buffer.compare(v, [...pc.values()][i] ?? Buffer.alloc(0)) !== 0);
    expect(differing.length).toBeGreaterThan(50);
  });

  it('builds each pair from its own stream, whatever was drawn for the other pairs', () => {
    const n = 30;
    const split = sampleSplit(3, n);
    const plan = assignments(Rng.fromSeed(3).child('assign'), n, DEFAULT_MIX);
    // Alone, in reverse order, from a root that has drawn other things first:
    // each pair is still the split's, so no pair's draws depend on another's.
    const root = Rng.fromSeed(3);
    root.next();
    for (let i = n - 1; i >= 0; i--) expect(samplePair(root.child('pair', i), pairId(3, i), plan[i]!)).toEqual(split[i]);
    // And a longer split of the same seed only adds pairs: the first n are unchanged where their assignment is.
    const longer = sampleSplit(3, 2 * n);
    const planLonger = assignments(Rng.fromSeed(3).child('assign'), 2 * n, DEFAULT_MIX);
    for (let i = 0; i < n; i++) {
      if (JSON.stringify(planLonger[i]) === JSON.stringify(plan[i])) expect(longer[i]).toEqual(split[i]);
    }
  });

  it('follows the mix exactly, spreads question types evenly and balances the correct position', () => {
    const n = 2000;
    const split = sampleSplit(9, n);
    const bySlice = new Map<string, PairSample[]>();
    for (const p of split) bySlice.set(p.slice, [...(bySlice.get(p.slice) ?? []), p]);
    for (const [slice, w] of Object.entries(DEFAULT_MIX)) {
      const group = bySlice.get(slice) ?? [];
      expect(group.length).toBe(Math.round(w * n));
      const types = SLICE_TYPES[slice as keyof typeof SLICE_TYPES];
      for (const t of types) {
        const ofType = group.filter((p) => (p.meta.qtype === 't2i' ? p.meta.errorKind : p.meta.qtype) === t);
        expect(Math.abs(ofType.length - group.length / types.length)).toBeLessThanOrEqual(1);
        const inA = ofType.filter((p) => p.truth === 'a').length;
        expect(Math.abs(2 * inA - ofType.length)).toBeLessThanOrEqual(1);
      }
    }
    expect(new Set(split.map((p) => p.id)).size).toBe(n);
    const only = sampleSplit(9, 40, { t2i: 1 });
    expect(only.every((p) => p.slice === 't2i')).toBe(true);
    expect(() => assignments(Rng.fromSeed(1), 10, { grounded: -1 })).toThrow(RangeError);
    expect(() => assignments(Rng.fromSeed(1), 10, {})).toThrow(RangeError);
  });

  it('gives every QA pair a reference that agrees with its scene and a correct response that states it', () => {
    for (const p of sampleSplit(10, 800)) {
      if (p.slice === 't2i') continue;
      const m = qa(p);
      const ref = referenceAnswer(m.question, p.images[0]!);
      if (ref instanceof Error) throw ref;
      expect(parseClaim(m.qtype, p.reference!)).toEqual(ref);
      const claims = p.responses.map((r) => parseClaim(m.qtype, r)) as [Answer, Answer];
      expect(sameAnswer(claims[correctIndex(p)], ref)).toBe(true);
      expect(sameAnswer(claims[1 - correctIndex(p)]!, ref)).toBe(false);
      expect(claims).toEqual(m.answers);
      // Position questions are asked only when unambiguous.
      const q = m.question;
      if (q.type === 'position') {
        const s = p.images[0]!.shapes.filter((x) => x.color === q.subject.color && x.kind === q.subject.kind);
        const o = p.images[0]!.shapes.filter((x) => x.color === q.object.color && x.kind === q.object.kind);
        expect([s.length, o.length]).toEqual([1, 1]);
        const dx = Math.abs(s[0]!.x - o[0]!.x);
        const dy = Math.abs(s[0]!.y - o[0]!.y);
        expect(Math.max(dx, dy)).toBeGreaterThanOrEqual(0.15);
        expect(Math.max(dx, dy)).toBeGreaterThanOrEqual(2 * Math.min(dx, dy));
      }
    }
  });

  it('writes noun phrases as NUMBER? SIZE? COLOR? KIND in every response', () => {
    const color = COLORS.join('|');
    const kind = KINDS.join('|');
    for (const p of sampleSplit(11, 600)) {
      for (const text of [...p.responses, p.prompt, p.reference ?? '']) {
        expect(text).not.toMatch(new RegExp(`\\b(${kind})s?,? (that|which|colou?red|${color})\\b`, 'i'));
        expect(text).not.toMatch(new RegExp(`\\b(small|large)\\b(?! ((${color}) )?(${kind}))`, 'i'));
        // A colour word not followed by a kind is only ever a colour claim's predicate.
        for (const m of text.matchAll(new RegExp(`\\b(${color})\\b(?! (${kind}))`, 'gi'))) {
          expect(text.slice(Math.max(0, m.index - 3), m.index + m[0].length + 1)).toMatch(/^is \w+\.$/);
        }
      }
    }
  });

  it('slices differ in style exactly as specified', () => {
    const split = sampleSplit(12, 1500);
    for (const p of split) {
      if (p.slice === 't2i') continue;
      const m = qa(p);
      const c = correctIndex(p);
      const [correct, wrong] = [p.responses[c], p.responses[1 - c]!];
      const [cs, ws] = [m.styles[c], m.styles[1 - c]];
      // Each response is its own claim in its style, with the pair's one numeral style and template.
      m.answers.forEach((a, k) => expect(p.responses[k]).toBe(styled(claimText(m.question, a, m.numerals), m.styles[k]!, m.template)));
      switch (p.slice) {
        case 'grounded':
        case 'description': {
          expect(cs).toBe(ws);
          // Same template: the filler is identical, the texts differ only in the claim.
          expect(correct.replace(claimText(m.question, m.answers[c], m.numerals), '')).toBe(wrong.replace(claimText(m.question, m.answers[1 - c]!, m.numerals), ''));
          break;
        }
        case 'style-adversarial':
          expect([cs, ws]).toEqual(['plain', 'verbose']);
          expect(correct.length).toBeLessThan(wrong.length);
          break;
        case 'style-aligned':
          expect([cs, ws]).toEqual(['verbose', 'plain']);
          expect(correct.length).toBeGreaterThan(wrong.length);
          break;
      }
    }
    const desc = split.filter((p) => p.slice === 'description');
    expect(new Set(desc.map((p) => p.meta.errorKind))).toEqual(new Set(['count-off-by-one', 'color-swap', 'extra-object', 'missing-object']));
  });

  it('leaves no text-only shortcut in the grounded slice', () => {
    const grounded = sampleSplit(13, 4000, { grounded: 1 });
    const rate = (pairs: PairSample[], pick: (p: PairSample) => 0 | 1 | undefined): number => {
      const decided = pairs.map((p) => [pick(p), p] as const).filter(([k]) => k !== undefined);
      return decided.filter(([k, p]) => k === correctIndex(p)).length / decided.length;
    };
    const of = (t: string): PairSample[] => grounded.filter((p) => p.meta.qtype === t);
    const answers = (p: PairSample): [Answer, Answer] => qa(p).answers;
    const rules: [string, PairSample[], (p: PairSample) => 0 | 1 | undefined][] = [
      ['first response', grounded, () => 0],
      ['longer response', grounded, (p) => (p.responses[0].length === p.responses[1].length ? undefined : p.responses[0].length > p.responses[1].length ? 0 : 1)],
      ['larger number', of('count'), (p) => {
        const [a, b] = answers(p) as { count: number }[];
        return a!.count > b!.count ? 0 : 1;
      }],
      ['smaller number', of('count'), (p) => {
        const [a, b] = answers(p) as { count: number }[];
        return a!.count < b!.count ? 0 : 1;
      }],
      ["'yes'", of('existence'), (p) => ((answers(p)[0] as { present: boolean }).present ? 0 : 1)],
      ['first colour alphabetically', of('color'), (p) => {
        const [a, b] = answers(p) as { color: string }[];
        return a!.color < b!.color ? 0 : 1;
      }],
      ['colour named in the prompt order', of('color'), (p) => {
        const [a, b] = answers(p) as { color: string }[];
        return COLORS.indexOf(a!.color as never) < COLORS.indexOf(b!.color as never) ? 0 : 1;
      }],
      ["'left'", of('position'), (p) => {
        const [a, b] = answers(p) as { relation: string }[];
        return a!.relation === 'left' ? 0 : b!.relation === 'left' ? 1 : undefined;
      }],
      ['first relation alphabetically', of('position'), (p) => {
        const [a, b] = answers(p) as { relation: string }[];
        return a!.relation < b!.relation ? 0 : 1;
      }],
    ];
    for (const [name, pairs, pick] of rules) {
      expect(pairs.length, name).toBeGreaterThan(400);
      expect(Math.abs(rate(pairs, pick) - 0.5), `${name}: ${rate(pairs, pick)}`).toBeLessThanOrEqual(0.05);
    }
  });
});
