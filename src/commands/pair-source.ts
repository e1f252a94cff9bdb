/**
 * Where a command's preference pairs come from: a data set on disk
 * (LLaMA-Factory ranking or DT2IT JSONL), or a ShapesWorld split generated
 * from a seed and labeled by a (possibly noisy) annotator.
 */
import { loadDataset } from '../../trainer/data/datasets.js';
import type { LabeledPair } from '../../trainer/data/labeled-pair.js';
import { labeledShapesPairs, noisyLabeler } from '../../trainer/data/shapes.js';
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
  flip: { type: 'string' },
  coarse: { type: 'string' },
  reword: { type: 'string' },
  paraphrase: { type: 'string' },
} as const;

export const PAIR_SOURCE_HELP = `  --data DIR       a data set directory (see mrm data gen)
  --format F       its format: llamafactory (default) or dt2it
  --seed S, --n N  or: a ShapesWorld split of N pairs from seed S
  --style-bias P   annotator prefers the more verbose response with prob. P (default 0)
  --flip Q         then flips the label with prob. Q (default 0)
  --coarse C       gives no preference (pair dropped) with prob. C (default 0)
  --reword P       words a QA pair with a training paraphrase with prob. P (default 0)
  --paraphrase M   also M pairs of the held-out 'paraphrase' slice (default 0)`;

export interface PairSource {
  pairs: LabeledPair[];
  description: string;
}

export async function readPairSource(values: Record<string, unknown>, defaults: { seed: number; n: number }): Promise<PairSource> {
  const dir = str(values, 'data');
  if (dir !== undefined) {
    if (values.seed !== undefined) throw new UsageError('--data and --seed are alternatives; give one');
    const format = oneOf(values, 'format', FORMATS, 'llamafactory');
    const pairs = await loadDataset(dir, format);
    return { pairs, description: `${dir} (${format})` };
  }
  const seed = num(values, 'seed', defaults.seed, { integer: true, min: 0 });
  const n = num(values, 'n', defaults.n, { integer: true, min: 1, max: 1_000_000 });
  const noise = {
    styleBias: num(values, 'style-bias', 0, { min: 0, max: 1 }),
    flip: num(values, 'flip', 0, { min: 0, max: 1 }),
    coarse: num(values, 'coarse', 0, { min: 0, max: 1 }),
  };
  const noisy = noise.styleBias > 0 || noise.flip > 0 || noise.coarse > 0;
  const samples = shapesSamples(values, seed, n);
  const pairs = await labeledShapesPairs(samples, noisy ? noisyLabeler(seed, noise) : undefined);
  const label = noisy ? `style-bias ${noise.styleBias}, flip ${noise.flip}, coarse ${noise.coarse}` : 'oracle labels';
  const extra = samples.length > n ? ` + ${samples.length - n} paraphrase` : '';
  return { pairs, description: `ShapesWorld seed ${seed}, ${n} pairs${extra}, ${label}` };
}

/** The split `--seed/--n` ask for, reworded with `--reword`, then `--paraphrase` held-out pairs after it. */
export function shapesSamples(values: Record<string, unknown>, seed: number, n: number): PairSample[] {
  const reword = num(values, 'reword', 0, { min: 0, max: 1 });
  const m = num(values, 'paraphrase', 0, { integer: true, min: 0, max: 1_000_000 });
  return [...sampleSplit(seed, n, undefined, { reword }), ...(m > 0 ? sampleParaphraseSplit(seed, m) : [])];
}
