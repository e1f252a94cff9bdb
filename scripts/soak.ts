/**
 * npm run soak -- [--minutes 10] [--rate R] [--probe open|closed] [--ramp-step-seconds 12] [--pin] [--node-args="--min-semi-space-size=16"] [--sample-seconds 5] [--p99-window-seconds 30] [--warmup-minutes M] [--json FILE]
 *
 * Holds mixed traffic against a fresh `mrm serve` (the shipped default model,
 * loopback only) for a while and watches it for leaks and drift:
 *   mix: 40% single items (new text, images from a pool of 4,000 scenes),
 *        20% GRPO groups of 8, 20% Compare pairs, 15% exact repeats (reward
 *        cache hits), 5% bad requests (must get INVALID_ARGUMENT).
 *   rate: open loop at --rate calls/s; by default 80% of the saturation:
 *         the highest rate an open-loop ramp sustains (soak-load.ts: steps
 *         of --ramp-step-seconds at 40-120% of a 15 s closed-loop probe at
 *         32 in flight, same mix); --probe closed: 80% of the probe itself.
 * Warm-up: before the measured run, the server's caches are filled with
 * the soak's own distinct items (every pool image once, then groups of new
 * responses) until each cache is full or stops growing, as its
 * `server.stats` line reports; a fixed 2-minute warm-up ended long before
 * the reward cache (200k entries) and the feature cache filled, so their
 * growth read as a 26% RSS drift. --warmup-minutes adds a time-based
 * warm-up on top (default 0: the cache fill is the warm-up).
 *
 * --pin: the server (all its threads) on core 0, this script (the load) on
 * core 1. Unpinned on 2 cores the load's grpc-js client competes with the
 * server for both cores, and its own bursts (GC, rendering nothing but still
 * answering 1,000+ calls/s) show up as the server's p99.
 *
 * Every --sample-seconds it samples the server's RSS and open file
 * descriptors (/proc), its event-loop delay, cache fill and admission
 * refusals (from its `server.stats` line), and the window's call rate, p99
 * latency and errors. p99 steadiness is judged on --p99-window-seconds
 * windows (a 5 s window holds ~600 calls, whose p99 is their 6th worst: too
 * few to call a spike): max over median of the windows' p99, limit 1.5x.
 * Prints a table and a verdict (RSS drift <= 10%, no fd growth, p99 within
 * 1.5x) and writes JSON (default bench-results/soak-<time>.json).
 */
import * as grpc from '@grpc/grpc-js';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createRewardClient, type RewardClient, unary } from '../src/serve/proto.js';
import { sampleSplit } from '../trainer/shapes/pairs.js';
import { renderPng } from '../trainer/shapes/raster.js';
import { canPin, pinSelf, startServe } from './serve-process.js';
import { openLoop, RAMP_FRACTIONS, rampSaturation } from './soak-load.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string' },
    'sample-seconds': { type: 'string', default: '5' },
    'warmup-minutes': { type: 'string', default: '0' },
    'p99-window-seconds': { type: 'string', default: '30' },
    json: { type: 'string' },
    'server-flags': { type: 'string', default: '' },
    // Node/V8 flags for the server process, space-separated (e.g. --node-args="--min-semi-space-size=16"): A/B runs of the heap's sizing.
    'node-args': { type: 'string', default: '' },
    pin: { type: 'boolean', default: false },
    // open: the saturation is the highest rate an open-loop ramp sustains (soak-load.ts); closed: the closed-loop probe's rate, as before.
    probe: { type: 'string', default: 'open' },
    'ramp-step-seconds': { type: 'string', default: '12' },
  },
});
if (values.probe !== 'open' && values.probe !== 'closed') throw new Error(`--probe must be open or closed, got ${values.probe}`);
const minutes = Number(values.minutes);
const sampleMs = Number(values['sample-seconds']) * 1000;
const warmupMs = Number(values['warmup-minutes']) * 60_000;
const p99WindowMs = Number(values['p99-window-seconds']) * 1000;
if (!(minutes > 0) || !(sampleMs > 0)) throw new Error('--minutes and --sample-seconds must be positive');

