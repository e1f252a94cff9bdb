/**
 * npm run bench:serve -- [--model DIR] [--runs 3] [--seconds 6] [--levels 1,8,32,64] [--no-pin] [--no-unpinned]
 *                         [--server-flags "--encoder-max-batch-size 32"] [--server-node-flags=--single-threaded-gc]
 *
 * Headline table, pinned (when `taskset` works and there are 2+ cores): the
 * server process and all its threads (event loop, model worker, libuv pool)
 * on core 0, the load generator on core 1, and the in-process limit measured
 * with this process (all its threads) on core 0 too, so server and limit get
 * the same one core. Second table: the same, unpinned (--no-unpinned skips
 * it, --no-pin keeps only it). Both print CPU per reward (server process,
 * in-process path) and the server's peak RSS (VmHWM, reset per level) at
 * each level.
 * npm run bench:serve -- --telemetry-compare [--trace-sample R] [--runs 3] [--seconds 6]
 *   (telemetry's cost: off vs a Prometheus endpoint + OTLP/HTTP traces and
 *   metrics to a local receiver, root traces sampled at R (default: the
 *   config default); server pinned alone to core 0; groups of 16 and single items)
 * npm run bench:serve -- --log-compare [--log-band 0.2] [--log-rate 1000000] [--runs 3] [--seconds 6]
 *   (the pair log's cost instead: log.enabled false vs true with the rate
 *   limit lifted, on groups of 16 where a share of adjacent pairs qualify and
 *   on single items where none can; see logCompare below)
 *
 * Rewards/s and p50/p99 latency of `mrm serve` at client concurrency 1, 8, 32
 * and 64, for (i) one item per call and (ii) groups of 16 responses sharing
 * one image, against
 *   (a) the in-process limit: the same preprocessing and runtime called
 *       directly (no gRPC) at the best of a few chunk sizes, each stage's
 *       runs capped at the server's batch sizes (vision.maxBatchSize,
 *       encoder.maxBatchSize: the defaults or --server-flags) and with the
 *       server's session options, so both do the same model work, and
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
import { spawn, spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { cacheHitCost, capsFromFlags, inProcessLimit, type LimitResult } from './in-process.js';
import { CONCURRENCY, GROUP, type LevelResult, type Workload, warmFor } from './items.js';
import type { LoadgenSpec } from './loadgen.js';
import { type PyHit, PYTHON, pythonCacheHit } from './python.js';
import { DEFAULTS } from '../../src/serve/config.js';
import { canPin, pinSelf } from '../serve-process.js';

const LOADGEN = fileURLToPath(new URL('./loadgen.ts', import.meta.url));

/** Core sets when pinned: the server (and the in-process limit) on one core, the load generator on another. */
interface Pinning { server: string; loadgen: string }

/** `cmd args` under `taskset -c cores` when pinned (taskset execs it: the pid is the command's). */
function pinned(cores: string | undefined, cmd: string, args: string[]): [string, string[]] {
  return cores === undefined ? [cmd, args] : ['taskset', ['-c', cores, cmd, ...args]];
}

/** Runs `fn` with this process, all its threads and those it starts, on `cores`; restores the affinity after. */
async function withOwnAffinity<T>(cores: string | undefined, fn: () => Promise<T>): Promise<T> {
  if (cores === undefined) return fn();
  const all = `0-${cpus().length - 1}`;
  const set = (c: string) => {
    const r = spawnSync('taskset', ['-a', '-p', '-c', c, String(process.pid)]);
    if (r.status !== 0) throw new Error(`taskset -a -p -c ${c} ${process.pid} failed: ${r.stderr.toString()}`);
  };
  set(cores);
  try { return await fn(); } finally { set(all); }
}

// ---------------------------------------------------------------- orchestration (parent)

function child(args: string[], opts: { timeoutMs: number; cores?: string }): { proc: ReturnType<typeof spawn>; lines: AsyncIterable<string> } {
  const [cmd, argv] = pinned(opts.cores, process.execPath, args);
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs);
  proc.on('exit', () => clearTimeout(timer));
  return { proc, lines: createInterface({ input: proc.stderr! }) };
}

