/** build:learned's choice among role-stage runs: which are stuck, which are below target, which one is kept. */
import { describe, expect, it } from 'vitest';
import { betterRun, judgeRoleRun, retryAfter, type RoleVerdict } from '../../../trainer/torch/role-attempts.js';
import { LEARNED_ROLES } from '../../../trainer/torch/recipe.js';

const gate = { minPosition: 0.9, minAccuracy: 0.975, retries: 2, accuracyRetries: 1 };
const run = (position: number | undefined, accuracy: number | undefined) =>
  Object.fromEntries([['ground.accuracy.position', position], ['accuracy.overall', accuracy]].filter(([, v]) => v !== undefined)) as Record<string, number>;

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
    expect(judgeRoleRun(undefined, gate)).toEqual({ kind: 'accepted', accuracy: null });
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

describe('retryAfter', () => {
  const stuck: RoleVerdict = { kind: 'stuck', position: 0.5 };
  const below: RoleVerdict = { kind: 'below', accuracy: 0.964 };
  it('stops at an accepted run and after the last rerun', () => {
    expect(retryAfter({ kind: 'accepted', accuracy: 0.98 }, 0, 1, gate)).toBe(false);
    expect(retryAfter(stuck, 2, 0, gate)).toBe(false);
    expect(retryAfter(below, 2, 1, gate)).toBe(false);
  });

  it('reruns a stuck run, and a run below target only while one complete rerun is left (the hour\'s budget)', () => {
    expect(retryAfter(stuck, 0, 0, gate)).toBe(true);
    expect(retryAfter(below, 0, 1, gate)).toBe(true);
    // Round 8's fresh build: below, then stuck twice: the second stuck run was the last.
    expect(retryAfter(stuck, 1, 1, gate)).toBe(true);
    // Two complete runs below target: the better is kept, no third.
    expect(retryAfter(below, 1, 2, gate)).toBe(false);
    expect(retryAfter(below, 1, 2, { ...gate, accuracyRetries: 2 })).toBe(true);
  });
});
