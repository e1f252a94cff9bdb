import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { PairSample, QaMeta } from '../../../trainer/shapes/pair-sample.js';
import { sampleParaphraseSplit, sampleSplit } from '../../../trainer/shapes/pairs.js';
import { CLAIM_TEMPLATES, HELD_OUT_CLAIM_TEMPLATES, HELD_OUT_VERBOSE_TEMPLATES, TRAIN_CLAIM_TEMPLATES } from '../../../trainer/shapes/paraphrase.js';
import { VERBOSE_TEMPLATES } from '../../../trainer/shapes/policies.js';
import { claimText } from '../../../trainer/shapes/questions.js';

const qa = (p: PairSample): QaMeta => p.meta as QaMeta;
const words = (texts: string[]): Set<string> => new Set(texts.flatMap((t) => t.toLowerCase().match(/[a-z]+|[0-9]+/g) ?? []));

describe('paraphrases', () => {
  it('leave the default splits exactly as they were before paraphrases existed', () => {
    // The digest was taken from sampleSplit(99, 400) before paraphrase.ts was
    // added (the same code path also reproduced `mrm data gen --seed 99 --n
    // 2000` byte for byte, JSON and PNGs).
    const digest = createHash('sha256').update(JSON.stringify(sampleSplit(99, 400))).digest('hex');
    expect(digest).toBe('40c1614c5c74ce30065433bce4645ddc190a26a3d8d24c20351a8a8ae9c2e685');
    expect(sampleSplit(99, 200, undefined, { reword: 0 })).toEqual(sampleSplit(99, 200));
  });

  it('reword changes only the wording: same scenes, questions, answers and slices', () => {
    const plain = sampleSplit(4, 300);
    const reworded = sampleSplit(4, 300, undefined, { reword: 1 });
    let changed = 0;
    reworded.forEach((p, i) => {
      const o = plain[i]!;
      expect(p.images).toEqual(o.images);
      expect(p.slice).toBe(o.slice);
      expect(p.truth).toBe(o.truth);
      if (p.slice === 't2i') return expect(p.responses).toEqual(o.responses);
      expect(qa(p).answers).toEqual(qa(o).answers);
      const t = qa(p).claimTemplate!;
      expect(t).toBeGreaterThanOrEqual(1);
      expect(t).toBeLessThan(TRAIN_CLAIM_TEMPLATES);
      expect(qa(p).heldOut).toBeUndefined();
      if (p.responses[0] !== o.responses[0]) changed++;
      // Both sides carry the same frame: only the claimed fact differs.
      qa(p).answers.forEach((a, k) => expect(p.responses[k]).toContain(claimText(qa(p).question, a, qa(p).numerals, t)));
    });
    expect(changed).toBeGreaterThan(200);
  });

  it('held-out templates appear only in the paraphrase slice, which uses nothing else', () => {
    const heldOutFrames = HELD_OUT_VERBOSE_TEMPLATES.map((f) => f('\u0000').split('\u0000')[0]!);
    const training = [...sampleSplit(11, 600, undefined, { reword: 0.7 }), ...sampleSplit(12, 600)];
    for (const p of training) {
      if (p.slice === 't2i') continue;
      expect(HELD_OUT_CLAIM_TEMPLATES as readonly number[]).not.toContain(qa(p).claimTemplate ?? 0);
      for (const r of p.responses) for (const f of heldOutFrames) expect(r.startsWith(f)).toBe(false);
    }
    const para = sampleParaphraseSplit(11, 300);
    expect(new Set(para.map((p) => p.slice))).toEqual(new Set(['paraphrase']));
    expect(new Set(para.map((p) => qa(p).qtype)).size).toBe(5);
    for (const p of para) {
      expect(HELD_OUT_CLAIM_TEMPLATES as readonly number[]).toContain(qa(p).claimTemplate);
      expect(qa(p).heldOut).toBe(true);
      qa(p).answers.forEach((a, k) => expect(p.responses[k]).toContain(claimText(qa(p).question, a, qa(p).numerals, qa(p).claimTemplate)));
    }
    const verbose = para.filter((p) => qa(p).styles[0] === 'verbose');
    expect(verbose.length).toBeGreaterThan(100);
    for (const p of verbose) expect(heldOutFrames.some((f) => p.responses[0].startsWith(f))).toBe(true);
    // A paraphrase pair is not a default pair in other words.
    expect(para[0]!.images).not.toEqual(sampleSplit(11, 1)[0]!.images);
  });

  it('held-out wordings use no word that training data lacks', () => {
    const training = [...sampleSplit(21, 1500, undefined, { reword: 0.5 })];
    const trainWords = words(training.flatMap((p) => [p.prompt, ...p.responses]));
    const heldWords = words(sampleParaphraseSplit(21, 600).flatMap((p) => p.responses));
    expect([...heldWords].filter((w) => !trainWords.has(w))).toEqual([]);
    // And the held-out frames are really new sentences, not training ones.
    expect(CLAIM_TEMPLATES).toBeGreaterThan(TRAIN_CLAIM_TEMPLATES);
    expect(VERBOSE_TEMPLATES.length + HELD_OUT_VERBOSE_TEMPLATES.length).toBeGreaterThan(VERBOSE_TEMPLATES.length);
  });
});
