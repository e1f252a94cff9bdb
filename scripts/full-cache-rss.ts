/**
 * The server's RSS with every cache full, at the default config (or
 * --server-flags): the number the config's memory sum (src/serve/config-defaults.ts)
 * promises. Starts `mrm serve`, reads its RSS idle and after a short warm-up
 * (the baseline: Node, onnxruntime, the model, its arenas), then fills the
 * caches with distinct requests until each holds >= 98% of its limit (the
 * limits from the server's `server.config` line, the fill from its
 * `server.stats` lines):
 *
 * - embeddings and images: items with distinct 64 px noise PNGs (~12 KiB,
 *   incompressible), 16 a call;
 * - rewards and features: groups of 64 new responses on one image.
 *
 * Prints the RSS at each step and the caches' own sizes, and writes JSON.
 *
 *   npm run cache-rss -- [--json FILE] [--max-minutes 20 (per fill)] [--server-flags="..."]
 */
import * as grpc from '@grpc/grpc-js';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { createRewardClient, unary } from '../src/serve/proto.js';
import { startServe } from './serve-process.js';

const { values } = parseArgs({ options: { json: { type: 'string' }, 'server-flags': { type: 'string', default: '' }, 'max-minutes': { type: 'string', default: '20' } } });
const log = (msg: string) => process.stderr.write(`cache-rss: ${msg}\n`);

interface Sizes { rewards: number; embeddings: number; embeddingBytes: number; images: number; imageBytes: number; details: number; detailBytes: number }
const state = await mkdtemp(join(tmpdir(), 'mrm-cache-rss-'));
let sizes: Sizes | null = null;
interface Limits { cache: { rewardEntries: number; embeddingBytes: number; imageBytes: number }; log: { featureCacheBytes: number; enabled: boolean } }
let limits: Limits | null = null;
const { server, port } = await startServe({
  stateDir: state, statsIntervalMs: 1000, serverFlags: values['server-flags']!,
  onLine: (rec) => {
    if (rec.event === 'server.config') limits = (rec as unknown as { config: Limits }).config;
    if (rec.event === 'server.stats') sizes = (rec as { caches: Sizes }).caches;
  },
});
const client = createRewardClient(`127.0.0.1:${port}`);
const rssMiB = async () => Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${server.pid}/status`, 'utf8'))![1]) / 1024;
const steps: { step: string; rssMiB: number; caches: Sizes | null }[] = [];
const record = async (step: string) => {
  await new Promise((r) => setTimeout(r, 1500)); // a fresh stats line
  steps.push({ step, rssMiB: Math.round(await rssMiB()), caches: sizes });
  log(`${step}: RSS ${steps.at(-1)!.rssMiB} MiB, caches ${JSON.stringify(sizes)}`);
};

const noisePng = () => sharp(randomBytes(64 * 64 * 3), { raw: { width: 64, height: 64, channels: 3 } }).png().toBuffer();
/** Score, backing off on RESOURCE_EXHAUSTED as a well-behaved client does. */
async function score(req: Parameters<typeof client.score>[0]): Promise<void> {
  for (;;) {
    try {
      await unary(client.score.bind(client), req, { deadline: Date.now() + 60_000 });
      return;
    } catch (err) {
      if ((err as grpc.ServiceError).code !== grpc.status.RESOURCE_EXHAUSTED) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
/** Runs `call` from 4 callers until `full()` holds, or --max-minutes pass (then the JSON says so). */
async function until(full: () => boolean, call: () => Promise<void>): Promise<boolean> {
  const stop = { now: false };
  const end = performance.now() + Number(values['max-minutes']) * 60_000;
  const callers = Promise.all(Array.from({ length: 4 }, async () => { while (!stop.now) await call(); }));
  while (!full() && performance.now() < end) await new Promise((r) => setTimeout(r, 1000));
  stop.now = true;
  await callers;
  return full();
}
const at = (used: number, limit: number) => used >= 0.98 * limit;

await record('idle');
const img = await noisePng();
for (let i = 0; i < 50; i++) await score({ groups: [{ images: [{ data: img }], prompt: 'warm', responses: Array.from({ length: 64 }, (_, j) => `warm ${i}.${j}`) }] });
for (let i = 0; i < 20; i++) await score({ items: await Promise.all(Array.from({ length: 16 }, async (_, j) => ({ images: [{ data: await noisePng() }], prompt: 'warm', response: `w ${i}.${j}` }))) });
await record('warm (baseline)');

if (!limits) throw new Error('no server.config line: cannot tell the cache limits');
const L: Limits = limits;
const now = () => sizes as Sizes | null;
let n = 0;
log('filling the embedding and image caches (distinct images) ...');
const imagesFull = await until(() => !!now() && at(now()!.embeddingBytes, L.cache.embeddingBytes) && at(now()!.imageBytes, L.cache.imageBytes), async () => {
  await score({ items: await Promise.all(Array.from({ length: 16 }, async () => ({ images: [{ data: await noisePng() }], prompt: 'fill', response: `image ${n++}` }))) });
});
await record('embeddings + images full');
log('filling the reward and feature caches (distinct responses) ...');
const textsFull = await until(() => !!now() && at(now()!.rewards, L.cache.rewardEntries) && (!L.log.enabled || at(now()!.detailBytes, L.log.featureCacheBytes)), async () => {
  await score({ groups: [{ images: [{ data: img }], prompt: 'fill', responses: Array.from({ length: 64 }, () => `response ${n++}`) }] });
});
await record('all caches full');

client.close();
server.kill('SIGTERM');
await new Promise((r) => server.once('exit', r));
await rm(state, { recursive: true, force: true });
const peak = steps.at(-1)!;
const result = { steps, baselineMiB: steps[1]!.rssMiB, fullMiB: peak.rssMiB, allFull: imagesFull && textsFull, limits: L, serverFlags: values['server-flags'] };
console.log(JSON.stringify(result, null, 2));
const out = values.json ?? join('bench-results', `cache-rss-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
await mkdir(join(out, '..'), { recursive: true });
await writeFile(out, JSON.stringify(result, null, 2));
log(`wrote ${out}`);
