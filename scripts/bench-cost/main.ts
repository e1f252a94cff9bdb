/**
 * npm run bench:cost -- [--runs 3] [--seconds 6] [--concurrency 8] [--model DIR]
 *
 * What the pair log and telemetry cost the server, counted inside the server
 * process rather than read off two throughput runs. On this 2-core VM two
 * runs of one configuration differ by up to 30% in throughput and 15% in CPU
 * per reward (hypervisor steal, ~12% even idle), so an on/off comparison of
 * bench:serve cannot see a 5% cost. Here one server runs with the feature on
 * under the bench's load, profiled (`node --cpu-prof`, every thread), and the
 * feature's share is read from that one run: samples whose stack passes
 * through the feature's code, over the thread's busy samples, times the
 * thread's CPU time from /proc. Steal and a noisy neighbour slow the feature
 * and the rest of the server alike, so the share holds still where the
 * throughput does not.
 *
 * Configurations (each its own fresh server, pinned to core 0, the load
 * generator (scripts/bench-serve/loadgen.ts) on core 1, groups of 16 and single
 * items at --concurrency in flight, distinct ShapesWorld items):
 *   log-default   log.enabled true with the default band and rate limit, on
 *                 a workload where many pairs qualify (groups of 16 of one
 *                 image: the adjacent pairs of close responses)
 *   log-lifted    log.band 0.2 and no rate limit: every qualifying pair is
 *                 written, the pair log's worst case
 *   tel-default   Prometheus endpoint + OTLP/HTTP traces and metrics to a
 *                 local receiver, the default trace sample ratio
 *   tel-all       the same, every trace sampled
 *
 * The share is inclusive (what the feature calls counts) and leaves out two
 * things a profile cannot split: garbage collection (printed, its share of
 * the main thread) and the libuv pool's file writes (printed: CPU of the
 * threads other than the main one, per reward, beside a run with the feature
 * off for scale).
 * Prints a table of medians over the runs and writes bench-results/cost-<time>.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { cpus, tmpdir } from 'node:os';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../../src/serve/config.js';
import { summarizeLog } from '../../src/pairlog/stats.js';
import { OtlpReceiver, freePort } from '../../test/telemetry/otlp-receiver.js';
import type { LevelResult, Workload } from '../bench-serve/items.js';
import type { LoadgenSpec } from '../bench-serve/loadgen.js';
import { attribute, type CpuProfile, type Part } from './profile.js';
import { threadCpu } from '../bench-serve/proc.js';

const LOADGEN = fileURLToPath(new URL('../bench-serve/loadgen.ts', import.meta.url));

const PARTS: Part[] = [
  { name: 'pairlog', url: /\/src\/pairlog\/|\/src\/serve\/pair-log\.ts/ },
  { name: 'telemetry', url: /\/src\/telemetry\/|\/node_modules\/@opentelemetry\// },
];

type Config = 'off' | 'log-default' | 'log-lifted' | 'tel-default' | 'tel-all';
const CONFIGS: Config[] = ['off', 'log-default', 'log-lifted', 'tel-default', 'tel-all'];
const WORKLOADS: Workload[] = ['group16', 'single'];

const { values } = parseArgs({ options: {
  runs: { type: 'string', default: '3' },
  seconds: { type: 'string', default: '6' },
  concurrency: { type: 'string', default: '8' },
  model: { type: 'string', default: 'models/shapes-mrm' },
} });
const runs = Number(values.runs);
const seconds = Number(values.seconds);
const concurrency = Number(values.concurrency);

const pin = cpus().length >= 2 && spawnSync('taskset', ['-c', '1', 'true']).status === 0;
if (!pin) console.error('bench:cost: taskset or a second core missing; running unpinned (shares stay valid, CPU per reward gets noisier)');
const pinned = (core: string, cmd: string, args: string[]): [string, string[]] => (pin ? ['taskset', ['-c', core, cmd, ...args]] : [cmd, args]);

function flagsFor(c: Config, receiverPort: number, promPort: number): string[] {
  const tel = ['--telemetry-prometheus-port', String(promPort), '--telemetry-prometheus-host', '127.0.0.1',
    '--telemetry-otlp-endpoint', `http://127.0.0.1:${receiverPort}`, '--telemetry-otlp-protocol', 'http', '--telemetry-otlp-interval-ms', '1000'];
  switch (c) {
    case 'off': return ['--log-enabled', 'false'];
    case 'log-default': return ['--log-enabled', 'true'];
    case 'log-lifted': return ['--log-enabled', 'true', '--log-band', '0.2', '--log-rate-per-sec', '1000000', '--log-burst', '1000000'];
    case 'tel-default': return ['--log-enabled', 'false', ...tel];
    case 'tel-all': return ['--log-enabled', 'false', ...tel, '--telemetry-trace-sample-ratio', '1'];
  }
}

interface Measurement {
  config: Config; workload: Workload; run: number;
  rewards: number; rewardsPerSec: number; p99: number;
  /** CPU ms per reward over the load window: the whole server, its main thread, its other threads. */
  cpuMsPerReward: number; mainMsPerReward: number; otherMsPerReward: number;
  /** Share of the whole server's CPU in each part (main thread and worker threads' profiles together). */
  share: Record<string, number>;
  /** Garbage collection's share of the main thread's busy samples. */
  gcShareOfMain: number;
  loggedRecords: number | null;
}

