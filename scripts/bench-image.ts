/**
 * npm run bench:image -- [--n 1000] [--model models/shapes-mrm] [--no-pin]
 *
 * CPU per image from PNG bytes to the model's input tensor: 1,000 ShapesWorld
 * PNGs of 128 px through the sharp path (image.ts's preprocessWithSharp, the
 * path every image took before) and the PNG path (preprocessImage), one call
 * at a time, CPU from process.cpuUsage (all threads, so sharp's libuv-pool
 * work counts). The PNG path runs twice: with its WebAssembly kernels (what
 * preprocessImage does) and with the JS kernels they replaced (the same
 * stages composed here: decodePixels and toModelSquare with kernel 'js', and
 * the JS normalize loop image.ts had), stage by stage, back to back in one
 * run. Also node:zlib's inflate sync
 * against async (the async one's CPU includes its pool thread and the hop),
 * which is what decided where the inflate runs. The process re-runs itself
 * under `taskset -c 0` when taskset exists, so everything shares one core.
 * Before timing, every one of the images is checked to give a tensor
 * bit-identical to the sharp path's (the PNG path's contract), with either
 * set of kernels; a difference fails the run. Prints a table (medians, p90, means) and writes
 * bench-results/image-<time>.json.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { inflate, inflateSync } from 'node:zlib';
import { normalize, preprocessImage, preprocessWithSharp } from '../src/model/image.js';
import { MANIFEST_FILE, readManifest, type ImagePreprocess } from '../src/model/manifest.js';
import { readChunks } from '../src/model/png/chunks.js';
import { decodePixels } from '../src/model/png/decode.js';
import { toModelSquare, type Kernel, type Rgb8 } from '../src/model/png/resample.js';
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

/** image.ts's normalize before the wasm kernel: a table lookup per value in JS, the tables made once per spec. */
const jsTables = new WeakMap<ImagePreprocess, Float32Array[]>();
function normalizeJs(rgb: Uint8Array, channels: 1 | 3, spec: ImagePreprocess, out: Float32Array): void {
  const plane = spec.size * spec.size;
  let luts = jsTables.get(spec);
  if (!luts) jsTables.set(spec, luts = [0, 1, 2].map((c) => Float32Array.from({ length: 256 }, (_, v) => (v / 255 - spec.mean[c]!) / spec.std[c]!)));
  for (let c = 0; c < 3; c++) {
    const src = channels === 1 ? 0 : spec.channelOrder === 'rgb' ? c : 2 - c;
    const lut = luts[c]!;
    for (let i = 0, j = src; i < plane; i++, j += channels) out[c * plane + i] = lut[rgb[j]!]!;
  }
}

