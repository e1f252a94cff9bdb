/**
 * `--role-readout R` (trainer/torch/mrm_torch/roles.py): a cell's place must
 * come from its coordinates, not from where it sits in the list (permuting a
 * slot's cells with their coordinates changes nothing, permuting the cells
 * alone does), padding and a masked-out image slot are never read, and a
 * model with the module as initialised scores exactly as one without. With
 * `--role-number`, a stated number reaches the words after it and no further.
 */
import { describe, expect, it } from 'vitest';
import { runPython } from './helpers.js';

describe('role readout', () => {
  it.each<[string, string]>([['pooled', 'none'], ['tokens', 'none'], ['signed', 'none'], ['signed', 'sum'], ['signed', 'attributes'], ['signed', 'sum+lookup'], ['signed', 'attributes+lookup'], ['signed', 'sum+attributes'], ['signed', 'none+attributes']])('%s lookup, count %s: reads places from coordinates, ignores padding and absent images, and starts silent', async (lookup, count) => {
    const [countMode, number] = count.split('+');
    const args = ['--seed', '5', '--rows', '12', '--lookup', lookup, ...(countMode === 'none' ? [] : ['--count', countMode!]), ...(number ? ['--number', number] : [])];
    const out = JSON.parse(await runPython('mrm_torch.roles_check', args)) as {
      agreement?: number[]; cell_order: number; coords_matter: number; count_of_one?: number; count_nonlinearity?: number; padding: number; absent_slot: number; init: number; prompt_lengths: number[];
    };
    expect(out.prompt_lengths).toContain(9);
    expect(out.cell_order).toBeLessThan(1e-5);
    // Every row moves when its cells keep their contents but swap places.
    expect(out.coords_matter).toBeGreaterThan(1e-3);
    expect(out.padding).toBeLessThan(1e-5);
    expect(out.absent_slot).toBe(0);
    expect(out.init).toBe(0);
    if (number) {
      // "three" states 3 to the next three words of its own part only; a
      // count of 3 agrees fully, a count of 2 by exp(-2); padding reads 0.
      // Tokens: prompt [w, three, w (counts 2), pad], response [w, three, w, w, w, w, pad].
      expect(out.agreement).toEqual([0, 0, 0.1353, 0, 0, 0, 1, 1, 1, 0, 0]);
    }
    if (countMode === 'attributes' || number === 'attributes') {
      // k green circles beside other shapes count k times one green circle.
      expect(out.count_of_one).toBeGreaterThan(0.9);
      expect(out.count_nonlinearity).toBeLessThan(0.02);
    }
  }, 60_000);
});