async function measureOne(config: Config, workload: Workload, run: number, receiver: OtlpReceiver): Promise<Measurement> {
  const state = await mkdtemp(join(tmpdir(), 'mrm-cost-'));
  const profDir = join(state, 'prof');
  const flags = flagsFor(config, receiver.port, await freePort());
  const [cmd, argv] = pinned('0', process.execPath, ['--cpu-prof', '--cpu-prof-dir', profDir, '--cpu-prof-interval', '250',
    'bin/mrm.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--state-dir', state, '--seed-bundle', values.model!, '--stats-interval-ms', '0', ...flags]);
  const server = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise((r) => server.once('exit', r));
  try {
    let port = 0;
    for await (const line of createInterface({ input: server.stderr! })) {
      const rec = JSON.parse(line) as { event: string; port?: number };
      if (rec.event === 'server.serving') { port = rec.port!; break; }
    }
    if (!port) throw new Error(`mrm serve (${config}) exited before serving`);
    server.stderr!.resume();
    const pid = server.pid!;
    const spec: LoadgenSpec = { addr: `127.0.0.1:${port}`, seed: 7000 + 100 * run, workload, levels: [concurrency], seconds, cacheHits: 0, serverPid: pid };
    const before = await threadCpu(pid);
    const t0 = process.hrtime.bigint();
    const level = await runLoadgen(spec);
    const t1 = process.hrtime.bigint();
    const after = await threadCpu(pid);
    server.kill('SIGTERM');
    await exited;
    const profiles = await readProfiles(profDir);
    // V8's profile clock and hrtime are both CLOCK_MONOTONIC, in us and ns.
    const window = { from: Number(t0 / 1000n), to: Number(t1 / 1000n) };
    const mainTid = pid;
    const cpu = (tid: number | null) => {
      let ms = 0;
      for (const [t, v] of after) if (tid === null ? t !== mainTid : t === tid) ms += v.ms - (before.get(t)?.ms ?? 0);
      return ms;
    };
    const mainMs = cpu(mainTid);
    const otherMs = cpu(null);
    const totalMs = mainMs + otherMs;
    const share: Record<string, number> = Object.fromEntries(PARTS.map((p) => [p.name, 0]));
    let gcShareOfMain = 0;
    for (const prof of profiles) {
      const a = attribute(clip(prof.profile, window), PARTS);
      if (a.busyUs === 0) continue;
      // A worker's profile covers one thread of the "other" CPU; its busy time
      // stands for itself (profiles of all threads sample the same clock).
      const threadMs = prof.main ? mainMs : a.busyUs / 1000;
      for (const p of PARTS) share[p.name]! += (threadMs * (a.parts[p.name]! / a.busyUs)) / totalMs;
      if (prof.main) gcShareOfMain = a.gcUs / a.busyUs;
    }
    const loggedRecords = config.startsWith('log') ? (await summarizeLog(state)).records : null;
    return {
      config, workload, run, rewards: level.rewards, rewardsPerSec: level.rewardsPerSec, p99: level.p99,
      cpuMsPerReward: totalMs / level.rewards, mainMsPerReward: mainMs / level.rewards, otherMsPerReward: otherMs / level.rewards,
      share, gcShareOfMain, loggedRecords,
    };
  } finally {
    if (server.exitCode === null) server.kill('SIGKILL');
    await rm(state, { recursive: true, force: true });
  }
}

/** The samples of a profile that fall in [from, to] (us, the profile's clock). */
function clip(p: CpuProfile, w: { from: number; to: number }): CpuProfile {
  const samples: number[] = [];
  const deltas: number[] = [];
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    if (t < w.from || t > w.to) continue;
    samples.push(p.samples[i]!);
    deltas.push(deltas.length === 0 ? 0 : p.timeDeltas[i]!);
  }
  return { ...p, samples, timeDeltas: deltas };
}

/** Node names profiles CPU.<date>.<time>.<pid>.<threadId>.<seq>.cpuprofile; thread id 0 is the main thread. */
async function readProfiles(dir: string): Promise<{ main: boolean; profile: CpuProfile }[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'));
  if (!files.some((f) => f.split('.')[4] === '0')) throw new Error(`no main-thread profile in ${dir}: ${files.join(', ')}`);
  return Promise.all(files.map(async (f) => ({ main: f.split('.')[4] === '0', profile: JSON.parse(await readFile(join(dir, f), 'utf8')) as CpuProfile })));
}

