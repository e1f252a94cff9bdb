/** mrm train: train a whole model (all three stages) with an external engine and export it as a bundle. */
import { TorchTrainError, trainTorch, type TorchEvent } from '../../trainer/torch/engine.js';
import { num, oneOf, parse, str, UsageError } from './args.js';

const HELP = `usage: mrm train --engine torch --data DIR --out DIR [options]

  Trains the learned MRM (trainer/torch: CNN vision tower, transformer text
  encoder over image tokens, K Bradley-Terry value heads) end to end with
  PyTorch on /usr/bin/python3 (apt: python3-torch python3-onnx), exports it
  to bundle v1 and checks that the bundle loads. Nothing is written at --out
  unless it does.

  --engine torch     the training engine (torch is the only one; head-only fits are mrm fit)
  --data DIR         training data set (mrm data gen: LLaMA-Factory JSON or DT2IT JSONL + images)
  --out DIR          the bundle directory to create (must not exist)
  --eval-data DIR    held-out data set for the manifest's accuracy metrics
  --epochs E         passes over the data (default 1; fractions allowed)
  --max-steps N      stop after N steps (default: no cap)
  --batch B          pairs per step (default 32)
  --lr X             peak learning rate (default 0.002)
  --seed S           seed of initialization, order and bootstrap (default 1)
  --threads T        torch threads (default 1: the machine is shared)
  --checkpoints DIR  checkpoint directory (default OUT.ckpt)
  --resume           continue from the last checkpoint there
  --name NAME        bundle name (default shapes-mrm-learned)
  --python PATH      the python with torch and onnx (default /usr/bin/python3)
  -- FLAGS...        everything after a lone -- goes to the engine unchanged:
                     the recipe's stages (vision pretraining, grounding, ...),
                     listed by the Python trainer's own help (trainer/torch/README.md);
                     scripts/build-learned.ts shows the recipe it builds with`;

export async function run(argv: string[]): Promise<void> {
  const dashes = argv.indexOf('--');
  const engineArgs = dashes < 0 ? [] : argv.slice(dashes + 1);
  const { values, positionals } = parse(dashes < 0 ? argv : argv.slice(0, dashes), {
    engine: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' }, 'eval-data': { type: 'string' },
    epochs: { type: 'string' }, 'max-steps': { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' },
    seed: { type: 'string' }, threads: { type: 'string' }, checkpoints: { type: 'string' }, resume: { type: 'boolean' },
    name: { type: 'string' }, python: { type: 'string' },
  }, HELP);
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}; engine flags go after a lone -- (--help)`);
  oneOf(values, 'engine', ['torch'] as const, 'torch');
  if (values.engine === undefined) throw new UsageError(`--engine is required (torch)\n\n${HELP}`);
  const data = str(values, 'data');
  const out = str(values, 'out');
  if (!data || !out) throw new UsageError(`--data and --out are required\n\n${HELP}`);
  const opt = (flag: string, o: { min?: number; max?: number; integer?: boolean }) => (values[flag] === undefined ? undefined : num(values, flag, 0, o));
  const t0 = performance.now();
  try {
    const r = await trainTorch({
      data, out,
      evalData: str(values, 'eval-data'),
      epochs: opt('epochs', { min: 0.0001, max: 10_000 }),
      maxSteps: opt('max-steps', { integer: true, min: 1 }),
      batch: opt('batch', { integer: true, min: 1, max: 4096 }),
      lr: opt('lr', { min: 1e-7, max: 1 }),
      seed: opt('seed', { integer: true, min: 0 }),
      threads: opt('threads', { integer: true, min: 1, max: 64 }),
      checkpoints: str(values, 'checkpoints'),
      resume: Boolean(values.resume),
      name: str(values, 'name'),
      python: str(values, 'python'),
      extraArgs: engineArgs,
      onEvent: (e) => console.log(progressLine(e)),
      onStderr: (line) => { if (process.env.MRM_DEBUG) console.error(line); },
    });
    const acc = Object.entries(r.manifest.metrics).filter(([k]) => k.startsWith('accuracy.')).map(([k, v]) => `${k.slice(9)} ${(100 * v).toFixed(1)}%`);
    console.log(`bundle ${r.dir} (${r.manifest.name} v${r.manifest.version}) loads; ${((performance.now() - t0) / 1000).toFixed(1)} s${acc.length ? `; held out: ${acc.join(', ')}` : ''}`);
  } catch (err) {
    if (err instanceof TorchTrainError) throw new Error(`${err.kind}: ${err.message}`, { cause: err });
    throw err;
  }
}

function progressLine(e: TorchEvent): string {
  switch (e.event) {
    case 'start':
      return `training: ${e.pairs} pairs, ${e.images} images, ${e.steps} steps of ${e.batch} pairs, ${e.params} parameters`;
    case 'step':
      return `step ${e.step}/${e.steps}  epoch ${e.epoch}  loss ${e.loss}  ${e.pairs_per_second} pairs/s  ${e.seconds} s (${e.cpu_seconds} s CPU)`;
    case 'resume':
      return `resumed at step ${e.step} from ${e.checkpoint}`;
    case 'checkpoint':
      return `checkpoint at step ${e.step}`;
    case 'metrics':
      return `metrics ${JSON.stringify(Object.fromEntries(Object.entries(e).filter(([k]) => k !== 'event')))}`;
    case 'done':
      return `exported to staging in ${e.seconds} s; checking that it loads`;
    default:
      return JSON.stringify(e);
  }
}
