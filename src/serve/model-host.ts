/**
 * The main thread's handle on one version whose ONNX sessions live in a worker
 * thread (model-worker.ts explains why). It loads the bundle there (files,
 * sha256s, I/O checks, warm-up set, largest batches), gets back the manifest
 * and tokenizer, and then forwards stage calls as messages.
 *
 * If the worker dies, every pending and later call fails with INTERNAL and the
 * death is logged; the version stays broken until it is replaced.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { BundleError } from '../model/errors.js';
import { dims, type Manifest } from '../model/manifest.js';
import { packItems, type EncoderItem, type PackedItems, type PackShape } from '../model/pack.js';
import { packShapeOf } from '../model/runtime.js';
import { Tokenizer, type TokenizerSpec } from '../model/text.js';
import { ServeError } from './errors.js';
import type { Logger } from './log.js';

export interface WorkerInit {
  dir: string;
  threads: number;
  /** Where head-only versions find their parent's files. */
  registry: { root: string; model: string; version: number } | null;
  /** Largest batch per stage, run once after loading. */
  warm: { vision: number; encoder: number };
}

export type WorkerStartup =
  | { type: 'ready'; manifest: Manifest; tokenizer: TokenizerSpec; youngGenerationMiB: number }
  | { type: 'failed'; error: { name: string; message: string; kind?: string } };

export type HostRequest =
  | { id: number; op: 'embed'; pixels: Float32Array; n: number }
  /**
   * Items packed on the main thread (packItems), their buffers moved.
   * detail: also return the heads [B, K] and features [B, D] (the pair log wants them; otherwise not worth the copy).
   */
  | { id: number; op: 'score'; packed: PackedItems; detail: boolean };

export type HostResponse = (
  | { id: number; ok: true; embeddings: Float32Array }
  | { id: number; ok: true; rewards: Float32Array; normalized: Float32Array; spread: Float32Array; heads?: Float32Array; features?: Float32Array }
  | { id: number; ok: false; error: { name: string; message: string; kind?: string } }
) & {
  /** How long the worker spent on the request (ms), measured there: the model's time without the main loop's. */
  runMs?: number;
};

export interface Scores {
  rewards: Float32Array;
  /** runtime.normalize(reward), computed where the runtime is. */
  normalized: Float32Array;
  spread: Float32Array;
  /** Raw head outputs [B, K], row-major; only when asked for (`detail`). */
  heads?: Float32Array;
  /** Encoder features [B, D], row-major; only when asked for. */
  features?: Float32Array;
}

/**
 * A new isolate (the model worker's) starts with V8's young generation at
 * its full 16 MiB semi-spaces instead of 1 MiB. V8 grows it only as the
 * allocation rate asks, and the worker's rate is low (its tensors live
 * outside the heap), so under steady load it kept growing for minutes: the
 * soak's RSS rose 30-35 MiB over 4 minutes at a fixed 1,004 calls/s and
 * read as drift (6-8%; 12.4% over 10 minutes). With the semi-spaces full
 * from the start (the same soak with --min-semi-space-size=16 on the whole
 * process, 2026-12-01): 513 -> 518 MiB, 0.9%, and the same ~510 MiB at the
 * end either way; with it set here, for the worker only: 505 -> 512 MiB,
 * 1.4%. V8 flags are process-wide and read when an isolate is
 * created, so set here they size the workers made after, not the main
 * thread, whose allocation rate grows its own young generation in seconds.
 */
function fullYoungGeneration(): void {
  // Idempotent, and cheap next to starting a worker: set again for each.
  setFlagsFromString(`--min-semi-space-size=${WORKER_SEMI_SPACE_MIB}`);
}
/** V8's default largest semi-space on 64-bit (Node 20), so the young generation ends where it would have grown to. */
const WORKER_SEMI_SPACE_MIB = 16;

/**
 * The worker's entry. Under tsx (how the project runs) a worker does not
 * inherit the main thread's loader, so a .ts entry is imported through tsx's
 * API; a compiled .js entry would be started directly.
 */
function startWorker(init: WorkerInit): Worker {
  fullYoungGeneration();
  const entry = new URL('./model-worker.ts', import.meta.url);
  if (!entry.pathname.endsWith('.ts')) return new Worker(entry, { workerData: init });
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href;
  const boot = `import(${JSON.stringify(tsx)}).then(({ tsImport }) => tsImport(${JSON.stringify(entry.href)}, ${JSON.stringify(import.meta.url)}))`;
  return new Worker(boot, { eval: true, workerData: init });
}