// ---------------------------------------------------------------- the server
const state = await mkdtemp(join(tmpdir(), 'mrm-soak-'));
let lastStats: StatsLine | null = null;
let statsSeq = 0;
if (values.pin && !(canPin() && pinSelf('1'))) throw new Error('--pin: needs 2 cores and taskset');
const { server, port } = await startServe({
  stateDir: state, statsIntervalMs: sampleMs, serverFlags: values['server-flags']!, nodeArgs: values['node-args']!.split(' ').filter(Boolean), ...(values.pin ? { core: 0 } : {}),
  onLine: (rec) => {
    if (rec.event === 'server.stats') {
      lastStats = rec as unknown as StatsLine;
      statsSeq++;
    }
  },
});
const pid = server.pid!;
const addr = `127.0.0.1:${port}`;
const client: RewardClient = createRewardClient(addr);

// ---------------------------------------------------------------- traffic
const POOL = 4000;
console.error(`rendering ${POOL} scenes ...`);
const pairs = sampleSplit(424242, POOL);
const images = await Promise.all(pairs.map((p) => renderPng(p.images[0]!)));
let seq = 0;
const repeatable: { images: { data: Buffer }[]; prompt: string; response: string }[] = [];

type Kind = 'single' | 'group' | 'compare' | 'repeat' | 'bad';
function pick(): Kind {
  const u = Math.random();
  return u < 0.4 ? 'single' : u < 0.6 ? 'group' : u < 0.8 ? 'compare' : u < 0.95 ? 'repeat' : 'bad';
}

async function one(kind: Kind): Promise<string> {
  const i = seq++ % POOL;
  const p = pairs[i]!;
  const img = [{ data: images[i]! }];
  const deadline = Date.now() + 30_000;
  try {
    if (kind === 'single' || (kind === 'repeat' && repeatable.length === 0)) {
      const item = { images: img, prompt: p.prompt, response: `${p.responses[0]} (${seq})` };
      if (repeatable.length < 200) repeatable.push(item);
      await unary(client.score.bind(client), { items: [item] }, { deadline });
    } else if (kind === 'repeat') {
      await unary(client.score.bind(client), { items: [repeatable[seq % repeatable.length]!] }, { deadline });
    } else if (kind === 'group') {
      await unary(client.score.bind(client), { groups: [{ images: img, prompt: p.prompt, responses: Array.from({ length: 8 }, (_, j) => `${p.responses[j % 2]} [${seq}.${j}]`) }] }, { deadline });
    } else if (kind === 'compare') {
      await unary(client.compare.bind(client), { pairs: [{ images: img, prompt: p.prompt, responseA: `${p.responses[0]} <${seq}>`, responseB: `${p.responses[1]} <${seq}>` }] }, { deadline });
    } else {
      await unary(client.score.bind(client), { items: [{ images: [{ sha256: 'not-a-sha' }], prompt: 'p', response: 'r' }] }, { deadline });
      return 'UNEXPECTED_OK';
    }
    return 'OK';
  } catch (err) {
    const code = grpc.status[(err as grpc.ServiceError).code] ?? 'ERROR';
    return kind === 'bad' && code === 'INVALID_ARGUMENT' ? 'OK(bad refused)' : code;
  }
}

/** Refused: back off as a well-behaved trainer does (examples/python), instead of spinning on refusals. */
const backoff = () => new Promise((r) => setTimeout(r, 50));

/** Closed loop at `c` in flight for `ms`: calls per second answered (refusals are not throughput). */
async function probe(c: number, ms: number): Promise<number> {
  const end = performance.now() + ms;
  let calls = 0;
  await Promise.all(Array.from({ length: c }, async () => {
    while (performance.now() < end) {
      const code = await one(pick());
      if (code.startsWith('OK')) calls++;
      else if (code === 'RESOURCE_EXHAUSTED') await backoff();
    }
  }));
  return calls / (ms / 1000);
}

await probe(8, 3000); // warm the server up
const fill = await fillCaches();
const closedLoop = await probe(32, 15_000);
console.error(`closed-loop probe: ~${closedLoop.toFixed(0)} calls/s (mixed, 32 in flight)`);
// The ramp (soak-load.ts) only when the rate is not given: it is what decides the rate.
const ramp = values.rate || values.probe === 'closed' ? null
  : await rampSaturation({ closedLoopRate: closedLoop, stepSeconds: Number(values['ramp-step-seconds']), fractions: RAMP_FRACTIONS }, () => one(pick()), (line) => console.error(line));
