/** mrm log stats | tail, as a user runs them, on a state directory written by real writers. */
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PairLogWriter } from '../../src/pairlog/writer.js';
import { silentLogger } from '../../src/serve/log.js';
import { until } from '../serve/helpers.js';
import { DEAD_PID, rawSegment, record, tempState } from './fixtures.js';

const exec = promisify(execFile);
async function mrm(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec('node', ['bin/mrm.js', ...args], { timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

let dir: string;
beforeAll(async () => {
  dir = await tempState();
  const w = await PairLogWriter.open({ stateDir: dir, syncIntervalMs: 10, syncRecords: 100, segmentBytes: 4096, maxBytes: 1 << 20, queueRecords: 1000, log: silentLogger, host: 'a', pid: 7, startTime: 1000 });
  // Four batches of 10 records (~2.5 KiB each): the writer rotates past 4 KiB.
  for (let i = 1; i <= 40; i++) {
    w.append({ record: record(i, { time: new Date(2_000_000_000_000 + i * 1000).toISOString() }), imageBytes: [Buffer.from('img')] });
    if (i % 10 === 0) await until(() => w.stats().syncedRecords === i);
  }
  await w.close();
  // Another process's segment with a torn tail (it is being written, or died on another host).
  await rawSegment(dir, { host: 'b', pid: DEAD_PID, startTime: 2000 }, 3, new Uint8Array([0x4d, 0x52, 0x50, 0x4c, 9]));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('mrm log', () => {
  it('stats --json: records, segments and bytes per process, torn bytes, images', async () => {
    const r = await mrm('log', 'stats', '--json', '--state-dir', dir);
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout);
    expect(s.records).toBe(43);
    expect(s.writers.map((w: { writer: string; records: number }) => [w.writer, w.records])).toEqual([['a-7-1000', 40], ['b-4195303-2000', 3]]);
    expect(s.writers[0].segments).toBeGreaterThan(1);
    expect(s.writers[0].openSegments).toBe(0);
    expect(s.writers[1].openSegments).toBe(1);
    expect(s.errors).toMatchObject({ tornTails: 1, tornBytes: 5, corruptBytes: 0 });
    expect(s.images).toEqual({ count: 1, bytes: 3 });
    const human = await mrm('log', 'stats', '--state-dir', dir);
    expect(human.stdout).toContain('43 records in');
    expect(human.stdout).toContain('a-7-1000');
  });

  it('tail -n N: the newest records; --json has every field', async () => {
    const r = await mrm('log', 'tail', '-n', '3', '--json', '--state-dir', dir);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.writer, l.seq])).toEqual([['a-7-1000', 38], ['a-7-1000', 39], ['a-7-1000', 40]]);
    expect(lines[2].a.features).toEqual([40, 1.5, -2]);
    const human = await mrm('log', 'tail', '--state-dir', dir);
    expect(human.stdout.trim().split('\n')).toHaveLength(10);
    expect(human.stdout).toMatch(/P\(a>b\)=\d\.\d{3}/);
  });

  it('names the mistake and exits 2', async () => {
    const r = await mrm('log', 'tail', '-n', 'zero', '--state-dir', dir);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("-n: expected an integer >= 1");
    expect((await mrm('log', 'nope')).code).toBe(2);
  });
});
