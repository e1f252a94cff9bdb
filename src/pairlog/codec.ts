/**
 * The pair log's bytes. A segment is an 8-byte header, then frames:
 *
 *   magic u32 | length u32 | crc32 u32 | payload (length bytes)
 *
 * all little-endian; the CRC covers the length field and the payload, so a
 * torn or flipped length is caught too. The magic lets a reader find the next
 * frame after a corrupt one (resync) instead of losing the rest of the file.
 * The payload's first byte is its type: a record, or the end marker a writer
 * appends when it closes a segment (a segment with one is "closed").
 *
 * Records are binary: numbers fixed-width, strings as u32 length + UTF-8,
 * heads and features as float32 (what the model produced; no precision lost).
 */
import { crc32 } from './crc32.js';
import type { LoggedSide, PairRecord, PairSource } from './record.js';

export const SEGMENT_HEADER = new Uint8Array([0x4d, 0x52, 0x4d, 0x50, 0x4c, 0x4f, 0x47, 0x01]); // "MRMPLOG" v1
export const FRAME_MAGIC = 0x4c50524d; // "MRPL" read little-endian
export const FRAME_OVERHEAD = 12;
/** A frame larger than this is treated as corrupt: no record comes near it (features of D = 1M floats are 8 MiB a pair). */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

const TYPE_RECORD = 1;
const TYPE_END = 2;

/** Float32Array bytes are the file's (little-endian) bytes: copy them whole instead of float by float. */
const LITTLE_ENDIAN = new Uint8Array(Float32Array.of(1).buffer)[3] === 0x3f;
const dec = new TextDecoder('utf-8', { fatal: true });
const SOURCES: PairSource[] = ['compare', 'group'];

/** A record with the writer's sequence number (per process, from 1, in append order). */
export interface SequencedRecord {
  seq: number;
  record: PairRecord;
}

/** The record's payload alone (tests, tools); the writer uses recordFrame. */
export function encodeRecord(seq: number, r: PairRecord): Uint8Array {
  return recordFrame(seq, r).subarray(FRAME_OVERHEAD);
}

/** One record as a whole frame (tests, tools, the crash script); the writer encodes a batch into one buffer with writeRecordFrame. */
export function recordFrame(seq: number, r: PairRecord): Uint8Array {
  const out = Buffer.allocUnsafe(recordFrameBytes(r));
  writeRecordFrame(out, 0, seq, r);
  return out;
}

/** Bytes of `r`'s frame, header included. */
export function recordFrameBytes(r: PairRecord): number {
  let size = FRAME_OVERHEAD + 1 + 8 + 8 + 1 + 4 + 8 + 4 + sideBytes(r.a) + sideBytes(r.b);
  size += stringBytes(r.id) + stringBytes(r.model) + stringBytes(r.encoderSha256) + stringBytes(r.system) + stringBytes(r.prompt)
    + stringBytes(r.reference) + stringBytes(r.a.response) + stringBytes(r.b.response);
  for (const img of r.images) size += stringBytes(img);
  return size;
}

/**
 * One record as a whole frame at `at` of `out` (recordFrameBytes(r) bytes),
 * written in place: strings go straight into the buffer (no per-string
 * arrays), the payload is not copied again to be framed, and a batch of
 * records shares one buffer (one allocation, one write). This runs on the
 * server's event loop for every logged pair, so the writing helpers are a
 * class's methods rather than closures made per call (tsx names every
 * closure it creates, which showed in profiles). Returns the end offset.
 */
export function writeRecordFrame(out: Buffer, at: number, seq: number, r: PairRecord): number {
  const w = new FrameWriter(out, at + FRAME_OVERHEAD);
  w.u8(TYPE_RECORD);
  w.f64(seq);
  w.f64(Date.parse(r.time));
  w.u8(SOURCES.indexOf(r.source));
  w.u32(r.version);
  w.f64(r.margin);
  w.u32(r.images.length);
  w.str(r.id); w.str(r.model); w.str(r.encoderSha256); w.str(r.system); w.str(r.prompt); w.str(r.reference); w.str(r.a.response); w.str(r.b.response);
  for (const img of r.images) w.str(img);
  w.side(r.a);
  w.side(r.b);
  frameHeader(out, at, w.offset - at - FRAME_OVERHEAD);
  return w.offset;
}

