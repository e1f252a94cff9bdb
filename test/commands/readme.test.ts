/**
 * The README runs as written: every command of its `sh` code blocks, in
 * order, in a temporary directory that links to the checkout's files, with
 * `mrm` on the PATH as the README's alias. HTML comments before a block
 * (`<!-- readme-test: ... -->`, described in the README's "How the README is
 * tested") mark the block that starts the server, sizes to shrink, and
 * blocks not to run. Everything the commands write must be git-ignored.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEFAULT_ADDR = '127.0.0.1:50051';

interface Block {
  line: number;
  commands: string[];
  server: boolean;
  skip: string | null;
  replace: [string, string][];
}

/** The `sh` blocks of a markdown text with their directives. */
function readmeBlocks(md: string): Block[] {
  const blocks: Block[] = [];
  let directives: string[] = [];
  const lines = md.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const d = /^<!--\s*readme-test:\s*(.*?)\s*-->\s*$/.exec(line);
    if (d) { directives.push(d[1]!); continue; }
    const fence = /^```(\w*)\s*$/.exec(line);
    if (fence) {
      const start = i + 1;
      const body: string[] = [];
      for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
      if (fence[1] === 'sh') blocks.push(block(start, body, directives));
      else if (directives.length) throw new Error(`README line ${start}: readme-test directives on a non-sh block`);
      directives = [];
      continue;
    }
    if (line.trim() !== '') directives = [];
  }
  return blocks;
}

function block(line: number, body: string[], directives: string[]): Block {
  const b: Block = { line, commands: [], server: false, skip: null, replace: [] };
  for (const d of directives) {
    let m: RegExpExecArray | null;
    if (d === 'server') b.server = true;
    else if ((m = /^skip\s*\((.+)\)$/.exec(d))) b.skip = m[1]!;
    else if ((m = /^replace\s+"([^"]+)"\s+"([^"]*)"$/.exec(d))) b.replace.push([m[1]!, m[2]!]);
    else throw new Error(`README line ${line}: unknown readme-test directive '${d}' (server, skip (why), replace "A" "B")`);
  }
  let cur = '';
  for (const raw of body) {
    if (raw.trim().startsWith('#') && cur === '') continue;
    cur += raw.endsWith('\\') ? `${raw.slice(0, -1)} ` : raw;
    if (raw.endsWith('\\')) continue;
    if (cur.trim() !== '') b.commands.push(cur.trim());
    cur = '';
  }
  for (const [from] of b.replace) {
    if (!b.commands.some((c) => c.includes(from))) throw new Error(`README line ${line}: replace "${from}" matches no command of the block`);
  }
  return b;
}

let work: string;
let bin: string;
let server: { proc: ChildProcess; addr: string; stderr: string[] } | null = null;
const linked = new Set<string>();

const git = (...args: string[]) => new Promise<number>((resolve) => {
  execFile('git', ['-C', ROOT, ...args], (err) => resolve(err ? ((err as { code?: number }).code ?? 1) : 0));
});
const ignored = async (name: string, dir: boolean) => (await git('check-ignore', '-q', '--no-index', '--', dir ? `${name}/` : name)) === 0;

/** The environment a user's shell would have, without the caller's MRM_* settings. */
function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const e = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MRM_')));
  return { ...e, PATH: `${bin}:${process.env.PATH}`, ...extra };
}

function sh(command: string, timeoutMs: number): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('/bin/sh', ['-c', command], { cwd: work, env: env(), timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

/** Starts the server command in its own process group; resolves with its address once it serves. */
function startServer(command: string): Promise<void> {
  const proc = spawn('/bin/sh', ['-c', command], { cwd: work, env: env({ MRM_HOST: '127.0.0.1', MRM_PORT: '0', MRM_ADMIN_PORT: '0' }), stdio: ['ignore', 'ignore', 'pipe'], detached: true });
  const stderr: string[] = [];
  return new Promise((resolve, reject) => {
    proc.on('exit', (code) => reject(new Error(`'${command}' exited with ${code} before serving:\n${stderr.join('\n')}`)));
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      stderr.push(line);
      try {
        const rec = JSON.parse(line) as { event?: string; port?: number };
        if (rec.event === 'server.serving') {
          server = { proc, addr: `127.0.0.1:${rec.port}`, stderr };
          resolve();
        }
      } catch { /* npm's own lines */ }
    });
  });
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'mrm-readme-'));
  bin = await mkdtemp(join(tmpdir(), 'mrm-readme-bin-'));
  // The README's alias: mrm="node $PWD/bin/mrm.js" in the checkout.
  await writeFile(join(bin, 'mrm'), `#!/bin/sh\nexec node "${join(ROOT, 'bin', 'mrm.js')}" "$@"\n`);
  await chmod(join(bin, 'mrm'), 0o755);
  for (const e of await readdir(ROOT, { withFileTypes: true })) {
    if (e.name === '.git') continue;
    // What git ignores (var/, scratch/, ...) is this run's to create; node_modules is the install.
    if (e.name !== 'node_modules' && (await ignored(e.name, e.isDirectory()))) continue;
    await symlink(join(ROOT, e.name), join(work, e.name));
    linked.add(e.name);
  }
});

