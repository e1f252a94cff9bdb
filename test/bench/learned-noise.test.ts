import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/commands/args.js';
import { checkClaims, gapBySlice, gapClosed, meanRows, noiseCost, type BenchRow, type Roles } from '../../scripts/bench-learned-noise/gap.js';
import { btOptions, labelFreeBaseOptions } from '../../scripts/bench-learned-noise/learned.js';
import { parseOptions } from '../../scripts/bench-learned-noise/options.js';
import { LEARNED_ARCH, LEARNED_ROLES } from '../../trainer/torch/recipe.js';

const row = (name: string, overall: number, side: BenchRow['side'] = 'learned', grounded = overall): BenchRow => ({
  name, side, accuracy: { overall, grounded, 'style-adversarial': overall, t2i: overall, description: overall }, trainPairs: 10, labelAccuracy: 1,
});

const roles = (o: { hn: number; ho: number; ln: number; lo: number; lr: number }): Roles => ({
  headNoisy: row('hn', o.hn, 'head'), headOracle: row('ho', o.ho, 'head'),
  learnedNoisy: row('ln', o.ln), learnedOracle: row('lo', o.lo), learnedRound: row('lr', o.lr),
});

describe('bench:learned-noise arithmetic', () => {
  it('gap closed is (round - noisy) / (oracle - noisy); no gap gives NaN, not a share of nothing', () => {
    expect(gapClosed(0.6, 0.8, 0.76)).toBeCloseTo(0.8, 12);
    expect(gapClosed(0.6, 0.8, 0.6)).toBe(0);
    expect(gapClosed(0.6, 0.8, 0.9)).toBeCloseTo(1.5, 12);
    expect(gapClosed(0.6, 0.8, 0.5)).toBeCloseTo(-0.5, 12);
    expect(gapClosed(0.7, 0.7, 0.8)).toBeNaN();
    expect(gapClosed(0.7, 0.65, 0.8)).toBeNaN();
    expect(noiseCost(0.6, 0.8)).toBeCloseTo(0.2, 12);
  });

  it('the two claims: the learned model loses more than the head-only one, and the round closes >= 80% of its gap', () => {
    const ok = checkClaims(roles({ hn: 0.78, ho: 0.8, ln: 0.6, lo: 0.75, lr: 0.73 }));
    expect(ok.map((c) => c.passed)).toEqual([true, true]);
    expect(ok[1]!.detail).toMatch(/^87% of a 15\.0 points gap/);
    // 79% closed, and a learned loss equal to the head's, both fail.
    const bad = checkClaims(roles({ hn: 0.6, ho: 0.75, ln: 0.6, lo: 0.75, lr: 0.7185 }));
    expect(bad.map((c) => c.passed)).toEqual([false, false]);
    // No learned gap at all is a failure that says so.
    const none = checkClaims(roles({ hn: 0.78, ho: 0.8, ln: 0.7, lo: 0.69, lr: 0.72 }));
    expect(none[1]!.passed).toBe(false);
    expect(none[1]!.detail).toMatch(/^no gap/);
  });

  it('per-slice gaps and the mean of rows over seeds', () => {
    const r = roles({ hn: 0.7, ho: 0.8, ln: 0.5, lo: 0.7, lr: 0.65 });
    r.learnedOracle.accuracy.grounded = 0.5;
    const g = gapBySlice(r);
    expect(g.overall).toBeCloseTo(0.75, 12);
    expect(g.grounded).toBeNaN();
    const m = meanRows([[row('a', 0.6), row('b', 0.9)], [row('a', 0.8), row('b', 0.7)]]);
    expect(m.map((x) => x.name)).toEqual(['a', 'b']);
    expect(m[0]!.accuracy.overall).toBeCloseTo(0.7, 12);
    expect(m[1]!.accuracy.overall).toBeCloseTo(0.8, 12);
  });
});

describe('bench:learned-noise options', () => {
  it('defaults: bench:dt2it sizes, one seed, one thread, the build:learned checkpoints', () => {
    const o = parseOptions([]);
    expect(o.sizes).toEqual({ base: 2000, logged: 1500, t2i: 500, eval: 1500 });
    expect(o).toMatchObject({ seeds: 1, rounds: 3, threads: 1, curateFeatures: 'base', recipe: 'roles', visionFrom: 'var/build-learned/20000/ckpt/vision.pt', initFrom: 'var/build-learned/20000/ckpt/roles-grounded.pt' });
    // Round 7's stage 1 alone starts from stage 1's grounding.
    expect(parseOptions(['--recipe', 'arch'])).toMatchObject({ recipe: 'arch', initFrom: 'var/build-learned/20000/ckpt/grounded.pt' });
    expect(parseOptions(['--recipe', 'arch', '--init-from', '/x/g.pt']).initFrom).toBe('/x/g.pt');
    expect(parseOptions(['--vision-from', '/x/v.pt', '--eval', '2000']).visionFrom).toBe('/x/v.pt');
    expect(parseOptions(['--curate-features', 'noisy']).curateFeatures).toBe('noisy');
    expect(parseOptions(['--seeds', '3', '--first-seed', '2'])).toMatchObject({ seeds: 3, firstSeed: 2 });
    expect(parseOptions([]).firstSeed).toBe(1);
  });

  it('a bad value or flag is a UsageError naming the flag', () => {
    expect(() => parseOptions(['--seeds', '0'])).toThrow(UsageError);
    expect(() => parseOptions(['--seeds', '0'])).toThrow(/--seeds: expected an integer >= 1/);
    expect(() => parseOptions(['--threads', '1.5'])).toThrow(/--threads/);
    expect(() => parseOptions(['--vison-from', 'a'])).toThrow(/did you mean --vision-from/);
    expect(() => parseOptions(['stray'])).toThrow(/unexpected argument 'stray'/);
    expect(() => parseOptions(['--seeds', '2', '--first-seed', '3'])).toThrow(/--first-seed/);
    expect(() => parseOptions(['--curate-features', 'oracle'])).toThrow(/--curate-features: expected one of base, noisy, got 'oracle'/);
    expect(() => parseOptions(['--recipe', 'lookup'])).toThrow(/--recipe: expected one of roles, arch, got 'lookup'/);
  });
});

describe('bench:learned-noise trainings', () => {
  const o = { visionFrom: 'v.pt', initFrom: 'g.pt', seed: 2, threads: 1, name: 'n' };
  it('the shipped recipe trains with the role readout and counts; arch without them', () => {
    const roles = btOptions('d', 'out', { ...o, recipe: 'roles' }).extraArgs!;
    for (const a of LEARNED_ROLES.args) expect(roles).toContain(a);
    expect(roles.join(' ')).toContain('--init-from g.pt --freeze-vision');
    const arch = btOptions('d', 'out', { ...o, recipe: 'arch' }).extraArgs!;
    expect(arch).not.toContain('--role-readout');
    expect(arch.join(' ')).toContain(LEARNED_ARCH.join(' '));
    // The label-free base must be the same model class as the noisy run it stands beside.
    expect(labelFreeBaseOptions('d', 'out', { ...o, recipe: 'roles' }).extraArgs).toContain('--role-readout');
  });
});
