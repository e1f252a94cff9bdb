/**
 * The lone-client path over real gRPC: with a long queue delay on both
 * stages, one request in flight must not wait for company it cannot get,
 * while two requests in flight together still share their batches.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { png, startTestServer, type TestServer } from './helpers.js';

// Far above a tiny-model call (a few ms): a stage that waited out the delay shows.
const DELAY_MS = 3000;

let t: TestServer;
let images: Buffer[];

beforeAll(async () => {
  t = await startTestServer({ vision: { maxQueueDelayMs: DELAY_MS }, encoder: { maxQueueDelayMs: DELAY_MS } });
  images = await Promise.all([1, 2, 3, 4, 5].map((i) => png(40 * i, 7, 200 - 30 * i)));
});
afterAll(() => t.close());

const item = (img: Buffer, response: string) => ({ images: [{ data: img }], prompt: 'what color', response });

describe('one request in flight', () => {
  it('does not wait out either stage\'s queue delay', async () => {
    const before = t.server.stats().batches;
    const t0 = performance.now();
    const res = await t.score({ items: [item(images[0]!, 'red circle')] });
    const ms = performance.now() - t0;
    expect(res.items).toHaveLength(1);
    expect(ms).toBeLessThan(DELAY_MS / 2);
    const after = t.server.stats().batches;
    expect(after.vision.batches - before.vision.batches).toBe(1);
    expect(after.encoder.batches - before.encoder.batches).toBe(1);
  });

  it('nor does a lone group, whose responses share one image', async () => {
    const t0 = performance.now();
    const res = await t.score({ groups: [{ images: [{ data: images[1]! }], prompt: 'what color', responses: ['red', 'blue', 'green'] }] });
    expect(res.groups[0]!.responses).toHaveLength(3);
    expect(performance.now() - t0).toBeLessThan(DELAY_MS / 2);
  });

  it('one after another, each alone: no call waits', async () => {
    const t0 = performance.now();
    for (let i = 2; i < 5; i++) await t.score({ items: [item(images[i]!, `answer ${i}`)] });
    expect(performance.now() - t0).toBeLessThan(DELAY_MS / 2);
  });
});

describe('two requests in flight', () => {
  it('still meet in one encoder batch', async () => {
    const [a, b] = await Promise.all([png(3, 140, 9), png(9, 3, 140)]);
    const before = t.server.stats().batches;
    const t0 = performance.now();
    const res = await Promise.all([t.score({ items: [item(a, 'one')] }), t.score({ items: [item(b, 'two')] })]);
    expect(performance.now() - t0).toBeLessThan(DELAY_MS / 2);
    expect(res.map((r) => r.items.length)).toEqual([1, 1]);
    const after = t.server.stats().batches;
    // The first to reach the encoder waits for the other (still decoding or
    // embedding); whether they meet at the vision stage depends on arrival:
    // a small PNG decodes within its request's turn of the event loop.
    expect(after.vision.entries - before.vision.entries).toBe(2);
    expect(after.encoder.batches - before.encoder.batches).toBe(1);
    expect(after.encoder.entries - before.encoder.entries).toBe(2);
  });
});
