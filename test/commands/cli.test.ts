import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const exec = promisify(execFile);
let dir: string;

async function mrm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec('node', ['bin/mrm.js', ...args], { timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'mrm-cli-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

describe('mrm data, eval, fit', () => {
  it('generates a split, converts it, and evaluates the shipped model on it per slice', async () => {
    const gen = await mrm('data', 'gen', '--seed', '31', '--n', '120', '--out', join(dir, 'lf'));
    expect(gen.code).toBe(0);
    expect(gen.stdout).toMatch(/wrote .*train\.json: 120 pairs/);
    const conv = await mrm('data', 'convert', '--in', join(dir, 'lf'), '--from', 'llamafactory', '--out', join(dir, 'jl'), '--to', 'dt2it');
    expect(conv.code).toBe(0);
    const ev = await mrm('eval', '--data', join(dir, 'jl'), '--format', 'dt2it', '--json', join(dir, 'eval.json'));
    expect(ev.code).toBe(0);
    for (const slice of ['overall', 'grounded', 'style-adversarial', 't2i', 'ECE']) expect(ev.stdout).toContain(slice);
    // What "accuracy" means is said, not left to guess.
    expect(ev.stdout).toContain(`accuracy is against each record's ground truth ("mrm".truth), not its label; a tie counts as half a pair`);
    const report = JSON.parse(await readFile(join(dir, 'eval.json'), 'utf8'));
    expect(report.slices[0]).toMatchObject({ slice: 'overall', pairs: 120 });
    // Today 99.2% (119 of 120): one more wrong pair passes, two do not.
    expect(report.slices[0].accuracy).toBeGreaterThanOrEqual(0.98);
  });

  it('fits a bundle that loads and evaluates', async () => {
    const out = join(dir, 'fitted');
    const fit = await mrm('fit', '--seed', '32', '--n', '300', '--held-out-n', '100', '--epochs', '10', '--k', '3', '--out', out, '--feature-cache', join(dir, 'features'));
    expect(fit.code, fit.stderr).toBe(0);
    const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.io.head.outputs[0].shape).toEqual(['N', 3]);
    // Today 96.5% of 100 held-out pairs for this small fit (300 pairs, 10 epochs).
    expect(manifest.metrics['accuracy.overall']).toBeGreaterThanOrEqual(0.94);
    // Named for its data, not passing for the shipped model; the base in its lineage.
    expect(manifest.name).toBe(`shapes-mrm-fit-${manifest.lineage.datasetDigest.slice(0, 8)}`);
    expect(manifest.lineage.base).toEqual({ name: 'shapes-mrm', version: 1 });
    expect(fit.stdout).toContain(`wrote ${out}: ${manifest.name} version 1 (head fitted on shapes-mrm v1)`);
    const ev = await mrm('eval', '--model', out, '--seed', '33', '--n', '60', '--json', '-');
    expect(JSON.parse(ev.stdout).version).toBe(1);
  }, 300_000); // ~50 s alone; minutes on a shared, loaded 2-core machine

  it('refuses a data set with a bad record, naming the line and the field', async () => {
    const bad = join(dir, 'bad');
    await mrm('data', 'gen', '--seed', '34', '--n', '3', '--out', bad, '--format', 'dt2it');
    const lines = (await readFile(join(bad, 'train.jsonl'), 'utf8')).trim().split('\n');
    const rec = JSON.parse(lines[1]!);
    rec.chosen = '';
    lines[1] = JSON.stringify(rec);
    await writeFile(join(bad, 'train.jsonl'), lines.join('\n') + '\n');
    const ev = await mrm('eval', '--data', bad, '--format', 'dt2it');
    expect(ev.code).toBe(1);
    expect(ev.stderr).toMatch(/train\.jsonl:2: field 'chosen'/);
  });

  it('refuses a held-out seed equal to the training seed, before generating anything', async () => {
    const same = await mrm('fit', '--seed', '5', '--n', '40', '--held-out-seed', '5', '--held-out-n', '10', '--out', join(dir, 'never'), '--feature-cache', 'none');
    expect(same.code).toBe(2);
    expect(same.stderr).toContain('--held-out-seed 5 is the training seed');
    // The defaults (train seed 1) against an explicit held-out seed 1.
    const dflt = await mrm('fit', '--n', '40', '--held-out-seed', '1', '--held-out-n', '10', '--out', join(dir, 'never'), '--feature-cache', 'none');
    expect(dflt.code).toBe(2);
    expect(dflt.stderr).toContain('--held-out-seed 1 is the training seed');
  });

  it('answers a bad flag with the flag, what it expected, and exit code 2', async () => {
    const r = await mrm('eval', '--seed', 'many');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--seed: expected an integer >= 0, got 'many'");
  });
});
