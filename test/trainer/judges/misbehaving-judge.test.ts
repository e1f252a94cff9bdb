/**
 * The real openai client against a judge that misbehaves in every way at
 * once: labeling finishes in bounded time, and every kind of failure the
 * server produced is counted as that kind by the client.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { simulatedLabeler, type SimulatedLabeler } from '../../../trainer/judges/simulated-labeler.js';
import { shapesPairs } from './helpers.js';

let open: SimulatedLabeler | undefined;
afterEach(async () => {
  await open?.close();
  open = undefined;
});

describe('OpenAI-compatible client against a misbehaving judge', () => {
  it('finishes, counts each kind of failure, never hangs', async () => {
    const { pairs } = await shapesPairs(12, 120);
    open = await simulatedLabeler({
      judge: {
        seed: 5,
        malformedRate: 0.12,
        leakRate: 0.12,
        rateLimitRate: 0.1,
        retryAfterMs: 40,
        serverErrorRate: 0.08,
        dropRate: 0.06,
        slowRate: 0.05,
        slowMs: 4000,
        latencyMs: 2,
        latencyJitterMs: 5,
      },
      // The timeout is far above a normal answer's time even on a loaded machine,
      // so only the slow answers hit it and the counts can be compared exactly.
      client: { timeoutMs: 1500, backoffMs: 10, concurrency: 8 },
    });
    const t0 = Date.now();
    const js = await open.labeler.label(pairs, { orders: 'both' });
    const seconds = (Date.now() - t0) / 1000;
    expect(seconds).toBeLessThan(50);
    const st = open.labeler.stats();
    const server = open.judge.counts();
    const both = JSON.stringify({ client: st, server });
    // Every kind happened, and the client saw exactly what the server did.
    for (const k of ['malformed', 'leaking', 'rateLimited', 'serverErrors', 'timeouts', 'connectionErrors'] as const) expect(st[k], k).toBeGreaterThan(0);
    expect(st.malformed, both).toBe(server.malformed);
    expect(st.leaking).toBe(server.leaking);
    expect(st.rateLimited).toBe(server.rateLimited);
    expect(st.serverErrors).toBe(server.serverError);
    expect(st.connectionErrors).toBe(server.dropped);
    expect(st.timeouts).toBe(server.slow);
    expect(st.calls).toBe(server.requests);
    expect(st.calls).toBe(js.reduce((n, j) => n + j.calls, 0));
    // Retries rescue almost every pair; the ones given up are counted and marked.
    const incomplete = js.filter((j) => !j.complete).length;
    expect(st.failed).toBe(incomplete);
    expect(incomplete).toBeLessThan(pairs.length * 0.1);
    for (const j of js.filter((x) => x.complete)) expect(j.votes.a + j.votes.b + j.votes.tie).toBe(2);
  });

  it('gives up after 3 answers when every answer is malformed', async () => {
    const { pairs } = await shapesPairs(12, 120);
    open = await simulatedLabeler({ judge: { malformedRate: 1 } });
    const js = await open.labeler.label(pairs.slice(0, 10), { orders: 'one' });
    expect(js.every((j) => !j.complete && j.calls === 3 && Number.isNaN(j.scoreA))).toBe(true);
    expect(open.labeler.stats()).toMatchObject({ calls: 30, malformed: 30, failed: 10 });
  });

  it('honours Retry-After on 429', async () => {
    const { pairs } = await shapesPairs(12, 120);
    open = await simulatedLabeler({ judge: { rateLimitRate: 0.5, retryAfterMs: 300, seed: 9 }, client: { concurrency: 1, backoffMs: 1 } });
    const t0 = Date.now();
    // One pair at a time, so the waits add up rather than overlap.
    const js = [];
    for (const p of pairs.slice(0, 6)) js.push(...(await open.labeler.label([p], { orders: 'one' })));
    const st = open.labeler.stats();
    expect(st.rateLimited).toBeGreaterThan(0);
    expect(js.every((j) => j.complete)).toBe(true);
    // Each 429 cost its 300 ms (the 1 ms exponential backoff would not).
    expect(Date.now() - t0).toBeGreaterThanOrEqual(300 * st.rateLimited - 20);
  });
});
