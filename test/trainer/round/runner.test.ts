import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/serve/log.js';
import { newRoundId, RoundFolder, type RoundState } from '../../../src/rounds/folder.js';
import { acquireLock, RoundBusyError } from '../../../src/rounds/lock.js';
import { emptySteps, runRound, type Step } from '../../../trainer/round/runner.js';

async function freshRound(names: string[]): Promise<RoundFolder> {
  const stateDir = await mkdtemp(join(tmpdir(), 'mrm-round-'));
  const folder = new RoundFolder(stateDir, newRoundId());
  const now = new Date().toISOString();
  const state: RoundState = {
    id: folder.id, model: 'm', createdAt: now, updatedAt: now, status: 'running', pid: process.pid,
    config: {}, steps: emptySteps(names), outcome: null, endedBy: null, error: null,
  };
  await folder.create(state);
  return folder;
}

describe('round runner', () => {
  it('resumes at the first unfinished step and never re-runs a finished one', async () => {
    const runs: string[] = [];
    let failOnce = true;
    const steps: Step[] = [
      { name: 'a', run: async (ctx) => { runs.push('a'); await ctx.folder.writeJson('a.json', { n: 3 }); return { counts: { out: 3 } }; } },
      {
        name: 'b',
        run: async (ctx) => {
          runs.push('b');
          const { n } = await ctx.folder.readJson<{ n: number }>('a.json');
          if (failOnce) { failOnce = false; throw new Error('disk on fire'); }
          return { counts: { in: n, out: n - 1 } };
        },
      },
      { name: 'c', run: async () => { runs.push('c'); return { counts: {}, outcome: { decision: 'activated', version: 2, reasons: ['ok'] } }; } },
    ];
    const folder = await freshRound(['a', 'b', 'c']);
    await expect(runRound(folder, steps, silentLogger)).rejects.toThrow(/round step 'b' failed: disk on fire/);
    const failed = await folder.load();
    expect(failed.status).toBe('failed');
    expect(failed.steps.map((s) => s.status)).toEqual(['done', 'failed', 'pending']);

    const done = await runRound(folder, steps, silentLogger);
    expect(runs).toEqual(['a', 'b', 'b', 'c']);
    expect(done.status).toBe('finished');
    expect(done.steps.map((s) => s.counts)).toEqual([{ out: 3 }, { in: 3, out: 2 }, {}]);
    expect(done.outcome).toEqual({ decision: 'activated', version: 2, reasons: ['ok'] });
    const types = (await folder.events()).map((e) => `${e.type}${'step' in e && e.step ? `:${e.step}` : ''}`);
    expect(types).toEqual(['step.start:a', 'step.done:a', 'step.start:b', 'round.failed:b', 'step.start:b', 'step.done:b', 'step.start:c', 'step.done:c', 'round.done']);
  });

  it('skips the steps after one that ends the round', async () => {
    const ran: string[] = [];
    const steps: Step[] = [
      { name: 'gate', run: async () => { ran.push('gate'); return { counts: {}, outcome: { decision: 'rejected', version: 5, reasons: ['worse'] }, stop: true }; } },
      { name: 'activate', run: async () => { ran.push('activate'); return { counts: {} }; } },
    ];
    const state = await runRound(await freshRound(['gate', 'activate']), steps, silentLogger);
    expect(ran).toEqual(['gate']);
    expect(state.endedBy).toBe('gate');
    expect(state.outcome?.decision).toBe('rejected');
  });

  it('refuses a folder made for other steps', async () => {
    const folder = await freshRound(['a']);
    await expect(runRound(folder, [{ name: 'z', run: async () => ({ counts: {} }) }], silentLogger)).rejects.toThrow(/lists steps \[a\]/);
  });
});

describe('round lock', () => {
  it('allows one round per model and takes over a dead owner', async () => {
    const stateDir = await mkdtemp(join(tmpdir(), 'mrm-lock-'));
    const release = await acquireLock(stateDir, 'm', 'r1');
    await expect(acquireLock(stateDir, 'm', 'r2')).rejects.toBeInstanceOf(RoundBusyError);
    await expect(acquireLock(stateDir, 'm', 'r2')).rejects.toThrow(/round r1 of model m is running/);
    await release();
    const again = await acquireLock(stateDir, 'm', 'r2');
    await again();
    // A lock left by a process that no longer exists.
    const { hostname } = await import('node:os');
    await writeFile(join(stateDir, 'rounds', '.lock-m'), JSON.stringify({ round: 'old', pid: 2 ** 22 + 12345, host: hostname() }));
    const taken = await acquireLock(stateDir, 'm', 'r3');
    await taken();
  });
});