afterAll(async () => {
  if (server && server.proc.exitCode === null) {
    const exited = new Promise((r) => server!.proc.on('exit', r));
    process.kill(-server.proc.pid!, 'SIGTERM');
    await exited;
  }
  await rm(work, { recursive: true, force: true });
  await rm(bin, { recursive: true, force: true });
});

describe('README.md', () => {
  it('runs every command of its sh blocks as written, and leaves only git-ignored files', async () => {
    const blocks = readmeBlocks(await readFile(join(ROOT, 'README.md'), 'utf8'));
    expect(blocks.filter((b) => b.server), 'one block starts the server').toHaveLength(1);
    const timings: string[] = [];
    for (const b of blocks) {
      if (b.skip) continue;
      for (const written of b.commands) {
        let command = written;
        for (const [from, to] of b.replace) command = command.split(from).join(to);
        if (command.includes(DEFAULT_ADDR)) {
          expect(server, `README line ${b.line}: '${written}' needs the server; put it after the server block`).not.toBeNull();
          command = command.split(DEFAULT_ADDR).join(server!.addr);
        }
        const t0 = Date.now();
        if (b.server) {
          await startServer(command);
        } else {
          const r = await sh(command, 180_000);
          expect(r.code, `README line ${b.line}: ${command}\n${r.out}`).toBe(0);
        }
        timings.push(`${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s  ${command}`);
      }
    }
    console.log(`README commands:\n${timings.join('\n')}`);

    const left = (await readdir(work, { withFileTypes: true })).filter((e) => !linked.has(e.name));
    for (const e of left) expect(await ignored(e.name, e.isDirectory()), `the README's commands left ${e.name} untracked`).toBe(true);
    expect(left.map((e) => e.name)).toContain('scratch');
  }, 300_000);

  it('reads blocks, directives and continuation lines', () => {
    const md = [
      '<!-- readme-test: replace "--n 10" "--n 2" -->', '```sh', 'mrm a --n 10 \\', '  --x   # c', '# only a comment', 'mrm b --n 10', '```',
      'text', '```text', 'not a command', '```',
      '<!-- readme-test: skip (because) -->', '```sh', 'npm ci', '```',
    ].join('\n');
    expect(readmeBlocks(md)).toEqual([
      { line: 2, commands: ['mrm a --n 10    --x   # c', 'mrm b --n 10'], server: false, skip: null, replace: [['--n 10', '--n 2']] },
      { line: 13, commands: ['npm ci'], server: false, skip: 'because', replace: [] },
    ]);
    expect(() => readmeBlocks('<!-- readme-test: serve -->\n```sh\nx\n```')).toThrow(/unknown readme-test directive 'serve'/);
  });
});
