/** The in-process limit (the bare pipeline, no gRPC) and the server-side cost of a cache hit. */
import { loadBundle } from '../../src/model/bundle.js';
import { preprocessImage } from '../../src/model/image.js';
import type { ModelRuntime } from '../../src/model/runtime.js';
import { encodeText, type PromptMemo } from '../../src/model/text.js';
import { emptyBatcherStats } from '../../src/serve/batcher.js';
import { Caches } from '../../src/serve/caches.js';
import { DEFAULTS } from '../../src/serve/config.js';
import { ImageStage } from '../../src/serve/images.js';
import { silentLogger } from '../../src/serve/log.js';
import { ModelHost } from '../../src/serve/model-host.js';
import { planScore } from '../../src/serve/request.js';
import { Scorer } from '../../src/serve/scorer.js';
import { ServedVersion } from '../../src/serve/versions.js';
import { type BenchItem, GROUP, makeItems, SEEDS, type Workload } from './items.js';

/** The best config of a run; cpuMsPerReward is this process's CPU time (all threads: onnxruntime's and sharp's are in-process). */
export interface LimitResult { rewardsPerSec: number; batch: number; workers: number; cpuMsPerReward: number }

/**
 * The largest batch each stage may run: the server's (vision.maxBatchSize,
 * encoder.maxBatchSize), so the limit does the model work the server could at
 * best do. Before, the limit ran the vision stage on up to 64 images at once
 * while the server caps it at 8, which made the limit's per-image ONNX cost
 * one the server could never reach.
 */
export interface StageCaps { vision: number; encoder: number }
export const SERVER_CAPS: StageCaps = { vision: DEFAULTS.vision.maxBatchSize, encoder: DEFAULTS.encoder.maxBatchSize };

/** The stage batch caps the server runs with: the defaults, or what --server-flags sets (so the limit does the same model work). */
export function capsFromFlags(flags: string[]): StageCaps {
  const get = (name: string, dflt: number) => {
    const i = flags.lastIndexOf(name);
    const v = i >= 0 ? Number(flags[i + 1]) : dflt;
    if (!Number.isInteger(v) || v < 1) throw new Error(`--server-flags: ${name} needs a positive integer, got ${flags[i + 1]}`);
    return v;
  };
  return { vision: get('--vision-max-batch-size', SERVER_CAPS.vision), encoder: get('--encoder-max-batch-size', SERVER_CAPS.encoder) };
}

/** Rewards/s of the bare pipeline: chunks of `batch` rewards, `workers` chunks in flight (decode overlaps inference). */
export async function inProcess(rt: ModelRuntime, items: BenchItem[], w: Workload, batch: number, workers: number, caps: StageCaps = SERVER_CAPS): Promise<{ rewardsPerSec: number; cpuMsPerReward: number }> {
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
    // Vision runs of at most caps.vision images, one after another (the server's one stage in flight).
    const emb = new Float32Array(imgs.length * rt.dv);
    for (let i = 0; i < imgs.length; i += caps.vision) {
      const n = Math.min(caps.vision, imgs.length - i);
      const part = new Float32Array(n * 3 * s * s);
      for (let j = 0; j < n; j++) part.set(pixels[i + j]!, j * 3 * s * s);
      emb.set(await rt.embedImages(part, n), i * rt.dv);
    }
    let k = 0;
    // As the server does: a group's prompt is tokenized once.
    const prompts: PromptMemo = new Map();
    const encoderItems = chunk.flatMap((it) => {
      const e = it.images.map(() => emb.subarray(k * rt.dv, (++k) * rt.dv));
      return it.responses.map((response) => ({ imageEmbeddings: e, ...encodeText(rt.tokenizer, m.preprocess.text, { system: it.system, prompt: it.prompt, response }, prompts) }));
    });
    for (let i = 0; i < encoderItems.length; i += caps.encoder) await rt.score(encoderItems.slice(i, i + caps.encoder));
    rewards += encoderItems.length;
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: workers }, async () => { while (next < chunks.length) await run(chunks[next++]!); }));
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { rewardsPerSec: rewards / seconds, cpuMsPerReward: (cpu.user + cpu.system) / 1000 / rewards };
}

/**
 * The best of a few chunk sizes and concurrencies, each stage capped at the
 * server's batch sizes (`caps`); the sessions load with the server's
 * options (loadBundle's sessionOptions, DEFAULTS.threads intra-op threads).
 */
export async function inProcessLimit(model: string, seed: number, w: Workload, caps: StageCaps = SERVER_CAPS): Promise<LimitResult> {
  const { runtime } = await loadBundle(model, { threads: DEFAULTS.threads });
  const items = await makeItems(seed + SEEDS.inProcess, 0, w === 'single' ? 256 : 32, w === 'single' ? 1 : GROUP);
  let best: LimitResult = { rewardsPerSec: 0, batch: 0, workers: 0, cpuMsPerReward: NaN };
  for (const batch of [8, 64]) {
    for (const workers of [1, 2]) {
      await inProcess(runtime, items.slice(0, 16), w, batch, workers, caps); // warm this shape
      const r = await inProcess(runtime, items, w, batch, workers, caps);
      if (r.rewardsPerSec > best.rewardsPerSec) best = { rewardsPerSec: r.rewardsPerSec, batch, workers, cpuMsPerReward: r.cpuMsPerReward };
    }
  }
  await runtime.release();
  return best;
}

/** Server-side cost of a cache hit: validation (incl. sha256 of the image), digest, lookup; no gRPC. */
export async function cacheHitCost(model: string, seed: number): Promise<number> {
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
