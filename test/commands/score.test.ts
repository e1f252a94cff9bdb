/**
 * `mrm score` as a real child process against a real server on loopback:
 * one item, a group, a JSONL file, and the resend of image bytes when the
 * server has evicted an image the client sends by sha256.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { ENTRY_OVERHEAD } from '../../src/serve/caches.js';
import { png, startTestServer, type TestServer } from '../serve/helpers.js';

const exec = promisify(execFile);
let t: TestServer | undefined;
afterEach(async () => { await t?.close(); t = undefined; });

async function mrmScore(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, ['bin/mrm.js', 'score', ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const results = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; reward: number; normalizedReward: number; spread: number; model: { name: string; version: number } });

describe('mrm score', () => {
  it('scores one item and a group with the rewards the server gives for them', async () => {
    t = await startTestServer();
    const img = join(t.dir, 'red.png');
    await writeFile(img, await png(250, 10, 10));
    const one = await mrmScore('--addr', t.address, '--image', img, '--prompt', 'what color', '--response', 'red circle', '--json');
    expect(one.code, one.stderr).toBe(0);
    const [item] = results(one.stdout);
    expect(item).toMatchObject({ id: 'item', model: { name: 'tiny', version: 1 } });
    const group = await mrmScore('--addr', t.address, '--image', img, '--prompt', 'what color', '--response', 'blue', '--response', 'red circle', '--json');
    expect(group.code, group.stderr).toBe(0);
    const rs = results(group.stdout);
    expect(rs.map((r) => r.id)).toEqual(['response 0', 'response 1']);
    // The same image and texts as the single item: the same reward, and the other response another one.
    expect(rs[1]!.reward).toBeCloseTo(item!.reward, 5);
    expect(rs[0]!.reward).not.toBeCloseTo(item!.reward, 3);
  });

  it('sends an image once per run, and resends its bytes when the server answers NOT_FOUND', async () => {
    const [a, b] = await Promise.all([png(250, 10, 10), png(10, 10, 250)]);
    // Room for one of the two images (and one embedding) only: b evicts a.
    t = await startTestServer({ cache: { imageBytes: a.length + b.length + 2 * ENTRY_OVERHEAD.image - 1, embeddingBytes: 4 * 4 + ENTRY_OVERHEAD.embedding } });
    await Promise.all([writeFile(join(t.dir, 'a.png'), a), writeFile(join(t.dir, 'b.png'), b)]);
    const line = (id: string, image: string, response: string) => JSON.stringify({ id, images: [image], prompt: 'what color', response });
    const file = join(t.dir, 'items.jsonl');
    await writeFile(file, [line('a1', 'a.png', 'red'), line('b1', 'b.png', 'blue'), line('a2', 'a.png', 'red circle')].join('\n') + '\n');
    const r = await mrmScore('--addr', t.address, '--jsonl', file, '--batch', '1', '--json');
    expect(r.code, r.stderr).toBe(0);
    const rs = results(r.stdout);
    expect(rs.map((x) => x.id)).toEqual(['a1', 'b1', 'a2']);
    // Another text on the same image: not answered from the reward cache.
    expect(rs[2]!.reward).not.toBe(rs[0]!.reward);
    // a2 went by sha256 first (the client had sent a), was refused, then resent with bytes.
    const { statuses, calls } = t.server.stats().rpc;
    expect(statuses).toMatchObject({ OK: 3, NOT_FOUND: 1 });
    expect(calls.Score).toBe(4);
  });

  it('names the server error when resending cannot help, and exits non-zero', async () => {
    t = await startTestServer({ maxItemsPerRequest: 1 });
    const file = join(t.dir, 'items.jsonl');
    await writeFile(file, ['x', 'y'].map((id) => JSON.stringify({ id, prompt: 'p', response: 'r' })).join('\n') + '\n');
    const r = await mrmScore('--addr', t.address, '--jsonl', file, '--batch', '2');
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/Score failed: INVALID_ARGUMENT: .*2 texts to score, more than the limit of 1 per request/);
    expect(t.server.stats().rpc.calls.Score).toBe(1);
  });
});
