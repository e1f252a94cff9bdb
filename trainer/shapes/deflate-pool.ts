/**
 * Deflate on worker threads. Deflating the noisy backgrounds is most of the
 * cost of a PNG, and Node's async zlib spends more on its stream machinery
 * than it saves for 50 KB inputs; whole deflateSync calls on a worker overlap
 * with rasterizing on the main thread instead.
 *
 * The worker is a few lines of plain JavaScript passed as source text, so it
 * runs the same under tsx, vitest and compiled output (a worker given a .ts
 * path would not load without a loader).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ZlibOptions } from 'node:zlib';

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const zlib = require('node:zlib');
parentPort.on('message', ({ id, data, options }) => {
  try {
    const out = new Uint8Array(zlib.deflateSync(data, options));
    parentPort.postMessage({ id, out }, [out.buffer]);
  } catch (err) {
    parentPort.postMessage({ id, error: String((err && err.message) || err) });
  }
});
`;

/** A worker failed or was closed with work outstanding. */
export class DeflatePoolError extends Error {
  override readonly name = 'DeflatePoolError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

interface Pending {
  resolve: (out: Uint8Array) => void;
  reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: number;
}

/**
 * Workers to use beside the main thread: none on two cores or fewer, else one
 * per spare core (at most 4). Measured on the 2-vCPU machines this project is
 * built on, with other processes running: a worker made a 20,000-pair split
 * slower (76 s against 45 s written to disk) and cost 1.7x the CPU time.
 */
export function defaultDeflateWorkers(): number {
  const cores = availableParallelism();
  return cores <= 2 ? 0 : Math.min(4, cores - 1);
}

export class DeflatePool {
  private readonly slots: Slot[];
  private readonly pending = new Map<number, Pending & { slot: Slot }>();
  private nextId = 0;
  private failure: DeflatePoolError | undefined;
  private closing = false;

  constructor(
    size: number,
    private readonly options: ZlibOptions,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`deflate pool size must be a positive integer, got ${size}`);
    this.slots = Array.from({ length: size }, () => {
      const slot: Slot = { worker: new Worker(WORKER_SOURCE, { eval: true }), busy: 0 };
      slot.worker.on('message', (m: { id: number; out?: Uint8Array; error?: string }) => this.settle(m));
      slot.worker.on('error', (err) => this.fail(new DeflatePoolError('deflate worker failed', { cause: err })));
      slot.worker.on('exit', (code) => {
        if (!this.closing) this.fail(new DeflatePoolError(`deflate worker exited with code ${code}`));
      });
      return slot;
    });
  }

  /**
   * Deflates `data`; its buffer is transferred to the worker when `data`
   * spans all of it, so the caller must not use `data` afterwards.
   */
  deflate(data: Uint8Array): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(this.failure);
    const slot = this.slots.reduce((a, b) => (b.busy < a.busy ? b : a));
    const id = this.nextId++;
    slot.busy++;
    const whole = data.byteOffset === 0 && data.byteLength === data.buffer.byteLength && data.buffer instanceof ArrayBuffer;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, slot });
      slot.worker.postMessage({ id, data, options: this.options }, whole ? [data.buffer as ArrayBuffer] : []);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.fail(new DeflatePoolError('deflate pool closed with work outstanding'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }

  private settle(m: { id: number; out?: Uint8Array; error?: string }): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    p.slot.busy--;
    if (m.out) p.resolve(m.out);
    else p.reject(new DeflatePoolError(`deflate failed: ${m.error ?? 'unknown error'}`));
  }

  private fail(err: DeflatePoolError): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