export class ModelHost {
  private runMsTotal = 0;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: HostResponse) => void; reject: (e: unknown) => void }>();
  private dead: ServeError | null = null;
  private released = false;
  private readonly shape: PackShape;

  private constructor(
    private readonly worker: Worker,
    readonly manifest: Manifest,
    readonly tokenizer: Tokenizer,
    log: Logger,
    /** The worker's young generation when it was ready (MiB): fullYoungGeneration's effect, logged at model.loaded. */
    readonly youngGenerationMiB: number,
  ) {
    this.shape = packShapeOf(manifest, dims(manifest).dv);
    worker.on('message', (res: HostResponse) => {
      this.runMsTotal += res.runMs ?? 0;
      const p = this.pending.get(res.id);
      this.pending.delete(res.id);
      p?.resolve(res);
    });
    const die = (why: string, cause?: unknown) => {
      if (this.released || this.dead) return;
      this.dead = new ServeError('internal', `model worker for ${manifest.name} version ${manifest.version} ${why}`, undefined, { cause });
      log.error('model.worker_died', { model: manifest.name, version: manifest.version, why, pending: this.pending.size });
      for (const p of this.pending.values()) p.reject(this.dead);
      this.pending.clear();
    };
    worker.on('error', (err) => die('failed', err));
    worker.on('exit', (code) => die(`exited with code ${code}`));
  }

  /** Starts the worker and waits until the version is loaded and warmed up; a bad bundle rejects with a BundleError. */
  static start(init: WorkerInit, log: Logger): Promise<ModelHost> {
    const worker = startWorker(init);
    return new Promise((resolve, reject) => {
      const fail = (err: unknown) => {
        void worker.terminate();
        reject(err);
      };
      worker.once('error', fail);
      worker.once('exit', (code) => fail(new BundleError('bad-model', init.dir, `model worker exited with code ${code} while loading`)));
      worker.once('message', (m: WorkerStartup) => {
        worker.removeAllListeners('error').removeAllListeners('exit');
        if (m.type === 'failed') {
          const kind = (m.error.kind ?? 'bad-model') as ConstructorParameters<typeof BundleError>[0];
          return fail(new BundleError(kind, init.dir, `loading in the model worker failed: ${m.error.name}: ${m.error.message}`));
        }
        resolve(new ModelHost(worker, m.manifest, new Tokenizer(m.tokenizer), log, m.youngGenerationMiB));
      });
    });
  }

  /** n preprocessed images [n, 3, S, S] -> [n, Dv]; `pixels` is moved to the worker (unusable afterwards). */
  async embedImages(pixels: Float32Array, n: number): Promise<Float32Array> {
    const res = await this.call({ id: this.nextId++, op: 'embed', pixels, n }, [pixels.buffer as ArrayBuffer]);
    return (res as { embeddings: Float32Array }).embeddings;
  }

  /**
   * One [3, S, S] image each -> one [Dv] embedding each, in one worker call.
   * A lone image whose array owns its buffer (preprocessImage's do) moves to
   * the worker as it is, and its embedding comes back as its own array: no
   * copy either way. Several are packed into one tensor (a copy each) and
   * their embeddings sliced out (a copy each, so a cached embedding does not
   * keep its whole batch's buffer alive). `images` are unusable afterwards.
   */
  async embedEach(images: Float32Array[], per: number, dv: number): Promise<Float32Array[]> {
    const lone = images.length === 1 && ownsBuffer(images[0]!) ? images[0]! : null;
    let pixels = lone;
    if (!pixels) {
      pixels = new Float32Array(images.length * per);
      images.forEach((img, i) => pixels!.set(img, i * per));
    }
    const emb = await this.embedImages(pixels, images.length);
    if (images.length === 1 && ownsBuffer(emb) && emb.length === dv) return [emb];
    return images.map((_, i) => emb.slice(i * dv, (i + 1) * dv));
  }

  /**
   * Packs the items here and moves the packed buffers to the worker (see
   * pack.ts for why). `detail`: also the heads and features (moved from the
   * worker, not copied).
   */
  async score(items: EncoderItem[], detail = false): Promise<Scores> {
    const packed = packItems(items, this.shape);
    const transfer = [packed.emb.buffer, packed.mask.buffer, packed.prompt.buffer, packed.response.buffer] as ArrayBuffer[];
    return (await this.call({ id: this.nextId++, op: 'score', packed, detail }, transfer)) as Scores & HostResponse;
  }

  /**
   * The worker's time on requests so far (ms, as the worker measured it).
   * The worker runs one request at a time, so its growth over a batch is
   * that batch's model time, without the main-loop turns its result waited
   * behind before the main thread saw it (admission's stage rates).
   */
  get runMs(): number {
    return this.runMsTotal;
  }

  /** Frees the sessions, then ends the thread. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (!this.dead) {
      const exited = new Promise((r) => this.worker.once('exit', r));
      this.worker.postMessage({ op: 'release' });
      await exited;
    }
  }

  private call(req: HostRequest, transfer: ArrayBuffer[]): Promise<HostResponse> {
    if (this.dead) return Promise.reject(this.dead);
    if (this.released) return Promise.reject(new ServeError('unavailable', 'the model version was unloaded'));
    return new Promise<HostResponse>((resolve, reject) => {
      this.pending.set(req.id, { resolve, reject });
      this.worker.postMessage(req, transfer);
    }).then((res) => {
      if (!res.ok) throw new Error(`${res.error.name}: ${res.error.message}`);
      return res;
    });
  }
}

/** Whether `a` is its whole buffer: only then can it be transferred (moving a view would detach the rest). */
export function ownsBuffer(a: Float32Array): boolean {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && !(a.buffer instanceof SharedArrayBuffer);
}
