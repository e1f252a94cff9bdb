/**
 * npm run soak -- [--minutes 10] [--rate R] [--sample-seconds 5] [--warmup-minutes 2] [--json FILE]
 *
 * Holds mixed traffic against a fresh `mrm serve` (the shipped default model,
 * loopback only) for a while and watches it for leaks and drift:
 *   mix: 40% single items (new text, images from a pool of 4,000 scenes),
 *        20% GRPO groups of 8, 20% Compare pairs, 15% exact repeats (reward
 *        cache hits), 5% bad requests (must get INVALID_ARGUMENT).
 *   rate: open loop at --rate calls/s; by default 80% of the saturation a
 *         15 s closed-loop probe (32 in flight, same mix) measured first.
 * Every --sample-seconds it samples the server's RSS and open file
 * descriptors (/proc), its event-loop delay (from its `server.stats` log
 * line), and the window's call rate, p99 latency and errors. Prints a table
 * and a verdict (RSS drift after warm-up <= 10%, no fd growth, p99 within
 * 1.5x of its median) and writes JSON (default bench-results/soak-<time>.json).
 */
import * as grpc from '@grpc/grpc-js';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createRewardClient, type RewardClient, unary } from '../src/serve/proto.js';
import { sampleSplit } from '../trainer/shapes/pairs.js';
import { renderPng } from '../trainer/shapes/raster.js';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    rate: { type: 'string' },
    'sample-seconds': { type: 'string', default: '5' },
    'warmup-minutes': { type: 'string' },
    json: { type: 'string' },
    'server-flags': { type: 'string', default: '' },
  },
});
const minutes = Number(values.minutes);
const sampleMs = Number(values['sample-seconds']) * 1000;
const warmupMs = (values['warmup-minutes'] !== undefined ? Number(values['warmup-minutes']) : Math.min(2, minutes / 5)) * 60_000;
if (!(minutes > 0) || !(sampleMs > 0)) throw new Error('--minutes and --sample-seconds must be positive');

// ---------------------------------------------------------------- the server
const state = await mkdtemp(join(tmpdir(), 'mrm-soak-'));
const server = spawn(process.execPath, ['bin/mrm.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--state-dir', state,
  '--stats-interval-ms', String(sampleMs), ...values['server-flags']!.split(' ').filter(Boolean)], { stdio: ['ignore', 'ignore', 'pipe'] });
