/**
 * Real bytes per cache entry: fills each of the server's caches (caches.ts)
 * with entries shaped as the server makes them (keys as scorer.ts and
 * images.ts build them, values of the default model's sizes) and measures
 * the process's memory (V8 heap + array buffers, after a full GC) before and
 * after. The config's memory sum (src/serve/config-defaults.ts) and the caches'
 * `sizeCalculation` use these numbers; re-run after changing a key or value.
 *
 *   node --expose-gc --import tsx scripts/cache-bytes.ts [--entries 100000] [--json FILE]
 */
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { Caches, rewardKey } from '../src/serve/caches.js';
import { DETAIL_ENTRY_OVERHEAD } from '../src/serve/detail-store.js';

const { values } = parseArgs({ options: { entries: { type: 'string', default: '100000' }, json: { type: 'string' } } });
const n = Number(values.entries);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const MiB = 2 ** 20;
const hex = () => randomBytes(32).toString('hex');
/** Heap and off-heap (typed arrays' backing stores) after a full GC. */
function used(): number {
  for (let i = 0; i < 3; i++) gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Bytes per entry of `fill(caches, i)` over n entries, limits set so that nothing is evicted. */
function measure(fill: (c: Caches, i: number) => void, entries = n, detailBytes = 0): number {
  const caches = new Caches({ rewardEntries: entries + 1, embeddingBytes: 4096 * MiB, imageBytes: 4096 * MiB, detailBytes });
  const before = used();
  for (let i = 0; i < entries; i++) fill(caches, i);
  const perEntry = (used() - before) / entries;
  // Keep the cache alive past the measurement.
  if (caches.sizes().rewards < 0) console.log(caches);
  return perEntry;
}

const visionSha = hex();
// The default model (models/shapes-mrm): embeddings of 108 floats; heads + features 72 floats.
const rows = {
  reward: measure((c, i) => c.putReward(rewardKey('shapes-mrm', 3, hex()), { reward: i / n, normalized: i / n - 0.5, spread: 0.1, truncated: false })),
  embedding: measure((c) => c.putEmbedding(hex(), visionSha, new Float32Array(108))),
  // The detail store preallocates its slots for the budget (at its first put): a budget of exactly n entries.
  detail: measure((c) => c.putDetail(rewardKey('shapes-mrm', 3, hex()), new Float32Array(8), new Float32Array(64)), n, n * (72 * 4 + DETAIL_ENTRY_OVERHEAD)),
  // A ShapesWorld 128 px PNG is ~27 KiB; fewer entries, each large.
  image27KiB: measure((c) => c.putImage(hex(), new Uint8Array(27 * 1024)), Math.min(n, 4000)),
};
const table = Object.entries(rows).map(([cache, bytes]) => ({ cache, bytesPerEntry: Math.round(bytes) }));
console.table(table);
if (values.json) await writeFile(values.json, JSON.stringify({ entries: n, node: process.version, table }, null, 2));