// The ramp's last step fell behind: let that backlog drain before the measured minutes start.
if (ramp) await new Promise((r) => setTimeout(r, 5000));
const saturation = ramp ? ramp.saturation : closedLoop;
if (!(saturation > 0)) throw new Error(`the open-loop ramp found no rate the server sustains (first step: ${JSON.stringify(ramp?.steps[0])})`);
const rate = values.rate ? Number(values.rate) : Math.round(0.8 * saturation);
console.error(`saturation ~${saturation.toFixed(0)} calls/s (mixed, ${ramp ? 'open-loop ramp' : 'closed-loop probe'}); holding ${rate} calls/s for ${minutes} min`);

// ---------------------------------------------------------------- warm-up: fill the caches
interface StatsLine {
  eventLoop?: { p99Ms: number; maxMs: number };
  gc?: { count: number; totalMs: number; maxMs: number };
  caches?: { rewards: number; embeddingBytes: number; imageBytes: number; detailBytes: number };
  admission?: { refusedBytes: number; refusedWait: number; refusedDeadline: number; refusedLoop?: number; drainFactor: number; queueWaitMs: number };
  memory?: { heapUsed: number; heapTotal: number; external: number; arrayBuffers: number };
}
/**
 * Sends every pool image once (image and embedding caches), then groups of
 * 64 new responses (reward and feature caches: 64 entries a call), until the
 * server's stats say no cache grew more than 1% over the last 10 s: a full
 * LRU cache evicts as it inserts, and one this workload cannot fill (the
 * image cache holds more than the pool's 4,000 images) stops at the pool.
 * Returns the fill it reached.
 */
async function fillCaches(): Promise<{ ms: number; caches: StatsLine['caches'] }> {
  const t = performance.now();
  const deadline = () => ({ deadline: Date.now() + 30_000 });
  /** OK calls of the fill so far: a cache that did not grow while they succeeded is full. */
  let filled = 0;
  const send = async (req: Parameters<RewardClient['score']>[0]) => {
    for (;;) {
      try {
        await unary(client.score.bind(client), req, deadline());
        filled++;
        return;
      } catch (err) {
        if ((err as grpc.ServiceError).code !== grpc.status.RESOURCE_EXHAUSTED) return;
        await backoff();
      }
    }
  };
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < POOL) {
      const i = next++;
      await send({ items: [{ images: [{ data: images[i]! }], prompt: pairs[i]!.prompt, response: `warm ${i}` }] });
    }
  }));
  const history: { caches: NonNullable<StatsLine['caches']>; filled: number }[] = [];
  // Stats lines come every --sample-seconds: compare each cache with its size ~10 s before; a
  // cache counts as grown unless fill calls succeeded meanwhile (a starved server fills nothing).
  const back = Math.max(1, Math.round(10_000 / sampleMs));
  const grew = (k: keyof NonNullable<StatsLine['caches']>) => {
    if (history.length <= back) return true;
    const [then, now] = [history[history.length - 1 - back]!, history.at(-1)!];
    return now.filled - then.filled < 20 || now.caches[k] > then.caches[k] * 1.01;
  };
  let seen = statsSeq;
  let g = 0;
  const stop = { now: false };
  const senders = Promise.all(Array.from({ length: 4 }, async () => {
    while (!stop.now) {
      const i = g++ % POOL;
      await send({ groups: [{ images: [{ data: images[i]! }], prompt: pairs[i]!.prompt, responses: Array.from({ length: 64 }, (_, j) => `${pairs[i]!.responses[j % 2]} {fill ${g}.${j}}`) }] });
    }
  }));
  // A full LRU cache stops growing (it evicts); so does one this workload cannot fill.
  while (performance.now() - t < 20 * 60_000) {
    await new Promise((r) => setTimeout(r, 250));
    if (statsSeq === seen || !lastStats?.caches) continue;
    seen = statsSeq;
    history.push({ caches: lastStats.caches, filled });
    if (!(['rewards', 'detailBytes', 'imageBytes', 'embeddingBytes'] as const).some(grew)) break;
  }
  stop.now = true;
  await senders;
  const ms = Math.round(performance.now() - t);
  const caches = history.at(-1)?.caches;
  console.error(`caches filled in ${(ms / 1000).toFixed(0)} s (${filled} calls): ${JSON.stringify(caches)}`);
  return { ms, caches };
}

