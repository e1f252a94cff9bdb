/** The bench's workloads, levels and items, shared by the parent and the load generator. */
import { sampleSplit } from '../../trainer/shapes/pairs.js';
import { renderPng } from '../../trainer/shapes/raster.js';

export type Workload = 'single' | 'group16';
export const CONCURRENCY = [1, 8, 32, 64];
export const GROUP = 16;
/**
 * Calls per level: enough waves at high concurrency for a steady state, and
 * enough to fill most of `seconds` at this machine's rates (about 150 single
 * calls/s, 60 group calls/s on 2 cores). With the old bound alone a group
 * level at concurrency 8 ended after 24 calls, about half a second of load,
 * which made on/off comparisons noise. Items are distinct (no cache hits), so
 * each call costs the load generator a render before the timed run.
 */
export const callsFor = (w: Workload, c: number, seconds = 0) =>
  w === 'single' ? Math.max(160, 6 * c, Math.ceil(100 * seconds)) : Math.max(24, 3 * c, Math.ceil(40 * seconds));
export const warmFor = (c: number) => Math.min(c, 8);
/** Seed offsets per use, so no two uses share a scene (and no cache hit crosses them). */
export const SEEDS = { single: 0, group16: 1000, inProcess: 2000, cacheHit: 3000, pythonCacheHit: 4000 } as const;

export interface BenchItem { images: Buffer[]; system: string; prompt: string; responses: string[] }

/**
 * Deterministic distinct items: pairs offset.. of the seed's split, with `n`
 * distinct responses. Each use gets its own seed (SEEDS) and small offsets:
 * sampleSplit generates every pair before `offset`.
 */
export async function makeItems(seed: number, offset: number, count: number, n: number): Promise<BenchItem[]> {
  const pairs = sampleSplit(seed, offset + count).slice(offset);
  return Promise.all(pairs.map(async (p, i) => ({
    images: await Promise.all(p.images.map((s) => renderPng(s))),
    system: p.system ?? '',
    prompt: p.prompt,
    // GRPO samples of one prompt differ; the variants keep every text distinct.
    responses: Array.from({ length: n }, (_, j) => (j < 2 ? p.responses[(i + j) % 2]! : `${p.responses[j % 2]!} (${j})`)),
  })));
}

export interface LevelResult {
  workload: Workload | 'cache-hit' | 'cache-hit-sha' | 'grpc-floor'; concurrency: number; calls: number; rewards: number; seconds: number; rewardsPerSec: number; p50: number; p99: number; errors: Record<string, number>;
  /**
   * CPU time over the timed run, in ms per reward (per call for grpc-floor,
   * which has no rewards): the server process's (all its threads; null when
   * /proc/<pid>/stat is not readable) and the load generator's own. They
   * share the machine's cores, so throughput alone mixes the two.
   */
  serverCpuMsPerReward: number | null; clientCpuMsPerReward: number;
  /** The server's peak RSS (VmHWM, MiB) over this level, the peak reset before it; null when /proc is not readable. */
  serverPeakRssMiB?: number | null;
  /** The peak could not be reset: serverPeakRssMiB is the process's lifetime peak so far. */
  serverPeakRssIsLifetime?: boolean;
}
