/**
 * A bounded fuzzer over the wire: requests built from the proto with one
 * field broken (each with the one status it must get), and serialized
 * requests with random bytes flipped or cut (each must get a status from a
 * small allowed set, never UNKNOWN, and the server must keep serving).
 * Seeded: a failure names its case and seed, and re-runs the same way.
 */
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headerBomb } from '../fixtures/png.js';
import { png, startTestServer, type TestServer } from './helpers.js';
import { Rng } from '../../trainer/shapes/rng.js';

const SEED = Number(process.env.MRM_FUZZ_SEED ?? 20261130);
const STRUCTURED = 240;
const RAW = 160;

/** Seeded draws in [0, 1), so a failing seed can be re-run. */
function rng(seed: number): () => number {
  const r = Rng.fromSeed(seed);
  return () => r.next();
}

// --- a protobuf writer for the few messages we send raw ---------------------
function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128); }
  out.push(n);
  return out;
}
const field = (no: number, bytes: Uint8Array | number[]) => Buffer.from([...varint((no << 3) | 2), ...varint(bytes.length), ...bytes]);
const str = (no: number, s: string | Buffer) => field(no, typeof s === 'string' ? Buffer.from(s, 'utf8') : s);
/** Image {data=1 | sha256=2} */
const imageData = (b: Uint8Array) => field(1, b);
/** Item {images=1, system=2, prompt=3, response=4, reference=5, id=6} */
function item(o: { images?: Buffer[]; prompt?: string | Buffer; response?: string | Buffer }): Buffer {
  return Buffer.concat([...(o.images ?? []).map((i) => field(1, i)), str(3, o.prompt ?? 'p'), str(4, o.response ?? 'a response')]);
}
/** ScoreRequest {items=1, groups=2, request_id=3} */
const scoreRequest = (items: Buffer[]) => Buffer.concat(items.map((i) => field(1, i)));

type Case = { name: string; method: 'Score' | 'Compare'; bytes: Buffer; expect: grpc.status[] };
const { INVALID_ARGUMENT: INVALID, NOT_FOUND, OK, RESOURCE_EXHAUSTED } = grpc.status;

let t: TestServer;
let raw: grpc.Client;
let good: Buffer;
let goodPng: Buffer;

function call(c: Case): Promise<{ code: grpc.status; details: string }> {
  return new Promise((resolve) => {
    raw.makeUnaryRequest(`/mrm.v1.RewardService/${c.method}`, (b: Buffer) => b, (b: Buffer) => b, c.bytes, { deadline: Date.now() + 10_000 }, (err) => {
      resolve(err ? { code: err.code, details: err.details } : { code: OK, details: '' });
    });
  });
}

function structuredCase(r: () => number, i: number): Case {
  const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
  const hex = (n: number) => Array.from({ length: n }, () => '0123456789abcdef'[Math.floor(r() * 16)]).join('');
  const junk = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(r() * 256)));
  const okItem = item({ images: [imageData(goodPng)], response: `fine ${i}` });
  const kinds: (() => Case)[] = [
    () => ({ name: 'empty request', method: 'Score', bytes: Buffer.alloc(0), expect: [INVALID] }),
    () => ({ name: 'too many items', method: 'Score', bytes: scoreRequest(Array.from({ length: 9 + Math.floor(r() * 20) }, () => item({}))), expect: [INVALID] }),
    () => ({ name: 'too many images', method: 'Score', bytes: scoreRequest([item({ images: Array.from({ length: 3 + Math.floor(r() * 5) }, () => imageData(goodPng)) })]), expect: [INVALID] }),
    () => ({ name: 'garbage image', method: 'Score', bytes: scoreRequest([okItem, item({ images: [imageData(junk(1 + Math.floor(r() * 300)))] })]), expect: [INVALID] }),
    () => ({ name: 'truncated png', method: 'Score', bytes: scoreRequest([item({ images: [imageData(goodPng.subarray(0, 8 + Math.floor(r() * (goodPng.length - 20))))] })]), expect: [INVALID] }),
    () => ({ name: 'bomb png', method: 'Score', bytes: scoreRequest([item({ images: [imageData(headerBomb(5000 + Math.floor(r() * 60000), 5000 + Math.floor(r() * 60000)))] })]), expect: [INVALID] }),
    () => ({ name: 'malformed sha256', method: 'Score', bytes: scoreRequest([item({ images: [str(2, hex(Math.floor(r() * 63)))] })]), expect: [INVALID] }),
    () => ({ name: 'uppercase sha256', method: 'Score', bytes: scoreRequest([item({ images: [str(2, hex(64).toUpperCase().replace(/^[0-9]/, 'A'))] })]), expect: [INVALID] }),
    () => ({ name: 'unknown sha256', method: 'Score', bytes: scoreRequest([item({ images: [str(2, hex(64))] })]), expect: [NOT_FOUND] }),
    () => ({ name: 'text too long', method: 'Score', bytes: scoreRequest([item({ prompt: 'x'.repeat(257 + Math.floor(r() * 2000)) })]), expect: [INVALID] }),
    () => ({ name: 'empty response', method: 'Score', bytes: scoreRequest([item({ response: '' })]), expect: [INVALID] }),
    () => {
      // Invalid UTF-8 in a string field: a lone continuation byte, an overlong form, a truncated sequence.
      const bad = pick([Buffer.from([0x80]), Buffer.from([0xc0, 0xaf]), Buffer.from([0xe2, 0x82]), Buffer.from([0xff])]);
      const text = Buffer.concat([Buffer.from('ok '), bad, Buffer.from(' tail')]);
      return { name: 'bad utf-8', method: 'Score', bytes: scoreRequest([item(pick([{ prompt: text }, { response: text }]))]), expect: [INVALID] };
    },
    () => ({
      name: 'huge repeated groups',
      method: 'Score',
      // Groups{prompt=3, responses=5} x many: over the per-request limit.
      bytes: Buffer.concat(Array.from({ length: 50 + Math.floor(r() * 500) }, () => field(2, Buffer.concat([str(3, 'p'), str(5, 'r')])))),
      expect: [INVALID],
    }),
    () => ({ name: 'group without responses', method: 'Score', bytes: field(2, str(3, 'p')), expect: [INVALID] }),
    () => ({ name: 'compare without pairs', method: 'Compare', bytes: str(2, 'req'), expect: [INVALID] }),
    () => ({ name: 'compare missing response_b', method: 'Compare', bytes: field(1, Buffer.concat([str(3, 'p'), str(5, 'a')])), expect: [INVALID] }),
    () => ({ name: 'message over the size limit', method: 'Score', bytes: scoreRequest([item({ images: [imageData(junk(300 * 1024))] })]), expect: [RESOURCE_EXHAUSTED] }),
    () => ({ name: 'wrong wire type', method: 'Score', bytes: Buffer.from([0x08, 0x96, 0x01]), expect: [INVALID] }),
  ];
  return kinds[i % kinds.length]!();
}