/**
 * Node/V8 flags for the server process (--server-node-flags), e.g.
 * --single-threaded-gc to compare V8's GC helper threads on the pinned core;
 * the in-process limit keeps this process's flags.
 */
let serverNodeFlags: string[] = [];

/** `fn` gets the server's address, its pid (for its CPU time) and its state directory. */
async function withServer<T>(model: string, flags: string[], pin: Pinning | undefined, fn: (addr: string, pid: number | null, state: string) => Promise<T>): Promise<T> {
  const state = await mkdtemp(join(tmpdir(), 'mrm-bench-'));
  const { proc, lines } = child([...serverNodeFlags, 'bin/mrm.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--state-dir', state, '--seed-bundle', model, '--stats-interval-ms', '0', ...flags], { timeoutMs: 30 * 60_000, ...(pin ? { cores: pin.server } : {}) });
  try {
    let port = 0;
    for await (const line of lines) {
      const rec = JSON.parse(line) as { event: string; port?: number };
      if (rec.event === 'server.serving') { port = rec.port!; break; }
    }
    if (!port) throw new Error('mrm serve exited before serving');
    return await fn(`127.0.0.1:${port}`, proc.pid ?? null, state);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    await rm(state, { recursive: true, force: true });
  }
}

async function runLoadgen(spec: LoadgenSpec, pin: Pinning | undefined): Promise<LevelResult[]> {
  const budget = (spec.levels.length * (spec.seconds + 20) + 60) * 1000;
  // process.execArgv carries tsx's loader to the child.
  const { proc } = child([...process.execArgv, LOADGEN, JSON.stringify(spec)], { timeoutMs: budget, ...(pin ? { cores: pin.loadgen } : {}) });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  const code = await new Promise((r) => proc.once('exit', r));
  if (code !== 0) throw new Error(`load generator exited with ${String(code)}`);
  return JSON.parse(out) as LevelResult[];
}

const ratioOrNull = (a: number | null, b: number | null) => (a === null || b === null ? null : a / b);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** Median of the measured values; null when none was (no /proc). */
const medianOrNull = (xs: (number | null)[]) => {
  const ys = xs.filter((x): x is number => x !== null);
  return ys.length === 0 ? null : median(ys);
};

/** Untimed load on each fresh server before its first level (loadgen.ts, primeSeconds: why). */
const PRIME_SECONDS = 3;

interface Measured { raw: Record<string, LevelResult[][]>; limits: Record<Workload, LimitResult[]>; hitCost: number[]; pyHits: PyHit[] }

async function measure(o: { model: string; runs: number; seconds: number; seed: number; levels: number[]; extra: string[]; pin: Pinning | undefined; cacheHits: boolean }): Promise<Measured> {
  const modes = { server: o.extra, naive: [...o.extra, '--batching', 'false', '--caches', 'false'] };
  const m: Measured = { raw: { server: [], naive: [] }, limits: { single: [], group16: [] }, hitCost: [], pyHits: [] };
  const label = o.pin ? 'pinned' : 'unpinned';
  for (let run = 0; run < o.runs; run++) {
    const seed = o.seed + run;
    await withOwnAffinity(o.pin?.server, async () => {
      for (const w of ['single', 'group16'] as const) m.limits[w].push(await inProcessLimit(o.model, seed, w, capsFromFlags(o.extra)));
      if (o.cacheHits) m.hitCost.push(await cacheHitCost(o.model, seed));
    });
    for (const [mode, flags] of Object.entries(modes)) {
      const levels = await withServer(o.model, flags, o.pin, async (addr, serverPid) => {
        const out = [
          ...(await runLoadgen({ addr, seed, workload: 'single', levels: o.levels, seconds: o.seconds, cacheHits: mode === 'server' && o.cacheHits ? 300 : 0, serverPid, primeSeconds: PRIME_SECONDS }, o.pin)),
          ...(await runLoadgen({ addr, seed, workload: 'group16', levels: o.levels, seconds: o.seconds, cacheHits: 0, serverPid }, o.pin)),
        ];
        const py = mode === 'server' && o.cacheHits ? await pythonCacheHit(addr, seed) : null;
        if (py) m.pyHits.push(py);
        return out;
      });
      m.raw[mode]!.push(levels);
      console.error(`${label} run ${run + 1}/${o.runs} ${mode}: done`);
    }
  }
  return m;
}

