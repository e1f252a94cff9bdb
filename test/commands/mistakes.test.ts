/**
 * A new user's mistakes, each answered with one line that names the flag or
 * path and what would work, and the exit code: 2 for a usage mistake, 1 for
 * a failure. Real processes: `node bin/mrm.js`, python3, a real listener.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let dir: string;
let busy: Server;
let busyPort: number;
let closedPort: number;

interface Result { code: number; stdout: string; stderr: string; lines: string[] }

function run(cmd: string, args: string[], timeout = 140_000): Promise<Result> {
  return new Promise((resolve) => {
    execFile(cmd, args, { cwd: ROOT, timeout }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr, lines: stderr.split('\n').filter((l) => l.trim() !== '') });
    });
  });
}
const mrm = (...args: string[]) => run(process.execPath, ['bin/mrm.js', ...args]);

/** Exit code and the one stderr line (`mrm <command>: ...`) of a mistake. */
function expectOneLine(r: Result, code: number, line: RegExp): void {
  expect(r.code, r.stderr).toBe(code);
  expect(r.lines, r.stderr).toHaveLength(1);
  expect(r.lines[0]).toMatch(line);
}

const listen = (port = 0) => new Promise<Server>((resolve) => { const s = createServer(); s.listen(port, '127.0.0.1', () => resolve(s)); });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mrm-mistakes-'));
  busy = await listen();
  busyPort = (busy.address() as { port: number }).port;
  const closed = await listen();
  closedPort = (closed.address() as { port: number }).port;
  await new Promise((r) => closed.close(r));
  // A DT2IT data set's file, for the "wrong format" mistake (only its presence matters).
  await mkdir(join(dir, 'dt2it'));
  await writeFile(join(dir, 'dt2it', 'train.jsonl'), '');
});
afterAll(async () => {
  busy.close();
  await rm(dir, { recursive: true, force: true });
});

// Each case is one or two short-lived processes; on a shared 2-core machine one
// can take 20 s to start, hence the generous timeout.
describe.concurrent('usage mistakes exit 2 with one line naming the flag and the fix', { timeout: 150_000 }, () => {
  it('mrm fit without --out (the README once showed it so)', async () => {
    expectOneLine(await mrm('fit', '--seed', '1', '--n', '8000', '--style-bias', '0.7', '--flip', '0.1'), 2,
      /^mrm fit: --out is required: the directory to write the fitted bundle to, e.g. --out scratch\/fitted$/);
  });

  it('mrm data gen without --seed does not silently use 0', async () => {
    expectOneLine(await mrm('data', 'gen', '--n', '10', '--out', join(dir, 'x')), 2, /^mrm data: --seed is required: the split seed, e.g. --seed 7$/);
    expect(await readdir(dir)).not.toContain('x');
  });

  it('--addr with a bare port', async () => {
    expectOneLine(await mrm('score', '--addr', '52101', '--prompt', 'p', '--response', 'r'), 2,
      /^mrm score: --addr 52101: expected HOST:PORT; for a local server write --addr 127\.0\.0\.1:52101$/);
  });

  it('a mistyped flag gets a suggestion, not parseArgs advice about positionals', async () => {
    const r = await mrm('eval', '--sed', '3');
    expectOneLine(r, 2, /^mrm eval: unknown flag --sed; did you mean --seed\? \(--help lists the flags\)$/);
    expect(r.stderr).not.toMatch(/positional/);
  });

  it('a flag without its value', async () => {
    expectOneLine(await mrm('fit', '--out'), 2, /^mrm fit: --out needs a value$/);
  });

  it('a stray argument', async () => {
    expectOneLine(await mrm('eval', 'models/shapes-mrm'), 2, /^mrm eval: unexpected argument 'models\/shapes-mrm': options are --flag VALUE/);
  });

  it('an unknown command', async () => {
    expectOneLine(await mrm('evaluate'), 2, /^mrm: unknown command 'evaluate'; the commands are serve, .*\beval\b.*\(mrm --help\)$/);
  });

  it('serve --port abc exits 2 like the other usage mistakes', async () => {
    expectOneLine(await mrm('serve', '--port', 'abc'), 2, /^mrm serve: config port \(--port\): expected a number, got "abc"$/);
  });

  it('eval --data on a missing directory', async () => {
    expectOneLine(await mrm('eval', '--data', join(dir, 'nope')), 2, /^mrm eval: --data .*nope: no such directory \(make one with: mrm data gen --seed S --n N --out .*nope\)$/);
  });

  it('eval --data on a DT2IT directory without --format dt2it', async () => {
    expectOneLine(await mrm('eval', '--data', join(dir, 'dt2it')), 2, /^mrm eval: --data .*dt2it: holds train\.jsonl, a dt2it data set; add --format dt2it$/);
  });

  it('eval --model on a path that does not exist', async () => {
    expectOneLine(await mrm('eval', '--model', '/nope'), 2, /^mrm eval: --model \/nope: not a bundle \(no such directory\); give a bundle directory such as models\/shapes-mrm/);
  });

  it('eval --model on a directory that is not a bundle', async () => {
    expectOneLine(await mrm('eval', '--model', dir), 2, /^mrm eval: --model .*: not a bundle \(no manifest\.json in .*\)/);
  });

  it('client.py --addr with a bare port', async () => {
    expectOneLine(await run('/usr/bin/python3', ['examples/python/client.py', '--addr', '52101']), 2, /^client\.py: --addr 52101: expected HOST:PORT/);
  });
});

