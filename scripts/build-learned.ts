/**
 * npm run build:learned: rebuild the learned bundle (trainer/torch) from its
 * seeds in one command: training data (seed 1, training paraphrases in half
 * the QA pairs), held-out data (seed 2, plus the held-out paraphrase slice),
 * then PyTorch through `mrm train`'s engine: the vision tower (4 stride-2
 * convs to an 8x8 grid, 8x cheaper than a stride-1 first layer for the same
 * cell accuracy) pretrained on the scene records of the training images,
 * frozen, its cells handing over their colour/kind/size readings (embedded
 * through the words that name them, attention weighted to occupied cells); then the
 * grounding stage (claims about the training images, true or false) and
 * Bradley-Terry on the pairs; the bundle moved into place. Data and
 * checkpoints stay in var/build-learned, so an interrupted build continues
 * where it stopped (MRM_LEARNED_RESUME=1; the pretrained tower is kept in
 * the checkpoint directory as vision.pt).
 *
 * Sizes are environment variables so a small trial run uses the same script:
 * MRM_LEARNED_PAIRS, MRM_LEARNED_PRETRAIN_EPOCHS, MRM_LEARNED_GROUND_STEPS,
 * MRM_LEARNED_EPOCHS, MRM_LEARNED_THREADS (2 on an idle machine; 1 when the
 * cores are shared, where two OpenMP threads wait on each other). The defaults are the recipe of trainer/torch/README.md
 * ("Measured"), where their CPU cost is measured and extrapolated. Round 4's
 * encoder flags (--pos-code, --slot-code, --text-pos-std, --count-head) are
 * left out: none moved the held-out numbers (README, round 4); round 6's
 * role readout is in, with --ground-t2i and --ground-position, which it needs.
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
const pairs = env('MRM_LEARNED_PAIRS', 20000);
const pretrainEpochs = env('MRM_LEARNED_PRETRAIN_EPOCHS', 0.7);
const epochs = env('MRM_LEARNED_EPOCHS', 2);
const groundSteps = env('MRM_LEARNED_GROUND_STEPS', 1500);
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
  extraArgs: ['--log-every', '25', '--checkpoint-every', '100', '--pretrain-epochs', String(pretrainEpochs), '--freeze-vision',
    '--channels', '24,48,64,64', '--strides', '2,2,2,2', '--attributes', 'only', '--tie-readings', '--attend-occupied', '--sink', '--ground-steps', String(groundSteps),
    '--d', '64', '--layers', '3', '--heads', '4',
    // Round 6 (trainer/torch/README.md): the signed role readout, with
    // position and T2I questions in grounding, took held-out position claims
    // from chance to 100% and T2I to 99.7%, and seed 99 from 74.6% to 84.0%.
    // Measured as 500 grounding steps with the module on top of this
    // recipe's 1,500 without it; here the module grounds from the first step
    // (not yet measured in one run).
    '--role-readout', '2', '--role-lookup', 'signed', '--role-lr-scale', '10', '--ground-position', '0.7', '--ground-t2i', '0.25'],
  onEvent: (e) => console.log(JSON.stringify(e)),
});
await rm(out, { recursive: true, force: true });
await rename(r.dir, out);
console.log(JSON.stringify({ out, metrics: r.manifest.metrics, minutes: (performance.now() - t0) / 60000 }, null, 2));
