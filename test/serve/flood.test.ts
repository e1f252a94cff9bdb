/**
 * A small flood (issue 12): 600 concurrent Score calls with distinct images
 * against a real `mrm serve` with a 512 KiB in-flight budget. Every call gets
 * OK or RESOURCE_EXHAUSTED (the budget named, the pushback trailer), some of
 * each; the server's counters show no model run after a deadline and nothing
 * decoded then dropped; a good call succeeds right after.
 */
import * as grpc from '@grpc/grpc-js';
import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRewardClient, type RewardClient, unary } from '../../src/serve/proto.js';
import { png, spawnServer, tinyDir, until } from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const N = 600;
// About 6 requests of a 128 px image (PNG + RGBA pixels + tensor): 600 at once cannot all fit.
const BUDGET = 512 * 1024;
let dir: string;
let server: ChildProcess;
let logs: Record<string, unknown>[];
let clients: RewardClient[];
let images: Buffer[];

beforeAll(async () => {
  dir = await tinyDir();
  const s = await spawnServer(process.execPath, ['bin/mrm.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0',
    '--state-dir', join(dir, 'state'), '--seed-bundle', join(dir, 'bundle'), '--stats-interval-ms', '200',
    '--admission-max-inflight-bytes', String(BUDGET)], { cwd: ROOT });
  server = s.proc;
  logs = s.logs;
  clients = [0, 1, 2].map(() => createRewardClient(`127.0.0.1:${s.port}`, { 'grpc.use_local_subchannel_pool': 1 }));
  images = await Promise.all(Array.from({ length: N }, (_, i) => png(i % 256, (i * 7) % 256, Math.floor(i / 256) * 60, 128)));
}, 60_000);

afterAll(async () => {
  for (const c of clients ?? []) c.close();
  if (server && server.exitCode === null) server.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

type Admission = { refusedBytes: number; refusedDeadline: number; refusedLoop: number; ranAfterDeadline: number; droppedAfterDecode: number; inflightBytes: number; admitted: number };
const admission = () => ([...logs].reverse().find((l) => l.event === 'server.stats') as { admission: Admission } | undefined)?.admission;

describe('a small flood', () => {
  it('answers every call OK or RESOURCE_EXHAUSTED naming the budget with a pushback trailer, then serves a good call', async () => {
    const results = await Promise.all(images.map((data, i) => {
      const c = clients[i % clients.length]!;
      // Half with a deadline: those must be answered before it, never cut by it.
      const opts = i % 2 === 0 ? { deadline: Date.now() + 20_000 } : {};
      return unary(c.score.bind(c), { items: [{ images: [{ data }], prompt: 'red circle', response: `flood ${i}` }] }, opts)
        .then(() => null, (e: grpc.ServiceError) => e);
    }));
    const refused = results.filter((e): e is grpc.ServiceError => e !== null);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length).toBeLessThan(N);
    for (const e of refused) {
      expect(grpc.status[e.code]).toBe('RESOURCE_EXHAUSTED');
      expect(e.details).toMatch(/admission\.maxInflightBytes|admission\.maxQueueWaitMs|admission\.deadlineShedding|admission\.maxLoopLagMs/);
      expect(Number(e.metadata.get('grpc-retry-pushback-ms')[0])).toBeGreaterThan(0);
    }
    // The byte budget itself refuses (not only the deadline estimate).
    expect(refused.some((e) => e.details.includes(`of the 0.50 MiB in-flight budget (admission.maxInflightBytes)`))).toBe(true);
    const c = clients[0]!;
    const ok = await unary(c.score.bind(c), { items: [{ images: [{ data: images[0]! }], prompt: 'red circle', response: 'a good call after' }] }, { deadline: Date.now() + 10_000 });
    expect(ok.items).toHaveLength(1);
    // The server's own counters, from its next stats line.
    const seen = logs.length;
    await until(() => logs.slice(seen).some((l) => l.event === 'server.stats'), 5000);
    const a = admission()!;
    // 600 HEADERS at once may also hold the loop long enough for the storm rule (admission-loop.ts).
    expect(a.refusedBytes + a.refusedDeadline + a.refusedLoop).toBe(refused.length);
    expect(a.admitted).toBe(N - refused.length + 1);
    expect(a.ranAfterDeadline).toBe(0);
    expect(a.droppedAfterDecode).toBe(0);
    expect(a.inflightBytes).toBe(0);
  }, 120_000);
});
