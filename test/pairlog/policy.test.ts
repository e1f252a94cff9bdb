/** Which pairs are logged: band, head disagreement, group adjacency, dedupe, sampling, rate limit. */
import { describe, expect, it } from 'vitest';
import { adjacentPairs, headsDisagree, inBand, marginLimit, PairPolicy, pairKey, rewardOrder, sigmoid, TokenBucket, unsure, unsureWithin } from '../../src/pairlog/policy.js';

describe('unsure', () => {
  it('is P(a > b) within the band of 0.5', () => {
    // sigmoid(0.405) ~ 0.6
    expect(inBand(0.4, 0.1)).toBe(true);
    expect(inBand(-0.4, 0.1)).toBe(true);
    expect(inBand(0.42, 0.1)).toBe(false);
    expect(inBand(5, 0.5)).toBe(true);
    expect(inBand(0, 0)).toBe(true);
    expect(inBand(0.01, 0)).toBe(false);
  });

  it('or heads that disagree on the order, however large the margin', () => {
    expect(headsDisagree([1, 2, 3], [0, 1, 2])).toBe(false);
    expect(headsDisagree([1, 0, 3], [0, 1, 2])).toBe(true);
    expect(headsDisagree([1, 1], [1, 0])).toBe(false); // a tie is no disagreement
    expect(unsure(3, 0.1, [5, -1], [0, 0])).toBe(true);
    expect(unsure(3, 0.1, [5, 1], [0, 0])).toBe(false);
    expect(unsure(3, 0.1)).toBe(false);
  });
});

describe('adjacentPairs', () => {
  it('pairs each response with the next in reward order, higher first', () => {
    const rewards = [0.1, 3, 0.2, 2.9, -5];
    expect(adjacentPairs(rewards, () => true)).toEqual([[1, 3], [3, 2], [2, 0], [0, 4]]);
    const close = (hi: number, lo: number) => unsure(rewards[hi]! - rewards[lo]!, 0.1);
    expect(adjacentPairs(rewards, close)).toEqual([[1, 3], [2, 0]]);
    expect(adjacentPairs([1], () => true)).toEqual([]);
  });
});

describe('the serving path\'s forms', () => {
  it('the band as a margin bound decides as |sigmoid(margin) - 0.5| <= band does', () => {
    let checked = 0;
    for (const band of [0, 0.01, 0.1, 0.25, 0.49, 0.5, 0.7]) {
      const limit = marginLimit(band);
      for (let m = -6; m <= 6; m += 0.0137) {
        // Within a hair of the boundary the two computations may round apart: not a decision either way.
        if (Math.abs(Math.abs(sigmoid(m) - 0.5) - band) < 1e-12) continue;
        expect(Math.abs(m) <= limit).toBe(Math.abs(sigmoid(m) - 0.5) <= band);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(5000);
    expect(marginLimit(0.1)).toBeCloseTo(Math.log(1.5), 12);
    expect(unsureWithin(3, marginLimit(0.1), [5, -1], [0, 0])).toBe(true);
    expect(unsureWithin(3, marginLimit(0.1), [5, 1], [0, 0])).toBe(false);
  });

  it('rewardOrder gives adjacentPairs\' order over a slice (ties in index order), in a reused array', () => {
    const scores = [9, 0.1, 3, 0.2, 3, 2.9, -5, 9].map((reward) => ({ reward }));
    const out: number[] = [7, 7, 7, 7, 7, 7, 7, 7, 7, 7];
    const order = rewardOrder(scores, 1, 6, out);
    expect(order).toBe(out);
    // Indices are absolute: scores[1..6] by reward, the tie 2 / 4 in index order.
    expect(order).toEqual([2, 4, 5, 3, 1, 6]);
    const pairs = adjacentPairs(scores.slice(1, 7).map((s) => s.reward), () => true).map(([h, l]) => [h + 1, l + 1]);
    expect(order.slice(0, -1).map((h, i) => [h, order[i + 1]])).toEqual(pairs);
    expect(rewardOrder(scores, 0, 1, out)).toEqual([0]);
  });
});

describe('PairPolicy', () => {
  const cfg = { band: 0.1, sampleRate: 1, ratePerSec: 1000, burst: 1000, dedupeEntries: 3 };

  it('logs a pair once (either order), forgetting the least recent past dedupeEntries', () => {
    const p = new PairPolicy(cfg);
    const k = (a: string, b: string) => pairKey('m', 1, a, b);
    expect(k('x', 'y')).toBe(k('y', 'x'));
    expect(k('x', 'y')).not.toBe(pairKey('m', 2, 'x', 'y'));
    expect(p.decide(k('x', 'y'))).toBe('accept');
    expect(p.decide(k('y', 'x'))).toBe('duplicate');
    for (const z of ['1', '2', '3']) expect(p.decide(k('x', z))).toBe('accept');
    expect(p.decide(k('x', 'y'))).toBe('accept');
    expect(p.stats).toMatchObject({ qualified: 6, accepted: 5, duplicates: 1 });
  });

  it('samples at sampleRate without marking dropped pairs as seen', () => {
    const rolls = [0.9, 0.2];
    const p = new PairPolicy({ ...cfg, sampleRate: 0.5 }, () => rolls.shift()!);
    expect(p.decide('a')).toBe('sampled-out');
    expect(p.decide('a')).toBe('accept');
    expect(p.stats.sampledOut).toBe(1);
  });

  it('rate-limits with a token bucket: burst, then ratePerSec', () => {
    let t = 0;
    const p = new PairPolicy({ ...cfg, ratePerSec: 10, burst: 3, dedupeEntries: 100 }, Math.random, () => t);
    const verdicts = Array.from({ length: 5 }, (_, i) => p.decide(`k${i}`));
    expect(verdicts).toEqual(['accept', 'accept', 'accept', 'rate-limited', 'rate-limited']);
    t += 100; // one token
    expect(p.decide('k3')).toBe('accept'); // a rate-limited pair was not marked seen
    expect(p.decide('k4')).toBe('rate-limited');
    t += 10_000;
    expect(Array.from({ length: 4 }, (_, i) => p.decide(`n${i}`))).toEqual(['accept', 'accept', 'accept', 'rate-limited']);
  });

  it('mayAccept: with the bucket empty a pair is rate-limited before its key is built; it takes no token', () => {
    let t = 0;
    const p = new PairPolicy({ ...cfg, ratePerSec: 10, burst: 1, dedupeEntries: 100 }, Math.random, () => t);
    expect(p.mayAccept()).toBe(true);
    expect(p.mayAccept()).toBe(true); // a look, not a take
    expect(p.decide('a')).toBe('accept');
    expect(p.mayAccept()).toBe(false);
    expect(p.stats).toMatchObject({ qualified: 2, accepted: 1, rateLimited: 1 });
    // A whole call's candidates are skipped, unlooked-at, while the bucket is empty.
    expect(p.open(15)).toBe(false);
    expect(p.stats).toMatchObject({ skipped: 15, qualified: 2 });
    t += 100;
    expect(p.open(15)).toBe(true);
    expect(p.mayAccept()).toBe(true);
    expect(p.decide('b')).toBe('accept');
  });

  it('token bucket refills continuously', () => {
    let t = 0;
    const b = new TokenBucket(2, 1, () => t);
    expect(b.take()).toBe(true);
    expect(b.take()).toBe(false);
    t = 499;
    expect(b.take()).toBe(false);
    t = 1000;
    expect(b.take()).toBe(true);
  });
});
