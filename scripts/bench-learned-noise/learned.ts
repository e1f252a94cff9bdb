/**
 * The learned side's trainings and scoring: round pairs written as a data set
 * in the project's format, the PyTorch engine run on it (each bundle kept
 * under the work directory and reused by a re-run when it still loads), and a
 * bundle scored the way `mrm eval` scores it.
 */
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadBundle } from '../../src/model/bundle.js';
import { readManifest } from '../../src/model/manifest.js';
import { TORCH_KEY } from '../../src/model/manifest.js';
import type { LabeledPair } from '../../trainer/data/labeled-pair.js';
import { pairRecords } from '../../trainer/dt2it/records.js';
import type { RoundPair } from '../../trainer/dt2it/round-pair.js';
import { scorePairs, toScored } from '../../trainer/eval/evaluate.js';
import { evaluatePairs } from '../../trainer/eval/metrics.js';
import { loadable } from '../../trainer/round/full-fit.js';
import { writeDataset } from '../../trainer/shapes/dataset.js';
import { trainTorch, type TorchEvent, type TorchTrainOptions } from '../../trainer/torch/engine.js';
import { LEARNED_ARCH, LEARNED_BT, LEARNED_ROLES } from '../../trainer/torch/recipe.js';
import type { Recipe } from './options.js';
import { SLICES } from '../bench-dt2it/rows.js';

/** The label-free checkpoints must exist before anything is trained; the message says how to make them. */
export function checkLabelFree(visionFrom: string, initFrom: string): void {
  const missing = [visionFrom, initFrom].filter((p) => !existsSync(p));
  if (missing.length) {
    throw new Error(`missing label-free checkpoint(s) ${missing.join(', ')}: run \`npm run build:learned\` (it keeps the pretrained tower as ckpt/vision.pt and the grounded model as ckpt/grounded.pt under var/build-learned/<pairs>/), or pass --vision-from and --init-from`);
  }
}

/** Writes labeled round pairs as a LLaMA-Factory data set at `dir` unless one is there from an earlier run. */
export async function writePairs(dir: string, pairs: readonly RoundPair[]): Promise<number> {
  const { records, pngs } = await pairRecords(pairs, async (p) => p.item.images);
  if (!existsSync(join(dir, 'train.json'))) await writeDataset(dir, records, 'llamafactory', pngs);
  return records.length;
}

export interface Trained {
  dir: string;
  /** False when the bundle was found from an earlier run. */
  trained: boolean;
  seconds: number;
  steps: number;
  cpuSeconds: number | null;
}

/** `trainTorch` unless `o.out` already holds a bundle that loads; step progress every 25 steps on stdout. */
export async function trainOnce(label: string, o: TorchTrainOptions): Promise<Trained> {
  const t0 = performance.now();
  if (await loadable(o.out)) {
    console.log(`${label}: reusing ${o.out}`);
    return { dir: resolve(o.out), trained: false, seconds: 0, steps: 0, cpuSeconds: null };
  }
  let last: TorchEvent | undefined;
  const r = await trainTorch({
    ...o,
    onEvent: (e) => {
      if (e.event !== 'step') return;
      last = e;
      if (Number(e.step) % 25 === 0 || e.step === e.steps) console.log(`${label}: step ${e.step}/${e.steps} loss ${Number(e.loss).toFixed(3)}`);
    },
  });
  return { dir: r.dir, trained: true, seconds: (performance.now() - t0) / 1000, steps: Number(last?.step ?? 0), cpuSeconds: last?.cpu_seconds === undefined ? null : Number(last.cpu_seconds) };
}

/** The model's flags: the shipped recipe's role readout and counts on top of the architecture, or the architecture alone. */
export function recipeArgs(recipe: Recipe): string[] {
  return recipe === 'roles' ? [...LEARNED_ARCH, ...LEARNED_ROLES.args] : [...LEARNED_ARCH];
}

/**
 * The Bradley-Terry stage of build:learned's recipe from its label-free
 * checkpoints: the frozen pretrained tower, the grounded encoder and heads,
 * no pretraining and no grounding of its own. The shipped recipe's last
 * stage runs the same epochs and batch (LEARNED_ROLES.bt is LEARNED_BT uncapped).
 */
export function btOptions(data: string, out: string, o: { visionFrom: string; initFrom: string; seed: number; threads: number; name: string; recipe: Recipe }): TorchTrainOptions {
  return {
    data, out, checkpoints: `${out}.ckpt`, resume: true, epochs: LEARNED_BT.epochs, batch: LEARNED_BT.batch, seed: o.seed, threads: o.threads, name: o.name,
    extraArgs: ['--vision-from', o.visionFrom, '--init-from', o.initFrom, '--freeze-vision', ...recipeArgs(o.recipe), '--log-every', '5', '--checkpoint-every', '50'],
  };
}

/**
 * The label-free base as a bundle: the same checkpoints, exported after zero
 * Bradley-Terry steps (`--epochs 0`), so its encoder's features are those no
 * preference label has shaped. Curation's scoring heads are fitted on these
 * features (a round's \`curateWith\`); the data set only feeds the
 * manifest's calibration and digest, no label reaches a weight.
 */
export function labelFreeBaseOptions(data: string, out: string, o: { visionFrom: string; initFrom: string; threads: number; recipe: Recipe }): TorchTrainOptions {
  return {
    data, out, checkpoints: `${out}.ckpt`, epochs: 0, seed: 1, threads: o.threads, name: 'learned-label-free-base',
    extraArgs: ['--vision-from', o.visionFrom, '--init-from', o.initFrom, ...recipeArgs(o.recipe)],
  };
}

/** The bundle's PyTorch weights and tokenizer, which a 'full' round starts from. */
export async function torchFiles(dir: string): Promise<{ torch: string; tokenizer: string }> {
  const m = await readManifest(join(dir, 'manifest.json'));
  const t = m.files[TORCH_KEY];
  if (!t?.path || !m.files.tokenizer.path) throw new Error(`${dir}: no ${TORCH_KEY} or tokenizer file in its manifest`);
  // Absolute: the engine runs the trainer from its own package directory.
  return { torch: resolve(dir, t.path), tokenizer: resolve(dir, m.files.tokenizer.path) };
}

/** Per-slice accuracy of a bundle on `pairs` (truth in each pair): mrm eval's scoring and metrics. */
export async function evalBundle(dir: string, pairs: LabeledPair[], threads: number): Promise<Record<string, number>> {
  const { runtime } = await loadBundle(dir, { threads });
  try {
    const report = evaluatePairs(toScored(pairs, await scorePairs(runtime, pairs)));
    return Object.fromEntries(SLICES.map((s) => [s, report.slices.find((x) => x.slice === s)?.accuracy ?? NaN]));
  } finally {
    await runtime.release();
  }
}
