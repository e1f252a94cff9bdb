/**
 * The server's request pipeline without gRPC: validation and digests
 * (planScore), caches, PNG decode, the batchers and the model worker, driven
 * by `c` concurrent callers in a closed loop (each calls again as soon as its
 * call returns, as the bench's load generator does), in this process pinned
 * to one core. Prints rewards/s, CPU per reward (this process, all threads:
 * the event loop, the model worker, V8's helpers; per thread from /proc:
 * main, the busiest other thread, the rest) and the stages' batch
 * sizes, for each setting of the encoder's feeder hold given, alternating,
 * and the bare stages (bench:serve's in-process limit) on the same core in
 * the same runs, for the ratio.
 *
 *   npx tsx scripts/bench-cost/pipeline.ts [--workload single|group16] [--concurrency 64] [--calls 600] [--holds 20,0] [--runs 3] [--core 0] [--no-caches]
 *
 * Between bench:serve's in-process limit (the bare stages) and its server
 * rows (this plus gRPC, admission, the response), this splits the server's
 * extra CPU into the pipeline's part and the part around it; grpc-floor.ts
 * measures gRPC's alone.
 */
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { emptyBatcherStats } from '../../src/serve/batcher.js';
import { Caches } from '../../src/serve/caches.js';
import { DEFAULTS } from '../../src/serve/config.js';
import { ImageStage } from '../../src/serve/images.js';
import { silentLogger } from '../../src/serve/log.js';
import { ModelHost } from '../../src/serve/model-host.js';
import { planScore } from '../../src/serve/request.js';
import { Scorer } from '../../src/serve/scorer.js';
import { ServedVersion } from '../../src/serve/versions.js';
import { GROUP, makeItems, type Workload } from '../bench-serve/items.js';
import { inProcess } from '../bench-serve/in-process.js';
import { loadBundle } from '../../src/model/bundle.js';
import { threadCpu } from '../bench-serve/proc.js';

/** CPU ms since `before` per thread group: this thread, the one that used most besides it (the model worker, when there is one), the rest (V8's helpers, libuv's pool). */
async function split(before: Awaited<ReturnType<typeof threadCpu>>): Promise<{ main: number; busiest: number; rest: number }> {
  const after = await threadCpu(process.pid);
  const used = [...after].map(([tid, t]) => [tid, t.ms - (before.get(tid)?.ms ?? 0)] as const);
  const main = used.find(([tid]) => tid === process.pid)?.[1] ?? 0;
  const others = used.filter(([tid]) => tid !== process.pid).map(([, ms]) => ms).sort((a, b) => b - a);
  return { main, busiest: others[0] ?? 0, rest: others.slice(1).reduce((a, b) => a + b, 0) };
}

const { values } = parseArgs({ options: {
  workload: { type: 'string', default: 'single' }, concurrency: { type: 'string', default: '64' }, calls: { type: 'string', default: '600' },
  holds: { type: 'string', default: '20,0' }, runs: { type: 'string', default: '3' }, core: { type: 'string', default: '0' },
  model: { type: 'string', default: 'models/shapes-mrm' }, seed: { type: 'string', default: '7' },
  // Off: nothing is kept between calls (the naive server's caches), to see what the caches' retention costs the GC.
  'no-caches': { type: 'boolean', default: false },
} });
const w = values.workload as Workload;
const c = Number(values.concurrency);
const calls = Number(values.calls);
const holds = values.holds.split(',').map(Number);
// All threads of this process, and those it starts (the model worker), on one core, as the bench pins the server.
if (spawnSync('taskset', ['-a', '-p', '-c', values.core, String(process.pid)], { stdio: 'ignore' }).status !== 0) console.error('pipeline: taskset failed; running unpinned');

const host = await ModelHost.start({ dir: values.model, threads: DEFAULTS.threads, registry: null, warm: { vision: DEFAULTS.vision.maxBatchSize, encoder: DEFAULTS.encoder.maxBatchSize } }, silentLogger);
const limits = { maxItemsPerRequest: DEFAULTS.maxItemsPerRequest, maxTextBytes: DEFAULTS.maxTextBytes, maxImages: host.manifest.preprocess.image.maxImages };

// The bare stages on the same core, between the pipeline's runs (bench:serve's in-process limit, at its usual best: chunks of 64, 1 in flight).
const { runtime } = await loadBundle(values.model, { threads: DEFAULTS.threads });
interface Threads { main: number; busiest: number; rest: number }
const limit: { rewardsPerSec: number; cpuMsPerReward: number; threads: Threads }[] = [];