function rawCase(r: () => number, i: number): Case {
  const b = Buffer.from(good);
  const mode = i % 3;
  if (mode === 0) {
    for (let k = 0; k < 1 + Math.floor(r() * 4); k++) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
    return { name: 'flipped bytes', method: 'Score', bytes: b, expect: [OK, INVALID, NOT_FOUND] };
  }
  if (mode === 1) return { name: 'cut message', method: 'Score', bytes: b.subarray(0, Math.floor(r() * b.length)), expect: [OK, INVALID, NOT_FOUND] };
  const noise = Buffer.from(Array.from({ length: Math.floor(r() * 64) }, () => Math.floor(r() * 256)));
  return { name: 'random bytes', method: r() < 0.5 ? 'Score' : 'Compare', bytes: noise, expect: [OK, INVALID, NOT_FOUND] };
}

beforeAll(async () => {
  t = await startTestServer({ maxItemsPerRequest: 8, maxTextBytes: 256, maxMessageBytes: 256 * 1024 });
  raw = new grpc.Client(t.address, grpc.credentials.createInsecure());
  goodPng = await png(10, 200, 30);
  good = scoreRequest([item({ images: [imageData(goodPng)], prompt: 'How many shapes?', response: 'Two.' })]);
});
afterAll(async () => {
  raw.close();
  await t.close();
});

describe('fuzzed requests', () => {
  it(`each of ${STRUCTURED} structured and ${RAW} raw cases gets its status, and the server keeps serving (seed ${SEED})`, async () => {
    const r = rng(SEED);
    const cases = [...Array.from({ length: STRUCTURED }, (_, i) => structuredCase(r, i)), ...Array.from({ length: RAW }, (_, i) => rawCase(r, i))];
    const wrong: string[] = [];
    const seen: Record<string, number> = {};
    for (const [i, c] of cases.entries()) {
      const res = await call(c);
      seen[grpc.status[res.code]!] = (seen[grpc.status[res.code]!] ?? 0) + 1;
      if (!c.expect.includes(res.code)) wrong.push(`#${i} ${c.name}: got ${grpc.status[res.code]} (${res.details.slice(0, 120)}), expected ${c.expect.map((s) => grpc.status[s]).join('|')}`);
      // A refusal starts with the field it is about (items[0].images[0].data: ..., pairs: ...).
      if (res.code === INVALID && !/^(request|items|groups|pairs)[\w\[\]., _+]*: \S/.test(res.details)) wrong.push(`#${i} ${c.name}: message names no field: ${res.details.slice(0, 120)}`);
      if (i % 50 === 49) expect((await call({ name: 'good', method: 'Score', bytes: good, expect: [OK] })).code).toBe(OK);
    }
    console.log(`fuzz: ${cases.length} cases (seed ${SEED}), statuses ${JSON.stringify(seen)}`);
    expect(wrong).toEqual([]);
    expect(seen.UNKNOWN).toBeUndefined();
    const after = await call({ name: 'good', method: 'Score', bytes: good, expect: [OK] });
    expect(after.code).toBe(OK);
  }, 120_000);
});
