/**
 * `python3 -m mrm_torch.by_type` (trainer/torch/mrm_torch/by_type.py) reads
 * a pair's question type and, for count questions, the true count from its
 * texts alone. Checked against the generator's own record of both: rewards
 * lines that are right exactly on count pairs whose true count is even, for
 * every slice and held-out wording of a real ShapesWorld sample.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sampleParaphraseSplit, sampleSplit } from '../../../trainer/shapes/pairs.js';
import { runPython } from './helpers.js';

const dirs: string[] = [];
afterAll(async () => { await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))); });

describe('by_type', () => {
  it('classifies every pair as the generator did and reads count questions\' true counts', async () => {
    const samples = [...sampleSplit(5, 600, undefined, { reword: 0.5 }), ...sampleParaphraseSplit(5, 200)];
    const expected = new Map<string, { pairs: number; right: number }>();
    const add = (k: string, right: boolean) => {
      const e = expected.get(k) ?? { pairs: 0, right: 0 };
      e.pairs += 1;
      e.right += right ? 1 : 0;
      expected.set(k, e);
    };
    const lines = samples.map((s) => {
      const truth = s.meta.qtype === 'count' && s.meta.answers[s.truth === 'a' ? 0 : 1];
      const count = truth && truth.type === 'count' ? truth.count : null;
      const right = count !== null && count % 2 === 0;
      add('overall', right);
      add(s.meta.qtype, right);
      if (count !== null) add(`count, true ${count}`, right);
      const [chosen, rejected] = s.truth === 'a' ? s.responses : [s.responses[1], s.responses[0]];
      return JSON.stringify({ id: s.id, slice: s.slice, prompt: s.prompt, chosen, rejected,
        rewards: { chosen: { reward: right ? 1 : 0 }, rejected: { reward: 0.5 } } });
    });
    const dir = await mkdtemp(join(tmpdir(), 'by-type-'));
    dirs.push(dir);
    const file = join(dir, 'rw.jsonl');
    await writeFile(file, lines.join('\n') + '\n');
    const out = JSON.parse(await runPython('mrm_torch.by_type', ['--json', file])) as { types: Record<string, { pairs: number; right: number }> };
    expect(Object.fromEntries(expected)).toEqual(out.types);
    // Every question type and several true counts were in the sample.
    expect([...expected.keys()].filter((k) => k.startsWith('count, true')).length).toBeGreaterThanOrEqual(6);
    expect(['color', 'existence', 'position', 'description', 't2i'].every((k) => expected.has(k))).toBe(true);
  }, 60_000);
});
