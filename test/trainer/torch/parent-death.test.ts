/**
 * A trainer whose starter is killed while the trainer holds the GIL (a long C
 * call: decoding a data set, one big matrix product) must still end at once.
 * The watcher thread of `--exit-with-parent` cannot run then; the kernel's
 * parent-death signal (proc.py) does not need it.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_PYTHON, PACKAGE_DIR } from '../../../trainer/torch/engine.js';

// The child arms exit_with_parent, says so, then runs a regex that backtracks
// for hours inside one C call, which never releases the GIL.
const CHILD = [
  'import os, re, sys',
  'from mrm_torch.proc import exit_with_parent',
  'exit_with_parent(os.getppid())',
  "print('armed', flush=True)",
  "re.match(r'(a*)*b', 'a' * 40)",
].join('\n');
// The parent starts the child as engine.ts does (directly, no shell between), passes its output on and waits.
const PARENT = [
  'import subprocess, sys, time',
  `c = subprocess.Popen([sys.executable, '-c', ${JSON.stringify(CHILD)}], stdout=subprocess.PIPE, text=True)`,
  "print(c.pid, c.stdout.readline().strip(), flush=True)",
  'time.sleep(600)',
].join('\n');

const alive = (pid: number) => {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

const cleanup: number[] = [];
afterAll(() => {
  for (const pid of cleanup) if (alive(pid)) process.kill(pid, 'SIGKILL');
});

describe('trainer parent death', () => {
  it('a trainer busy in one long C call ends within 2 s of its parent being killed with -9', async () => {
    const parent = spawn(DEFAULT_PYTHON, ['-c', PARENT], { cwd: PACKAGE_DIR, env: { ...process.env, PYTHONPATH: '.' }, stdio: ['ignore', 'pipe', 'inherit'] });
    cleanup.push(parent.pid!);
    const line = await new Promise<string>((resolve, reject) => {
      let buf = '';
      parent.stdout.on('data', (d: Buffer) => {
        buf += d.toString();
        if (buf.includes('\n')) resolve(buf.split('\n')[0]!);
      });
      parent.on('exit', (code) => reject(new Error(`parent exited ${code} before its child armed: ${buf}`)));
    });
    const [pidText, word] = line.split(' ');
    const child = Number(pidText);
    cleanup.push(child);
    expect(word).toBe('armed');
    // The regex is now running: give it a moment to be well inside its C call.
    await new Promise((r) => setTimeout(r, 300));
    expect(alive(child)).toBe(true);
    parent.kill('SIGKILL');
    const until = Date.now() + 2000;
    while (alive(child) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(alive(child)).toBe(false);
  }, 30_000);
});
