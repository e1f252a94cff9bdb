/**
 * Every bad input gets its status and a message naming the field and the
 * limit, the model never runs for it, and the server keeps serving.
 */
import * as grpc from '@grpc/grpc-js';
import sharp from 'sharp';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadPackage, rewardServiceDefinition, type CompareRequestMsg, type ScoreRequestMsg, unary } from '../../src/serve/proto.js';
import { failure, png, pngHeaderOnly, startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
let good: Buffer;

beforeAll(async () => {
  t = await startTestServer({ maxItemsPerRequest: 8, maxTextBytes: 256, maxMessageBytes: 256 * 1024 });
  good = await png(200, 100, 0);
});
afterAll(() => t.close());

// After every bad request: the server still answers a good one.
afterEach(async () => {
  const res = await t.score({ items: [{ images: [{ data: good }], prompt: 'still there', response: `yes ${Math.random()}` }] });
  expect(res.items).toHaveLength(1);
});

async function expectRefused(req: ScoreRequestMsg, code: grpc.status, ...parts: string[]): Promise<void> {
  const before = t.server.stats();
  const err = await failure(t.score(req));
  expect(grpc.status[err.code]).toBe(grpc.status[code]);
  for (const p of parts) expect(err.details).toContain(p);
  const after = t.server.stats();
  // Refused before the model: no encoder work, no vision work.
  expect(after.batches.encoder.entries).toBe(before.batches.encoder.entries);
  expect(after.batches.vision.entries).toBe(before.batches.vision.entries);
}

const INVALID = grpc.status.INVALID_ARGUMENT;
const ok = (extra: object = {}) => ({ prompt: 'p', response: 'fine', ...extra });

describe('request limits', () => {
  it('refuses an empty request', () => expectRefused({}, INVALID, 'items, groups', 'empty'));

  it('refuses more texts than maxItemsPerRequest, counting group responses', () =>
    expectRefused({ items: Array.from({ length: 5 }, () => ok()), groups: [{ prompt: 'p', responses: ['a', 'b', 'c', 'd'] }] },
      INVALID, 'items + groups[].responses', '9 texts', 'limit of 8'));

  it('refuses more images per item than the model takes', () =>
    expectRefused({ items: [ok(), ok({ images: [{ data: good }, { data: good }, { data: good }] })] }, INVALID, 'items[1].images', 'limit of 2'));

  it('refuses an image whose header claims too many pixels, before decoding it', () =>
    expectRefused({ items: [ok({ images: [{ data: good }] }), ok({ images: [{ data: good }, { data: pngHeaderOnly(5000, 5000) }] })] },
      INVALID, 'items[1].images[1]', '5000x5000', 'limit of 16777216'));

  it('refuses text fields over maxTextBytes, counting UTF-8 bytes', async () => {
    await expectRefused({ items: [ok({ prompt: 'x'.repeat(257) })] }, INVALID, 'items[0].prompt', '257 bytes', 'limit of 256');
    await expectRefused({ groups: [{ prompt: 'p', system: 'é'.repeat(129), responses: ['a'] }] }, INVALID, 'groups[0].system', '258 bytes');
  });

  it('refuses an empty response, and one without tokens', async () => {
    await expectRefused({ items: [ok(), ok({ response: '' })] }, INVALID, 'items[1].response', 'empty');
    await expectRefused({ groups: [{ prompt: 'p', responses: ['red', '   '] }] }, INVALID, 'groups[0].responses[1]', 'no tokens');
  });

  it('refuses a group without responses', () =>
    expectRefused({ groups: [{ prompt: 'p', responses: [] }] }, INVALID, 'groups[0].responses', 'at least one'));

  it('refuses text containing U+FFFD', () =>
    expectRefused({ items: [ok({ reference: 'bad \uFFFD here' })] }, INVALID, 'items[0].reference', 'UTF-8'));
});

describe('images', () => {
  it('refuses bytes that are no image format', () =>
    expectRefused({ items: [ok({ images: [{ data: Buffer.from('definitely not an image') }] })] }, INVALID, 'items[0].images[0]', 'PNG, JPEG or WebP'));

  it('refuses an accepted format that does not decode', async () => {
    const truncated = good.subarray(0, good.length - 30);
    await expectRefused({ items: [ok({ images: [{ data: truncated }] })] }, INVALID, 'items[0].images[0]');
  });

  it('refuses a format that decodes but is not accepted', async () => {
    const gif = await sharp({ create: { width: 8, height: 8, channels: 3, background: 'red' } }).gif().toBuffer();
    await expectRefused({ groups: [{ images: [{ data: gif }], prompt: 'p', responses: ['a'] }] }, INVALID, 'groups[0].images[0]', 'GIF');
  });

  it('refuses an image with neither data nor sha256, and a malformed sha256', async () => {
    await expectRefused({ items: [ok({ images: [{}] })] }, INVALID, 'items[0].images[0]', 'set data');
    await expectRefused({ items: [ok({ images: [{ sha256: 'ABC' }] })] }, INVALID, 'items[0].images[0].sha256', '64 lowercase hex');
  });

  it('reports the first bad image in request order and decodes nothing else into the model', () =>
    expectRefused({ items: [ok({ images: [{ data: good }] }), ok({ images: [{ data: Buffer.from('nope') }] }), ok({ images: [{ data: Buffer.from('also no') }] })] },
      INVALID, 'items[1].images[0]'));
});

describe('wire-level input', () => {
  it('refuses invalid UTF-8 bytes (protobuf turns them into U+FFFD)', async () => {
    const def = rewardServiceDefinition(loadPackage()).Score!;
    const bytes = Buffer.from(def.requestSerialize({ items: [{ prompt: 'XXXX', response: 'fine' }] }));
    const at = bytes.indexOf('XXXX');
    bytes.set([0x61, 0xff, 0xfe, 0x62], at);
    const err = await failure(new Promise((resolve, reject) => {
      t.client.makeUnaryRequest('/mrm.v1.RewardService/Score', (b: Buffer) => b, (b: Buffer) => b, bytes, (e, r) => (e ? reject(e) : resolve(r)));
    }));
    expect(err.code).toBe(INVALID);
    expect(err.details).toContain('items[0].prompt');
    expect(err.details).toContain('not valid UTF-8');
  });

  it('refuses bytes that are not a ScoreRequest with INVALID_ARGUMENT naming the type, not INTERNAL', async () => {
    // Field 1 (items) with wire type 0 (a varint): protobuf cannot read it as a message.
    const err = await failure(new Promise((resolve, reject) => {
      t.client.makeUnaryRequest('/mrm.v1.RewardService/Score', (b: Buffer) => b, (b: Buffer) => b, Buffer.from([0x08, 0x96, 0x01]), (e, r) => (e ? reject(e) : resolve(r)));
    }));
    expect(err.code).toBe(INVALID);
    expect(err.details).toMatch(/^request: not a valid mrm\.v1\.ScoreRequest message \(protobuf: .+\)$/);
    expect((await t.score({ items: [ok({ images: [{ data: good }] })] })).items).toHaveLength(1);
  });

  it('refuses a message over maxMessageBytes with RESOURCE_EXHAUSTED (grpc-js)', async () => {
    const err = await failure(t.score({ items: [ok({ images: [{ data: Buffer.alloc(300 * 1024, 7) }] })] }));
    expect(err.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(/larger than max/i);
  });

  it('names the pair field in Compare', async () => {
    const req: CompareRequestMsg = { pairs: [{ prompt: 'p', responseA: 'a', responseB: 'b' }, { prompt: 'p', responseA: 'a', responseB: '' }] };
    const err = await failure(unary(t.client.compare.bind(t.client), req));
    expect(err.code).toBe(INVALID);
    expect(err.details).toContain('pairs[1].response_b');
    const none = await failure(unary(t.client.compare.bind(t.client), {}));
    expect(none.details).toContain('pairs');
  });
});
