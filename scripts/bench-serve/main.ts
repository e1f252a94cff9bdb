/**
 * npm run bench:serve -- [--model DIR] [--runs 3] [--seconds 6] [--server-flags "--encoder-max-batch-size 32"]
 *
 * Rewards/s and p50/p99 latency of `mrm serve` at client concurrency 1, 8, 32
 * and 64, for (i) one item per call and (ii) groups of 16 responses sharing
 * one image, against
 *   (a) the in-process limit: the same preprocessing and runtime called
 *       directly (no gRPC) at the best of a few batch sizes, and
 *   (b) the naive server: the same server with --batching false --caches false.
 * Every item is distinct (ShapesWorld scenes; no cache hits), except in the
 * cache-hit measurement. Each run starts a fresh server process; the load
 * generator is another child process (scripts/bench-serve/loadgen.ts),
 * loopback only, bounded in calls and seconds. Numbers are medians of the runs.
 * The server and the load generator share the machine's cores, so throughput
 * ratios mix server overhead with client cost: CPU time per reward of the
 * in-process pipeline, the server process and the load generator separates them.
 * Prints a table and writes bench-results/serve-<time>.json.
 *
 * Modules: items.ts (workloads, items), loadgen.ts (the load generator child),
 * in-process.ts (the in-process limit, the cache hit without gRPC), python.ts
 * and cache-hit.py (the cache hit from Python), this file (orchestration, report).
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cacheHitCost, inProcessLimit, type LimitResult } from './in-process.js';
import { CONCURRENCY, GROUP, type LevelResult, type Workload } from './items.js';
import type { LoadgenSpec } from './loadgen.js';
import { type PyHit, PYTHON, pythonCacheHit } from './python.js';

const LOADGEN = fileURLToPath(new URL('./loadgen.ts', import.meta.url));

// ---------------------------------------------------------------- orchestration (parent)

function child(args: string[], opts: { timeoutMs: number }): { proc: ReturnType<typeof spawn>; lines: AsyncIterable<string> } {
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs);
  proc.on('exit', () => clearTimeout(timer));
  return { proc, lines: createInterface({ input: proc.stderr! }) };
}

/** `fn` gets the server's address and its pid (for its CPU time). */
async function withServer<T>(model: string, flags: string[], fn: (addr: string, pid: number | null) => Promise<T>): Promise<T> {
  const state = await mkdtemp(join(tmpdir(), 'mrm-bench-'));
  const { proc, lines } = child(['bin/mrm.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--state-dir', state, '--seed-bundle', model, '--stats-interval-ms', '0', ...flags], { timeoutMs: 30 * 60_000 });
  try {
    let port = 0;
    for await (const line of lines) {
      const rec = JSON.parse(line) as { event: string; port?: number };
      if (rec.event === 'server.serving') { port = rec.port!; break; }
    }
    if (!port) throw new Error('mrm serve exited before serving');
    return await fn(`127.0.0.1:${port}`, proc.pid ?? null);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    await rm(state, { recursive: true, force: true });
  }
}

async function runLoadgen(spec: LoadgenSpec): Promise<LevelResult[]> {
  const budget = (spec.levels.length * (spec.seconds + 20) + 60) * 1000;
  // process.execArgv carries tsx's loader to the child.
  const { proc } = child([...process.execArgv, LOADGEN, JSON.stringify(spec)], { timeoutMs: budget });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  const code = await new Promise((r) => proc.once('exit', r));
  if (code !== 0) throw new Error(`load generator exited with ${String(code)}`);
  return JSON.parse(out) as LevelResult[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Median of the measured values; null when none was (no /proc). */
const medianOrNull = (xs: (number | null)[]) => {
  const ys = xs.filter((x): x is number => x !== null);
  return ys.length === 0 ? null : median(ys);
};

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    model: { type: 'string' }, runs: { type: 'string' }, seconds: { type: 'string' },
    'server-flags': { type: 'string' }, seed: { type: 'string' },
  } });
  const model = values.model ?? 'models/shapes-mrm';
  const runs = Number(values.runs ?? 3);
  const seconds = Number(values.seconds ?? 6);
  const extra = (values['server-flags'] ?? '').split(/\s+/).filter(Boolean);
  const modes = { server: extra, naive: [...extra, '--batching', 'false', '--caches', 'false'] };
  const raw: Record<string, LevelResult[][]> = { server: [], naive: [] };
  const limits: Record<Workload, LimitResult[]> = { single: [], group16: [] };
  const hitCost: number[] = [];
  const pyHits: PyHit[] = [];
  for (let run = 0; run < runs; run++) {
    const seed = Number(values.seed ?? 7) + run;
    for (const w of ['single', 'group16'] as const) limits[w].push(await inProcessLimit(model, seed, w));
    hitCost.push(await cacheHitCost(model, seed));
    for (const [mode, flags] of Object.entries(modes)) {
      const levels = await withServer(model, flags, async (addr, serverPid) => {
        const out = [
          ...(await runLoadgen({ addr, seed, workload: 'single', levels: CONCURRENCY, seconds, cacheHits: mode === 'server' ? 300 : 0, serverPid })),
          ...(await runLoadgen({ addr, seed, workload: 'group16', levels: CONCURRENCY, seconds, cacheHits: 0, serverPid })),
        ];
        const py = mode === 'server' ? await pythonCacheHit(addr, seed) : null;
        if (py) pyHits.push(py);
        return out;
      });
      raw[mode]!.push(levels);
      console.error(`run ${run + 1}/${runs} ${mode}: done`);
    }
  }
  report(raw, limits, median(hitCost), pyHits, { model, runs, seconds, serverFlags: extra });
}

