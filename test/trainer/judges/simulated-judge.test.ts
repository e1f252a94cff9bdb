/**
 * The simulated judge over HTTP, through the real openai client: its
 * accuracy and its biases are what it was configured with.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { simulatedLabeler, type SimulatedLabeler } from '../../../trainer/judges/simulated-labeler.js';
import { accuracy, shapesPairs } from './helpers.js';

let open: SimulatedLabeler[] = [];
afterEach(async () => {
  await Promise.all(open.map((s) => s.close()));
  open = [];
});
async function start(judge: Parameters<typeof simulatedLabeler>[0] extends infer O ? (O extends { judge?: infer J } ? J : never) : never): Promise<SimulatedLabeler> {
  const s = await simulatedLabeler({ judge });
  open.push(s);
  return s;
}

describe('simulated ShapesWorld judge over HTTP', () => {
  it('prefers the right response with the configured accuracy (0.85 +- 0.04 on 400 pairs, no biases)', async () => {
    const { samples, pairs } = await shapesPairs(11, 400);
    const s = await start({ accuracy: 0.85, positionBias: 0, verbosityBias: 0, seed: 1 });
    const js = await s.labeler.label(pairs, { orders: 'one' });
    expect(js.every((j) => j.complete && j.calls === 1)).toBe(true);
    expect(Math.abs(accuracy(js, samples) - 0.85)).toBeLessThanOrEqual(0.04);
    expect(s.judge.counts().ok).toBe(400);
  });

  it('knows the truth: accuracy 1 is always right, accuracy 0 always wrong', async () => {
    const { samples, pairs } = await shapesPairs(11, 400);
    const right = await start({ accuracy: 1, positionBias: 0, verbosityBias: 0 });
    expect(accuracy(await right.labeler.label(pairs.slice(0, 150), { orders: 'one' }), samples.slice(0, 150))).toBe(1);
    const wrong = await start({ accuracy: 0, positionBias: 0, verbosityBias: 0 });
    expect(accuracy(await wrong.labeler.label(pairs.slice(0, 150), { orders: 'one' }), samples.slice(0, 150))).toBe(0);
  });

  it('position bias shows as a preference for the first-listed response, and both orders expose it', async () => {
    const { pairs } = await shapesPairs(11, 400);
    const measure = async (positionBias: number) => {
      const s = await start({ accuracy: 0.85, positionBias, verbosityBias: 0, seed: 2 });
      const one = await s.labeler.label(pairs, { orders: 'one' });
      const firstPreferred = one.filter((j, i) => (s.labeler.aFirst(pairs[i]!.id) ? j.scoreA > j.scoreB : j.scoreB > j.scoreA)).length / one.length;
      const both = await s.labeler.label(pairs, { orders: 'both' });
      const agree = both.filter((j) => j.votes.a === 2 || j.votes.b === 2).length / both.length;
      return { firstPreferred, agree, both };
    };
    const none = await measure(0);
    const biased = await measure(0.4);
    // Expected: 0.5 without bias, 0.5 + 0.4 / 2 = 0.7 with it.
    expect(Math.abs(none.firstPreferred - 0.5)).toBeLessThan(0.07);
    expect(biased.firstPreferred).toBeGreaterThan(0.62);
    // Two orders of an unbiased judge agree when both draws go the same way
    // (0.85^2 + 0.15^2 = 0.745); a position-biased judge disagrees with itself more.
    expect(biased.agree).toBeLessThan(none.agree - 0.1);
    expect(none.both.every((j) => j.complete && j.votes.a + j.votes.b + j.votes.tie === 2)).toBe(true);
  });

  it('verbosity bias: on style-adversarial pairs the verbose wrong answer wins more often', async () => {
    const { samples, pairs } = await shapesPairs(11, 400);
    const adv = samples.flatMap((s, i) => (s.slice === 'style-adversarial' ? [i] : []));
    const s0 = await start({ accuracy: 0.85, positionBias: 0, verbosityBias: 0, seed: 4 });
    const s1 = await start({ accuracy: 0.85, positionBias: 0, verbosityBias: 0.6, seed: 4 });
    const sub = adv.map((i) => pairs[i]!);
    const subS = adv.map((i) => samples[i]!);
    const a0 = accuracy(await s0.labeler.label(sub, { orders: 'one' }), subS);
    const a1 = accuracy(await s1.labeler.label(sub, { orders: 'one' }), subS);
    // 0.85 unbiased; 0.4 * 0.85 = 0.34 with the verbose (wrong) answer winning 60% outright.
    expect(a0).toBeGreaterThan(0.75);
    expect(a1).toBeLessThan(0.5);
  });
});
