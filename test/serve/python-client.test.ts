/**
 * The Python example against a real `mrm serve` process: what a trainer
 * written in Python sees. Needs /usr/bin/python3 with python3-grpcio and
 * python3-grpc-tools (apt); without them this test fails, it does not skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HEALTH_PROTO } from '../../src/serve/proto.js';
import { spawnServer, tinyDir } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PYTHON = '/usr/bin/python3';
const APT = 'apt-get install -y python3-grpcio python3-grpc-tools protobuf-compiler';

let dir: string;
let server: ChildProcess;
let port: number;
let logs: Record<string, unknown>[];

beforeAll(async () => {
  dir = await tinyDir();
  ({ proc: server, port, logs } = await spawnServer(process.execPath, ['bin/mrm.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0',
    '--state-dir', join(dir, 'state'), '--seed-bundle', join(dir, 'bundle')], { cwd: ROOT }));
});

afterAll(async () => {
  if (server.exitCode === null) server.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

describe('Python client example', () => {
  it('has python3 with grpcio and grpc_tools', () => {
    const r = spawnSync(PYTHON, ['-c', 'import grpc, grpc_tools'], { encoding: 'utf8' });
    expect(r.status, `${PYTHON} cannot import grpc and grpc_tools; install them: ${APT}\n${r.stderr}`).toBe(0);
  });

  it('ships the health proto the server serves', () => {
    expect(readFileSync(join(ROOT, 'proto/grpc/health/v1/health.proto'), 'utf8')).toBe(readFileSync(HEALTH_PROTO, 'utf8'));
  });

  it('runs against `mrm serve`: health, Score, Compare, NOT_FOUND resend, ScoreStream, errors', async () => {
    const py = spawn(PYTHON, [join(ROOT, 'examples/python/client.py'), '--addr', `127.0.0.1:${port}`, '--wait', '20'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    py.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
    py.stderr!.on('data', (b: Buffer) => { err += b.toString(); });
    const code = await new Promise<number | null>((resolve) => py.on('exit', resolve));
    expect(code, `client.py failed:\n${out}\n${err}`).toBe(0);
    expect(out).toContain('health: SERVING');
    expect(out).toContain('Score (tiny v1, request step-1)');
    expect(out).toContain('NOT_FOUND');
    expect(out).toContain('ScoreStream: 8 responses');
    expect(out.trim().endsWith('ok')).toBe(true);
  });

  it('stops on SIGTERM with exit code 0 and a last stats line', async () => {
    const exited = new Promise<number | null>((resolve) => server.on('exit', resolve));
    server.kill('SIGTERM');
    expect(await exited).toBe(0);
    const stopped = logs.find((l) => l.event === 'server.stopped') as { stats: { rpc: { calls: Record<string, number> } } } | undefined;
    expect(stopped?.stats.rpc.calls.Score).toBeGreaterThan(0);
    expect(logs.find((l) => l.event === 'server.config')).toBeDefined();
  });
});
