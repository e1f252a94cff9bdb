/**
 * The request path over real gRPC: results, shared image work, caches,
 * sha256 references, streaming and Compare.
 */
import { status as Status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { loadBundle } from '../../src/model/bundle.js';
import { sha256Hex } from '../../src/model/digest.js';
import { preprocessImage } from '../../src/model/image.js';
import { encodeText } from '../../src/model/text.js';
import { unary } from '../../src/serve/proto.js';
import type { ScoreRequestMsg, ScoreResponseMsg } from '../../src/serve/proto.js';
import { failure, png, startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
let red: Buffer;
let blue: Buffer;

beforeAll(async () => {
  t = await startTestServer();
  [red, blue] = await Promise.all([png(250, 10, 10), png(10, 10, 250)]);
});
afterAll(() => t.close());

const stats = () => t.server.stats();

describe('Score', () => {
  it('scores items and groups, in request order, naming the version', async () => {
    const res = await t.score({
      requestId: 'r1',
      items: [
        { images: [{ data: red }], prompt: 'what color', response: 'red circle', id: 'a' },
        { images: [{ data: blue }], prompt: 'what color', response: 'blue square', id: 'b' },
        { prompt: 'no image', response: 'yes', id: 'c' },
      ],
      groups: [{ images: [{ data: red }], prompt: 'what color', responses: ['red', 'blue', 'red circle'], id: 'g' }],
    });
    expect(res.requestId).toBe('r1');
    expect(res.model).toEqual({ name: 'tiny', version: 1 });
    expect(res.items.map((r) => r.id)).toEqual(['a', 'b', 'c']);
    expect(res.groups).toHaveLength(1);
    expect(res.groups[0]!.id).toBe('g');
    expect(res.groups[0]!.responses).toHaveLength(3);
    for (const r of [...res.items, ...res.groups[0]!.responses]) {
      expect(Number.isFinite(r.reward)).toBe(true);
      expect(r.spread).toBeGreaterThanOrEqual(0);
    }
    // Same image and texts in an item and a group response: the same reward.
    expect(res.groups[0]!.responses[2]!.reward).toBeCloseTo(res.items[0]!.reward, 5);
    expect(res.items[0]!.reward).not.toBeCloseTo(res.items[1]!.reward, 3);
  });

  it('normalizes with the version\'s calibration: (reward - mean) / std', async () => {
    const calibrated = await startTestServer({}, { bundle: { calibration: { mean: 0.75, std: 2.5, referenceSet: 'test', n: 10 } } });
    try {
      const items = [{ images: [{ data: red }], prompt: 'what color', response: 'red circle' }, { prompt: 'no image', response: 'yes' }];
      const [plain, cal] = await Promise.all([t.score({ items }), calibrated.score({ items })]);
      cal.items.forEach((r, i) => {
        expect(r.reward).toBeCloseTo(plain.items[i]!.reward, 6);
        expect(r.normalizedReward).toBeCloseTo((r.reward - 0.75) / 2.5, 6);
        // The default tiny bundle is calibrated mean 0, std 1.
        expect(plain.items[i]!.normalizedReward).toBeCloseTo(plain.items[i]!.reward, 6);
      });
    } finally {
      await calibrated.close();
    }
  });

  it('gives exactly what the runtime gives when called directly, for every image layout', async () => {
    const [a, b] = await Promise.all([png(30, 200, 90), png(120, 40, 200, 40)]);
    const cases = [
      { images: [a, b], system: 'sys', prompt: 'two images', response: 'red circle' },
      { images: [b], system: '', prompt: 'one image', response: 'blue square' },
      { images: [], system: '', prompt: 'none', response: 'yes .' },
      { images: [b, a], system: '', prompt: 'swapped', response: 'red circle' },
    ];
    const res = await t.score({
      items: cases.slice(0, 3).map((c) => ({ images: c.images.map((d) => ({ data: d })), system: c.system, prompt: c.prompt, response: c.response })),
      groups: [{ images: cases[3]!.images.map((d) => ({ data: d })), prompt: 'swapped', responses: ['red circle', 'no'] }],
    });
    const { manifest, runtime } = await loadBundle(join(t.dir, 'bundle'));
    try {
      const expected = await Promise.all(cases.map(async (c) => {
        const embeddings = await Promise.all(c.images.map(async (img) => runtime.embedImages(await preprocessImage(img, manifest.preprocess.image, 'x'), 1)));
        const ids = encodeText(runtime.tokenizer, manifest.preprocess.text, c);
        return (await runtime.score([{ imageEmbeddings: embeddings, ...ids }])).rewards[0]!;
      }));
      const got = [...res.items.map((r) => r.reward), res.groups[0]!.responses[0]!.reward];
      got.forEach((g, i) => expect(g).toBeCloseTo(expected[i]!, 5));
    } finally {
      await runtime.release();
    }
  });

  it('decodes and embeds a group image once, and runs its responses in one encoder batch', async () => {
    const img = await png(1, 2, 3);
    const before = stats();
    const res = await t.score({ groups: [{ images: [{ data: img }], prompt: 'count', responses: ['one', 'two', 'three', 'four', 'five', 'six'] }] });
    expect(res.groups[0]!.responses).toHaveLength(6);
    const after = stats();
    expect(after.images.decoded - before.images.decoded).toBe(1);
    expect(after.images.embedded - before.images.embedded).toBe(1);
    expect(after.batches.encoder.batches - before.batches.encoder.batches).toBe(1);
    expect(after.scorer.scored - before.scorer.scored).toBe(6);
  });

  it('shares one in-flight decode and embedding between concurrent requests for a new image', async () => {
    const img = await png(4, 5, 6);
    const before = stats();
    const reqs = Array.from({ length: 6 }, (_, i) => t.score({ items: [{ images: [{ data: img }], prompt: 'p', response: `answer ${i}` }] }));
    const results = await Promise.all(reqs);
    expect(results.every((r) => r.items.length === 1)).toBe(true);
    const after = stats();
    expect(after.images.decoded - before.images.decoded).toBe(1);
    expect(after.images.embedded - before.images.embedded).toBe(1);
  });

  it('answers a repeated item from the reward cache with identical numbers', async () => {
    const item = { images: [{ data: red }], prompt: 'what color', response: 'a red thing', id: 'x' };
    const first = await t.score({ items: [item] });
    const before = stats();
    const second = await t.score({ items: [item] });
    expect(first.items[0]!.cached).toBe(false);
    expect(second.items[0]).toEqual({ ...first.items[0], cached: true });
    expect(stats().scorer.scored).toBe(before.scorer.scored);
    expect(stats().batches.encoder.entries).toBe(before.batches.encoder.entries);
  });

  it('flags truncated texts', async () => {
    const long = Array.from({ length: 20 }, () => 'red').join(' ');
    const res = await t.score({ items: [{ prompt: 'p', response: long }, { prompt: 'p', response: 'red' }] });
    expect(res.items.map((r) => r.truncated)).toEqual([true, false]);
  });

  it('accepts sha256 references to images it has, and says NOT_FOUND naming the field for others', async () => {
    const img = await png(7, 8, 9);
    const sha = sha256Hex(img);
    const unknown = sha256Hex('never sent');
    const err = await failure(t.score({ items: [{ images: [{ sha256: sha }], prompt: 'p', response: 'r' }] }));
    expect(err.code).toBe(Status.NOT_FOUND);
    expect(err.details).toContain('items[0].images[0].sha256');
    expect(err.details).toContain(sha);

    // Within one request a reference may point at bytes sent elsewhere in it.
    const both = await t.score({ items: [
      { images: [{ data: img }], prompt: 'p', response: 'r1' },
      { images: [{ sha256: sha }], prompt: 'p', response: 'r2' },
    ] });
    expect(both.items).toHaveLength(2);
    const byRef = await t.score({ groups: [{ images: [{ sha256: sha }], prompt: 'p', responses: ['r3', 'r4'] }] });
    expect(byRef.groups[0]!.responses).toHaveLength(2);

    const err2 = await failure(t.score({ items: [{ images: [{ data: img }], prompt: 'p', response: 'r' }, { images: [{ sha256: sha }, { sha256: unknown }], prompt: 'p', response: 'r' }] }));
    expect(err2.code).toBe(Status.NOT_FOUND);
    expect(err2.details).toContain(`items[1].images[1].sha256: unknown image sha256 ${unknown}`);
  });
});

describe('ScoreStream', () => {
  it('answers every request with its request_id, and a failed request without ending the stream', async () => {
    const call = t.client.scoreStream(new (await import('@grpc/grpc-js')).Metadata(), {});
    const got: ScoreResponseMsg[] = [];
    const done = new Promise<void>((resolve, reject) => {
      call.on('data', (r: ScoreResponseMsg) => got.push(r));
      call.on('end', resolve);
      call.on('error', reject);
    });
    const reqs: ScoreRequestMsg[] = Array.from({ length: 20 }, (_, i) => ({
      requestId: `s${i}`,
      items: [{ images: i % 2 ? [{ data: red }] : [], prompt: 'p', response: `stream answer ${i}` }],
    }));
    reqs.push({ requestId: 'bad', items: [{ prompt: 'p', response: '' }] });
    for (const r of reqs) call.write(r);
    call.end();
    await done;
    expect(got.map((r) => r.requestId).sort()).toEqual(reqs.map((r) => r.requestId).sort());
    const bad = got.find((r) => r.requestId === 'bad')!;
    expect(bad.error?.code).toBe(Status.INVALID_ARGUMENT);
    expect(bad.error?.message).toContain('items[0].response');
    for (const r of got.filter((x) => x.requestId !== 'bad')) {
      expect(r.error).toBeNull();
      expect(r.model).toEqual({ name: 'tiny', version: 1 });
      expect(r.items).toHaveLength(1);
    }
  });
});

describe('Compare', () => {
  it('returns P(a > b) = sigmoid(r(a) - r(b)) with both rewards', async () => {
    const res = await unary(t.client.compare.bind(t.client), {
      requestId: 'c1',
      pairs: [
        { images: [{ data: red }], prompt: 'what color', responseA: 'red', responseB: 'blue', id: 'p0' },
        { prompt: 'say yes', responseA: 'no', responseB: 'yes', id: 'p1' },
      ],
    });
    expect(res.model).toEqual({ name: 'tiny', version: 1 });
    expect(res.requestId).toBe('c1');
    expect(res.pairs.map((p) => p.id)).toEqual(['p0', 'p1']);
    for (const p of res.pairs) {
      expect(p.margin).toBeCloseTo(p.a.reward - p.b.reward, 4);
      expect(p.probabilityA).toBeCloseTo(1 / (1 + Math.exp(-p.margin)), 5);
    }
    // Swapping a and b flips the probability.
    const swapped = await unary(t.client.compare.bind(t.client), { pairs: [{ images: [{ data: red }], prompt: 'what color', responseA: 'blue', responseB: 'red' }] });
    expect(swapped.pairs[0]!.probabilityA).toBeCloseTo(1 - res.pairs[0]!.probabilityA, 5);
    expect(swapped.pairs[0]!.a.cached).toBe(true);
  });
});
