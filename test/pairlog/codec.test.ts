/** Frames, CRC, records: what a reader can trust and what it must skip. */
import { describe, expect, it } from 'vitest';
import { decodeRecord, encodeRecord, frame, FRAME_OVERHEAD, scanFrames } from '../../src/pairlog/codec.js';
import { crc32 } from '../../src/pairlog/crc32.js';
import { record } from './fixtures.js';

const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));

describe('crc32', () => {
  it('is the IEEE CRC-32, unsigned, and continues from a previous value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    for (let n = 0; n < 300; n += 37) {
      const b = Uint8Array.from({ length: n }, (_, i) => (i * 131 + n) & 0xff);
      expect(crc32(b)).toBeGreaterThanOrEqual(0);
      expect(crc32(b.subarray(n >> 1), crc32(b.subarray(0, n >> 1)))).toBe(crc32(b));
    }
  });
});

describe('record codec', () => {
  it('round-trips every field; features stay float32 bit for bit', () => {
    const r = record(7);
    const { seq, record: back } = decodeRecord(encodeRecord(42, r));
    expect(seq).toBe(42);
    expect(back).toEqual({ ...r, a: { ...r.a, heads: Array.from(Float32Array.from(r.a.heads)) }, b: { ...r.b, heads: Array.from(Float32Array.from(r.b.heads)) } });
    expect(back.b.features).toBeInstanceOf(Float32Array);
    expect(Array.from(back.b.features)).toEqual(Array.from(Float32Array.from([3, Math.PI, 1e-7])));
  });

  it('refuses a payload that ends early or has bytes left over', () => {
    const p = encodeRecord(1, record(1));
    expect(() => decodeRecord(p.subarray(0, p.length - 3))).toThrow(/ends early/);
    expect(() => decodeRecord(concat(p, new Uint8Array([0])))).toThrow(/after the record/);
  });
});

describe('scanFrames', () => {
  const frames = [1, 2, 3, 4].map((i) => frame(encodeRecord(i, record(i))));

  it('reads back-to-back frames', () => {
    const s = scanFrames(concat(...frames), 100);
    expect(s.frames.map((f) => decodeRecord(f.payload).seq)).toEqual([1, 2, 3, 4]);
    expect(s.frames[0]!.offset).toBe(100);
    expect(s.goodEnd).toBe(100 + frames.reduce((n, f) => n + f.length, 0));
    expect(s.tailBytes).toBe(0);
    expect(s.corrupt).toEqual([]);
  });

  it('stops at a torn tail (every cut point of the last frame)', () => {
    const good = concat(...frames.slice(0, 3));
    for (let cut = 1; cut < frames[3]!.length; cut++) {
      const s = scanFrames(concat(good, frames[3]!.subarray(0, cut)), 0);
      expect(s.frames).toHaveLength(3);
      expect(s.goodEnd).toBe(good.length);
      expect(s.tailBytes).toBe(cut);
    }
  });

  it('catches a flipped bit anywhere in a frame (CRC over length and payload), and resyncs on the next frame', () => {
    const all = concat(...frames);
    const start = frames[0]!.length;
    for (let at = start + 4; at < start + frames[1]!.length; at += 7) {
      const bad = all.slice();
      bad[at]! ^= 0x10;
      const s = scanFrames(bad, 0);
      expect(s.frames.map((f) => decodeRecord(f.payload).seq)).toEqual([1, 3, 4]);
      expect(s.corrupt).toEqual([{ offset: start, bytes: frames[1]!.length }]);
      expect(s.tailBytes).toBe(0);
    }
  });

  it('treats a length past the end, zero, or huge as invalid', () => {
    const f = frames[0]!.slice();
    new DataView(f.buffer).setUint32(4, 0, true);
    expect(scanFrames(f, 0).frames).toHaveLength(0);
    expect(FRAME_OVERHEAD).toBe(12);
  });
});
