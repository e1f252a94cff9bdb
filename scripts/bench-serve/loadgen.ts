/**
 * The load generator, a child process of main.ts so that its client work is
 * not in the parent's event loop:
 *
 *   node --import tsx scripts/bench-serve/loadgen.ts '<json LoadgenSpec>'
 *
 * Drives each concurrency level (a warm-up, then the timed run) against a
 * loopback server and prints one JSON line: LevelResult[].
 *
 * With `handshake` (one level only), it prints the line `warm` after the
 * warm-up and waits for a line on stdin before the timed run, so that the
 * parent can start its own window (CPU per thread, profile clip) exactly
 * there: the warm-up's one-time work (JIT, first allocations, a token
 * bucket's burst) then counts in neither side of an on/off comparison.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sha256Hex } from '../../src/model/digest.js';
import { createRewardClient, HEALTH_PROTO, LOADER_OPTIONS, type RewardClient, unary } from '../../src/serve/proto.js';
import { ticksPerSecond } from './proc.js';
import { type BenchItem, callsFor, GROUP, type LevelResult, makeItems, SEEDS, warmFor, type Workload } from './items.js';

export interface LoadgenSpec {
  addr: string; seed: number; workload: Workload; levels: number[]; seconds: number; cacheHits: number;
  /** The server process, for its CPU time from /proc; null or absent: not measured. */
  serverPid?: number | null;
  /**
   * Warm-up length in seconds (default: warmFor(c) calls, however long they
   * take) and distinct items rendered for it, sent over and over until the
   * seconds are up (repeats are reward cache hits: cheap calls that still
   * pass every feature's per-call code).
   */
  warm?: { seconds: number; calls: number };
  /** Calls rendered for the timed run (default callsFor); it ends at `seconds` or when they run out. */
  calls?: number;
  /** See the header: `warm` on stdout after the warm-up, then wait for a line on stdin. */
  handshake?: boolean;
  /**
   * Seconds of load (8 in flight, items of their own) before the first
   * level, untimed: a fresh server's first level would otherwise measure its
   * JIT and first allocations, which the batched server (more JavaScript per
   * call) pays more of than the naive one, and a lone client sees only at
   * start-up, not in the hours a trainer runs.
   */
  primeSeconds?: number;
}

type Timed = Omit<LevelResult, 'concurrency' | 'serverCpuMsPerReward' | 'clientCpuMsPerReward'>;

export async function loadgen(spec: LoadgenSpec): Promise<void> {
  if (!/^(127\.0\.0\.1|localhost|\[::1\]):\d+$/.test(spec.addr)) throw new Error(`loopback addresses only, got ${spec.addr}`);
  const client = createRewardClient(spec.addr);
  const per = spec.workload === 'single' ? 1 : GROUP;
  const seed = spec.seed + SEEDS[spec.workload];
  const pid = spec.serverPid ?? null;
  let offset = 0;
  const results: LevelResult[] = [];
  if (spec.handshake && spec.levels.length !== 1) throw new Error('loadgen: handshake needs exactly one level');
  if (spec.primeSeconds) {
    // At most ~800 calls a second at 8 in flight here (single items, pinned: ~400).
    const n = Math.ceil(spec.primeSeconds * 800);
    await drive(client, spec.workload, await makeItems(seed, offset, n, per), 8, spec.primeSeconds);
    offset += n;
  }
  for (const c of spec.levels) {
    const warm = spec.warm?.calls ?? warmFor(c);
    const n = warm + (spec.calls ?? callsFor(spec.workload, c, spec.seconds));
    const items = await makeItems(seed, offset, n, per);
    offset += n;
    const warmItems = spec.warm ? cycle(items.slice(0, warm), Math.ceil(spec.warm.seconds * 2000)) : items.slice(0, warm);
    await drive(client, spec.workload, warmItems, c, spec.warm?.seconds ?? spec.seconds);
    if (spec.handshake) await handshake();
    results.push({ ...(await withCpu(pid, () => drive(client, spec.workload, items.slice(warmFor(c)), c, spec.seconds))), concurrency: c });
  }
  if (spec.cacheHits > 0) {
    const [item] = await makeItems(seed, offset, 1, 1);
    const same = Array.from({ length: spec.cacheHits + 1 }, () => item!);
    await drive(client, 'single', same.slice(0, 1), 1, spec.seconds); // the miss that fills the cache
    results.push({ ...(await withCpu(pid, () => drive(client, 'single', same.slice(1), 1, spec.seconds))), workload: 'cache-hit', concurrency: 1 });
    results.push({ ...(await withCpu(pid, () => drive(client, 'single', same.slice(1), 1, spec.seconds, true))), workload: 'cache-hit-sha', concurrency: 1 });
    results.push({ ...(await withCpu(pid, () => healthFloor(spec.addr, spec.cacheHits))), concurrency: 1 });
  }
  client.close();
  process.stdout.write(JSON.stringify(results) + '\n');
}

/** n items: xs, again and again (at most 2,000 calls a second: more than any server here answers, so the seconds end a cycled warm-up). */
const cycle = <T>(xs: T[], n: number): T[] => (xs.length === 0 ? xs : Array.from({ length: n }, (_, i) => xs[i % xs.length]!));

/** Tells the parent the warm-up is over and waits for its go (one line on stdin). */
async function handshake(): Promise<void> {
  process.stdout.write('warm\n');
  const lines = createInterface({ input: process.stdin });
  await new Promise<void>((resolve, reject) => {
    lines.once('line', () => resolve());
    lines.once('close', () => reject(new Error('loadgen: stdin closed before the go line')));
  });
  lines.close();
}

// ---------------------------------------------------------------- CPU time