const USAGE = `npm run bench:serve -- [--model DIR] [--runs 3] [--seconds 6] [--levels 1,8,32,64] [--no-pin] [--no-unpinned]
                        [--server-flags "--encoder-max-batch-size 32"] [--server-node-flags=--single-threaded-gc] [--seed 7]
npm run bench:serve -- --telemetry-compare [--trace-sample R] [--runs 3] [--seconds 6]
npm run bench:serve -- --log-compare [--log-band 0.2] [--log-rate 1000000] [--runs 3] [--seconds 6]

Both workloads (single items, groups of 16) at every level of --levels, mrm serve against the naive
server and the in-process limit; the header of scripts/bench-serve/main.ts says what each number is.
Focused tools: scripts/bench-serve/lone.ts (one in flight: the tail, GC pauses, loop delay),
scripts/bench-serve/threads.ts (CPU per thread at one level), scripts/bench-cost/grpc-floor.ts (the gRPC floor).`;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    model: { type: 'string' }, runs: { type: 'string' }, seconds: { type: 'string' },
    'server-flags': { type: 'string' }, 'server-node-flags': { type: 'string' }, seed: { type: 'string' }, levels: { type: 'string' },
    'no-pin': { type: 'boolean', default: false }, 'no-unpinned': { type: 'boolean', default: false },
    'log-compare': { type: 'boolean' }, 'log-band': { type: 'string' }, 'log-rate': { type: 'string' },
    'telemetry-compare': { type: 'boolean' }, 'trace-sample': { type: 'string' }, help: { type: 'boolean', short: 'h' },
  } });
  if (values.help) return void console.log(USAGE);
  const model = values.model ?? 'models/shapes-mrm';
  const runs = Number(values.runs ?? 3);
  const seconds = Number(values.seconds ?? 6);
  const seed = Number(values.seed ?? 7);
  const levels = values.levels ? values.levels.split(',').map(Number) : CONCURRENCY;
  if (levels.some((c) => !Number.isInteger(c) || c < 1)) throw new Error(`--levels: positive integers separated by commas, got ${values.levels}`);
  const extra = (values['server-flags'] ?? '').split(/\s+/).filter(Boolean);
  serverNodeFlags = (values['server-node-flags'] ?? '').split(/\s+/).filter(Boolean);
  const pinOk = !values['no-pin'] && canPin();
  if (values['telemetry-compare'] || values['log-compare']) {
    // On/off comparisons are about the server's own cost: the server alone on
    // core 0; the load generator and this process (the OTLP receiver, which
    // stands for a collector on another machine) on core 1.
    const pin = pinOk && pinSelf('1') ? { server: '0', loadgen: '1' } : undefined;
    if (!pin) console.error('not pinned: taskset unavailable or fewer than 2 cores; server and clients share the cores');
    if (values['telemetry-compare']) return telemetryCompare(model, runs, seconds, extra, seed, pin, values['trace-sample']);
    return logCompare(model, runs, seconds, extra, Number(values['log-band'] ?? 0.2), Number(values['log-rate'] ?? 1e6), seed, pin);
  }
  if (!values['no-pin'] && !pinOk) console.error('taskset unavailable or fewer than 2 cores: unpinned table only');
  const base = { model, runs, seconds, seed, levels, extra };
  const results: { title: string; pinning: Pinning | null; summary: object; rows: object; raw: object }[] = [];
  if (pinOk) {
    const pin = { server: '0', loadgen: '1' };
    const m = await measure({ ...base, pin, cacheHits: true });
    console.log(`\nPINNED: server process (all threads) and the in-process limit on core 0, load generator on core 1 (${runs} runs, medians)`);
    results.push({ title: 'pinned', pinning: pin, ...report(m, levels, true) });
  }
  if (!pinOk || !values['no-unpinned']) {
    const m = await measure({ ...base, pin: undefined, cacheHits: !pinOk });
    console.log(`\nUNPINNED: server, load generator and the in-process limit share all cores (${runs} runs, medians)`);
    results.push({ title: 'unpinned', pinning: null, ...report(m, levels, !pinOk) });
  }
  await mkdir('bench-results', { recursive: true });
  const file = join('bench-results', `serve-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify({ meta: { model, runs, seconds, levels, serverFlags: extra, serverNodeFlags, date: new Date().toISOString(), loadavg: (await readFile('/proc/loadavg', 'utf8').catch(() => '')).trim() }, tables: results }, null, 2) + '\n');
  console.log(`\nwrote ${file}`);
}

async function logCompare(model: string, runs: number, seconds: number, extra: string[], band: number, rate: number, seed0: number, pin: Pinning | undefined): Promise<void> {
  const levels = [8, 32];
  const modes = {
    off: [...extra, '--log-enabled', 'false'],
    on: [...extra, '--log-enabled', 'true', '--log-band', String(band), '--log-rate-per-sec', String(rate), '--log-burst', String(Math.max(1, Math.min(rate, 1e6)))],
  };
  const { summarizeLog } = await import('../../src/pairlog/stats.js');
  const raw: Record<'off' | 'on', LevelResult[][]> = { off: [], on: [] };
  const logged: { records: number; groups: number }[] = [];
  for (let run = 0; run < runs; run++) {
    const seed = seed0 + run;
    const order = run % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
    for (const mode of order) {
      const levelsOut = await withServer(model, modes[mode], pin, async (addr, serverPid, state) => {
        const out = [
          ...(await runLoadgen({ addr, seed, workload: 'group16', levels, seconds, cacheHits: 0, serverPid }, pin)),
          ...(await runLoadgen({ addr, seed, workload: 'single', levels, seconds, cacheHits: 0, serverPid }, pin)),
        ];
        if (mode === 'on') {
          await new Promise((r) => setTimeout(r, 500)); // the last group commit
          // The warm-up calls log too.
          const groups = out.filter((l) => l.workload === 'group16').reduce((n, l) => n + l.calls + warmFor(l.concurrency), 0);
          logged.push({ records: (await summarizeLog(state)).records, groups });
        }
        return out;
      });
      raw[mode].push(levelsOut);
      console.error(`run ${run + 1}/${runs} log ${mode}: done`);
    }
  }
  const pick = (mode: 'off' | 'on', w: string, c: number) => raw[mode].map((ls) => ls.find((l) => l.workload === w && l.concurrency === c)!);
  console.log(`\npair log cost: log.enabled false vs true (band ${band}, rate limit ${rate}/s), ${runs} runs alternating, ${seconds} s per level, ${pin ? 'server pinned to core 0, clients to core 1' : 'unpinned'}; medians`);
  console.log(`${'workload'.padEnd(9)} ${'conc'.padStart(4)} | ${'off r/s'.padStart(9)} ${'p50'.padStart(7)} ${'p99'.padStart(7)} ${'cpu/r'.padStart(7)} | ${'on r/s'.padStart(9)} ${'p50'.padStart(7)} ${'p99'.padStart(7)} ${'cpu/r'.padStart(7)} | on/off r/s (per run)`);
  const rows = [];
  for (const w of ['group16', 'single'] as const) {
    for (const c of levels) {
      const off = pick('off', w, c);
      const on = pick('on', w, c);
      const m = (rs: LevelResult[]) => ({ r: median(rs.map((x) => x.rewardsPerSec)), p50: median(rs.map((x) => x.p50)), p99: median(rs.map((x) => x.p99)), cpu: medianOrNull(rs.map((x) => x.serverCpuMsPerReward)) });
      const a = m(off);
      const b = m(on);
      const perRun = on.map((x, i) => x.rewardsPerSec / off[i]!.rewardsPerSec);
      rows.push({ workload: w, concurrency: c, off: a, on: b, ratio: b.r / a.r, perRun });
      const cpu = (x: number | null) => (x === null ? '-' : x.toFixed(3)).padStart(7);
      console.log(`${w.padEnd(9)} ${String(c).padStart(4)} | ${a.r.toFixed(1).padStart(9)} ${a.p50.toFixed(2).padStart(7)} ${a.p99.toFixed(2).padStart(7)} ${cpu(a.cpu)} | ${b.r.toFixed(1).padStart(9)} ${b.p50.toFixed(2).padStart(7)} ${b.p99.toFixed(2).padStart(7)} ${cpu(b.cpu)} | ${(b.r / a.r).toFixed(3)} (${perRun.map((x) => x.toFixed(3)).join(', ')})`);
    }
  }
  const share = logged.map((l) => l.records / (l.groups * (GROUP - 1)));
  console.log(`logged: ${logged.map((l) => l.records).join(', ')} records per 'on' run; logged share of group pairs ~${(100 * median(share)).toFixed(1)}% (records / (group calls x 15); with the rate limit lifted this is the qualifying share: all items are distinct, nothing is deduplicated)`);
  const file = join('bench-results', `serve-log-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await mkdir('bench-results', { recursive: true });
  await writeFile(file, JSON.stringify({ meta: { model, runs, seconds, band, rate, serverFlags: extra, date: new Date().toISOString() }, rows, logged, raw }, null, 2) + '\n');
  console.log(`wrote ${file}`);
}

