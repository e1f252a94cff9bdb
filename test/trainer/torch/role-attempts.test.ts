/** build:learned's choice among role-stage runs: which are stuck, which are below target, which one is kept. */
import { describe, expect, it } from 'vitest';
import { betterRun, judgeRoleRun, type RoleVerdict } from '../../../trainer/torch/role-attempts.js';
import { LEARNED_ROLES } from '../../../trainer/torch/recipe.js';

const gate = { minPosition: 0.9, minAccuracy: 0.975 };
const run = (position: number | undefined, accuracy: number | undefined) => ({
  seed: 1,
  metrics: Object.fromEntries([['ground.accuracy.position', position], ['accuracy.overall', accuracy]].filter(([, v]) => v !== undefined)),
});

describe('judgeRoleRun', () => {
  it('calls a run stuck by its position claims, whatever its accuracy says', () => {
    expect(judgeRoleRun(run(0.52, 0.8), gate)).toEqual({ kind: 'stuck', position: 0.52 });
    // train.py --bt-min-ground-position skips the held-out evaluation of a stuck run: no accuracy at all.
    expect(judgeRoleRun(run(0.46, undefined), gate)).toEqual({ kind: 'stuck', position: 0.46 });
  });

  it('sends a run that left the saddle below the accuracy target to another seed (round 8\'s fresh build: 96.4%)', () => {
    expect(judgeRoleRun(run(0.99, 0.964), gate)).toEqual({ kind: 'below', accuracy: 0.964 });
    expect(judgeRoleRun(run(1, 0.982), gate)).toEqual({ kind: 'accepted', accuracy: 0.982 });
    expect(judgeRoleRun(run(0.9, 0.975), gate)).toEqual({ kind: 'accepted', accuracy: 0.975 });
  });

  it('accepts a run without the metrics (no held-out split): nothing says it is worse', () => {
    expect(judgeRoleRun({ seed: 1, metrics: undefined }, gate)).toEqual({ kind: 'accepted', accuracy: null });
  });

  it('is what the recipe gates with', () => {
    expect(judgeRoleRun(run(0.99, 0.964), LEARNED_ROLES).kind).toBe('below');
    expect(judgeRoleRun(run(0.5, 0.99), LEARNED_ROLES).kind).toBe('stuck');
  });
});

describe('betterRun', () => {
  const below = (accuracy: number): RoleVerdict => ({ kind: 'below', accuracy });
  it('keeps the best held-out run that was not stuck', () => {
    expect(betterRun(below(0.96), null)).toBe(true);
    expect(betterRun(below(0.97), below(0.96))).toBe(true);
    expect(betterRun(below(0.95), below(0.96))).toBe(false);
    expect(betterRun({ kind: 'accepted', accuracy: 0.98 }, below(0.96))).toBe(true);
  });

  it('never keeps a stuck run, and any other run replaces one', () => {
    expect(betterRun({ kind: 'stuck', position: 0.5 }, null)).toBe(false);
    expect(betterRun(below(0.7), { kind: 'stuck', position: 0.5 })).toBe(true);
  });
});
