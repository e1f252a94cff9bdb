/**
 * `npm start` on the shipped default model, checked from Python the way a
 * trainer would: health SERVING, then the same rewards `mrm eval` computed
 * in-process for the same pairs, to 1e-4 (examples/python/check_rewards.py).
 * Everything is a real process: npm, the server, the CLI, python3.
 */
import { type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, spawnServer } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PYTHON = '/usr/bin/python3';

let dir: string;
let server: ChildProcess;
let port: number;

const run = (cmd: string, args: string[]) => runCommand(cmd, args, ROOT);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mrm-parity-'));
  // Its own process group, so the server under npm can be stopped with npm.
  ({ proc: server, port } = await spawnServer('npm', ['start', '--silent', '--', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--state-dir', join(dir, 'state')],
    { cwd: ROOT, detached: true }));

  const gen = await run(process.execPath, ['bin/mrm.js', 'data', 'gen', '--seed', '7', '--n', '48', '--out', join(dir, 'data')]);
  expect(gen.code, gen.out).toBe(0);
  const ev = await run(process.execPath, ['bin/mrm.js', 'eval', '--data', join(dir, 'data'), '--rewards', join(dir, 'rewards.jsonl')]);
  expect(ev.code, ev.out).toBe(0);
});

afterAll(async () => {
  if (server.exitCode === null) {
    const exited = new Promise((resolve) => server.on('exit', resolve));
    process.kill(-server.pid!, 'SIGTERM');
    await exited;
  }
  await rm(dir, { recursive: true, force: true });
});

const check = (rewards: string) => run(PYTHON, [join(ROOT, 'examples/python/check_rewards.py'), '--addr', `127.0.0.1:${port}`,
  '--rewards', rewards, '--images', join(dir, 'data', 'images'), '--wait', '20']);

describe('npm start serves the default model with the rewards of mrm eval', () => {
  it('agrees with mrm eval on 48 pairs to 1e-4, from the Python client', async () => {
    const r = await check(join(dir, 'rewards.jsonl'));
    expect(r.code, r.out).toBe(0);
    expect(r.out).toContain('health: SERVING');
    expect(r.out).toContain("server model [('shapes-mrm', 1)]");
    // Answers from the server, not lines of the file.
    expect(r.out).toContain('pairs: 48; answered by the server: 48;');
  });

  it('fails the check when one reward is off by 2e-4', async () => {
    const lines = (await readFile(join(dir, 'rewards.jsonl'), 'utf8')).trim().split('\n');
    const row = JSON.parse(lines[5]!) as { rewards: { rejected: { reward: number } } };
    row.rewards.rejected.reward += 2e-4;
    lines[5] = JSON.stringify(row);
    await writeFile(join(dir, 'tampered.jsonl'), lines.join('\n') + '\n');
    const r = await check(join(dir, 'tampered.jsonl'));
    expect(r.code, r.out).toBe(1);
    expect(r.out).toMatch(/difference 0\.000200\d* exceeds the tolerance 0\.0001|difference 0\.0002 exceeds the tolerance 0\.0001/);
  });
});