// ---------------------------------------------------------------- sampling
interface Sample {
  t: number; rssMiB: number; fds: number; calls: number; rate: number; p50: number; p99: number;
  loopP99Ms: number | null; loopMaxMs: number | null; errors: Record<string, number>;
  caches: StatsLine['caches'] | null; refused: number | null;
  /** The server's refusals so far by budget (admission.maxInflightBytes, maxQueueWaitMs, deadlineShedding, maxLoopLagMs). */
  refusedBy: { bytes: number; wait: number; deadline: number; loop: number } | null;
  /** Admission's estimate at the server's last stats line: the drain factor and the wait it gives the queue ahead. */
  drainFactor: number | null; queueWaitMs: number | null;
  /** GC pauses in the server's last stats interval. */
  gcMaxMs: number | null; gcTotalMs: number | null;
  /** RSS split (/proc: anonymous, file-backed) and the main thread's V8 heap and buffers (the server's stats): which part drifts. */
  rssAnonMiB: number; rssFileMiB: number; memory: StatsLine['memory'] | null;
  /** Cores busy on the whole machine, stolen by the hypervisor, and used by the server, over the sample. */
  machineCores: number; stealCores: number; serverCores: number;
}
const samples: Sample[] = [];
let window: number[] = [];
/** Latencies (ms) of OK calls with the time they ended, for the p99 windows. */
const allOk: [number, number][] = [];
let windowErrors: Record<string, number> = {};

async function procSample(): Promise<{ rssMiB: number; rssAnonMiB: number; rssFileMiB: number; fds: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const mib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024;
  const fds = (await readdir(`/proc/${pid}/fd`)).length;
  return { rssMiB: mib('VmRSS'), rssAnonMiB: mib('RssAnon'), rssFileMiB: mib('RssFile'), fds };
}

/**
 * CPU over the sample from /proc/stat and /proc/<pid>/stat, in cores: a p99
 * window on a machine whose other processes took the cores is the
 * machine's, not the server's.
 */
let lastCpu: { at: number; busy: number; steal: number; server: number } | null = null;
async function cpuSample(): Promise<{ machineCores: number; stealCores: number; serverCores: number }> {
  const f = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const busy = f[0]! + f[1]! + f[2]! + f[5]! + f[6]!;
  const st = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  const now = { at: performance.now(), busy, steal: f[7]!, server: Number(st[11]) + Number(st[12]) };
  const prev = lastCpu;
  lastCpu = now;
  // A sample delayed past the next one (a starved soak) would divide by almost nothing: no number.
  if (!prev || now.at - prev.at < sampleMs / 2) return { machineCores: NaN, stealCores: NaN, serverCores: NaN };
  // Clock ticks are 1/100 s on Linux.
  const cores = (ticks: number) => Math.round((ticks / 100 / ((now.at - prev.at) / 1000)) * 100) / 100;
  return { machineCores: cores(now.busy - prev.busy), stealCores: cores(now.steal - prev.steal), serverCores: cores(now.server - prev.server) };
}

