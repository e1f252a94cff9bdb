import { mkdtemp, readFile, appendFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CACHE_FILE } from '../../../trainer/judges/cache.js';
import { JudgeLabeler } from '../../../trainer/judges/labeler.js';
import { simulatedLabeler, type SimulatedLabeler } from '../../../trainer/judges/simulated-labeler.js';
import { shapesPairs } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});
async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'mrm-judge-cache-'));
  cleanups.push(() => rm(d, { recursive: true, force: true }));
  return d;
}
async function start(o: Parameters<typeof simulatedLabeler>[0]): Promise<SimulatedLabeler> {
  const s = await simulatedLabeler(o);
  cleanups.push(() => s.close());
  return s;
}

describe('judgment cache', () => {
  it('a repeated round (new process state, same cache dir) makes 0 HTTP calls and gets the same judgments', async () => {
    const { pairs } = await shapesPairs(13, 60);
    const dir = await tmp();
    const s = await start({ cacheDir: dir, judge: { seed: 3 } });
    const first = await s.labeler.label(pairs, { orders: 'both' });
    expect(s.judge.counts().requests).toBe(120);
    // A fresh labeler, as a resumed round would build, on the same directory.
    const again = new JudgeLabeler({ provider: s.provider, cacheDir: dir });
    const second = await again.label(pairs, { orders: 'both' });
    expect(s.judge.counts().requests).toBe(120);
    expect(second.map((j) => [j.scoreA, j.scoreB, j.votes])).toEqual(first.map((j) => [j.scoreA, j.scoreB, j.votes]));
    expect(second.every((j) => j.calls === 0 && j.cached === 2)).toBe(true);
    expect(again.stats().cached).toBe(120);
    // 'one' order is one of the two cached calls: still free.
    await again.label(pairs, { orders: 'one' });
    expect(s.judge.counts().requests).toBe(120);
  });

  it("the simulated judge logs each request under the cache's key for that call", async () => {
    const { pairs } = await shapesPairs(13, 60);
    const dir = await tmp();
    const s = await start({ cacheDir: dir });
    // With and without a system prompt and a reference: every part of the key must be read back.
    const some = pairs.slice(0, 12).map((p, i) => ({ ...p, ...(i % 2 ? { system: `be brief ${i}` } : {}), ...(i % 3 ? {} : { reference: p.a }) }));
    await s.labeler.label(some, { orders: 'both' });
    const cached = (await readFile(join(dir, CACHE_FILE), 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l).key as string);
    const asked = s.judge.requestLog().map((e) => e.key);
    expect(cached).toHaveLength(24);
    expect(new Set(cached).size).toBe(24);
    expect([...asked].sort()).toEqual([...cached].sort());
  });

  it('a torn last line (a killed writer) is skipped and fenced off', async () => {
    const { pairs } = await shapesPairs(13, 60);
    const dir = await tmp();
    const s = await start({ cacheDir: dir });
    await s.labeler.label(pairs.slice(0, 10), { orders: 'one' });
    await appendFile(join(dir, CACHE_FILE), '{"key":"abc","overall":[1,');
    const l2 = new JudgeLabeler({ provider: s.provider, cacheDir: dir });
    await l2.label(pairs.slice(0, 20), { orders: 'one' });
    expect(s.judge.counts().requests).toBe(20);
    const lines = (await readFile(join(dir, CACHE_FILE), 'utf8')).split('\n').filter(Boolean);
    expect(lines.filter((l) => { try { JSON.parse(l); return true; } catch { return false; } })).toHaveLength(20);
    const l3 = new JudgeLabeler({ provider: s.provider, cacheDir: dir });
    await l3.label(pairs.slice(0, 20), { orders: 'one' });
    expect(s.judge.counts().requests).toBe(20);
  });

  it('a changed response, order or model is a different call', async () => {
    const { pairs } = await shapesPairs(13, 60);
    const dir = await tmp();
    const s = await start({ cacheDir: dir });
    const p = pairs[0]!;
    await s.labeler.label([p], { orders: 'both' });
    await s.labeler.label([{ ...p, a: `${p.a} ` }], { orders: 'both' });
    expect(s.judge.counts().requests).toBe(4);
    // The same two calls, with a and b named the other way round: cached.
    await s.labeler.label([{ ...p, id: 'swapped', a: p.b, b: p.a }], { orders: 'both' });
    expect(s.judge.counts().requests).toBe(4);
  });
});

describe('budget', () => {
  it('stops calling when the round has spent its calls; the rest fail and are counted', async () => {
    const { pairs } = await shapesPairs(13, 60);
    const s = await start({ client: { maxCalls: 25, concurrency: 4 } });
    const js = await s.labeler.label(pairs.slice(0, 40), { orders: 'one' });
    expect(s.judge.counts().requests).toBe(25);
    expect(js.filter((j) => j.complete)).toHaveLength(25);
    const st = s.labeler.stats();
    expect(st).toMatchObject({ calls: 25, failed: 15, budgetExhausted: 15 });
  });

  it('a token budget counts usage.total_tokens', async () => {
    const { pairs } = await shapesPairs(13, 60);
    const s = await start({ client: { maxTokens: 5000, concurrency: 1 } });
    const js = await s.labeler.label(pairs.slice(0, 40), { orders: 'one' });
    const st = s.labeler.stats();
    const done = js.filter((j) => j.complete).length;
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(40);
    // With one call at a time, only the call that crossed the line goes past it.
    expect(st.tokens).toBeGreaterThanOrEqual(5000);
    expect(st.tokens - 5000).toBeLessThan((2 * st.tokens) / st.calls);
    expect(st.budgetExhausted).toBe(40 - done);
  });
});
