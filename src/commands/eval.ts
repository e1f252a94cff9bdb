/** mrm eval: per-slice accuracy and ECE of a bundle on ShapesWorld pairs or a data set. */
import { writeFile } from 'node:fs/promises';
import { loadBundle } from '../model/bundle.js';
import { scorePairs, toScored, type PairRewards } from '../../trainer/eval/evaluate.js';
import { evaluatePairs, formatReport } from '../../trainer/eval/metrics.js';
import type { LabeledPair } from '../../trainer/data/labeled-pair.js';
import { sha256Hex } from '../model/digest.js';
import type { ModelRuntime } from '../model/runtime.js';
import { blindPairs } from '../../trainer/eval/blind.js';
import { noPositionals, parse, num, str } from './args.js';
import { checkBundleDir } from './bundle-arg.js';
import { PAIR_SOURCE_HELP, PAIR_SOURCE_OPTIONS, readPairSource } from './pair-source.js';

const HELP = `usage: mrm eval [--model DIR] (--data DIR | --seed S --n N) [options]

  --model DIR      bundle to evaluate (default models/shapes-mrm)
${PAIR_SOURCE_HELP}
  --blind          swap every pair's images for another pair's (same slice):
                   a model that uses the image falls to chance
  --json FILE      also write the report as JSON (- for stdout only)
  --rewards FILE   also write each pair's inputs (texts, image sha256s) and
                   rewards as JSONL, e.g. to check a server against this run
                   (examples/python/check_rewards.py)
  --threads N      onnxruntime threads (default 2)

Accuracy is the share of pairs the model orders like the pair's truth: the
record's ground truth ("mrm".truth) when --data has it, not its possibly
noisy label; a pair scored as a tie counts as half (the model cannot tell).`;

export async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, {
    ...PAIR_SOURCE_OPTIONS,
    model: { type: 'string' },
    blind: { type: 'boolean' },
    json: { type: 'string' },
    rewards: { type: 'string' },
    threads: { type: 'string' },
  }, HELP);
  noPositionals(positionals);
  const model = str(values, 'model', 'models/shapes-mrm')!;
  await checkBundleDir('model', model);
  const t0 = performance.now();
  const source = await readPairSource(values, { seed: 99, n: 2000 });
  const pairs = values.blind ? blindPairs(source.pairs) : source.pairs;
  const { runtime } = await loadBundle(model, { threads: num(values, 'threads', 2, { integer: true, min: 1 }) });
  const t1 = performance.now();
  const rewards = await scorePairs(runtime, pairs);
  const report = evaluatePairs(toScored(pairs, rewards));
  const rewardsFile = str(values, 'rewards');
  if (rewardsFile) await writeFile(rewardsFile, rewardLines(runtime, pairs, rewards));
  await runtime.release();
  const seconds = { load: (t1 - t0) / 1000, score: (performance.now() - t1) / 1000 };
  const json = { model, version: runtime.version, data: source.description, blind: Boolean(values.blind), ...report, seconds };
  const out = str(values, 'json');
  if (out === '-') {
    console.log(JSON.stringify(json, null, 2));
    return;
  }
  console.log(formatReport(report, `${model} (version ${runtime.version}) on ${source.description}${values.blind ? ', images swapped' : ''}`));
  console.log(`pairs: ${pairs.length}; data ${seconds.load.toFixed(1)} s, scoring ${seconds.score.toFixed(1)} s`);
  console.log(`accuracy is against ${source.truth}; a tie counts as half a pair`);
  if (out) await writeFile(out, JSON.stringify(json, null, 2) + '\n');
}

/**
 * One JSON line per pair: what was scored, exactly (texts as the model saw
 * them, images by sha256) and what came out, so another scorer of the same
 * inputs (a server, another machine) can be compared with this run.
 */
function rewardLines(rt: ModelRuntime, pairs: LabeledPair[], r: PairRewards): string {
  const side = (reward: number, spread: number) => ({ reward, normalized: rt.normalize(reward), spread });
  return pairs.map((p, i) => JSON.stringify({
    id: p.id,
    slice: p.slice,
    images: p.images.map((b) => sha256Hex(b)),
    ...(p.system !== undefined ? { system: p.system } : {}),
    prompt: p.prompt,
    chosen: p.chosen,
    rejected: p.rejected,
    model: { name: rt.manifest.name, version: rt.version },
    rewards: { chosen: side(r.chosen[i]!, r.chosenSpread[i]!), rejected: side(r.rejected[i]!, r.rejectedSpread[i]!) },
  }) + '\n').join('');
}