const t0 = performance.now();
const stopAt = t0 + minutes * 60_000;
await cpuSample();
let sampling = false;
const sampler = setInterval(async () => {
  // The reads below await: on a starved machine the next tick can come first; it is skipped, not interleaved.
  if (sampling) return;
  sampling = true;
  const lat = window.sort((a, b) => a - b);
  const errors = windowErrors;
  window = [];
  windowErrors = {};
  const pct = (q: number) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] ?? NaN;
  const st = lastStats as StatsLine | null;
  const loop = st?.eventLoop?.p99Ms ?? null;
  const a = st?.admission;
  const s: Sample = {
    t: Math.round((performance.now() - t0) / 1000), ...(await procSample()), calls: lat.length, rate: lat.length / (sampleMs / 1000), p50: pct(0.5), p99: pct(0.99),
    loopP99Ms: loop, loopMaxMs: st?.eventLoop?.maxMs ?? null, errors, caches: st?.caches ?? null, refused: a ? a.refusedBytes + a.refusedWait + a.refusedDeadline + (a.refusedLoop ?? 0) : null,
    refusedBy: a ? { bytes: a.refusedBytes, wait: a.refusedWait, deadline: a.refusedDeadline, loop: a.refusedLoop ?? 0 } : null,
    drainFactor: a?.drainFactor ?? null, queueWaitMs: a?.queueWaitMs ?? null,
    gcMaxMs: st?.gc?.maxMs ?? null, gcTotalMs: st?.gc?.totalMs ?? null, memory: st?.memory ?? null, ...(await cpuSample()),
  };
  samples.push(s);
  sampling = false;
  const c = s.caches;
  console.error(`${String(s.t).padStart(5)} s  rss ${s.rssMiB.toFixed(0).padStart(5)} MiB (anon ${s.rssAnonMiB.toFixed(0)}, file ${s.rssFileMiB.toFixed(0)}, heap ${s.memory?.heapUsed.toFixed(0) ?? '-'}/${s.memory?.heapTotal.toFixed(0) ?? '-'}, buffers ${s.memory?.arrayBuffers.toFixed(0) ?? '-'})  fds ${String(s.fds).padStart(4)}  ${s.rate.toFixed(0).padStart(5)} calls/s  p99 ${s.p99.toFixed(1).padStart(7)} ms  loop p99/max ${loop === null ? '-' : loop.toFixed(1)}/${s.loopMaxMs?.toFixed(0) ?? '-'} ms  caches r ${c?.rewards ?? '-'} img ${c ? (c.imageBytes / 2 ** 20).toFixed(0) : '-'} MiB feat ${c ? (c.detailBytes / 2 ** 20).toFixed(0) : '-'} MiB  refused ${s.refused ?? '-'} (wait est ${s.queueWaitMs?.toFixed(0) ?? '-'} ms, drain x${s.drainFactor?.toFixed(1) ?? '-'})  gc max/total ${s.gcMaxMs ?? '-'}/${s.gcTotalMs ?? '-'} ms  cpu machine/steal/server ${s.machineCores}/${s.stealCores}/${s.serverCores} cores  ${JSON.stringify(errors)}`);
}, sampleMs);

// Open loop: start calls on a schedule whatever the latency, as many trainers would.
await openLoop(rate, stopAt - performance.now(), () => one(pick()), (code, startedAt, latencyMs) => {
  if (code.startsWith('OK')) {
    const end = startedAt + latencyMs;
    window.push(latencyMs);
    allOk.push([end - t0, latencyMs]);
  } else windowErrors[code] = (windowErrors[code] ?? 0) + 1;
});
clearInterval(sampler);
client.close();
server.kill('SIGTERM');
await new Promise((r) => server.once('exit', r));
await rm(state, { recursive: true, force: true });

