/**
 * The pair log behind a real server over real gRPC: what Compare and groups
 * log (with the model's own heads and features), dedupe, cached sides, and a
 * full disk that the calls never notice.
 */
import { join } from 'node:path';
import { access } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../src/model/bundle.js';
import { sha256Hex } from '../../src/model/digest.js';
import { preprocessImage } from '../../src/model/image.js';
import { encodeText } from '../../src/model/text.js';
import { nodeIo, type WriterIo } from '../../src/pairlog/io.js';
import { PairLogReader, type LoggedPair } from '../../src/pairlog/reader.js';
import { DEFAULTS } from '../../src/serve/config.js';
import { unary, type CompareRequestMsg, type CompareResponseMsg } from '../../src/serve/proto.js';
import { png, startTestServer, until, type TestServer } from '../serve/helpers.js';
import { TINY, TINY_D } from '../fixtures/tiny-bundle.js';

const LOG = { ...DEFAULTS.log, band: 0.5, ratePerSec: 1e6, burst: 1e6, syncIntervalMs: 5 };
const compare = (t: TestServer, req: CompareRequestMsg) => unary<CompareRequestMsg, CompareResponseMsg>(t.client.compare.bind(t.client), req);

async function drain(t: TestServer, reader: PairLogReader): Promise<LoggedPair[]> {
  await until(() => { const w = t.server.stats().pairlog!.writer; return w.syncedRecords === w.appended; });
  const out: LoggedPair[] = [];
  for await (const p of reader.records()) out.push(p);
  return out;
}

describe('pair log in the server', () => {
  let t: TestServer;
  let reader: PairLogReader;
  let red: Buffer;
  beforeAll(async () => {
    t = await startTestServer({ log: LOG });
    reader = await PairLogReader.open(t.config.stateDir, 'test');
    red = await png(250, 10, 10);
  });
  afterAll(() => t.close());

  it('logs Compare pairs with the model\'s heads and features, the images once, the version and margin', async () => {
    const res = await compare(t, { pairs: [
      { images: [{ data: red }], system: 's', prompt: 'what color', reference: 'red', responseA: 'red circle', responseB: 'blue square', id: 'p0' },
      { images: [{ sha256: sha256Hex(red) }], prompt: 'what color', responseA: 'red', responseB: 'blue' },
    ] });
    const got = await drain(t, reader);
    expect(got).toHaveLength(2);
    const r = got[0]!.record;
    expect(r).toMatchObject({ source: 'compare', model: 'tiny', version: 1, images: [sha256Hex(red)], system: 's', prompt: 'what color', reference: 'red' });
    expect(r.a.response).toBe('red circle');
    expect(r.margin).toBeCloseTo(res.pairs[0]!.margin, 5);
    expect(r.a.reward).toBeCloseTo(res.pairs[0]!.a!.reward, 5);
    expect(r.a.heads).toHaveLength(TINY.k);
    expect(r.a.heads.reduce((x, y) => x + y) / TINY.k).toBeCloseTo(r.a.reward, 5);
    expect(r.a.features).toHaveLength(TINY_D);
    expect(await reader.image(sha256Hex(red))).toEqual(red);
    // The features are the encoder's, computed here independently.
    const { manifest, runtime } = await loadBundle(join(t.dir, 'bundle'));
    try {
      expect(r.encoderSha256).toBe(manifest.files.encoder.sha256);
      const emb = await runtime.embedImages(await preprocessImage(red, manifest.preprocess.image, 'x'), 1);
      const f = await runtime.encode([{ imageEmbeddings: [emb], ...encodeText(runtime.tokenizer, manifest.preprocess.text, { system: 's', prompt: 'what color', response: 'blue square', reference: 'red' }) }]);
      // Batch of 4 there, of 1 here: equal up to float32 summation order.
      expect(Array.from(r.b.features)).toEqual(Array.from(f, (x) => expect.closeTo(x, 5)));
    } finally {
      await runtime.release();
    }
  });

  it('logs a pair once; a side from the reward cache keeps its features', async () => {
    const pair = { images: [{ data: red }], prompt: 'again', responseA: 'red', responseB: 'blue circle' };
    await compare(t, { pairs: [pair] });
    await compare(t, { pairs: [{ ...pair, responseA: 'blue circle', responseB: 'red' }] }); // same pair, other order
    await compare(t, { pairs: [{ ...pair, responseB: 'red square' }] }); // 'red' is cached now
    const got = await drain(t, reader);
    expect(got.map((p) => [p.record.a.response, p.record.b.response])).toEqual([['red', 'blue circle'], ['red', 'red square']]);
    expect(Array.from(got[1]!.record.a.features)).toEqual(Array.from(got[0]!.record.a.features));
    const s = t.server.stats().pairlog!;
    expect(s.policy.duplicates).toBe(1);
    expect(s.withoutFeatures).toBe(0);
  });

  it('logs the adjacent pairs of a group, higher reward first', async () => {
    const res = await t.score({ groups: [{ images: [{ data: red }], prompt: 'count', responses: ['one', 'two red', 'three blue', 'yes'] }] });
    const rewards = res.groups[0]!.responses.map((r) => r.reward);
    const got = await drain(t, reader);
    expect(got).toHaveLength(3);
    for (const p of got) {
      expect(p.record.source).toBe('group');
      expect(p.record.a.reward).toBeGreaterThanOrEqual(p.record.b.reward);
    }
    const sorted = [...rewards].sort((a, b) => b - a);
    expect(got.map((p) => p.record.a.reward)).toEqual(sorted.slice(0, 3).map((x) => expect.closeTo(x, 5)));
    expect(t.server.stats().health.pairlog.status).toBe('ok');
  });
});

