/**
 * Admission on the wire: a burst of distinct-image calls against a small
 * in-flight budget gets some RESOURCE_EXHAUSTED refusals at once (message
 * naming the budget, grpc-retry-pushback-ms trailer), every other call OK,
 * the reservation all released afterwards, and a good call served after.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ScoreResponseMsg } from '../../src/serve/proto.js';
import { png, startTestServer, type TestServer } from './helpers.js';

const Status = grpc.status;
const BUDGET = 512 * 1024;
let t: TestServer;
let images: Buffer[];
let large: Buffer[];

beforeAll(async () => {
  t = await startTestServer({ admission: { maxInflightBytes: BUDGET, deadlineShedding: true, maxQueueWaitMs: 0, maxLoopLagMs: 0 } });
  images = await Promise.all(Array.from({ length: 120 }, (_, i) => png(i, 255 - i, (i * 7) % 256, 64)));
  // Not seen before, and 4x the pixels: a stream's requests arrive one by one, so each must weigh more.
  large = await Promise.all(Array.from({ length: 120 }, (_, i) => png(255 - i, i, (i * 11) % 256, 160)));
});
afterAll(async () => t.close());

describe('admission by bytes', () => {
  it('refuses what does not fit with RESOURCE_EXHAUSTED and a pushback trailer; serves the rest', async () => {
    const results = await Promise.all(images.map((data, i) =>
      t.score({ items: [{ images: [{ data }], prompt: 'p', response: `burst ${i}` }] }).then(() => null, (e: grpc.ServiceError) => e)));
    const refused = results.filter((e): e is grpc.ServiceError => e !== null);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length).toBeLessThan(images.length);
    for (const e of refused) {
      expect(e.code).toBe(Status.RESOURCE_EXHAUSTED);
      expect(e.details).toContain('admission.maxInflightBytes');
      const ms = Number(e.metadata.get('grpc-retry-pushback-ms')[0]);
      expect(ms).toBeGreaterThan(0);
    }
    const a = t.server.stats().admission;
    expect(a.refusedBytes).toBe(refused.length);
    expect(a.peakInflightBytes).toBeLessThanOrEqual(BUDGET);
    expect(a.inflightBytes).toBe(0);
    expect(a.ranAfterDeadline).toBe(0);
    const ok = await t.score({ items: [{ images: [{ data: images[0]! }], prompt: 'p', response: 'after the burst' }] });
    expect(ok.items).toHaveLength(1);
  });

  it('answers a refused ScoreStream request in its error field and keeps the stream open', async () => {
    const call = t.client.scoreStream(new grpc.Metadata(), {});
    const got: ScoreResponseMsg[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (r: ScoreResponseMsg) => got.push(r));
      call.on('end', resolve);
      call.on('error', reject);
    });
    large.forEach((data, i) => call.write({ requestId: `s${i}`, items: [{ images: [{ data }], prompt: 'p', response: `stream ${i}` }] }));
    call.end();
    await done;
    expect(got).toHaveLength(large.length);
    const refused = got.filter((r) => r.error);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) {
      expect(r.error!.code).toBe(Status.RESOURCE_EXHAUSTED);
      expect(r.error!.message).toContain('admission.maxInflightBytes');
    }
    expect(got.some((r) => !r.error)).toBe(true);
  });
});