// ---------------------------------------------------------------- verdict
const after = samples.filter((s) => s.t * 1000 >= warmupMs);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const firstRss = after[0]?.rssMiB ?? NaN;
const lastRss = median(after.slice(-3).map((s) => s.rssMiB));
const rssDrift = (lastRss - firstRss) / firstRss;
const fdGrowth = (after.at(-1)?.fds ?? NaN) - (after[0]?.fds ?? NaN);
// p99 per --p99-window-seconds window after the warm-up (a partial last window is dropped).
const p99Windows: { fromS: number; calls: number; p99: number }[] = [];
for (let from = warmupMs; from + p99WindowMs <= minutes * 60_000; from += p99WindowMs) {
  const lat = allOk.filter(([t]) => t >= from && t < from + p99WindowMs).map(([, ms]) => ms).sort((x, y) => x - y);
  if (lat.length > 0) p99Windows.push({ fromS: from / 1000, calls: lat.length, p99: lat[Math.min(lat.length - 1, Math.floor(0.99 * lat.length))]! });
}
// What else each window held: the machine's and the server's CPU, GC, loop stalls, refusals, cache fill.
const windowContext = (fromS: number) => {
  const ss = samples.filter((x) => x.t > fromS && x.t <= fromS + p99WindowMs / 1000);
  const max = (k: 'loopMaxMs' | 'gcMaxMs' | 'machineCores' | 'stealCores' | 'serverCores') => Math.max(...ss.map((x) => x[k] ?? NaN).filter(Number.isFinite));
  return { machineCoresMax: max('machineCores'), stealCoresMax: max('stealCores'), serverCoresMax: max('serverCores'), loopMaxMs: max('loopMaxMs'), gcMaxMs: max('gcMaxMs'), refused: (ss.at(-1)?.refused ?? 0) - (ss[0]?.refused ?? 0) };
};
const p99Context = p99Windows.map((w) => ({ ...w, ...windowContext(w.fromS) }));
const p99s = p99Windows.map((w) => w.p99);
const p99Ratio = Math.max(...p99s) / median(p99s);
const errorTotals: Record<string, number> = {};
for (const s of samples) for (const [k, v] of Object.entries(s.errors)) errorTotals[k] = (errorTotals[k] ?? 0) + v;
const verdict = {
  rssDrift: { value: rssDrift, limit: 0.1, ok: Math.abs(rssDrift) <= 0.1 },
  fdGrowth: { value: fdGrowth, limit: 0, ok: fdGrowth <= 0 },
  p99Ratio: { value: p99Ratio, limit: 1.5, ok: p99Ratio <= 1.5 },
};
console.log(`\nsoak: ${minutes} min at ${rate} calls/s (saturation ~${saturation.toFixed(0)}), caches filled first in ${(fill.ms / 1000).toFixed(0)} s (${JSON.stringify(fill.caches)}), then warm-up ${warmupMs / 60_000} min, ${samples.length} samples`);
console.log(`p99 per ${p99WindowMs / 1000} s window (ms): ${p99Windows.map((w) => w.p99.toFixed(0)).join(' ')}`);
console.table(p99Context.map((w) => ({ fromS: w.fromS, calls: w.calls, p99Ms: Math.round(w.p99), machineCores: w.machineCoresMax, stealCores: w.stealCoresMax, serverCores: w.serverCoresMax, loopMaxMs: Math.round(w.loopMaxMs), gcMaxMs: w.gcMaxMs, refused: w.refused })));
console.log(`RSS after warm-up ${firstRss.toFixed(0)} -> ${lastRss.toFixed(0)} MiB (drift ${(100 * rssDrift).toFixed(1)}%, limit 10%)  ${verdict.rssDrift.ok ? 'ok' : 'FAIL'}`);
console.log(`open fds ${after[0]?.fds} -> ${after.at(-1)?.fds} (growth ${fdGrowth})  ${verdict.fdGrowth.ok ? 'ok' : 'FAIL'}`);
console.log(`p99 of ${p99WindowMs / 1000} s windows: max / median ${p99Ratio.toFixed(2)} (median ${median(p99s).toFixed(1)} ms, limit 1.5x)  ${verdict.p99Ratio.ok ? 'ok' : 'FAIL'}`);
console.log(`errors: ${JSON.stringify(errorTotals)}`);
// Which budget refused during the measured minutes: a refusal below saturation says which bound is too tight.
const by0 = after[0]?.refusedBy, by1 = after.at(-1)?.refusedBy;
if (by0 && by1) console.log(`refusals by budget after warm-up: bytes ${by1.bytes - by0.bytes}, wait ${by1.wait - by0.wait}, deadline ${by1.deadline - by0.deadline}, loop ${by1.loop - by0.loop}`);
const out = values.json ?? join('bench-results', `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
await mkdir(join(out, '..'), { recursive: true });
await writeFile(out, JSON.stringify({ minutes, rate, pinned: values.pin, saturation, closedLoop, ramp, fill, warmupMs, p99WindowMs, p99Windows: p99Context, samples, verdict, errors: errorTotals }, null, 2));
console.log(`wrote ${out}`);
process.exit(Object.values(verdict).every((v) => v.ok) ? 0 : 1);