const stringBytes = (s: string) => 4 + Buffer.byteLength(s, 'utf8');
const sideBytes = (s: LoggedSide) => 8 + 8 + 4 + 4 * s.heads.length + 4 + 4 * s.features.length;

/** Little-endian writes at a moving offset into one frame's buffer. */
class FrameWriter {
  private readonly dv: DataView;

  constructor(readonly out: Buffer, private o: number) {
    this.dv = new DataView(out.buffer, out.byteOffset, out.byteLength);
  }

  get offset(): number { return this.o; }

  u8(v: number): void { this.dv.setUint8(this.o, v); this.o += 1; }
  u32(v: number): void { this.dv.setUint32(this.o, v, true); this.o += 4; }
  f64(v: number): void { this.dv.setFloat64(this.o, v, true); this.o += 8; }

  str(v: string): void {
    const n = this.out.write(v, this.o + 4, 'utf8');
    this.u32(n);
    this.o += n;
  }

  f32s(a: ArrayLike<number>): void {
    this.u32(a.length);
    if (LITTLE_ENDIAN && a instanceof Float32Array) {
      this.out.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), this.o);
      this.o += a.byteLength;
      return;
    }
    for (let i = 0; i < a.length; i++) { this.dv.setFloat32(this.o, a[i]!, true); this.o += 4; }
  }

  side(s: LoggedSide): void {
    this.f64(s.reward);
    this.f64(s.spread);
    this.f32s(s.heads);
    this.f32s(s.features);
  }
}

export class CodecError extends Error {
  override readonly name = 'CodecError';
  readonly kind = 'bad-record';
}

/** A record payload -> the record; throws CodecError on anything malformed (a CRC collision, a bug). */
export function decodeRecord(p: Uint8Array): SequencedRecord {
  const dv = new DataView(p.buffer, p.byteOffset, p.byteLength);
  let o = 0;
  const need = (n: number) => { if (o + n > p.length) throw new CodecError(`record payload ends early at byte ${o} (+${n}) of ${p.length}`); };
  const u8 = () => { need(1); return dv.getUint8(o++); };
  const u32 = () => { need(4); const v = dv.getUint32(o, true); o += 4; return v; };
  const f64 = () => { need(8); const v = dv.getFloat64(o, true); o += 8; return v; };
  const str = () => { const n = u32(); need(n); const s = dec.decode(p.subarray(o, o + n)); o += n; return s; };
  const f32s = () => { const n = u32(); need(4 * n); const a = new Float32Array(n); for (let i = 0; i < n; i++) a[i] = dv.getFloat32(o + 4 * i, true); o += 4 * n; return a; };
  if (u8() !== TYPE_RECORD) throw new CodecError('not a record payload');
  const seq = f64();
  const time = new Date(f64()).toISOString();
  const source = SOURCES[u8()];
  if (!source) throw new CodecError('unknown source');
  const version = u32();
  const margin = f64();
  const nImages = u32();
  const [id, model, encoderSha256, system, prompt, reference, ra, rb] = Array.from({ length: 8 }, str) as string[];
  const images = Array.from({ length: nImages }, str);
  const side = (response: string): LoggedSide => {
    const reward = f64();
    const spread = f64();
    const heads = Array.from(f32s());
    return { response, reward, spread, heads, features: f32s() };
  };
  const a = side(ra!);
  const b = side(rb!);
  if (o !== p.length) throw new CodecError(`${p.length - o} bytes after the record`);
  return { seq, record: { id: id!, time, source, model: model!, version, encoderSha256: encoderSha256!, images, system: system!, prompt: prompt!, reference: reference!, a, b, margin } };
}

export const END_PAYLOAD = new Uint8Array([TYPE_END]);
export const isEnd = (payload: Uint8Array) => payload.length === 1 && payload[0] === TYPE_END;