let lastStats: Record<string, unknown> | null = null;
const port = await new Promise<number>((resolve, reject) => {
  server.once('exit', (c) => reject(new Error(`mrm serve exited with ${c}`)));
  createInterface({ input: server.stderr! }).on('line', (line) => {
    let rec: Record<string, unknown>;
    try { rec = JSON.parse(line); } catch { return; }
    if (rec.event === 'server.serving') resolve(rec.port as number);
    if (rec.event === 'server.stats') lastStats = rec;
  });
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

/** Closed loop at `c` in flight for `ms`: calls per second. */
async function probe(c: number, ms: number): Promise<number> {
  const end = performance.now() + ms;
  let calls = 0;
  await Promise.all(Array.from({ length: c }, async () => {
    while (performance.now() < end) { await one(pick()); calls++; }
  }));
  return calls / (ms / 1000);
}

await probe(8, 3000); // warm the server up
const saturation = await probe(32, 15_000);
const rate = values.rate ? Number(values.rate) : Math.round(0.8 * saturation);
console.error(`saturation ~${saturation.toFixed(0)} calls/s (mixed); holding ${rate} calls/s for ${minutes} min`);

// ---------------------------------------------------------------- sampling
interface Sample { t: number; rssMiB: number; fds: number; calls: number; rate: number; p50: number; p99: number; loopP99Ms: number | null; errors: Record<string, number> }
const samples: Sample[] = [];
let window: number[] = [];
let windowErrors: Record<string, number> = {};

async function procSample(): Promise<{ rssMiB: number; fds: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  const fds = (await readdir(`/proc/${pid}/fd`)).length;
  return { rssMiB: rssKb / 1024, fds };
}

const t0 = performance.now();
const stopAt = t0 + minutes * 60_000;
const sampler = setInterval(async () => {
  const lat = window.sort((a, b) => a - b);
  const errors = windowErrors;
  window = [];
  windowErrors = {};
  const pct = (q: number) => lat[Math.min(lat.length - 1, Math.floor(q * lat.length))] ?? NaN;
  const loop = (lastStats as { eventLoop?: { p99Ms?: number } } | null)?.eventLoop?.p99Ms ?? null;
  const s: Sample = { t: Math.round((performance.now() - t0) / 1000), ...(await procSample()), calls: lat.length, rate: lat.length / (sampleMs / 1000), p50: pct(0.5), p99: pct(0.99), loopP99Ms: loop, errors };
  samples.push(s);
  console.error(`${String(s.t).padStart(5)} s  rss ${s.rssMiB.toFixed(0).padStart(5)} MiB  fds ${String(s.fds).padStart(4)}  ${s.rate.toFixed(0).padStart(5)} calls/s  p99 ${s.p99.toFixed(1).padStart(7)} ms  loop p99 ${loop === null ? '-' : loop.toFixed(1)} ms  ${JSON.stringify(errors)}`);
}, sampleMs);

// Open loop: start calls on a schedule whatever the latency, as many trainers would.
const inflight = new Set<Promise<void>>();
let due = performance.now();
while (performance.now() < stopAt) {
  const now = performance.now();
  while (due <= now) {
    due += 1000 / rate;
    const s = performance.now();
    const p = one(pick()).then((code) => {
      if (code.startsWith('OK')) window.push(performance.now() - s);
      else windowErrors[code] = (windowErrors[code] ?? 0) + 1;
    });
    const tracked = p.finally(() => inflight.delete(tracked));
    inflight.add(tracked);
  }
  await new Promise((r) => setTimeout(r, Math.max(1, due - performance.now())));
}
await Promise.all(inflight);
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
const p99s = after.map((s) => s.p99).filter(Number.isFinite);
const p99Ratio = Math.max(...p99s) / median(p99s);
const errorTotals: Record<string, number> = {};
for (const s of samples) for (const [k, v] of Object.entries(s.errors)) errorTotals[k] = (errorTotals[k] ?? 0) + v;
const verdict = {
  rssDrift: { value: rssDrift, limit: 0.1, ok: Math.abs(rssDrift) <= 0.1 },
  fdGrowth: { value: fdGrowth, limit: 0, ok: fdGrowth <= 0 },
  p99Ratio: { value: p99Ratio, limit: 1.5, ok: p99Ratio <= 1.5 },
};
console.log(`\nsoak: ${minutes} min at ${rate} calls/s (saturation ~${saturation.toFixed(0)}), warm-up ${warmupMs / 60_000} min, ${samples.length} samples`);
console.log(`RSS after warm-up ${firstRss.toFixed(0)} -> ${lastRss.toFixed(0)} MiB (drift ${(100 * rssDrift).toFixed(1)}%, limit 10%)  ${verdict.rssDrift.ok ? 'ok' : 'FAIL'}`);
console.log(`open fds ${after[0]?.fds} -> ${after.at(-1)?.fds} (growth ${fdGrowth})  ${verdict.fdGrowth.ok ? 'ok' : 'FAIL'}`);
console.log(`p99 max / median ${p99Ratio.toFixed(2)} (median ${median(p99s).toFixed(1)} ms, limit 1.5x)  ${verdict.p99Ratio.ok ? 'ok' : 'FAIL'}`);
console.log(`errors: ${JSON.stringify(errorTotals)}`);
const out = values.json ?? join('bench-results', `soak-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
await mkdir(join(out, '..'), { recursive: true });
await writeFile(out, JSON.stringify({ minutes, rate, saturation, warmupMs, samples, verdict, errors: errorTotals }, null, 2));
console.log(`wrote ${out}`);
process.exit(Object.values(verdict).every((v) => v.ok) ? 0 : 1);
