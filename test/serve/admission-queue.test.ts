/**
 * Admission by work and the refusal at the headers, over real loopback:
 *
 * - A call refused at its headers gets its complete answer (trailers-only
 *   RESOURCE_EXHAUSTED with the pushback trailer) and then RST_STREAM
 *   NO_ERROR, so its client stops sending the message: under a flood the
 *   refused calls' messages would otherwise fill the connections' windows
 *   ahead of the admitted calls' messages (measured: seconds).
 * - admission.maxQueueWaitMs refuses a burst's excess by the wait it would
 *   have, naming the key, with a pushback; calls with a deadline are
 *   answered before it; a good call is served after.
 */
import * as grpc from '@grpc/grpc-js';
import * as http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONNECTION_WINDOW_BYTES } from '../../src/serve/grpc-options.js';
import { png, startTestServer, type TestServer } from './helpers.js';

let bytes: TestServer;
let work: TestServer;
let images: Buffer[];

beforeAll(async () => {
  // Any second call while one is in flight is refused by bytes (a lone call is always admitted).
  bytes = await startTestServer({ admission: { maxInflightBytes: 1, deadlineShedding: false, maxQueueWaitMs: 0, maxLoopLagMs: 0 } });
  // Only the work bound: at the initial drain factor a typical request ahead is already over 1 ms.
  work = await startTestServer({ admission: { maxInflightBytes: 0, deadlineShedding: true, maxQueueWaitMs: 1, maxLoopLagMs: 0 } });
  // More than the 64 requests ahead from which the wait bound applies (admission.ts MIN_QUEUE_FOR_WAIT).
  images = await Promise.all(Array.from({ length: 120 }, (_, i) => png(i * 2, 255 - i * 2, (i * 13) % 256, 64)));
});
afterAll(async () => {
  await bytes?.close();
  await work?.close();
});

/** A raw Score stream: headers sent, the message not (yet). */
function open(session: http2.ClientHttp2Session) {
  const req = session.request({ ':method': 'POST', ':path': '/mrm.v1.RewardService/Score', 'content-type': 'application/grpc', te: 'trailers' });
  const answer = new Promise<http2.IncomingHttpHeaders>((resolve) => req.on('response', resolve));
  const closed = new Promise<number>((resolve) => req.on('close', () => resolve(req.rstCode ?? -1)));
  req.on('error', () => {});
  req.resume();
  return { req, answer, closed };
}

describe('the refusal at the headers', () => {
  it('answers RESOURCE_EXHAUSTED at once and resets the stream with NO_ERROR, so the client stops sending its message', async () => {
    const session = http2.connect(`http://${bytes.address}`);
    try {
      // The first call is admitted at its headers and holds its reservation while its message is awaited.
      const first = open(session);
      await new Promise((r) => setTimeout(r, 200));
      const second = open(session);
      const headers = await second.answer;
      expect(Number(headers['grpc-status'])).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(decodeURIComponent(String(headers['grpc-message']))).toContain('admission.maxInflightBytes');
      expect(Number(headers['grpc-retry-pushback-ms'])).toBeGreaterThan(0);
      // The client never ended its side: only the server's RST_STREAM (NO_ERROR) can close the stream.
      const code = await Promise.race([second.closed, new Promise<string>((r) => setTimeout(() => r('still open after 3 s'), 3000))]);
      expect(code).toBe(http2.constants.NGHTTP2_NO_ERROR);
      expect(second.req.writable).toBe(false);
      // The admitted call is untouched: still open, waiting for its message.
      expect(first.req.closed).toBe(false);
      first.req.close(http2.constants.NGHTTP2_CANCEL);
    } finally {
      session.close();
    }
  }, 20_000);
});

describe('the connection window', () => {
  it('is raised to CONNECTION_WINDOW_BYTES at the first Score call, so messages are not held to 64 KiB per turn of the loop', async () => {
    const session = http2.connect(`http://${bytes.address}`);
    try {
      await new Promise((r) => session.once('connect', r));
      // HTTP/2's initial connection window, as the client sees the server's.
      expect(session.state.remoteWindowSize).toBe(65_535);
      const call = open(session);
      await new Promise((r) => setTimeout(r, 300));
      expect(session.state.remoteWindowSize).toBe(CONNECTION_WINDOW_BYTES);
      call.req.close(http2.constants.NGHTTP2_CANCEL);
    } finally {
      session.close();
    }
  }, 20_000);
});

describe('admission by work (admission.maxQueueWaitMs)', () => {
  it('refuses the excess of a burst by its wait, with a pushback; answers deadline calls before the deadline; serves a good call after', async () => {
    const t0 = performance.now();
    const results = await Promise.all(images.map((data, i) => {
      const deadlineMs = i % 2 === 0 ? 4000 : null;
      const opts = deadlineMs === null ? {} : { deadline: Date.now() + deadlineMs };
      return work.score({ items: [{ images: [{ data }], prompt: 'p', response: `burst ${i}` }] }, opts).then(
        () => ({ ok: true as const, ms: performance.now() - t0, deadlineMs }),
        (e: grpc.ServiceError) => ({ ok: false as const, e, ms: performance.now() - t0, deadlineMs }),
      );
    }));
    const refused = results.flatMap((r) => (r.ok ? [] : [r.e]));
    expect(refused.length).toBeGreaterThan(0);
    expect(refused.length).toBeLessThan(images.length);
    for (const e of refused) {
      expect(grpc.status[e.code]).toBe('RESOURCE_EXHAUSTED');
      expect(e.details).toMatch(/admission\.maxQueueWaitMs|admission\.deadlineShedding/);
      expect(Number(e.metadata.get('grpc-retry-pushback-ms')[0])).toBeGreaterThan(0);
    }
    expect(refused.some((e) => e.details.includes('more than the 1 ms a request may wait (admission.maxQueueWaitMs)'))).toBe(true);
    for (const r of results) if (r.deadlineMs !== null) expect(r.ms).toBeLessThan(r.deadlineMs);
    const a = work.server.stats().admission;
    expect(a.refusedWait + a.refusedDeadline).toBe(refused.length);
    expect(a.ranAfterDeadline).toBe(0);
    expect(a.droppedAfterDecode).toBe(0);
    expect(a.queueWaitMs).toBe(0);
    const ok = await work.score({ items: [{ images: [{ data: images[0]! }], prompt: 'p', response: 'after the burst' }] }, { deadline: Date.now() + 10_000 });
    expect(ok.items).toHaveLength(1);
  }, 60_000);
});