/** The PNG path of image.ts (for these images: no ICC, no EXIF, a shrink under 4x) with one set of kernels. */
function pngPath(png: Uint8Array, spec: ImagePreprocess, kernel: Kernel): Float32Array {
  const sq = toModelSquare(decodePixels(readChunks(png), kernel), spec.size, kernel);
  const out = new Float32Array(3 * spec.size * spec.size);
  (kernel === 'js' ? normalizeJs : normalize)(sq.data, sq.channels, spec, out);
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

  // The PNG path's contract: the same float32 tensor as sharp's, every value,
  // with the kernels it runs and with the JS ones timed as its before.
  const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]));
  let differing = 0;
  for (const png of pngs) {
    const ref = await preprocessWithSharp(png, spec, 'x');
    if (!same(await preprocessImage(png, spec, 'x'), ref) || !same(pngPath(png, spec, 'js'), ref) || !same(pngPath(png, spec, 'wasm'), ref)) differing++;
  }
  console.log(`bit-identical to the sharp path (wasm and JS kernels): ${n - differing} of ${n} images`);
  if (differing > 0) {
    console.error(`${differing} images differ from the sharp path: timings not reported`);
    process.exit(1);
  }

  const idat = pngs.map((png) => readChunks(png).idat[0]!);
  const decoded = pngs.map((png) => decodePixels(readChunks(png)));
  const squares: Rgb8[] = decoded.map((px) => toModelSquare(px, spec.size));
  const tensor = new Float32Array(3 * spec.size * spec.size);
  const rows: [string, number[]][] = [
    ['sharp path (before the PNG path)', await cpuPer(pngs, (png) => preprocessWithSharp(png, spec, 'x'))],
    ['PNG path, JS kernels (before)', await cpuPer(pngs, (png) => pngPath(png, spec, 'js'))],
    ['PNG path, wasm kernels (now): preprocessImage', await cpuPer(pngs, (png) => preprocessImage(png, spec, 'x'))],
    ['  chunks + CRCs', await cpuPer(pngs, (png) => readChunks(png))],
    ['  inflateSync alone', await cpuPer(idat, (d) => inflateSync(d))],
    ['  chunks + inflate + unfilter, JS', await cpuPer(pngs, (png) => decodePixels(readChunks(png), 'js'))],
    ['  chunks + inflate + unfilter, wasm', await cpuPer(pngs, (png) => decodePixels(readChunks(png), 'wasm'))],
    ['  resample (flatten, lanczos3), JS', await cpuPer(decoded, (px) => toModelSquare(px, spec.size, 'js'))],
    ['  resample (flatten, lanczos3), wasm', await cpuPer(decoded, (px) => toModelSquare(px, spec.size, 'wasm'))],
    ['  normalize to float32 CHW, JS', await cpuPer(squares, (sq) => normalizeJs(sq.data, sq.channels, spec, tensor))],
    ['  normalize to float32 CHW, wasm', await cpuPer(squares, (sq) => normalize(sq.data, sq.channels, spec, tensor))],
    ['  inflate (async, zlib pool) alone', await cpuPer(idat, (d) => new Promise((res, rej) => inflate(d, (e, out) => (e ? rej(e) : res(out)))))],
  ];

  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const table = rows.map(([name, xs]) => ({ name, medianMs: quantile(xs, 0.5), p90Ms: quantile(xs, 0.9), meanMs: mean(xs) }));
  const [sharpRow, jsRow, pngRow] = table;
  console.log(`\n${n} ShapesWorld PNGs, 128x128 -> ${spec.size}x${spec.size} tensor, CPU ms per image (process.cpuUsage, one call at a time)${process.env.MRM_BENCH_PINNED === '1' ? ', pinned to core 0' : ', unpinned'}\n`);
  console.log(`${'stage'.padEnd(46)} ${'median'.padStart(8)} ${'p90'.padStart(8)} ${'mean'.padStart(8)}`);
  for (const r of table) console.log(`${r.name.padEnd(46)} ${r.medianMs.toFixed(3).padStart(8)} ${r.p90Ms.toFixed(3).padStart(8)} ${r.meanMs.toFixed(3).padStart(8)}`);
  console.log(`\nPNG path (wasm) / sharp path: ${(pngRow!.medianMs / sharpRow!.medianMs).toFixed(3)}; / PNG path (JS): ${(pngRow!.medianMs / jsRow!.medianMs).toFixed(3)}`);
  console.log(`PNG path median ${pngRow!.medianMs.toFixed(3)} ms: ${pngRow!.medianMs <= 1 ? 'meets' : 'MISSES'} the target of <= 1.0 ms`);

  await mkdir('bench-results', { recursive: true });
  const file = join('bench-results', `image-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await writeFile(file, JSON.stringify({
    n, size: spec.size, bitIdentical: n - differing, pinned: process.env.MRM_BENCH_PINNED === '1', node: process.version,
    loadavg: (await readFile('/proc/loadavg', 'utf8').catch(() => '')).trim(), rows: table,
  }, null, 2));
  console.log(`wrote ${file}`);
}

await main();
