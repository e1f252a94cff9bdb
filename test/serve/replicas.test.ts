/**
 * Two `mrm serve` processes on one state directory (replicas that share only
 * the file system) both follow every activation and rollback, whichever
 * replica's admin API (through `mrm models`) moved the pointer. Also the
 * command line's refusals: no token, a non-loopback admin host without one,
 * and the token kept out of --help.
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRewardClient, type RewardClient, unary } from '../../src/serve/proto.js';
import { addGoodVersion } from './registry-fixtures.js';
import { spawnServer, tinyDir } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TOKEN = 'replica-test-token-5f3a';
const exec = promisify(execFile);
let dir: string;
const replicas: { proc: ChildProcess; port: number; adminPort: number; client: RewardClient; version: number }[] = [];

async function mrm(args: string[], env: Record<string, string> = { MRM_ADMIN_TOKEN: TOKEN }): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['bin/mrm.js', ...args], { cwd: ROOT, env: { ...process.env, ...env }, timeout: 120_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  dir = await tinyDir();
  for (let i = 0; i < 2; i++) {
    const env = { ...process.env, MRM_ADMIN_TOKEN: TOKEN };
    const { proc, port, logs } = await spawnServer(process.execPath, ['bin/mrm.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0',
      '--state-dir', join(dir, 'state'), '--seed-bundle', join(dir, 'bundle'), '--swap-poll-interval-ms', '300'], { cwd: ROOT, env });
    const adminPort = logs.find((l) => l.event === 'server.serving')!.adminPort as number;
    replicas.push({ proc, port, adminPort, client: createRewardClient(`127.0.0.1:${port}`), version: 1 });
  }
  await addGoodVersion(join(dir, 'state'), dir, 2);
}, 120_000);

afterAll(async () => {
  for (const r of replicas) {
    r.client.close();
    if (r.proc.exitCode === null) r.proc.kill('SIGKILL');
  }
  await rm(dir, { recursive: true, force: true });
});

/** Scores until the replica's responses name `version`. */
async function follows(i: number, version: number): Promise<void> {
  const r = replicas[i]!;
  const end = Date.now() + 30_000;
  for (;;) {
    const res = await unary(r.client.score.bind(r.client), { items: [{ prompt: 'red circle', response: `yes ${Date.now()}` }] });
    if (res.model!.version === version) return;
    if (Date.now() > end) throw new Error(`replica ${i} still serves version ${res.model!.version}, expected ${version}`);
    await new Promise((res_) => setTimeout(res_, 100));
  }
}

describe('two replicas on one state directory', () => {
  it('both follow every activation and rollback, through either replica', async () => {
    const steps: [number, string[], number][] = [
      [0, ['activate', '2', '--reason', 'test'], 2],
      [1, ['rollback'], 1],
      [1, ['activate', '2'], 2],
      [0, ['rollback'], 1],
    ];
    for (const [via, args, version] of steps) {
      const r = await mrm(['models', ...args, '--admin', `127.0.0.1:${replicas[via]!.adminPort}`, '--json']);
      expect(r.code, r.stderr).toBe(0);
      // The replica that was called answers once it serves the version itself.
      expect(JSON.parse(r.stdout)).toMatchObject({ model: 'tiny', servingVersion: version, changed: true });
      await follows(via, version);
      await follows(1 - via, version);
    }
    const list = await mrm(['models', 'list', '--admin', `127.0.0.1:${replicas[1]!.adminPort}`, '--json']);
    const l = JSON.parse(list.stdout);
    expect(l.versions.map((v: { version: number; active: boolean }) => [v.version, v.active])).toEqual([[1, true], [2, false]]);
    expect(l.swap.swaps).toBe(4);
    const table = await mrm(['models', 'list', '--admin', `127.0.0.1:${replicas[0]!.adminPort}`]);
    expect(table.stdout).toMatch(/pointer: version 1 \(previous 2/);
  });

  it('mrm models without the token fails with UNAUTHENTICATED, and --help never shows the token', async () => {
    const r = await mrm(['models', 'list', '--admin', `127.0.0.1:${replicas[0]!.adminPort}`], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/UNAUTHENTICATED/);
    for (const cmd of [['models', '--help'], ['serve', '--help']]) {
      const h = await mrm(cmd);
      expect(h.code).toBe(0);
      expect(h.stdout).toContain('MRM_ADMIN_TOKEN');
      expect(h.stdout + h.stderr).not.toContain(TOKEN);
    }
  });

  it('mrm serve refuses a non-loopback admin host without a token: exit 2, one line', async () => {
    const r = await mrm(['serve', '--port', '0', '--admin-host', '0.0.0.0', '--admin-port', '0', '--state-dir', join(dir, 'state2'), '--seed-bundle', join(dir, 'bundle')], { MRM_ADMIN_TOKEN: '' });
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('{'));
    expect(lines).toEqual([expect.stringMatching(/^mrm serve: config admin\.host .*non-loopback address 0\.0\.0\.0 without a token/)]);
  });
});
