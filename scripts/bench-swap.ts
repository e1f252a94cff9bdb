/**
 * npm run bench:swap -- [--model DIR] [--seconds 30] [--activations 5] [--rate 200]
 *
 * Hot swap under load (scripts/bench-swap/run.ts): an `mrm serve` process at
 * --rate calls/s for --seconds while its admin API activates version 2 and
 * rolls back, --activations times each. Prints a table and writes
 * bench-results/swap-<time>.json. Exits 1 if a call failed, a response named
 * a version that was not serving during its call, or p99 during swaps was
 * above 2x the steady p99.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { renderPng } from '../trainer/shapes/raster.js';
import { sampleSplit } from '../trainer/shapes/pairs.js';
import { swapUnderLoad, table } from './bench-swap/run.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, seconds: { type: 'string' }, activations: { type: 'string' }, rate: { type: 'string' } } });
const pair = sampleSplit(7, 1)[0]!;
const result = await swapUnderLoad({
  model: values.model ?? 'models/shapes-mrm',
  seconds: Number(values.seconds ?? 30),
  activations: Number(values.activations ?? 5),
  rate: Number(values.rate ?? 200),
  image: await renderPng(pair.images[0]!),
});
console.log(table(result));
await mkdir('bench-results', { recursive: true });
const out = join('bench-results', `swap-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
console.log(`wrote ${out}`);
if (result.failed > 0 || result.wrongVersion > 0 || !(result.p99Ratio <= 2)) process.exitCode = 1;