async function telemetryCompare(model: string, runs: number, seconds: number, extra: string[], seed0: number, pin: Pinning | undefined, traceSample: string | undefined): Promise<void> {
  const { OtlpReceiver, freePort } = await import('../../test/telemetry/otlp-receiver.js');
  const receiver = new OtlpReceiver();
  await receiver.start();
  const levels = [8, 32];
  const raw: Record<'off' | 'on', LevelResult[][]> = { off: [], on: [] };
  try {
    for (let run = 0; run < runs; run++) {
      const order = run % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const);
      for (const mode of order) {
        const flags = mode === 'off' ? extra : [...extra, '--telemetry-prometheus-port', String(await freePort()), '--telemetry-prometheus-host', '127.0.0.1',
          '--telemetry-otlp-endpoint', `http://127.0.0.1:${receiver.port}`, '--telemetry-otlp-protocol', 'http', '--telemetry-otlp-interval-ms', '1000',
          ...(traceSample === undefined ? [] : ['--telemetry-trace-sample-ratio', traceSample])];
        const out = await withServer(model, flags, pin, async (addr, serverPid) => [
          ...(await runLoadgen({ addr, seed: seed0 + run, workload: 'group16', levels, seconds, cacheHits: 0, serverPid }, pin)),
          ...(await runLoadgen({ addr, seed: seed0 + run, workload: 'single', levels, seconds, cacheHits: 0, serverPid }, pin)),
        ]);
        raw[mode].push(out);
        console.error(`run ${run + 1}/${runs} telemetry ${mode}: done`);
      }
    }
  } finally {
    await receiver.stop();
  }
  const sampled = traceSample === undefined ? `trace sample ratio: the config default, ${DEFAULTS.telemetry.traceSampleRatio}` : `trace sample ratio ${traceSample}`;
  console.log(`\ntelemetry cost: off vs Prometheus + OTLP/HTTP (metrics pushed every 1 s; ${sampled}), ${runs} runs alternating, ${seconds} s per level, ${pin ? 'server pinned to core 0, clients and receiver to core 1' : 'unpinned'}; medians; spans received: ${receiver.spans.length}`);
  const rows = [];
  for (const w of ['group16', 'single'] as const) {
    for (const c of levels) {
      const pick = (mode: 'off' | 'on') => raw[mode].map((ls) => ls.find((l) => l.workload === w && l.concurrency === c)!);
      const off = pick('off');
      const on = pick('on');
      const perRun = on.map((x, i) => x.rewardsPerSec / off[i]!.rewardsPerSec);
      const a = median(off.map((x) => x.rewardsPerSec));
      const b = median(on.map((x) => x.rewardsPerSec));
      const cpu = { off: medianOrNull(off.map((x) => x.serverCpuMsPerReward)), on: medianOrNull(on.map((x) => x.serverCpuMsPerReward)) };
      rows.push({ workload: w, concurrency: c, off: a, on: b, ratio: b / a, perRun, p99: { off: median(off.map((x) => x.p99)), on: median(on.map((x) => x.p99)) }, serverCpuMsPerReward: cpu });
      const ms = (x: number | null) => (x === null ? '-' : x.toFixed(3)).padStart(7);
      console.log(`${w.padEnd(9)} ${String(c).padStart(4)} | off ${a.toFixed(1).padStart(8)} r/s ${ms(cpu.off)} cpu/r | on ${b.toFixed(1).padStart(8)} r/s ${ms(cpu.on)} cpu/r | on/off ${(b / a).toFixed(3)} (${perRun.map((x) => x.toFixed(3)).join(', ')})`);
    }
  }
  await mkdir('bench-results', { recursive: true });
  const file = join('bench-results', `serve-telemetry-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify({ meta: { model, runs, seconds, serverFlags: extra, traceSample: traceSample ?? null, pinned: pin ?? null, date: new Date().toISOString() }, rows, raw }, null, 2) + '\n');
  console.log(`wrote ${file}`);
}

// ---------------------------------------------------------------- report

/** Prints one table (and its summary lines) for a measurement; returns what goes into the JSON. */
function report(m: Measured, levels: number[], cacheLines: boolean): { summary: object; rows: object; raw: object } {
  const { raw, limits, pyHits } = m;
  const med = (mode: string, w: string, c: number) => {
    const rs = raw[mode]!.map((levels) => levels.find((l) => l.workload === w && l.concurrency === c)!);
    return { rewardsPerSec: median(rs.map((r) => r.rewardsPerSec)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)), errors: rs.reduce((n, r) => n + Object.values(r.errors).reduce((a, b) => a + b, 0), 0),
      serverCpuMsPerReward: medianOrNull(rs.map((r) => r.serverCpuMsPerReward)), clientCpuMsPerReward: median(rs.map((r) => r.clientCpuMsPerReward)),
      serverPeakRssMiB: medianOrNull(rs.map((r) => r.serverPeakRssMiB ?? null)) };
  };
  const rows = (['single', 'group16'] as const).flatMap((w) => levels.map((c) => ({ workload: w, concurrency: c, server: med('server', w, c), naive: med('naive', w, c) })));
  const limit = { single: median(limits.single.map((l) => l.rewardsPerSec)), group16: median(limits.group16.map((l) => l.rewardsPerSec)) };
  const f = (x: number, d = 1) => x.toFixed(d).padStart(8);
  const ms3 = (x: number | null) => (x === null ? '-' : x.toFixed(3)).padStart(9);
  const mib = (x: number | null) => (x === null ? '-' : x.toFixed(0)).padStart(7);
  console.log(`\n${'workload'.padEnd(9)} ${'conc'.padStart(4)} | ${'server r/s'.padStart(10)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'srv cpu/r'.padStart(9)} ${'cli cpu/r'.padStart(9)} ${'RSS MiB'.padStart(7)} | ${'naive r/s'.padStart(10)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'srv cpu/r'.padStart(9)} ${'RSS MiB'.padStart(7)} | server/naive  server/in-proc`);
  for (const r of rows) {
    console.log(`${r.workload.padEnd(9)} ${String(r.concurrency).padStart(4)} | ${f(r.server.rewardsPerSec).padStart(10)} ${f(r.server.p50, 2)} ${f(r.server.p99, 2)} ${ms3(r.server.serverCpuMsPerReward)} ${ms3(r.server.clientCpuMsPerReward)} ${mib(r.server.serverPeakRssMiB)} | ${f(r.naive.rewardsPerSec).padStart(10)} ${f(r.naive.p50, 2)} ${f(r.naive.p99, 2)} ${ms3(r.naive.serverCpuMsPerReward)} ${mib(r.naive.serverPeakRssMiB)} | ${f(r.server.rewardsPerSec / r.naive.rewardsPerSec, 2).padStart(12)}  ${f(r.server.rewardsPerSec / limit[r.workload], 2).padStart(13)}${r.server.errors + r.naive.errors ? `  errors ${r.server.errors}/${r.naive.errors}` : ''}`);
  }
  const sat = (mode: string, w: Workload) => Math.max(...rows.filter((r) => r.workload === w).map((r) => (mode === 'server' ? r.server : r.naive).rewardsPerSec));
  // CPU per reward where the server is fastest (the first such level on a tie).
  const cpuAt = (w: Workload) => {
    const best = rows.filter((r) => r.workload === w).reduce((a, b) => (b.server.rewardsPerSec > a.server.rewardsPerSec ? b : a));
    const inProcessMs = median(limits[w].map((l) => l.cpuMsPerReward));
    const serverMs = best.server.serverCpuMsPerReward;
    return { concurrency: best.concurrency, inProcessMs, serverMs, clientMs: best.server.clientCpuMsPerReward, inProcessOverServer: serverMs === null ? null : inProcessMs / serverMs,
      serverOverInProcess: serverMs === null ? null : serverMs / inProcessMs, serverPeakRssMiB: best.server.serverPeakRssMiB };
  };
  const c1 = levels[0]!; // the lowest concurrency measured (1 by default)
  const hit = raw.server!.map((levels) => levels.find((l) => l.workload === 'cache-hit')).filter((x) => x !== undefined);
  const floor = raw.server!.map((levels) => levels.find((l) => l.workload === 'grpc-floor')).filter((x) => x !== undefined);
  const hitSha = raw.server!.map((levels) => levels.find((l) => l.workload === 'cache-hit-sha')).filter((x) => x !== undefined);
  const summary = {
    inProcessLimit: { single: limit.single, group16: limit.group16, configs: limits },
    saturated: { server: { single: sat('server', 'single'), group16: sat('server', 'group16') }, naive: { single: sat('naive', 'single'), group16: sat('naive', 'group16') } },
    ratios: {
      serverOverInProcess: { single: sat('server', 'single') / limit.single, group16: sat('server', 'group16') / limit.group16 },
      serverOverNaive: { single: sat('server', 'single') / sat('naive', 'single'), group16: sat('server', 'group16') / sat('naive', 'group16') },
      // What any server could reach over the naive one: the bare pipeline at its best batch.
      inProcessOverNaive: { single: limit.single / sat('naive', 'single'), group16: limit.group16 / sat('naive', 'group16') },
      // p50 at the lowest concurrency, server over naive (the lone-client target: <= 1.1).
      loneP50OverNaive: med('server', 'single', c1).p50 / med('naive', 'single', c1).p50,
      // The same lone request's server CPU time, server over naive (it should cost about what the naive server's does).
      loneCpuOverNaive: ratioOrNull(med('server', 'single', c1).serverCpuMsPerReward, med('naive', 'single', c1).serverCpuMsPerReward),
      // Cost per call: saturated calls/s of singles over calls/s of groups; and the lowest-concurrency latency ratio.
      group16OverSingle: {
        saturatedCost: sat('server', 'single') / (sat('server', 'group16') / GROUP),
        latencyC1: med('server', 'group16', c1).p50 / med('server', 'single', c1).p50,
      },
    },
    // CPU ms per reward at the server's best concurrency: the in-process pipeline's, the server process's, the load generator's; the server's peak RSS there.
    cpu: { single: cpuAt('single'), group16: cpuAt('group16') },
    cacheHit: !cacheLines || hit.length === 0 ? null : {
      p50: median(hit.map((h) => h.p50)), p99: median(hit.map((h) => h.p99)), uncachedP50: med('server', 'single', c1).p50, serverSideMs: median(m.hitCost), grpcFloorP50: median(floor.map((h) => h.p50)),
      bySha: { p50: median(hitSha.map((h) => h.p50)), p99: median(hitSha.map((h) => h.p99)) },
      python: pyHits.length === 0 ? null : {
        bytes: { p50: median(pyHits.map((h) => h.bytes.p50)), p99: median(pyHits.map((h) => h.bytes.p99)) },
        sha: { p50: median(pyHits.map((h) => h.sha.p50)), p99: median(pyHits.map((h) => h.sha.p99)) },
        floorP50: median(pyHits.map((h) => h.floor.p50)),
      } },
  };
  // The per-run configs as before; their CPU time is in the CPU lines below and in the JSON.
  console.log(`\nin-process limit: single ${limit.single.toFixed(1)} r/s, group16 ${limit.group16.toFixed(1)} r/s (best batch/workers per run: ${JSON.stringify(limits, ['single', 'group16', 'rewardsPerSec', 'batch', 'workers'])})`);
  console.log(`saturated server/in-process: single ${summary.ratios.serverOverInProcess.single.toFixed(2)}x, group16 ${summary.ratios.serverOverInProcess.group16.toFixed(2)}x   (target >= 0.9)`);
  console.log(`saturated server/naive:      single ${summary.ratios.serverOverNaive.single.toFixed(2)}x, group16 ${summary.ratios.serverOverNaive.group16.toFixed(2)}x   (targets: single >= 1.0 at every concurrency, group16 >= 5)`);
  console.log(`in-process limit/naive:      single ${summary.ratios.inProcessOverNaive.single.toFixed(2)}x, group16 ${summary.ratios.inProcessOverNaive.group16.toFixed(2)}x   (the most batching can give over the naive server)`);
  console.log(`single p50 at c=${c1}, server/naive: ${summary.ratios.loneP50OverNaive.toFixed(2)}x   (target <= 1.1); server CPU per reward there, server/naive: ${summary.ratios.loneCpuOverNaive === null ? 'n/a' : `${summary.ratios.loneCpuOverNaive.toFixed(2)}x`}`);
  console.log(`group of 16 vs single item:  ${summary.ratios.group16OverSingle.saturatedCost.toFixed(2)}x per call at saturation, ${summary.ratios.group16OverSingle.latencyC1.toFixed(2)}x p50 latency at c=${c1}   (target <= 2)`);
  for (const w of ['single', 'group16'] as const) {
    const c = summary.cpu[w];
    console.log(`${`CPU per reward, ${w} (c=${c.concurrency}):`.padEnd(31)} in-process ${c.inProcessMs.toFixed(3)} ms, server ${c.serverMs === null ? 'n/a (no /proc)' : `${c.serverMs.toFixed(3)} ms`} (+ client ${c.clientMs.toFixed(3)} ms); server/in-process = ${c.serverOverInProcess === null ? 'n/a' : c.serverOverInProcess.toFixed(2)} (target <= 1.15); server peak RSS ${c.serverPeakRssMiB === null ? 'n/a' : `${c.serverPeakRssMiB.toFixed(0)} MiB`}`);
  }
  const h = summary.cacheHit;
  if (h) {
    console.log(`cache hit (c=1): p50 ${h.p50.toFixed(3)} ms, p99 ${h.p99.toFixed(3)} ms with the image bytes; p50 ${h.bySha.p50.toFixed(3)} ms, p99 ${h.bySha.p99.toFixed(3)} ms by sha256; ` +
      `gRPC floor (health Check) p50 ${h.grpcFloorP50.toFixed(3)} ms; in the server without gRPC ${(1000 * h.serverSideMs).toFixed(0)} us; uncached p50 ${h.uncachedP50.toFixed(2)} ms   (target < 1 ms)`);
    const py = h.python;
    console.log(py
      ? `cache hit from Python (grpcio, c=1): p50 ${py.bytes.p50.toFixed(3)} ms, p99 ${py.bytes.p99.toFixed(3)} ms with the image bytes; p50 ${py.sha.p50.toFixed(3)} ms, p99 ${py.sha.p99.toFixed(3)} ms by sha256; health Check p50 ${py.floorP50.toFixed(3)} ms   (target < 1 ms)`
      : `cache hit from Python: not measured (${PYTHON} has no grpc; apt-get install -y python3-grpcio python3-grpc-tools)`);
  }
  return { summary, rows, raw };
}

await main();
