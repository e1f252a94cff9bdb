import { describe, expect, it } from 'vitest';
import type { Attribution } from '../../scripts/bench-cost/profile.js';
import { costOf, median, partUsPerReward } from '../../scripts/bench-cost/shares.js';

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
});
