/**
 * Where the server's CPU goes, by thread: one server process pinned to core 0,
 * the load generator on core 1, one workload at one concurrency; the CPU time
 * of every thread of the server (/proc/<pid>/task/<tid>/stat, grouped by
 * thread name: the event loop, the model worker, libuv's pool, sharp/libvips,
 * onnxruntime's pool if any) over the timed run, per reward.
 *
 *   npx tsx scripts/bench-serve/threads.ts [--workload single|group16] [--concurrency 64] [--seconds 6]
 *        [--server-flags "..."] [--node-flags "--single-threaded-gc"] [--cpu-prof DIR]
 *
 * --cpu-prof DIR: the server runs under `node --cpu-prof --cpu-prof-dir DIR`
 * (the main thread's and the model worker's profiles, written at exit).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { LevelResult, Workload } from './items.js';
import { threadCpu as threads, type ThreadCpu } from './proc.js';

const LOADGEN = fileURLToPath(new URL('./loadgen.ts', import.meta.url));
async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    workload: { type: 'string', default: 'single' }, concurrency: { type: 'string', default: '64' }, seconds: { type: 'string', default: '6' },
    'server-flags': { type: 'string', default: '' }, 'cpu-prof': { type: 'string' }, 'node-flags': { type: 'string', default: '' }, model: { type: 'string', default: 'models/shapes-mrm' }, seed: { type: 'string', default: '7' },
  } });
  const w = values.workload as Workload;
  const c = Number(values.concurrency);
  const state = await mkdtemp(join(tmpdir(), 'mrm-threads-'));
  const prof = values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] : [];
  const server = spawn('taskset', ['-c', '0', process.execPath, ...prof, ...values['node-flags'].split(/\s+/).filter(Boolean), 'bin/mrm.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--state-dir', state,
    '--seed-bundle', values.model, '--stats-interval-ms', '0', ...values['server-flags'].split(/\s+/).filter(Boolean)], { stdio: ['ignore', 'inherit', 'pipe'] });
  let port = 0;
  // The server's stats lines (--stats-interval-ms N in --server-flags): the last one is printed (batch sizes).
  let lastStats: { stages?: Record<string, { batches: number; entries: number }> } | null = null;
  const serving = new Promise<void>((resolve) => {
    createInterface({ input: server.stderr! }).on('line', (line) => {
      const rec = JSON.parse(line) as { event: string; port?: number };
      if (rec.event === 'server.serving') { port = rec.port!; resolve(); }
      if (rec.event === 'server.stats') lastStats = rec as typeof lastStats;
    });
    server.once('exit', () => resolve());
  });
  await serving;
  if (!port) throw new Error('mrm serve exited before serving');
  const pid = server.pid!;
  // Warm-up level at the same concurrency (its own items), then the measured one with per-thread CPU around it.
  const spec = { addr: `127.0.0.1:${port}`, seed: Number(values.seed), workload: w, levels: [c, c], seconds: Number(values.seconds), cacheHits: 0, serverPid: pid };
  const lg = spawn('taskset', ['-c', '1', process.execPath, ...process.execArgv, LOADGEN, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  lg.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  // Snapshot at the start of the second level: poll until the first level's calls are done (its line is not printed early),
  // so sample every 200 ms and keep the samples; the level boundaries come from the result's seconds.
  const samples: { t: number; th: Map<number, ThreadCpu> }[] = [];
  const t0 = performance.now();
  const timer = setInterval(() => { void threads(pid).then((th) => samples.push({ t: performance.now() - t0, th })); }, 200);
  await new Promise((r) => lg.once('exit', r));
  clearInterval(timer);
  const levels = JSON.parse(out) as LevelResult[];
  const timed = levels[1]!;
  // The last `timed.seconds` before the load generator exited (it exits right after the level).
  const end = samples[samples.length - 1]!;
  const start = [...samples].reverse().find((s) => s.t <= end.t - timed.seconds * 1000) ?? samples[0]!;
  const span = (end.t - start.t) / 1000;
  const byName = new Map<string, number>();
  const sysByName = new Map<string, number>();
  // Node 20 does not name its threads (all are "node"): the main thread is tid == pid; the others by tid, in creation order.
  for (const [tid, { name, ms, sys }] of end.th) {
    const label = tid === pid ? 'main' : `${name}:${tid - pid}`;
    byName.set(label, (byName.get(label) ?? 0) + ms - (start.th.get(tid)?.ms ?? 0));
    sysByName.set(label, (sysByName.get(label) ?? 0) + sys - (start.th.get(tid)?.sys ?? 0));
  }
  const rewards = timed.rewardsPerSec * span;
  console.log(`${w} c=${c}: ${timed.rewardsPerSec.toFixed(1)} rewards/s, p50 ${timed.p50.toFixed(2)} ms; server CPU/reward (loadgen's) ${timed.serverCpuMsPerReward?.toFixed(3)} ms; window ${span.toFixed(1)} s`);
  let total = 0;
  for (const [name, ms] of [...byName].sort((a, b) => b[1] - a[1])) {
    if (ms <= 0) continue;
    total += ms;
    console.log(`  ${name.padEnd(16)} ${(ms / rewards).toFixed(3).padStart(8)} ms/reward (sys ${((sysByName.get(name) ?? 0) / rewards).toFixed(3)})  ${(ms / 1000 / span * 100).toFixed(0).padStart(4)}% of a core`);
  }
  console.log(`  ${'total'.padEnd(16)} ${(total / rewards).toFixed(3).padStart(8)} ms/reward`);
  if (lastStats) console.log(`  last stats line: ${JSON.stringify((lastStats as { batches?: unknown }).batches ?? lastStats).slice(0, 600)}`);
  server.kill('SIGTERM');
  await new Promise((r) => server.once('exit', r));
  await rm(state, { recursive: true, force: true });
}

await main();
