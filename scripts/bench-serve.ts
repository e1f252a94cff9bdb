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
 * generator is another child process (this file with --loadgen), loopback
 * only, bounded in calls and seconds. Numbers are medians of the runs.
 * Prints a table and writes bench-results/serve-<time>.json.
 */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { loadBundle } from '../src/model/bundle.js';
import { sha256Hex } from '../src/model/digest.js';
import { preprocessImage } from '../src/model/image.js';
import type { ModelRuntime } from '../src/model/runtime.js';
import { encodeText } from '../src/model/text.js';
import { emptyBatcherStats } from '../src/serve/batcher.js';
import { Caches } from '../src/serve/caches.js';
import { DEFAULTS } from '../src/serve/config.js';
import { ImageStage } from '../src/serve/images.js';
import { silentLogger } from '../src/serve/log.js';
import { ModelHost } from '../src/serve/model-host.js';
import { createRewardClient, HEALTH_PROTO, LOADER_OPTIONS, type RewardClient, unary } from '../src/serve/proto.js';
import { planScore } from '../src/serve/request.js';
import { Scorer } from '../src/serve/scorer.js';
import { ServedVersion } from '../src/serve/versions.js';
import { sampleSplit } from '../trainer/shapes/pairs.js';
import { renderPng } from '../trainer/shapes/raster.js';

type Workload = 'single' | 'group16';
const CONCURRENCY = [1, 8, 32, 64];
const GROUP = 16;
/** Calls per level: enough waves at high concurrency for a steady state. */
const callsFor = (w: Workload, c: number) => (w === 'single' ? Math.max(160, 6 * c) : Math.max(24, 3 * c));
const warmFor = (c: number) => Math.min(c, 8);
/** Seed offsets per use, so no two uses share a scene (and no cache hit crosses them). */
const SEEDS = { single: 0, group16: 1000, inProcess: 2000, cacheHit: 3000, pythonCacheHit: 4000 } as const;
/** The Python client's interpreter (apt's python3-grpcio lives there, not in the python3 on PATH). */
const PYTHON = '/usr/bin/python3';

interface BenchItem { images: Buffer[]; system: string; prompt: string; responses: string[] }

/**
 * Deterministic distinct items: pairs offset.. of the seed's split, with `n`
 * distinct responses. Each use gets its own seed (SEEDS) and small offsets:
 * sampleSplit generates every pair before `offset`.
 */
async function makeItems(seed: number, offset: number, count: number, n: number): Promise<BenchItem[]> {
  const pairs = sampleSplit(seed, offset + count).slice(offset);
  return Promise.all(pairs.map(async (p, i) => ({
    images: await Promise.all(p.images.map((s) => renderPng(s))),
    system: p.system ?? '',
    prompt: p.prompt,
    // GRPO samples of one prompt differ; the variants keep every text distinct.
    responses: Array.from({ length: n }, (_, j) => (j < 2 ? p.responses[(i + j) % 2]! : `${p.responses[j % 2]!} (${j})`)),
  })));
}

interface LevelResult { workload: Workload | 'cache-hit' | 'cache-hit-sha' | 'grpc-floor'; concurrency: number; calls: number; rewards: number; seconds: number; rewardsPerSec: number; p50: number; p99: number; errors: Record<string, number> }

// ---------------------------------------------------------------- load generator (child)

async function loadgen(spec: { addr: string; seed: number; workload: Workload; levels: number[]; seconds: number; cacheHits: number }): Promise<void> {
  if (!/^(127\.0\.0\.1|localhost|\[::1\]):\d+$/.test(spec.addr)) throw new Error(`loopback addresses only, got ${spec.addr}`);
  const client = createRewardClient(spec.addr);
  const per = spec.workload === 'single' ? 1 : GROUP;
  const seed = spec.seed + SEEDS[spec.workload];
  let offset = 0;
  const results: LevelResult[] = [];
  for (const c of spec.levels) {
    const n = warmFor(c) + callsFor(spec.workload, c);
    const items = await makeItems(seed, offset, n, per);
    offset += n;
    await drive(client, spec.workload, items.slice(0, warmFor(c)), c, spec.seconds);
    results.push({ ...(await drive(client, spec.workload, items.slice(warmFor(c)), c, spec.seconds)), concurrency: c });
  }
  if (spec.cacheHits > 0) {
    const [item] = await makeItems(seed, offset, 1, 1);
    const same = Array.from({ length: spec.cacheHits + 1 }, () => item!);
    await drive(client, 'single', same.slice(0, 1), 1, spec.seconds); // the miss that fills the cache
    results.push({ ...(await drive(client, 'single', same.slice(1), 1, spec.seconds)), workload: 'cache-hit', concurrency: 1 });
    results.push({ ...(await drive(client, 'single', same.slice(1), 1, spec.seconds, true)), workload: 'cache-hit-sha', concurrency: 1 });
    results.push({ ...(await healthFloor(spec.addr, spec.cacheHits)), concurrency: 1 });
  }
  client.close();
  process.stdout.write(JSON.stringify(results) + '\n');
}

