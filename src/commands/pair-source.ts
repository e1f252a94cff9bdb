/**
 * Where a command's preference pairs come from: a data set on disk
 * (LLaMA-Factory ranking or DT2IT JSONL), or a ShapesWorld split generated
 * from a seed and labeled by a (possibly noisy) annotator.
 */
import { loadDataset } from '../../trainer/data/datasets.js';
import type { LabeledPair } from '../../trainer/data/labeled-pair.js';
import { labeledShapesPairs, noisyLabeler } from '../../trainer/data/shapes.js';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { dataFileName } from '../../trainer/shapes/dataset.js';
import { sampleParaphraseSplit, sampleSplit } from '../../trainer/shapes/pairs.js';
import type { PairSample } from '../../trainer/shapes/pair-sample.js';
import { num, oneOf, str, UsageError } from './args.js';

export const FORMATS = ['llamafactory', 'dt2it'] as const;

export const PAIR_SOURCE_OPTIONS = {
  data: { type: 'string' },
  format: { type: 'string' },
  seed: { type: 'string' },
  n: { type: 'string' },
  'style-bias': { type: 'string' },
  'content-bias': { type: 'string' },
  flip: { type: 'string' },
  coarse: { type: 'string' },
  reword: { type: 'string' },
  paraphrase: { type: 'string' },
} as const;

export const PAIR_SOURCE_HELP = `  --data DIR       a data set directory (see mrm data gen)
  --format F       its format: llamafactory (default) or dt2it
  --seed S, --n N  or: a ShapesWorld split of N pairs from seed S
  --style-bias P   annotator prefers the more verbose response with prob. P (default 0)
  --content-bias P then prefers "yes", the larger count, the description with
                   more objects with prob. P (default 0)
  --flip Q         then flips the label with prob. Q (default 0)
  --coarse C       gives no preference (pair dropped) with prob. C (default 0)
  --reword P       words a QA pair with a training paraphrase with prob. P (default 0)
  --paraphrase M   also M pairs of the held-out 'paraphrase' slice (default 0)`;

export interface PairSource {
  pairs: LabeledPair[];
  description: string;
  /** What "correct" means for these pairs, as said in reports. */
  truth: string;
}

export async function readPairSource(values: Record<string, unknown>, defaults: { seed: number; n: number }): Promise<PairSource> {
  const dir = str(values, 'data');
  if (dir !== undefined) {
    if (values.seed !== undefined) throw new UsageError('--data and --seed are alternatives; give one');
    const format = oneOf(values, 'format', FORMATS, 'llamafactory');
    await checkDataDir('data', dir, format);
    const pairs = await loadDataset(dir, format);
    const known = pairs.filter((p) => p.truth !== undefined).length;
    const truth = known === pairs.length ? "each record's ground truth (\"mrm\".truth), not its label"
      : known === 0 ? "each record's label (the records carry no ground truth)"
      : `each record's ground truth where it has one (${known} of ${pairs.length}), else its label`;
    return { pairs, description: `${dir} (${format})`, truth };
  }
  const seed = num(values, 'seed', defaults.seed, { integer: true, min: 0 });
  const n = num(values, 'n', defaults.n, { integer: true, min: 1, max: 1_000_000 });
  const noise = {
    styleBias: num(values, 'style-bias', 0, { min: 0, max: 1 }),
    contentBias: num(values, 'content-bias', 0, { min: 0, max: 1 }),
    flip: num(values, 'flip', 0, { min: 0, max: 1 }),
    coarse: num(values, 'coarse', 0, { min: 0, max: 1 }),
  };
  const noisy = noise.styleBias > 0 || noise.contentBias > 0 || noise.flip > 0 || noise.coarse > 0;
  const samples = shapesSamples(values, seed, n);
  const pairs = await labeledShapesPairs(samples, noisy ? noisyLabeler(seed, noise) : undefined);
  const label = noisy
    ? `style-bias ${noise.styleBias}${noise.contentBias > 0 ? `, content-bias ${noise.contentBias}` : ''}, flip ${noise.flip}, coarse ${noise.coarse}`
    : 'oracle labels';
  const extra = samples.length > n ? ` + ${samples.length - n} paraphrase` : '';
  return { pairs, description: `ShapesWorld seed ${seed}, ${n} pairs${extra}, ${label}`, truth: 'the ShapesWorld oracle (ground truth), not the annotator labels' };
}

/** The split `--seed/--n` ask for, reworded with `--reword`, then `--paraphrase` held-out pairs after it. */
export function shapesSamples(values: Record<string, unknown>, seed: number, n: number): PairSample[] {
  const reword = num(values, 'reword', 0, { min: 0, max: 1 });
  const m = num(values, 'paraphrase', 0, { integer: true, min: 0, max: 1_000_000 });
  return [...sampleSplit(seed, n, undefined, { reword }), ...(m > 0 ? sampleParaphraseSplit(seed, m) : [])];
}

/**
 * A data set directory as a user gets it wrong: missing, or holding the other
 * format's file. Said before reading, so the answer names the flag and the fix
 * rather than a record-level "expected a readable file".
 */
export async function checkDataDir(flag: string, dir: string, format: (typeof FORMATS)[number]): Promise<void> {
  const isFile = (p: string) => stat(p).then((s) => s.isFile(), () => false);
  const st = await stat(dir).catch(() => null);
  if (!st) throw new UsageError(`--${flag} ${dir}: no such directory (make one with: mrm data gen --seed S --n N --out ${dir})`);
  if (!st.isDirectory()) throw new UsageError(`--${flag} ${dir}: not a directory; give the data set's directory (the one holding ${dataFileName(format)})`);
  if (await isFile(join(dir, dataFileName(format)))) return;
  const other = FORMATS.find((f) => f !== format)!;
  if (await isFile(join(dir, dataFileName(other)))) {
    throw new UsageError(`--${flag} ${dir}: holds ${dataFileName(other)}, a ${other} data set; add --${flag === 'in' ? 'from' : 'format'} ${other}`);
  }
  throw new UsageError(`--${flag} ${dir}: no ${dataFileName(format)} (${format}) or ${dataFileName(other)} (${other}) in it; is it a data set directory?`);
}