interface Row { hold: number; run: number; rewardsPerSec: number; cpuMsPerReward: number; vision: number; encoder: number; threads: Threads }
const rows: Row[] = [];
let offset = 0;
for (let run = 0; run < Number(values.runs); run++) {
  for (const hold of run % 2 === 0 ? holds : [...holds].reverse()) {
    const stats = { vision: emptyBatcherStats(), encoder: emptyBatcherStats() };
    const v = new ServedVersion(host, { vision: DEFAULTS.vision, encoder: { ...DEFAULTS.encoder, feederHoldMs: hold }, batching: true }, stats);
    const caches = new Caches(DEFAULTS.cache, !values['no-caches']);
    const scorer = new Scorer(caches, new ImageStage(caches, true), true);
    // Distinct items per setting and run: no cache hit crosses them.
    const items = await makeItems(Number(values.seed) + 5000, offset, calls, w === 'single' ? 1 : GROUP);
    offset += calls;
    const reqs = items.map((it) => (w === 'single'
      ? { items: [{ images: it.images.map((data) => ({ data })), system: it.system, prompt: it.prompt, response: it.responses[0]! }] }
      : { groups: [{ images: it.images.map((data) => ({ data })), system: it.system, prompt: it.prompt, responses: it.responses }] }));
    let next = 0;
    let rewards = 0;
    const caller = async () => {
      while (next < reqs.length) {
        const req = reqs[next++]!;
        const h = v.pin();
        try {
          // Read the count after the await: `rewards += await ...` would add to the value read before it.
          const scored = await scorer.score(planScore(req, limits).units, v, { deadline: Infinity });
          rewards += scored.length;
        } finally {
          h.release();
        }
      }
    };
    const th0 = await threadCpu(process.pid);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: c }, caller));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const th = perReward(await split(th0), rewards);
    const per = (s: typeof stats.vision) => s.entries / Math.max(1, s.batches);
    rows.push({ hold, run, rewardsPerSec: rewards / seconds, cpuMsPerReward: (cpu.user + cpu.system) / 1000 / rewards, vision: per(stats.vision), encoder: per(stats.encoder), threads: th });
    if (hold === holds[0]) {
      const bare = await makeItems(Number(values.seed) + 6000, run * 256, w === 'single' ? 256 : 32, w === 'single' ? 1 : GROUP);
      await inProcess(runtime, bare.slice(0, 16), w, 64, 1);
      const th0 = await threadCpu(process.pid);
      const r = await inProcess(runtime, bare, w, 64, 1);
      limit.push({ ...r, threads: perReward(await split(th0), bare.length * (w === 'single' ? 1 : GROUP)) });
    }
    console.error(`run ${run + 1} hold ${hold} ms: ${JSON.stringify(rows.at(-1))} (${rewards} rewards, ${seconds.toFixed(2)} s, cpu ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms)`);
  }
}
await host.release();
await runtime.release();

function perReward(t: Threads, rewards: number): Threads {
  return { main: t.main / rewards, busiest: t.busiest / rewards, rest: t.rest / rewards };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const threadCols = (ts: Threads[]) => `${median(ts.map((t) => t.main)).toFixed(3).padStart(8)} ${median(ts.map((t) => t.busiest)).toFixed(3).padStart(8)} ${median(ts.map((t) => t.rest)).toFixed(3).padStart(8)}`;
console.log(`\npipeline without gRPC: ${w}, ${c} callers, ${calls} calls per run, core ${values.core}; medians of ${values.runs} runs`);
console.log(`${'feederHoldMs'.padStart(12)} | ${'r/s'.padStart(8)} ${'cpu/r ms'.padStart(9)} | ${'main'.padStart(8)} ${'busiest'.padStart(8)} ${'rest'.padStart(8)} | ${'vision/batch'.padStart(12)} ${'encoder/batch'.padStart(13)}`);
console.log(`${'in-process'.padStart(12)} | ${median(limit.map((r) => r.rewardsPerSec)).toFixed(1).padStart(8)} ${median(limit.map((r) => r.cpuMsPerReward)).toFixed(3).padStart(9)} | ${threadCols(limit.map((r) => r.threads))} | ${'8 (cap)'.padStart(12)} ${'64'.padStart(13)}`);
for (const hold of holds) {
  const rs = rows.filter((r) => r.hold === hold);
  console.log(`${String(hold).padStart(12)} | ${median(rs.map((r) => r.rewardsPerSec)).toFixed(1).padStart(8)} ${median(rs.map((r) => r.cpuMsPerReward)).toFixed(3).padStart(9)} | ${threadCols(rs.map((r) => r.threads))} | ${median(rs.map((r) => r.vision)).toFixed(1).padStart(12)} ${median(rs.map((r) => r.encoder)).toFixed(1).padStart(13)}`);
}