async function runLoadgen(spec: LoadgenSpec): Promise<LevelResult> {
  const [cmd, argv] = pinned('1', process.execPath, [...process.execArgv, LOADGEN, JSON.stringify(spec)]);
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  const timer = setTimeout(() => proc.kill('SIGKILL'), (spec.seconds + 120) * 1000);
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  const code = await new Promise((r) => proc.once('exit', r));
  clearTimeout(timer);
  if (code !== 0) throw new Error(`load generator exited with ${String(code)}`);
  const levels = JSON.parse(out) as LevelResult[];
  const errors = Object.entries(levels[0]!.errors);
  if (errors.length > 0) throw new Error(`load generator saw errors: ${JSON.stringify(levels[0]!.errors)}`);
  return levels[0]!;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const receiver = new OtlpReceiver();
await receiver.start();
const all: Measurement[] = [];
try {
  for (let run = 0; run < runs; run++) {
    // Rotate the order so no configuration always runs first (or last) in a round.
    const order = CONFIGS.map((_, i) => CONFIGS[(i + run) % CONFIGS.length]!);
    for (const config of order) {
      for (const w of WORKLOADS) {
        all.push(await measureOne(config, w, run, receiver));
        console.error(`run ${run + 1}/${runs} ${config} ${w}: done`);
      }
    }
  }
} finally {
  await receiver.stop();
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;
console.log(`\nfeature cost inside the server (${runs} runs, ${seconds} s, ${concurrency} in flight, ${pin ? 'server on core 0, load on core 1' : 'unpinned'}; medians; default trace ratio ${DEFAULTS.telemetry.traceSampleRatio}, default log band ${DEFAULTS.log.band} and rate ${DEFAULTS.log.ratePerSec}/s)`);
console.log(`${'config'.padEnd(12)} ${'workload'.padEnd(8)} | ${'r/s'.padStart(7)} ${'cpu/r'.padStart(7)} ${'main/r'.padStart(7)} ${'other/r'.padStart(7)} ${'gc%main'.padStart(8)} | ${'pairlog'.padStart(8)} ${'telem.'.padStart(8)} ${'us/r'.padStart(6)} | ${'records'.padStart(8)} ${'us/rec'.padStart(7)} | share per run`);
const rows = [];
for (const config of CONFIGS) {
  for (const w of WORKLOADS) {
    const ms = all.filter((m) => m.config === config && m.workload === w);
    const part = config.startsWith('log') ? 'pairlog' : 'telemetry';
    const row = {
      config, workload: w,
      rewardsPerSec: median(ms.map((m) => m.rewardsPerSec)),
      cpuMsPerReward: median(ms.map((m) => m.cpuMsPerReward)),
      mainMsPerReward: median(ms.map((m) => m.mainMsPerReward)),
      otherMsPerReward: median(ms.map((m) => m.otherMsPerReward)),
      gcShareOfMain: median(ms.map((m) => m.gcShareOfMain)),
      share: Object.fromEntries(PARTS.map((p) => [p.name, median(ms.map((m) => m.share[p.name]!))])),
      loggedRecords: config.startsWith('log') ? median(ms.map((m) => m.loggedRecords ?? 0)) : null,
      // The pair log's CPU per record written: its share of the run's CPU over the records.
      usPerRecord: config.startsWith('log') ? median(ms.map((m) => (m.loggedRecords ? (1000 * m.share.pairlog! * m.cpuMsPerReward * m.rewards) / m.loggedRecords : 0))) : null,
      // The feature's CPU per reward in absolute terms, to read against the in-process model cost (bench:serve).
      featureUsPerReward: config === 'off' ? null : median(ms.map((m) => 1000 * m.share[part]! * m.cpuMsPerReward)),
      perRun: ms.map((m) => m.share[part]!),
    };
    rows.push(row);
    console.log(`${config.padEnd(12)} ${w.padEnd(8)} | ${row.rewardsPerSec.toFixed(1).padStart(7)} ${row.cpuMsPerReward.toFixed(3).padStart(7)} ${row.mainMsPerReward.toFixed(3).padStart(7)} ${row.otherMsPerReward.toFixed(3).padStart(7)} ${pct(row.gcShareOfMain).padStart(8)} | ${pct(row.share.pairlog!).padStart(8)} ${pct(row.share.telemetry!).padStart(8)} ${(row.featureUsPerReward === null ? '-' : row.featureUsPerReward.toFixed(1)).padStart(6)} | ${String(row.loggedRecords ?? '-').padStart(8)} ${(row.usPerRecord === null ? '-' : row.usPerRecord.toFixed(0)).padStart(7)} | ${config === 'off' ? '-' : row.perRun.map(pct).join(', ')}`);
  }
}
console.log('pairlog / telem.: share of the server\'s CPU (all threads) spent in that code, inclusive; us/r: that CPU per reward (the feature of the row). The 5% targets of issues #8 and #10 read against these.');
await mkdir('bench-results', { recursive: true });
const file = join('bench-results', `cost-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
await writeFile(file, JSON.stringify({ meta: { runs, seconds, concurrency, model: values.model, pinned: pin, date: new Date().toISOString(), loadavg: (await readFile('/proc/loadavg', 'utf8').catch(() => '')).trim() }, rows, raw: all }, null, 2) + '\n');
console.log(`wrote ${file}`);