describe('pair log under a full disk', () => {
  it('Compare keeps answering; the error shows in stats and health details', async () => {
    let full = false;
    const io: WriterIo = {
      ...nodeIo,
      // Record segments and image packs alike.
      write: async (fh, buf, pos, file) => { if (full) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' }); return nodeIo.write(fh, buf, pos, file); },
    };
    const t = await startTestServer({ log: LOG }, { pairlogIo: io });
    try {
      const img = await png(1, 2, 3);
      await compare(t, { pairs: [{ images: [{ data: img }], prompt: 'p', responseA: 'red', responseB: 'blue' }] });
      await until(() => t.server.stats().pairlog!.writer.syncedRecords === 1);
      full = true;
      for (let i = 0; i < 30; i++) {
        const img2 = await png(i, 100, 7);
        const res = await compare(t, { pairs: [{ images: [{ data: img2 }], prompt: `p${i}`, responseA: 'red', responseB: `blue ${i}` }] });
        expect(res.pairs).toHaveLength(1);
      }
      await until(() => t.server.stats().pairlog!.writer.dropped.writeError > 0);
      const s = t.server.stats();
      expect(s.pairlog!.writer.dropped.writeError).toBeGreaterThan(0);
      expect(s.pairlog!.writer.lastError).toMatchObject({ code: 'ENOSPC' });
      expect(s.health.pairlog).toMatchObject({ status: 'degraded' });
      expect(s.health.pairlog.detail).toContain('ENOSPC');
      expect(s.rpc.statuses.OK).toBe(31);
    } finally {
      full = false;
      await t.close();
    }
  });

  it('is off with log.enabled false: no files, health says so', async () => {
    const t = await startTestServer({ log: { ...LOG, enabled: false } });
    try {
      await compare(t, { pairs: [{ prompt: 'p', responseA: 'red', responseB: 'blue' }] });
      expect(t.server.stats().pairlog).toBeNull();
      expect(t.server.stats().health.pairlog.status).toBe('off');
      await expect(access(join(t.config.stateDir, 'pairlog'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await t.close();
    }
  });
});
