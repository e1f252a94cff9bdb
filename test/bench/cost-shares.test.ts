import { describe, expect, it } from 'vitest';
import type { Attribution } from '../../scripts/bench-cost/profile.js';
import { costOf, median, medianRun, partUsPerReward, signTest, spreadOf } from '../../scripts/bench-cost/shares.js';

const attr = (busyUs: number, pairlog: number): Attribution => ({ busyUs, idleUs: 0, gcUs: 0, parts: { pairlog } });

describe('bench:cost arithmetic', () => {
  it('a part\'s CPU per reward: the main thread scaled to /proc\'s CPU, a worker by its own busy time', () => {
    // Main: 10% of its samples in the pair log, /proc says 800 ms; a worker: 50 of 200 ms busy.
    const us = partUsPerReward([{ main: true, attribution: attr(500_000, 50_000) }, { main: false, attribution: attr(200_000, 50_000) }], 'pairlog', 800, 1000);
    expect(us).toBeCloseTo((80 + 50) * 1000 / 1000, 9);
    // An idle thread (no busy samples) adds nothing rather than NaN.
    expect(partUsPerReward([{ main: false, attribution: attr(0, 0) }], 'pairlog', 800, 1000)).toBe(0);
  });

  it('the share is over the unprofiled run\'s CPU, other threads\' extra CPU is added only when positive, A/B is on over off', () => {
    const off = { rewards: 1000, rewardsPerSec: 800, cpuMsPerReward: 1.2, otherMsPerReward: 0.5 };
    const on = { rewards: 1000, rewardsPerSec: 760, cpuMsPerReward: 1.25, otherMsPerReward: 0.52 };
    const c = costOf(off, on, 50);
    expect(c.share).toBeCloseTo(50 / 1250, 12);
    expect(c.otherExtraUs).toBeCloseTo(20, 9);
    expect(c.shareWithOther).toBeCloseTo(70 / 1250, 12);
    expect(c.throughputRatio).toBeCloseTo(0.95, 12);
    expect(c.cpuRatio).toBeCloseTo(1.25 / 1.2, 12);
    // Less other-thread CPU with the feature on is noise, not a saving to credit it with.
    expect(costOf(off, { ...on, otherMsPerReward: 0.4 }, 50).shareWithOther).toBeCloseTo(50 / 1250, 12);
  });

  it('median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });

  it('the A/B spread: quartiles between neighbours, how many pairs fell below 1, and the sign test of that split', () => {
    const s = spreadOf([0.9, 0.95, 1.02, 0.97, 0.93, Number.NaN]);
    expect(s.n).toBe(5);
    expect(s.median).toBe(0.95);
    expect(s.min).toBe(0.9);
    expect(s.max).toBe(1.02);
    // Sorted 0.9 0.93 0.95 0.97 1.02: q1 at index 1, q3 at index 3.
    expect(s.q1).toBeCloseTo(0.93, 12);
    expect(s.q3).toBeCloseTo(0.97, 12);
    expect(s.below).toBe(4);
    // 4 of 5 below: P(0 or 1 or 4 or 5 of 5) = 12/32.
    expect(s.pSign).toBeCloseTo(12 / 32, 12);
    // Between two values: a quarter of six points is 1.25 steps in.
    expect(spreadOf([1, 2, 3, 4, 5, 6]).q1).toBeCloseTo(2.25, 12);
    expect(spreadOf([]).n).toBe(0);
  });

  it('the sign test: all of six on one side is p 1/32, an even split is 1, ties count for neither side', () => {
    expect(signTest(6, 0)).toBeCloseTo(2 / 64, 12);
    expect(signTest(1, 5)).toBeCloseTo(14 / 64, 12);
    expect(signTest(3, 3)).toBe(1);
    expect(signTest(0, 0)).toBe(1);
    expect(spreadOf([1, 1, 0.9]).pSign).toBe(signTest(1, 0));
  });

  it('a median run takes each field\'s median apart', () => {
    const r = medianRun([
      { rewards: 10, rewardsPerSec: 300, cpuMsPerReward: 1, otherMsPerReward: 0.1 },
      { rewards: 30, rewardsPerSec: 100, cpuMsPerReward: 3, otherMsPerReward: 0.5 },
      { rewards: 20, rewardsPerSec: 200, cpuMsPerReward: 2, otherMsPerReward: 0.2 },
    ]);
    expect(r).toEqual({ rewards: 20, rewardsPerSec: 200, cpuMsPerReward: 2, otherMsPerReward: 0.2 });
  });
});
