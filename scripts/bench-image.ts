/**
 * npm run bench:image -- [--n 1000] [--model models/shapes-mrm] [--no-pin]
 *
 * CPU per image from PNG bytes to the model's input tensor: 1,000 ShapesWorld
 * PNGs of 128 px through the sharp path (image.ts's preprocessWithSharp, the
 * path every image took before) and the PNG path (preprocessImage), one call
 * at a time, CPU from process.cpuUsage (all threads, so sharp's libuv-pool
 * work counts). Also the PNG path's stages, and node:zlib's inflate sync
 * against async (the async one's CPU includes its pool thread and the hop),
 * which is what decided where the inflate runs. The process re-runs itself
 * under `taskset -c 0` when taskset exists, so everything shares one core.
 * Before timing, every one of the images is checked to give a tensor
 * bit-identical to the sharp path's (the PNG path's contract); a difference
 * fails the run. Prints a table (medians, p90, means) and writes
 * bench-results/image-<time>.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { inflate, inflateSync } from 'node:zlib';
import { preprocessImage, preprocessWithSharp } from '../src/model/image.js';
import { MANIFEST_FILE, readManifest } from '../src/model/manifest.js';
import { readChunks } from '../src/model/png/chunks.js';
import { decodePixels } from '../src/model/png/decode.js';
import { toModelSquare } from '../src/model/png/resample.js';
import { sampleSplit } from '../trainer/shapes/pairs.js';
import { renderPng } from '../trainer/shapes/raster.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '1000' },
    model: { type: 'string', default: 'models/shapes-mrm' },
    'no-pin': { type: 'boolean', default: false },
  },
});

// Pin by re-running under taskset: the affinity covers every thread the
// process will start (libuv pool, sharp's threads).
if (!args['no-pin'] && process.env.MRM_BENCH_PINNED !== '1') {
  const probe = spawnSync('taskset', ['-c', '0', 'true']);
  if (probe.status === 0) {
    const res = spawnSync('taskset', ['-c', '0', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
      stdio: 'inherit', env: { ...process.env, MRM_BENCH_PINNED: '1' },
    });
    process.exit(res.status ?? 1);
  }
  console.error('taskset not available: running unpinned');
}

const cpuMs = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1000;

async function cpuPer<T>(items: T[], fn: (x: T) => unknown): Promise<number[]> {
  const out: number[] = [];
  for (const x of items) {
    const before = process.cpuUsage();
    await fn(x);
    out.push(cpuMs(process.cpuUsage(before)));
  }
  return out;
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

async function main(): Promise<void> {
  const n = Number(args.n);
  const manifest = await readManifest(join(args.model!, MANIFEST_FILE));
  const spec = manifest.preprocess.image;

  const pngs: Buffer[] = [];
  const pairs = sampleSplit(99, n + 50); // at least one image per pair
  for (const p of pairs) for (const s of p.images) if (pngs.length < n) pngs.push(await renderPng(s));
  if (pngs.length < n) throw new Error(`only ${pngs.length} images rendered`);

  // Warm both paths (JIT, sharp's first-call setup) on images not timed.
  const warm = pngs.slice(0, 50);
  for (const png of warm) { await preprocessWithSharp(png, spec, 'w'); await preprocessImage(png, spec, 'w'); }

  // The PNG path's contract: the same float32 tensor as sharp's, every value.
  let differing = 0;
  for (const png of pngs) {
    const [mine, ref] = [await preprocessImage(png, spec, 'x'), await preprocessWithSharp(png, spec, 'x')];
    if (mine.length !== ref.length || mine.some((v, i) => !Object.is(v, ref[i]))) differing++;
  }
  console.log(`bit-identical to the sharp path: ${n - differing} of ${n} images`);
  if (differing > 0) {
    console.error(`${differing} images differ from the sharp path: timings not reported`);
    process.exit(1);
  }

  const idat = pngs.map((png) => readChunks(png).idat[0]!);
  const rows: [string, number[]][] = [
    ['sharp path (before): bytes -> tensor', await cpuPer(pngs, (png) => preprocessWithSharp(png, spec, 'x'))],
    ['PNG path (now): bytes -> tensor', await cpuPer(pngs, (png) => preprocessImage(png, spec, 'x'))],
    ['  chunks + CRCs', await cpuPer(pngs, (png) => readChunks(png))],
    ['  chunks + inflate + unfilter', await cpuPer(pngs, (png) => decodePixels(readChunks(png)))],
    ['  resample only (flatten, lanczos3)', await cpuPer(pngs.map((png) => decodePixels(readChunks(png))), (px) => toModelSquare(px, spec.size))],
    ['  inflateSync alone', await cpuPer(idat, (d) => inflateSync(d))],
    ['  inflate (async, zlib pool) alone', await cpuPer(idat, (d) => new Promise((res, rej) => inflate(d, (e, out) => (e ? rej(e) : res(out)))))],
  ];

  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const table = rows.map(([name, xs]) => ({ name, medianMs: quantile(xs, 0.5), p90Ms: quantile(xs, 0.9), meanMs: mean(xs) }));
  const [sharpRow, pngRow] = table;
  console.log(`\n${n} ShapesWorld PNGs, 128x128 -> ${spec.size}x${spec.size} tensor, CPU ms per image (process.cpuUsage, one call at a time)${process.env.MRM_BENCH_PINNED === '1' ? ', pinned to core 0' : ', unpinned'}\n`);
  console.log(`${'stage'.padEnd(42)} ${'median'.padStart(8)} ${'p90'.padStart(8)} ${'mean'.padStart(8)}`);
  for (const r of table) console.log(`${r.name.padEnd(42)} ${r.medianMs.toFixed(3).padStart(8)} ${r.p90Ms.toFixed(3).padStart(8)} ${r.meanMs.toFixed(3).padStart(8)}`);
  console.log(`\nPNG path / sharp path: ${(pngRow!.medianMs / sharpRow!.medianMs).toFixed(3)} (target: PNG path <= 1.0 ms)`);

  await mkdir('bench-results', { recursive: true });
  const file = join('bench-results', `image-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify({
    n, size: spec.size, bitIdentical: n - differing, pinned: process.env.MRM_BENCH_PINNED === '1', node: process.version,
    loadavg: (await readFile('/proc/loadavg', 'utf8').catch(() => '')).trim(), rows: table,
  }, null, 2));
  console.log(`wrote ${file}`);
}

await main();