/**
 * CPU ms (user + system, all threads) of a process so far, from
 * /proc/<pid>/stat; null when not readable (no /proc, another user's process).
 */
async function procCpuMs(pid: number | null): Promise<number | null> {
  if (pid === null) return null;
  let stat: string;
  try { stat = await readFile(`/proc/${pid}/stat`, 'utf8'); } catch { return null; }
  // Field 2 (comm) is in parentheses and may hold spaces or ')': split after the last ')'.
  // What follows starts at field 3, so utime (14) and stime (15) are at 11 and 12.
  const rest = stat.slice(stat.lastIndexOf(')') + 1).trim().split(/\s+/);
  const ticks = Number(rest[11]) + Number(rest[12]);
  return Number.isFinite(ticks) ? (1000 * ticks) / ticksPerSecond() : null;
}

/**
 * Resets the process's peak RSS to its current RSS (writing 5 to
 * /proc/<pid>/clear_refs, Linux 4.0+), so VmHWM afterwards is this level's
 * peak rather than the process's lifetime one. False when not allowed.
 */
async function resetPeakRss(pid: number | null): Promise<boolean> {
  if (pid === null) return false;
  try { await writeFile(`/proc/${pid}/clear_refs`, '5'); return true; } catch { return false; }
}

/** VmHWM of /proc/<pid>/status in MiB; null when not readable. */
async function peakRssMiB(pid: number | null): Promise<number | null> {
  if (pid === null) return null;
  try {
    const m = /^VmHWM:\s+(\d+) kB/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : null;
  } catch { return null; }
}

/** `run`'s result with the server's and this process's CPU time over it, per reward (per call when it has no rewards), and the server's peak RSS. */
async function withCpu(pid: number | null, run: () => Promise<Timed>): Promise<Omit<LevelResult, 'concurrency'>> {
  const reset = await resetPeakRss(pid);
  const srv0 = await procCpuMs(pid);
  const cli0 = process.cpuUsage();
  const r = await run();
  const cli = process.cpuUsage(cli0);
  const srv1 = await procCpuMs(pid);
  const peak = await peakRssMiB(pid);
  const per = r.rewards > 0 ? r.rewards : r.calls;
  return {
    ...r,
    // Without the reset the peak is the process's lifetime one: still an upper bound, reported as such.
    serverPeakRssMiB: peak,
    ...(reset ? {} : { serverPeakRssIsLifetime: true }),
    serverCpuMsPerReward: srv0 === null || srv1 === null ? null : (srv1 - srv0) / per,
    clientCpuMsPerReward: (cli.user + cli.system) / 1000 / per,
  };
}

// ---------------------------------------------------------------- calls

/** The gRPC round trip itself: health Check on the same server, the cheapest call it answers. */
async function healthFloor(addr: string, n: number): Promise<Timed> {
  const Health = grpc.loadPackageDefinition(protoLoader.loadSync(HEALTH_PROTO, LOADER_OPTIONS)) as unknown as { grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } } };
  const c = new Health.grpc.health.v1.Health(addr, grpc.credentials.createInsecure()) as unknown as grpc.Client & { check: (r: object, cb: (e: Error | null) => void) => void };
  const check = () => new Promise<void>((resolve, reject) => c.check({ service: '' }, (e) => (e ? reject(e) : resolve())));
  await check();
  const lat: number[] = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const s = performance.now();
    await check();
    lat.push(performance.now() - s);
  }
  c.close();
  lat.sort((a, b) => a - b);
  const seconds = (performance.now() - t0) / 1000;
  return { workload: 'grpc-floor', calls: n, rewards: 0, seconds, rewardsPerSec: 0, p50: lat[Math.floor(n / 2)]!, p99: lat[Math.floor(n * 0.99)]!, errors: {} };
}

/** `bySha`: send images as sha256 references (the server must already have them). */
async function drive(client: RewardClient, w: Workload, items: BenchItem[], c: number, maxSeconds: number, bySha = false): Promise<Timed> {
  const lat: number[] = [];
  const errors: Record<string, number> = {};
  let next = 0;
  let rewards = 0;
  const t0 = performance.now();
  const stopAt = t0 + maxSeconds * 1000;
  const worker = async () => {
    while (next < items.length && performance.now() < stopAt) {
      const it = items[next++]!;
      const images = it.images.map((data) => (bySha ? { sha256: sha256Hex(data) } : { data }));
      const req = w === 'single'
        ? { items: [{ images, system: it.system, prompt: it.prompt, response: it.responses[0]! }] }
        : { groups: [{ images, system: it.system, prompt: it.prompt, responses: it.responses }] };
      const s = performance.now();
      try {
        const res = await unary(client.score.bind(client), req, { deadline: Date.now() + 60_000 });
        lat.push(performance.now() - s);
        rewards += res.items.length + res.groups.reduce((k, g) => k + g.responses.length, 0);
      } catch (err) {
        const code = grpc.status[(err as grpc.ServiceError).code] ?? 'ERROR';
        errors[code] = (errors[code] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: c }, worker));
  const seconds = (performance.now() - t0) / 1000;
  lat.sort((a, b) => a - b);
  const pct = (q: number) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] ?? NaN;
  return { workload: w, calls: lat.length, rewards, seconds, rewardsPerSec: rewards / seconds, p50: pct(0.5), p99: pct(0.99), errors };
}

// Entry point when run as its own process (main.ts only imports its types).
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const arg = process.argv[2];
  if (!arg) throw new Error("usage: node --import tsx scripts/bench-serve/loadgen.ts '<json spec>'");
  await loadgen(JSON.parse(arg) as LoadgenSpec);
}