/** payload -> one frame. */
export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_OVERHEAD + payload.length);
  out.set(payload, FRAME_OVERHEAD);
  frameHeader(out, 0, payload.length);
  return out;
}

/** Magic, length and CRC into the FRAME_OVERHEAD bytes at `at` of `out`, whose payload (`length` bytes) follows them. */
export function frameHeader(out: Uint8Array, at: number, length: number): void {
  const dv = new DataView(out.buffer, out.byteOffset + at, FRAME_OVERHEAD);
  dv.setUint32(0, FRAME_MAGIC, true);
  dv.setUint32(4, length, true);
  const p = at + FRAME_OVERHEAD;
  dv.setUint32(8, crc32(out.subarray(p, p + length), crc32(out.subarray(at + 4, at + 8))), true);
}

export interface ScannedFrame {
  /** File offset of the frame's first byte. */
  offset: number;
  /** File offset just past it. */
  end: number;
  payload: Uint8Array;
}

export interface Scan {
  frames: ScannedFrame[];
  /** Regions between valid frames that are not frames (a corrupt frame), skipped. */
  corrupt: { offset: number; bytes: number }[];
  /** End of the last valid frame (or `start` when there is none): where a torn tail begins. */
  goodEnd: number;
  /** Bytes after goodEnd that are not a complete valid frame: a torn (or corrupt) tail. */
  tailBytes: number;
  /** The segment's end marker was read. */
  closed: boolean;
}

/** The valid frame at `at` of `buf`, or null. */
function frameAt(buf: Uint8Array, dv: DataView, at: number): number | null {
  if (at + FRAME_OVERHEAD > buf.length || dv.getUint32(at, true) !== FRAME_MAGIC) return null;
  const len = dv.getUint32(at + 4, true);
  if (len === 0 || len > MAX_FRAME_BYTES || at + FRAME_OVERHEAD + len > buf.length) return null;
  const crc = crc32(buf.subarray(at + FRAME_OVERHEAD, at + FRAME_OVERHEAD + len), crc32(buf.subarray(at + 4, at + 8)));
  return crc === dv.getUint32(at + 8, true) ? len : null;
}

/**
 * The frames of `buf`, which holds a segment's bytes from file offset `base`.
 * After an invalid frame it searches for the next valid one (magic, length
 * and CRC all check): found, the bytes between are a corrupt region and the
 * scan goes on; not found, they are the tail. A frame being written right now
 * by another process is such a tail until it is complete.
 */
export function scanFrames(buf: Uint8Array, base: number): Scan {
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const frames: ScannedFrame[] = [];
  const corrupt: Scan['corrupt'] = [];
  let at = 0;
  let goodEnd = 0;
  let closed = false;
  while (at < buf.length && !closed) {
    const len = frameAt(buf, dv, at);
    if (len !== null) {
      const payload = buf.subarray(at + FRAME_OVERHEAD, at + FRAME_OVERHEAD + len);
      if (at > goodEnd) corrupt.push({ offset: base + goodEnd, bytes: at - goodEnd });
      if (isEnd(payload)) closed = true;
      else frames.push({ offset: base + at, end: base + at + FRAME_OVERHEAD + len, payload });
      at += FRAME_OVERHEAD + len;
      goodEnd = at;
      continue;
    }
    // Resync: the next position where the magic appears.
    at = nextMagic(buf, at + 1);
  }
  return { frames, corrupt, goodEnd: base + goodEnd, tailBytes: closed ? 0 : buf.length - goodEnd, closed };
}

function nextMagic(buf: Uint8Array, from: number): number {
  // First byte of the magic as stored (little-endian 'M').
  for (let i = from; i + 4 <= buf.length; i++) {
    if (buf[i] === 0x4d && buf[i + 1] === 0x52 && buf[i + 2] === 0x50 && buf[i + 3] === 0x4c) return i;
  }
  return buf.length;
}

export function hasHeader(buf: Uint8Array): boolean {
  return buf.length >= SEGMENT_HEADER.length && SEGMENT_HEADER.every((b, i) => buf[i] === b);
}
