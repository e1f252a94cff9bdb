/**
 * The arithmetic of bench:cost, apart from the processes it runs, so that a
 * test can hold it to what the README says it computes.
 *
 * A feature's CPU is read from a profiled run (which frames it costs); the
 * share it is judged by is over the server's CPU per reward in an unprofiled
 * run of the same configuration, because the profiler itself costs ~0.6 ms a
 * reward in other threads (its sampler, the profile's bookkeeping), which
 * would swell the denominator and make every share read low.
 */
import type { Attribution } from './profile.js';

/** One load window of one server: what /proc and the load generator said. */
export interface RunCpu {
  rewards: number;
  rewardsPerSec: number;
  /** CPU ms per reward over the window: all threads, and the threads other than the main one. */
  cpuMsPerReward: number;
  otherMsPerReward: number;
}

export interface ThreadProfile {
  main: boolean;
  attribution: Attribution;
}

/**
 * A part's CPU us per reward in a profiled run: each thread's share of busy
 * samples in the part, times that thread's CPU. The main thread's CPU is
 * /proc's (the profile's busy time misses what the sampler cannot see);
 * a worker's is its own busy time (/proc cannot tell which thread it is).
 */
export function partUsPerReward(profiles: ThreadProfile[], part: string, mainCpuMs: number, rewards: number): number {
  let ms = 0;
  for (const p of profiles) {
    const a = p.attribution;
    if (a.busyUs === 0) continue;
    const threadMs = p.main ? mainCpuMs : a.busyUs / 1000;
    ms += threadMs * ((a.parts[part] ?? 0) / a.busyUs);
  }
  return (1000 * ms) / rewards;
}

export interface Cost {
  /** The feature's own frames, us per reward (profiled run). */
  featureUs: number;
  /** Other threads' extra CPU with the feature on, us per reward (unprofiled on - off: the libuv pool's file writes, exporters' sockets); noisy. */
  otherExtraUs: number;
  /** featureUs over the unprofiled server's CPU per reward with the feature on. */
  share: number;
  /** The same with otherExtraUs (when positive) added to the feature. */
  shareWithOther: number;
  /** Direct A/B of the unprofiled runs: throughput on / off, CPU per reward on / off. */
  throughputRatio: number;
  cpuRatio: number;
}

/** One configuration's cost from its unprofiled run, the unprofiled 'off' run next to it, and its profiled run's feature CPU. */
export function costOf(off: RunCpu, on: RunCpu, featureUs: number): Cost {
  const cpuUs = 1000 * on.cpuMsPerReward;
  const otherExtraUs = 1000 * (on.otherMsPerReward - off.otherMsPerReward);
  return {
    featureUs,
    otherExtraUs,
    share: featureUs / cpuUs,
    shareWithOther: (featureUs + Math.max(0, otherExtraUs)) / cpuUs,
    throughputRatio: on.rewardsPerSec / off.rewardsPerSec,
    cpuRatio: on.cpuMsPerReward / off.cpuMsPerReward,
  };
}

export const median = (xs: number[]): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** The quantile q of sorted values, linear between neighbours (q 0.5 is the median). */
function quantile(sorted: number[], q: number): number {
  const at = q * (sorted.length - 1);
  const lo = Math.floor(at);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (at - lo) * (sorted[hi]! - sorted[lo]!);
}

/**
 * How a set of on/off ratios spreads. `below` counts the ratios under 1:
 * with n pairs and no real effect each falls either side with even odds, so
 * `pSign`, the two-sided sign test's p, says whether the median's side of 1
 * could be noise (all 6 of 6 on one side: p 0.031; 5 of 6: 0.22).
 */
export interface Spread { n: number; median: number; q1: number; q3: number; min: number; max: number; below: number; pSign: number }

export function spreadOf(xs: number[]): Spread {
  const s = xs.filter(Number.isFinite).sort((a, b) => a - b);
  const n = s.length;
  if (n === 0) return { n: 0, median: Number.NaN, q1: Number.NaN, q3: Number.NaN, min: Number.NaN, max: Number.NaN, below: 0, pSign: Number.NaN };
  const below = s.filter((x) => x < 1).length;
  const above = s.filter((x) => x > 1).length;
  return { n, median: median(s), q1: quantile(s, 0.25), q3: quantile(s, 0.75), min: s[0]!, max: s[n - 1]!, below, pSign: signTest(below, above) };
}

/** Two-sided sign test: P(a split at least this uneven) with k of m on one side under even odds (ties left out). */
export function signTest(below: number, above: number): number {
  const m = below + above;
  if (m === 0) return 1;
  const k = Math.min(below, above);
  let tail = 0;
  let c = 1; // C(m, 0)
  for (let i = 0; i <= k; i++) {
    tail += c;
    c = (c * (m - i)) / (i + 1);
  }
  return Math.min(1, (2 * tail) / 2 ** m);
}

/** A run made of the medians of runs' fields, for a configuration's share over several unprofiled runs. */
export function medianRun(rs: RunCpu[]): RunCpu {
  return {
    rewards: median(rs.map((r) => r.rewards)), rewardsPerSec: median(rs.map((r) => r.rewardsPerSec)),
    cpuMsPerReward: median(rs.map((r) => r.cpuMsPerReward)), otherMsPerReward: median(rs.map((r) => r.otherMsPerReward)),
  };
}
