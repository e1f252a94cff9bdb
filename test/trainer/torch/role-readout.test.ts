/**
 * `--role-readout R` (trainer/torch/mrm_torch/roles.py): a cell's place must
 * come from its coordinates, not from where it sits in the list (permuting a
 * slot's cells with their coordinates changes nothing, permuting the cells
 * alone does), padding and a masked-out image slot are never read, and a
 * model with the module as initialised scores exactly as one without.
 */
import { describe, expect, it } from 'vitest';
import { runPython } from './helpers.js';

describe('role readout', () => {
  it.each([['pooled', 'none'], ['tokens', 'none'], ['signed', 'none'], ['signed', 'sum'], ['signed', 'attributes']])('%s lookup, count %s: reads places from coordinates, ignores padding and absent images, and starts silent', async (lookup, count) => {
    const out = JSON.parse(await runPython('mrm_torch.roles_check', ['--seed', '5', '--rows', '12', '--lookup', lookup!, ...(count === 'none' ? [] : ['--count', count!])])) as {
      cell_order: number; coords_matter: number; count_of_one?: number; count_nonlinearity?: number; padding: number; absent_slot: number; init: number; prompt_lengths: number[];
    };
    expect(out.prompt_lengths).toContain(9);
    expect(out.cell_order).toBeLessThan(1e-5);
    // Every row moves when its cells keep their contents but swap places.
    expect(out.coords_matter).toBeGreaterThan(1e-3);
    expect(out.padding).toBeLessThan(1e-5);
    expect(out.absent_slot).toBe(0);
    expect(out.init).toBe(0);
    if (count === 'attributes') {
      // k green circles beside other shapes count k times one green circle.
      expect(out.count_of_one).toBeGreaterThan(0.9);
      expect(out.count_nonlinearity).toBeLessThan(0.02);
    }
  }, 60_000);
});
