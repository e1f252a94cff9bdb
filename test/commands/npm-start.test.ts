/**
 * `kill <pid>` of what `npm start` started (npm itself, as a process manager
 * or a script holds it) stops the server within the shutdown grace and frees
 * its port. npm forwards SIGTERM to its script's process; the script execs
 * node, so that process is the server (no shell in between to die alone).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, spawnServer } from '../serve/helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GRACE_MS = 10_000;
let dir: string;

beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'mrm-npm-start-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

const alive = (pid: number) => { try { process.kill(pid, 0); return true; } catch { return false; } };

describe('npm start', () => {
  it('stops the server when the npm process is killed, within the grace, port released', { timeout: 150_000 }, async () => {
    const { proc, port, logs } = await spawnServer('npm', ['start', '--silent', '--', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0',
      '--state-dir', join(dir, 'state'), '--shutdown-grace-ms', String(GRACE_MS)], { cwd: ROOT });
    const serverPid = logs.find((l) => l.event === 'server.serving')!.pid as number;
    try {
      expect(serverPid).not.toBe(proc.pid);
      const npmExited = new Promise((resolve) => proc.on('exit', resolve));
      const t0 = Date.now();
      process.kill(proc.pid!, 'SIGTERM');
      await npmExited;
      while (alive(serverPid) && Date.now() - t0 < GRACE_MS + 5000) await sleep(20);
      const ms = Date.now() - t0;
      expect(alive(serverPid), 'the server outlived npm').toBe(false);
      expect(ms).toBeLessThan(GRACE_MS);
      expect(logs.find((l) => l.event === 'server.stopped')).toMatchObject({ reason: 'SIGTERM' });
      // The port is free again: this process can listen on it.
      await new Promise<void>((resolve, reject) => {
        const s = createServer();
        s.once('error', reject);
        s.listen(port, '127.0.0.1', () => s.close(() => resolve()));
      });
    } finally {
      if (alive(serverPid)) process.kill(serverPid, 'SIGKILL');
    }
  });
});
