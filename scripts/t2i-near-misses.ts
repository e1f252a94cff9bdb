/**
 * T2I and description pairs of an `mrm eval --rewards FILE` run, split by
 * what the generator changed (its own record: a T2I pair's near-miss kind and
 * caption type), which `mrm eval`'s slices and mrm_torch.by_type (which reads
 * only the texts) cannot tell apart.
 *
 *   npx tsx scripts/t2i-near-misses.ts [--seed 99 --n 2000 --paraphrase 400] RW.jsonl [RW2.jsonl ...]
 *
 * The flags must be the ones the eval ran with: the pairs are generated again
 * and matched by id.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { sampleParaphraseSplit, sampleSplit } from '../trainer/shapes/pairs.js';

const { values, positionals } = parseArgs({
  options: { seed: { type: 'string', default: '99' }, n: { type: 'string', default: '2000' }, paraphrase: { type: 'string', default: '400' } },
  allowPositionals: true,
});
const seed = Number(values.seed);
const samples = [...sampleSplit(seed, Number(values.n)), ...sampleParaphraseSplit(seed, Number(values.paraphrase))];
const byId = new Map(samples.map((s) => [s.id, s]));
for (const file of positionals) {
  const tally = new Map<string, [right: number, all: number]>();
  let unmatched = 0;
  for (const line of readFileSync(file, 'utf8').trim().split('\n')) {
    const r = JSON.parse(line) as { id: string; rewards: { chosen: { reward: number }; rejected: { reward: number } } };
    const s = byId.get(r.id);
    if (!s) {
      unmatched++;
      continue;
    }
    const key = s.meta.qtype === 't2i' ? `t2i ${s.meta.errorKind}, ${s.meta.captionSpec.type} caption`
      : s.meta.qtype === 'description' ? `description (${s.slice})` : null;
    if (!key) continue;
    const diff = r.rewards.chosen.reward - r.rewards.rejected.reward;
    const t = tally.get(key) ?? [0, 0];
    // A tie is half a pair, as mrm eval counts it.
    t[0] += diff > 0 ? 1 : diff === 0 ? 0.5 : 0;
    t[1] += 1;
    tally.set(key, t);
  }
  console.log(`${file}${unmatched ? ` (${unmatched} ids not in seed ${seed}'s pairs: other flags?)` : ''}`);
  for (const [k, [right, all]] of [...tally].sort()) console.log(`  ${k.padEnd(32)} ${(100 * right / all).toFixed(1).padStart(5)}% of ${all}`);
}