describe.concurrent('failures exit 1 with one line saying what happened', { timeout: 150_000 }, () => {
  it('mrm score with nothing listening: no empty "Resolution note:"', async () => {
    const r = await mrm('score', '--addr', `127.0.0.1:${closedPort}`, '--prompt', 'p', '--response', 'r');
    expectOneLine(r, 1, new RegExp(`^mrm score: no server at 127\\.0\\.0\\.1:${closedPort} \\(connection refused\\); start one with mrm serve`));
    expect(r.stderr).not.toMatch(/Resolution note/);
  });

  it('client.py with nothing listening: one line within seconds, not 60 s and a traceback', async () => {
    const t0 = Date.now();
    const r = await run('/usr/bin/python3', ['examples/python/client.py', '--addr', `127.0.0.1:${closedPort}`, '--connect-timeout', '2']);
    expectOneLine(r, 1, /^client\.py: no server answered within 2 s; start one with `npm start`/);
    expect(r.stderr).not.toMatch(/Traceback/);
    expect(Date.now() - t0).toBeLessThan(50_000); // was 60 s of polling plus start-up
  });

  it('serve on a port in use says so (not grpc-js\'s "No address added")', async () => {
    const r = await mrm('serve', '--host', '127.0.0.1', '--port', String(busyPort), '--admin-port', '0', '--state-dir', join(dir, 'state'));
    expect(r.code, r.stderr).toBe(1);
    // grpc-js's own words may be in the JSON log, not in what the user reads.
    expect(r.lines.filter((l) => !l.startsWith('{')).join('\n')).not.toMatch(/No address added/);
    // Everything before the last line is the server's JSON log.
    for (const l of r.lines.slice(0, -1)) expect(() => JSON.parse(l), l).not.toThrow();
    expect(r.lines.at(-1)).toMatch(new RegExp(`^mrm serve: cannot listen on 127\\.0\\.0\\.1:${busyPort}: the port is in use \\(another mrm serve\\?\\); choose another with --port N`));
  });

  it('serve --model foo says the seed bundle is another model and leaves no registry foo/', async () => {
    const state = join(dir, 'state-foo');
    const r = await mrm('serve', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--state-dir', state, '--model', 'foo');
    expect(r.code, r.stderr).toBe(1);
    expect(r.lines.at(-1)).toMatch(/^mrm serve: model 'foo' has no versions in .*, and the seed bundle models\/shapes-mrm is model 'shapes-mrm', not 'foo'; serve 'shapes-mrm' \(leave model unset\)/);
    expect(await readdir(state).catch(() => [])).not.toContain('foo');
  });
});