/** The gRPC round trip itself: health Check on the same server, the cheapest call it answers. */
async function healthFloor(addr: string, n: number): Promise<Omit<LevelResult, 'concurrency'>> {
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
async function drive(client: RewardClient, w: Workload, items: BenchItem[], c: number, maxSeconds: number, bySha = false): Promise<Omit<LevelResult, 'concurrency'>> {
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

// ---------------------------------------------------------------- in-process limit

/** Rewards/s of the bare pipeline: chunks of `batch` rewards, `workers` chunks in flight (decode overlaps inference). */
async function inProcess(rt: ModelRuntime, items: BenchItem[], w: Workload, batch: number, workers: number): Promise<number> {
  const m = rt.manifest;
  const perChunk = w === 'single' ? batch : Math.max(1, Math.floor(batch / GROUP));
  const chunks: BenchItem[][] = [];
  for (let i = 0; i < items.length; i += perChunk) chunks.push(items.slice(i, i + perChunk));
  const s = m.preprocess.image.size;
  let next = 0;
  let rewards = 0;
  const run = async (chunk: BenchItem[]) => {
    const imgs = chunk.flatMap((it) => it.images);
    const pixels = await Promise.all(imgs.map((b) => preprocessImage(b, m.preprocess.image, 'x')));
    const all = new Float32Array(imgs.length * 3 * s * s);
    pixels.forEach((p, i) => all.set(p, i * p.length));
    const emb = await rt.embedImages(all, imgs.length);
    let k = 0;
    const encoderItems = chunk.flatMap((it) => {
      const e = it.images.map(() => emb.subarray(k * rt.dv, (++k) * rt.dv));
      return it.responses.map((response) => ({ imageEmbeddings: e, ...encodeText(rt.tokenizer, m.preprocess.text, { system: it.system, prompt: it.prompt, response }) }));
    });
    for (let i = 0; i < encoderItems.length; i += 64) await rt.score(encoderItems.slice(i, i + 64));
    rewards += encoderItems.length;
  };
  const t0 = performance.now();
  await Promise.all(Array.from({ length: workers }, async () => { while (next < chunks.length) await run(chunks[next++]!); }));
  return rewards / ((performance.now() - t0) / 1000);
}

async function inProcessLimit(model: string, seed: number, w: Workload): Promise<{ rewardsPerSec: number; batch: number; workers: number }> {
  const { runtime } = await loadBundle(model, { threads: 1 });
  const items = await makeItems(seed + SEEDS.inProcess, 0, w === 'single' ? 256 : 32, w === 'single' ? 1 : GROUP);
  let best = { rewardsPerSec: 0, batch: 0, workers: 0 };
  for (const batch of [8, 64]) {
    for (const workers of [1, 2]) {
      await inProcess(runtime, items.slice(0, 16), w, batch, workers); // warm this shape
      const r = await inProcess(runtime, items, w, batch, workers);
      if (r > best.rewardsPerSec) best = { rewardsPerSec: r, batch, workers };
    }
  }
  await runtime.release();
  return best;
}

/** Server-side cost of a cache hit: validation (incl. sha256 of the image), digest, lookup; no gRPC. */
async function cacheHitCost(model: string, seed: number): Promise<number> {
  const host = await ModelHost.start({ dir: model, threads: 1, registry: null, warm: { vision: 1, encoder: 1 } }, silentLogger);
  const v = new ServedVersion(host, { vision: DEFAULTS.vision, encoder: DEFAULTS.encoder, batching: true }, { vision: emptyBatcherStats(), encoder: emptyBatcherStats() });
  const caches = new Caches(DEFAULTS.cache);
  const scorer = new Scorer(caches, new ImageStage(caches, true), true);
  const [it] = await makeItems(seed + SEEDS.cacheHit, 0, 1, 1);
  const req = { items: [{ images: it!.images.map((data) => ({ data })), system: it!.system, prompt: it!.prompt, response: it!.responses[0]! }] };
  const limits = { maxItemsPerRequest: DEFAULTS.maxItemsPerRequest, maxTextBytes: DEFAULTS.maxTextBytes, maxImages: v.manifest.preprocess.image.maxImages };
  const live = { deadline: Infinity };
  await scorer.score(planScore(req, limits).units, v, live);
  const n = 2000;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) await scorer.score(planScore(req, limits).units, v, live);
  const ms = (performance.now() - t0) / n;
  await v.retire();
  return ms;
}

interface PyHit { bytes: { p50: number; p99: number }; sha: { p50: number; p99: number }; floor: { p50: number; p99: number } }

/**
 * The cache hit as a Python trainer sees it (grpcio's C core; grpc-js's
 * client alone costs about half a millisecond more per call here).
 * Null when /usr/bin/python3 has no grpc.
 */
async function pythonCacheHit(addr: string, seed: number): Promise<PyHit | null> {
  if (spawnSync(PYTHON, ['-c', 'import grpc, grpc_tools']).status !== 0) return null;
  const [it] = await makeItems(seed + SEEDS.pythonCacheHit, 0, 1, 1);
  const dir = await mkdtemp(join(tmpdir(), 'mrm-bench-py-'));
  try {
    await writeFile(join(dir, 'image.png'), it!.images[0]!);
    const r = spawnSync(PYTHON, ['scripts/bench-cache-hit.py', '--addr', addr, '--image', join(dir, 'image.png'),
      '--system', it!.system, '--prompt', it!.prompt, '--response', it!.responses[0]!], { encoding: 'utf8', timeout: 120_000 });
    if (r.status !== 0) throw new Error(`bench-cache-hit.py failed: ${r.stderr}`);
    return JSON.parse(r.stdout) as PyHit;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- orchestration (parent)

function child(args: string[], opts: { timeoutMs: number }): { proc: ReturnType<typeof spawn>; lines: AsyncIterable<string> } {
  const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const timer = setTimeout(() => proc.kill('SIGKILL'), opts.timeoutMs);
  proc.on('exit', () => clearTimeout(timer));
  return { proc, lines: createInterface({ input: proc.stderr! }) };
}

async function withServer<T>(model: string, flags: string[], fn: (addr: string) => Promise<T>): Promise<T> {
  const state = await mkdtemp(join(tmpdir(), 'mrm-bench-'));
  const { proc, lines } = child(['bin/mrm.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--state-dir', state, '--seed-bundle', model, '--stats-interval-ms', '0', ...flags], { timeoutMs: 30 * 60_000 });
  try {
    let port = 0;
    for await (const line of lines) {
      const rec = JSON.parse(line) as { event: string; port?: number };
      if (rec.event === 'server.serving') { port = rec.port!; break; }
    }
    if (!port) throw new Error('mrm serve exited before serving');
    return await fn(`127.0.0.1:${port}`);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
    await rm(state, { recursive: true, force: true });
  }
}

async function runLoadgen(spec: Parameters<typeof loadgen>[0]): Promise<LevelResult[]> {
  const budget = (spec.levels.length * (spec.seconds + 20) + 60) * 1000;
  const { proc } = child([...process.execArgv, new URL(import.meta.url).pathname, '--loadgen', JSON.stringify(spec)], { timeoutMs: budget });
  let out = '';
  proc.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
  const code = await new Promise((r) => proc.once('exit', r));
  if (code !== 0) throw new Error(`load generator exited with ${String(code)}`);
  return JSON.parse(out) as LevelResult[];
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    loadgen: { type: 'string' }, model: { type: 'string' }, runs: { type: 'string' }, seconds: { type: 'string' },
    'server-flags': { type: 'string' }, seed: { type: 'string' },
  } });
  if (values.loadgen) return loadgen(JSON.parse(values.loadgen) as Parameters<typeof loadgen>[0]);
  const model = values.model ?? 'models/shapes-mrm';
  const runs = Number(values.runs ?? 3);
  const seconds = Number(values.seconds ?? 6);
  const extra = (values['server-flags'] ?? '').split(/\s+/).filter(Boolean);
  const modes = { server: extra, naive: [...extra, '--batching', 'false', '--caches', 'false'] };
  const raw: Record<string, LevelResult[][]> = { server: [], naive: [] };
  const limits: Record<Workload, { rewardsPerSec: number; batch: number; workers: number }[]> = { single: [], group16: [] };
  const hitCost: number[] = [];
  const pyHits: PyHit[] = [];
  for (let run = 0; run < runs; run++) {
    const seed = Number(values.seed ?? 7) + run;
    for (const w of ['single', 'group16'] as const) limits[w].push(await inProcessLimit(model, seed, w));
    hitCost.push(await cacheHitCost(model, seed));
    for (const [mode, flags] of Object.entries(modes)) {
      const levels = await withServer(model, flags, async (addr) => {
        const out = [
          ...(await runLoadgen({ addr, seed, workload: 'single', levels: CONCURRENCY, seconds, cacheHits: mode === 'server' ? 300 : 0 })),
          ...(await runLoadgen({ addr, seed, workload: 'group16', levels: CONCURRENCY, seconds, cacheHits: 0 })),
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

function report(raw: Record<string, LevelResult[][]>, limits: Record<Workload, { rewardsPerSec: number; batch: number; workers: number }[]>, hitServerMs: number, pyHits: PyHit[], meta: object): void {
  const med = (mode: string, w: string, c: number) => {
    const rs = raw[mode]!.map((levels) => levels.find((l) => l.workload === w && l.concurrency === c)!);
    return { rewardsPerSec: median(rs.map((r) => r.rewardsPerSec)), p50: median(rs.map((r) => r.p50)), p99: median(rs.map((r) => r.p99)), errors: rs.reduce((n, r) => n + Object.values(r.errors).reduce((a, b) => a + b, 0), 0) };
  };
  const rows = (['single', 'group16'] as const).flatMap((w) => CONCURRENCY.map((c) => ({ workload: w, concurrency: c, server: med('server', w, c), naive: med('naive', w, c) })));
  const limit = { single: median(limits.single.map((l) => l.rewardsPerSec)), group16: median(limits.group16.map((l) => l.rewardsPerSec)) };
  const f = (x: number, d = 1) => x.toFixed(d).padStart(8);
  console.log(`\n${'workload'.padEnd(9)} ${'conc'.padStart(4)} | ${'server r/s'.padStart(10)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} | ${'naive r/s'.padStart(10)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} | server/naive  server/in-proc`);
  for (const r of rows) {
    console.log(`${r.workload.padEnd(9)} ${String(r.concurrency).padStart(4)} | ${f(r.server.rewardsPerSec).padStart(10)} ${f(r.server.p50, 2)} ${f(r.server.p99, 2)} | ${f(r.naive.rewardsPerSec).padStart(10)} ${f(r.naive.p50, 2)} ${f(r.naive.p99, 2)} | ${f(r.server.rewardsPerSec / r.naive.rewardsPerSec, 2).padStart(12)}  ${f(r.server.rewardsPerSec / limit[r.workload], 2).padStart(13)}${r.server.errors + r.naive.errors ? `  errors ${r.server.errors}/${r.naive.errors}` : ''}`);
  }
  const sat = (mode: string, w: Workload) => Math.max(...rows.filter((r) => r.workload === w).map((r) => (mode === 'server' ? r.server : r.naive).rewardsPerSec));
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
    cacheHit: { p50: median(hit.map((h) => h.p50)), p99: median(hit.map((h) => h.p99)), uncachedP50: med('server', 'single', 1).p50, serverSideMs: hitServerMs, grpcFloorP50: median(floor.map((h) => h.p50)),
      bySha: { p50: median(hitSha.map((h) => h.p50)), p99: median(hitSha.map((h) => h.p99)) },
      python: pyHits.length === 0 ? null : {
        bytes: { p50: median(pyHits.map((h) => h.bytes.p50)), p99: median(pyHits.map((h) => h.bytes.p99)) },
        sha: { p50: median(pyHits.map((h) => h.sha.p50)), p99: median(pyHits.map((h) => h.sha.p99)) },
        floorP50: median(pyHits.map((h) => h.floor.p50)),
      } },
  };
  console.log(`\nin-process limit: single ${limit.single.toFixed(1)} r/s, group16 ${limit.group16.toFixed(1)} r/s (best batch/workers per run: ${JSON.stringify(limits)})`);
  console.log(`saturated server/in-process: single ${summary.ratios.serverOverInProcess.single.toFixed(2)}x, group16 ${summary.ratios.serverOverInProcess.group16.toFixed(2)}x   (target >= 0.85)`);
  console.log(`saturated server/naive:      single ${summary.ratios.serverOverNaive.single.toFixed(2)}x, group16 ${summary.ratios.serverOverNaive.group16.toFixed(2)}x   (target >= 4)`);
  console.log(`in-process limit/naive:      single ${summary.ratios.inProcessOverNaive.single.toFixed(2)}x, group16 ${summary.ratios.inProcessOverNaive.group16.toFixed(2)}x   (the most batching can give over the naive server)`);
  console.log(`group of 16 vs single item:  ${summary.ratios.group16OverSingle.saturatedCost.toFixed(2)}x per call at saturation, ${summary.ratios.group16OverSingle.latencyC1.toFixed(2)}x p50 latency at c=1   (target <= 2)`);
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
