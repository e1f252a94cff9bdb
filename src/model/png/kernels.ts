/**
 * The WebAssembly kernels (kernels.wat, assembled into the committed
 * kernels.wasm by `npm run build:wasm`) and the memory they work in.
 *
 * One instance per thread, made synchronously on first use (the PNG path runs
 * synchronously on the server's event loop, and a worker thread has its own
 * module graph, so its own instance). Memory is laid out by the callers,
 * call by call: plans (resample weights) sit at the bottom, copied in once
 * each per instance and never moved; everything above `scratch` is free for
 * the duration of one synchronous call. Memory grows on demand and never
 * shrinks: it is bounded by the largest image the PNG path takes
 * (PNG_FAST_PATH_MAX_PIXELS) plus the plans of the sizes seen.
 */
import { readFileSync } from 'node:fs';

/** The parts of the WebAssembly API used here (the project's lib settings have no DOM, which declares it). */
interface WasmMemory { readonly buffer: ArrayBuffer; grow(pages: number): number }
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

export interface KernelExports {
  memory: WasmMemory;
  reduce8(src: number, srcStride: number, lineLen: number, starts: number, ats: number, wpairs: number,
    outLines: number, dst: number, dstStride: number): void;
  flatten8(src: number, pixels: number, ch: number, dst: number): void;
  transpose(src: number, srcStride: number, dst: number, dstStride: number, lines: number, elems: number, ch: number): void;
  normalize(src: number, step: number, n: number, lut: number, dst: number): void;
  /** -1, or the index of the first row whose filter type is not 0-4. */
  unfilter(buf: number, rows: number, stride: number, bpp: number): number;
}

/**
 * Bytes every buffer must have free after it: reduce8 reads and writes in
 * blocks of 32 samples, transpose moves 4 bytes per pixel.
 */
export const SLACK = 64;

/**
 * A plan in wasm memory (byte offsets): starts and ats as i32 arrays, the
 * weights as one i32 per tap pair (w[t] low half, w[t + 1] high), the
 * operand of reduce8's i32x4.dot_i16x8_s.
 */
export interface PlacedPlan { starts: number; ats: number; wpairs: number }

export interface PlanArrays { start: Int32Array; at: Int32Array; w: Int32Array }

export class Kernels {
  readonly fn: KernelExports;
  /** First byte not holding a plan: callers' per-call buffers start here. */
  private planEnd = 0;
  private readonly placed = new Map<PlanArrays, PlacedPlan>();

  constructor(fn: KernelExports) {
    this.fn = fn;
  }

  get scratch(): number {
    return this.planEnd;
  }

  /** Copies a plan in on its first use (plans are cached objects in resample.ts, so identity is the key). */
  place(p: PlanArrays): PlacedPlan {
    const known = this.placed.get(p);
    if (known) return known;
    let at = this.planEnd;
    const starts = at; at = align(at + p.start.byteLength);
    const ats = at; at = align(at + p.at.byteLength);
    const wpairs = at; at = align(at + p.w.byteLength / 2);
    this.reserve(at);
    const i32 = new Int32Array(this.fn.memory.buffer);
    i32.set(p.start, starts >> 2);
    i32.set(p.at, ats >> 2);
    const i16 = new Int16Array(this.fn.memory.buffer);
    i16.set(p.w, wpairs >> 1); // weights are 12-bit: they fit i16 lanes
    const placed = { starts, ats, wpairs };
    this.placed.set(p, placed);
    this.planEnd = at;
    return placed;
  }

  /** Makes memory at least `end` bytes long; views taken before a growth are detached, so take them after. */
  reserve(end: number): void {
    const have = this.fn.memory.buffer.byteLength;
    if (end > have) this.fn.memory.grow(Math.ceil((end - have) / 65536));
  }

  bytes(): Uint8Array {
    return new Uint8Array(this.fn.memory.buffer);
  }
}

export function align(n: number): number {
  return (n + 15) & ~15;
}

let instance: Kernels | undefined;

export function kernels(): Kernels {
  if (instance) return instance;
  // Synchronous compile: Node allows it at any size, and the ~1.5 KB module
  // compiles in well under a millisecond, once per thread.
  const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
  const module = new wasm.Module(readFileSync(new URL('./kernels.wasm', import.meta.url)));
  instance = new Kernels(new wasm.Instance(module, {}).exports as KernelExports);
  return instance;
}