// ---------------------------------------------------------------- report

function report(raw: Record<string, LevelResult[][]>, limits: Record<Workload, LimitResult[]>, hitServerMs: number, pyHits: PyHit[], meta: object): void {
  const med = (mode: string, w: string, c: number) => {
    const rs = raw[mode]!.map((levels) => levels.find((l) => l.workload === w && l.concurrency === c)!);
    return { rewardsPerSec: median(rs.map((r) => r.rewardsPerSec)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)), errors: rs.reduce((n, r) => n + Object.values(r.errors).reduce((a, b) => a + b, 0), 0),
      serverCpuMsPerReward: medianOrNull(rs.map((r) => r.serverCpuMsPerReward)), clientCpuMsPerReward: median(rs.map((r) => r.clientCpuMsPerReward)) };
  };
  const rows = (['single', 'group16'] as const).flatMap((w) => CONCURRENCY.map((c) => ({ workload: w, concurrency: c, server: med('server', w, c), naive: med('naive', w, c) })));
  const limit = { single: median(limits.single.map((l) => l.rewardsPerSec)), group16: median(limits.group16.map((l) => l.rewardsPerSec)) };
  const f = (x: number, d = 1) => x.toFixed(d).padStart(8);
  const ms3 = (x: number | null) => (x === null ? '-' : x.toFixed(3)).padStart(9);
  console.log(`\n${'workload'.padEnd(9)} ${'conc'.padStart(4)} | ${'server r/s'.padStart(10)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'srv cpu/r'.padStart(9)} ${'cli cpu/r'.padStart(9)} | ${'naive r/s'.padStart(10)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} | server/naive  server/in-proc`);
  for (const r of rows) {
    console.log(`${r.workload.padEnd(9)} ${String(r.concurrency).padStart(4)} | ${f(r.server.rewardsPerSec).padStart(10)} ${f(r.server.p50, 2)} ${f(r.server.p99, 2)} ${ms3(r.server.serverCpuMsPerReward)} ${ms3(r.server.clientCpuMsPerReward)} | ${f(r.naive.rewardsPerSec).padStart(10)} ${f(r.naive.p50, 2)} ${f(r.naive.p99, 2)} | ${f(r.server.rewardsPerSec / r.naive.rewardsPerSec, 2).padStart(12)}  ${f(r.server.rewardsPerSec / limit[r.workload], 2).padStart(13)}${r.server.errors + r.naive.errors ? `  errors ${r.server.errors}/${r.naive.errors}` : ''}`);
  }
  const sat = (mode: string, w: Workload) => Math.max(...rows.filter((r) => r.workload === w).map((r) => (mode === 'server' ? r.server : r.naive).rewardsPerSec));
  // CPU per reward where the server is fastest (the first such level on a tie).
  const cpuAt = (w: Workload) => {
    const best = rows.filter((r) => r.workload === w).reduce((a, b) => (b.server.rewardsPerSec > a.server.rewardsPerSec ? b : a));
    const inProcessMs = median(limits[w].map((l) => l.cpuMsPerReward));
    const serverMs = best.server.serverCpuMsPerReward;
    return { concurrency: best.concurrency, inProcessMs, serverMs, clientMs: best.server.clientCpuMsPerReward, inProcessOverServer: serverMs === null ? null : inProcessMs / serverMs };
  };
  const hit = raw.server!.map((levels) => levels.find((l) => l.workload === 'cache-hit')!);
  const floor = raw.server!.map((levels) => levels.find((l) => l.workload === 'grpc-floor')!);
  const hitSha = raw.server!.map((levels) => levels.find((l) => l.workload === 'cache-hit-sha')!);
  const summary = {
    inProcessLimit: { single: limit.single, group16: limit.group16, configs: limits },
    saturated: { server: { single: sat('server', 'single'), group16: sat('server', 'group16') }, naive: { single: sat('naive', 'single'), group16: sat('naive', 'group16') } },
    ratios: {
      serverOverInProcess: { single: sat('server', 'single') / limit.single, group16: sat('server', 'group16') / limit.group16 },
      serverOverNaive: { single: sat('server', 'single') / sat('naive', 'single'), group16: sat('server', 'group16') / sat('naive', 'group16') },
      // What any server could reach over the naive one: the bare pipeline at its best batch.
      inProcessOverNaive: { single: limit.single / sat('naive', 'single'), group16: limit.group16 / sat('naive', 'group16') },
      // Cost per call: saturated calls/s of singles over calls/s of groups; and the c=1 latency ratio.
      group16OverSingle: {
        saturatedCost: sat('server', 'single') / (sat('server', 'group16') / GROUP),
        latencyC1: med('server', 'group16', 1).p50 / med('server', 'single', 1).p50,
      },
    },
    // CPU ms per reward at the server's best concurrency: the in-process pipeline's, the server process's, the load generator's.
    cpu: { single: cpuAt('single'), group16: cpuAt('group16') },
    cacheHit: { p50: median(hit.map((h) => h.p50)), p99: median(hit.map((h) => h.p99)), uncachedP50: med('server', 'single', 1).p50, serverSideMs: hitServerMs, grpcFloorP50: median(floor.map((h) => h.p50)),
      bySha: { p50: median(hitSha.map((h) => h.p50)), p99: median(hitSha.map((h) => h.p99)) },
      python: pyHits.length === 0 ? null : {
        bytes: { p50: median(pyHits.map((h) => h.bytes.p50)), p99: median(pyHits.map((h) => h.bytes.p99)) },
        sha: { p50: median(pyHits.map((h) => h.sha.p50)), p99: median(pyHits.map((h) => h.sha.p99)) },
        floorP50: median(pyHits.map((h) => h.floor.p50)),
      } },
  };
  // The per-run configs as before; their CPU time is in the CPU lines below and in the JSON.
  console.log(`\nin-process limit: single ${limit.single.toFixed(1)} r/s, group16 ${limit.group16.toFixed(1)} r/s (best batch/workers per run: ${JSON.stringify(limits, ['single', 'group16', 'rewardsPerSec', 'batch', 'workers'])})`);
  console.log(`saturated server/in-process: single ${summary.ratios.serverOverInProcess.single.toFixed(2)}x, group16 ${summary.ratios.serverOverInProcess.group16.toFixed(2)}x   (target >= 0.85)`);
  console.log(`saturated server/naive:      single ${summary.ratios.serverOverNaive.single.toFixed(2)}x, group16 ${summary.ratios.serverOverNaive.group16.toFixed(2)}x   (target >= 4)`);
  console.log(`in-process limit/naive:      single ${summary.ratios.inProcessOverNaive.single.toFixed(2)}x, group16 ${summary.ratios.inProcessOverNaive.group16.toFixed(2)}x   (the most batching can give over the naive server)`);
  console.log(`group of 16 vs single item:  ${summary.ratios.group16OverSingle.saturatedCost.toFixed(2)}x per call at saturation, ${summary.ratios.group16OverSingle.latencyC1.toFixed(2)}x p50 latency at c=1   (target <= 2)`);
  for (const w of ['single', 'group16'] as const) {
    const c = summary.cpu[w];
    console.log(`${`CPU per reward, ${w} (c=${c.concurrency}):`.padEnd(31)} in-process ${c.inProcessMs.toFixed(3)} ms, server ${c.serverMs === null ? 'n/a (no /proc)' : `${c.serverMs.toFixed(3)} ms`} (+ client ${c.clientMs.toFixed(3)} ms); in-process/server = ${c.inProcessOverServer === null ? 'n/a' : c.inProcessOverServer.toFixed(2)}`);
  }
  const h = summary.cacheHit;
  console.log(`cache hit (c=1): p50 ${h.p50.toFixed(3)} ms, p99 ${h.p99.toFixed(3)} ms with the image bytes; p50 ${h.bySha.p50.toFixed(3)} ms, p99 ${h.bySha.p99.toFixed(3)} ms by sha256; ` +
    `gRPC floor (health Check) p50 ${h.grpcFloorP50.toFixed(3)} ms; in the server without gRPC ${(1000 * h.serverSideMs).toFixed(0)} us; uncached p50 ${h.uncachedP50.toFixed(2)} ms   (target < 1 ms)`);
  const py = h.python;
  console.log(py
    ? `cache hit from Python (grpcio, c=1): p50 ${py.bytes.p50.toFixed(3)} ms, p99 ${py.bytes.p99.toFixed(3)} ms with the image bytes; p50 ${py.sha.p50.toFixed(3)} ms, p99 ${py.sha.p99.toFixed(3)} ms by sha256; health Check p50 ${py.floorP50.toFixed(3)} ms   (target < 1 ms)`
    : `cache hit from Python: not measured (${PYTHON} has no grpc; apt-get install -y python3-grpcio python3-grpc-tools)`);
  const file = join('bench-results', `serve-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  void mkdir('bench-results', { recursive: true }).then(() => writeFile(file, JSON.stringify({ meta: { ...meta, date: new Date().toISOString() }, rows, summary, raw }, null, 2) + '\n')).then(() => console.log(`\nwrote ${file}`));
}

await main();
