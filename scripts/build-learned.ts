/**
 * npm run build:learned: rebuild the learned bundle (trainer/torch) from its
 * seeds in one command: training data (seed 1, training paraphrases in half
 * the QA pairs), held-out data (seed 2, plus the held-out paraphrase slice),
 * PyTorch training through `mrm train`'s engine, then the bundle moved into
 * place. Data and checkpoints stay in var/build-learned, so an interrupted
 * build continues where it stopped (MRM_LEARNED_RESUME=1).
 *
 * Sizes are environment variables so a small trial run uses the same script:
 * MRM_LEARNED_PAIRS (8000), MRM_LEARNED_EPOCHS (1), MRM_LEARNED_THREADS (2).
 * One epoch is still the default, and no learned bundle is shipped yet:
 * a step is now cheap (32 pairs: about 0.47 s of CPU with 1 thread, once
 * torch uses OpenBLAS instead of the reference BLAS; see
 * trainer/torch/README.md), so an epoch of 8000 pairs is about 2 CPU
 * minutes, but the model has not yet left the ln 2 plateau on the full
 * task (README, "Measured"), so a longer default would only buy a longer
 * wait for a chance-level model.
 */
import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { seededAnnotator } from '../trainer/data/shapes.js';
import { writeDataset } from '../trainer/shapes/dataset.js';
import { toPreferenceRecord } from '../trainer/shapes/formats.js';
import { sampleParaphraseSplit, sampleSplit } from '../trainer/shapes/pairs.js';
import { streamPairImages } from '../trainer/shapes/render-pairs.js';
import { trainTorch } from '../trainer/torch/engine.js';

const out = process.argv[2] ?? 'models/shapes-mrm-learned';
const env = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const pairs = env('MRM_LEARNED_PAIRS', 8000);
const epochs = env('MRM_LEARNED_EPOCHS', 1);
const threads = env('MRM_LEARNED_THREADS', 2);
const work = `var/build-learned/${pairs}`;

async function gen(dir: string, seed: number, n: number, reword: number, paraphrase: number): Promise<void> {
  if (existsSync(join(dir, 'train.json'))) return;
  const samples = [...sampleSplit(seed, n, undefined, { reword }), ...(paraphrase ? sampleParaphraseSplit(seed, paraphrase) : [])];
  const oracle = seededAnnotator(seed, {});
  await writeDataset(dir, samples.map((s) => toPreferenceRecord(s, oracle(s))!), 'llamafactory', streamPairImages(samples));
  console.log(`data: ${dir} (${samples.length} pairs)`);
}

const t0 = performance.now();
await gen(join(work, 'train'), 1, pairs, 0.5, 0);
await gen(join(work, 'heldout'), 2, Math.max(200, Math.round(pairs / 8)), 0, Math.max(100, Math.round(pairs / 20)));
const staging = join(work, 'bundle');
await rm(staging, { recursive: true, force: true });
const r = await trainTorch({
  data: join(work, 'train'), evalData: join(work, 'heldout'), out: staging, checkpoints: join(work, 'ckpt'),
  resume: process.env.MRM_LEARNED_RESUME === '1', epochs, batch: 32, threads, seed: 1,
  extraArgs: ['--log-every', '25', '--checkpoint-every', '100'],
  onEvent: (e) => console.log(JSON.stringify(e)),
});
await rm(out, { recursive: true, force: true });
await rename(r.dir, out);
console.log(JSON.stringify({ out, metrics: r.manifest.metrics, minutes: (performance.now() - t0) / 60000 }, null, 2));
