/**
 * The lone client's tail: one request in flight (single items, each with its
 * own image), against `mrm serve` in a few configurations, alternating, each
 * a fresh process pinned to core 0 with this process (the client) on core 1.
 *
 *   npx tsx scripts/bench-serve/lone.ts [--runs 3] [--seconds 6] [--variants server,naive,no-caches,no-batching,no-log]
 *
 * At one in flight the mean latency decides throughput (a closed loop of
 * one), so a longer tail with an equal p50 costs rewards/s. Per variant
 * (medians over runs) it prints p50, p99, max and mean latency, the tail's
 * excess (the sum over calls of what each took beyond 2x the run's p50, per
 * second of load), and what the server said about the same seconds in its
 * stats lines (every 250 ms): GC pauses (total per second and the longest)
 * and the event loop's longest delay. A tail excess that GC pauses match is
 * the heap's; one that only the loop delay matches is other work on the loop
 * or the machine (a busy machine preempts the pinned server: compare the
 * variants within one run).
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createRewardClient, unary } from '../../src/serve/proto.js';
import { makeItems, SEEDS } from './items.js';
import { startServe } from '../serve-process.js';

const VARIANTS: Record<string, string[]> = {
  server: [],
  naive: ['--batching', 'false', '--caches', 'false'],
  'no-caches': ['--caches', 'false'],
  'no-batching': ['--batching', 'false'],
  'no-log': ['--log-enabled', 'false'],
};
const STATS_MS = 250;

interface StatsLine { event: string; gc?: { count: number; totalMs: number; maxMs: number }; eventLoop?: { maxMs: number } }
interface Row { p50: number; p99: number; max: number; mean: number; tailMsPerS: number; gcMsPerS: number; gcMax: number; loopMax: number; rps: number }

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function one(flags: string[], seconds: number, seed: number, pin: boolean): Promise<Row> {
  const state = await mkdtemp(join(tmpdir(), 'mrm-lone-'));
  const stats: { at: number; line: StatsLine }[] = [];
  const { server: proc, port } = await startServe({
    stateDir: state, statsIntervalMs: STATS_MS, serverFlags: ['--seed-bundle', 'models/shapes-mrm', ...flags].join(' '),
    ...(pin ? { core: 0 } : {}),
    onLine: (rec) => { if (rec.event === 'server.stats') stats.push({ at: performance.now(), line: rec as unknown as StatsLine }); },
  });
  const exited = new Promise((r) => proc.once('exit', r));
  try {
    const items = await makeItems(seed + SEEDS.single, 0, Math.ceil(400 * seconds) + 5, 1);
    const client = createRewardClient(`127.0.0.1:${port}`);
    const call = (i: number) => {
      const it = items[i]!;
      return unary(client.score.bind(client), { items: [{ images: it.images.map((data) => ({ data })), system: it.system, prompt: it.prompt, response: it.responses[0]! }] }, { deadline: Date.now() + 60_000 });
    };
    for (let i = 0; i < 5; i++) await call(i); // warm-up: the connection, the first batches
    const lat: number[] = [];
    const t0 = performance.now();
    for (let i = 5; i < items.length && performance.now() - t0 < seconds * 1000; i++) {
      const s = performance.now();
      await call(i);
      lat.push(performance.now() - s);
    }
    const t1 = performance.now();
    client.close();
    // The stats lines whose interval lies within the timed run.
    await new Promise((r) => setTimeout(r, STATS_MS * 1.5));
    const inRun = stats.filter((s) => s.at - STATS_MS >= t0 && s.at <= t1 + STATS_MS).map((s) => s.line);
    const sorted = [...lat].sort((a, b) => a - b);
    const p50 = sorted[Math.floor(sorted.length / 2)]!;
    const secs = (t1 - t0) / 1000;
    return {
      p50, p99: sorted[Math.floor(sorted.length * 0.99)]!, max: sorted[sorted.length - 1]!, mean: lat.reduce((a, b) => a + b, 0) / lat.length,
      tailMsPerS: lat.reduce((a, x) => a + Math.max(0, x - 2 * p50), 0) / secs,
      gcMsPerS: inRun.reduce((a, l) => a + (l.gc?.totalMs ?? 0), 0) / (inRun.length * STATS_MS / 1000 || 1),
      gcMax: Math.max(0, ...inRun.map((l) => l.gc?.maxMs ?? 0)),
      loopMax: Math.max(0, ...inRun.map((l) => l.eventLoop?.maxMs ?? 0)),
      rps: lat.length / secs,
    };
  } finally {
    proc.kill('SIGTERM');
    await exited;
    await rm(state, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    runs: { type: 'string', default: '3' }, seconds: { type: 'string', default: '6' }, seed: { type: 'string', default: '7' },
    variants: { type: 'string', default: 'server,naive,no-caches,no-batching' }, help: { type: 'boolean', short: 'h' },
  } });
  if (values.help) {
    console.log(`usage: npx tsx scripts/bench-serve/lone.ts [--runs 3] [--seconds 6] [--seed 7] [--variants ${Object.keys(VARIANTS).join(',')}]

  One request in flight against mrm serve in each variant, alternating, the
  server on core 0 and this client on core 1: latency, the tail's excess over
  2x p50, and the server's GC pauses and loop delay over the same seconds.`);
    return;
  }
  const names = values.variants.split(',');
  for (const n of names) if (!VARIANTS[n]) throw new Error(`--variants: unknown ${n} (known: ${Object.keys(VARIANTS).join(', ')})`);
  // The client on core 1, the server on core 0: as bench:serve's pinned table.
  const pin = cpus().length >= 2 && spawnSync('taskset', ['-a', '-p', '-c', '1', String(process.pid)], { stdio: 'ignore' }).status === 0;
  const rows = new Map<string, Row[]>(names.map((n) => [n, []]));
  const runs = Number(values.runs);
  for (let run = 0; run < runs; run++) {
    // Alternating order, so a slow stretch of the machine does not always hit the same variant.
    for (const n of run % 2 === 0 ? names : [...names].reverse()) {
      rows.get(n)!.push(await one(VARIANTS[n]!, Number(values.seconds), Number(values.seed) + run, pin));
      console.error(`run ${run + 1}/${runs} ${n}: done`);
    }
  }
  console.log(`\nlone client (1 in flight, single items), ${runs} runs x ${values.seconds} s, ${pin ? 'server on core 0, client on core 1' : 'unpinned'}; medians`);
  console.log(`${'variant'.padEnd(12)} ${'r/s'.padStart(6)} ${'mean'.padStart(6)} ${'p50'.padStart(6)} ${'p99'.padStart(6)} ${'max'.padStart(6)} | ${'tail ms/s'.padStart(9)} | ${'gc ms/s'.padStart(7)} ${'gc max'.padStart(6)} | loop max`);
  for (const [n, rs] of rows) {
    const m = (f: (r: Row) => number) => median(rs.map(f));
    const f = (x: number, w = 6) => x.toFixed(x >= 100 ? 0 : 2).padStart(w);
    console.log(`${n.padEnd(12)} ${f(m((r) => r.rps))} ${f(m((r) => r.mean))} ${f(m((r) => r.p50))} ${f(m((r) => r.p99))} ${f(m((r) => r.max))} | ${f(m((r) => r.tailMsPerS), 9)} | ${f(m((r) => r.gcMsPerS), 7)} ${f(m((r) => r.gcMax))} | ${f(m((r) => r.loopMax))}`);
  }
}

await main();
