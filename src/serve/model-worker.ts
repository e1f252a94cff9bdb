/**
 * Runs inside a worker thread (started by model-host.ts): loads one version's
 * bundle and runs its stages on request.
 *
 * Why a thread: onnxruntime-node 1.30 runs `session.run` synchronously on the
 * calling thread (its binding is "a simple synchronized inference session
 * wrap"; the promise only defers the call with setImmediate). On the server's
 * main thread a 60 ms vision batch would stall every gRPC call, health check
 * and image decode callback for 60 ms. Here it stalls only this thread.
 *
 * Messages are handled one at a time, in order: the stages share this thread,
 * so at most one ONNX run is active per version.
 */
import { getHeapSpaceStatistics } from 'node:v8';
import { parentPort, workerData } from 'node:worker_threads';
import { loadBundle } from '../model/bundle.js';
import { Registry } from '../model/registry.js';
import type { ModelRuntime } from '../model/runtime.js';
import type { HostRequest, HostResponse, WorkerInit, WorkerStartup } from './model-host.js';

const port = parentPort!;
const init = workerData as WorkerInit;

function describe(err: unknown): { name: string; message: string; kind?: string } {
  const e = err instanceof Error ? err : new Error(String(err));
  const kind = (e as { kind?: unknown }).kind;
  return { name: e.name, message: e.message, ...(typeof kind === 'string' ? { kind } : {}) };
}

async function load(): Promise<ModelRuntime> {
  const registry = init.registry ? new Registry(init.registry.root, init.registry.model) : null;
  const { runtime } = await loadBundle(init.dir, {
    threads: init.threads,
    ...(registry ? { resolveFile: (key) => registry.resolveFile(init.registry!.version, key) } : {}),
  });
  // Run each stage once at its largest batch, so onnxruntime sizes its
  // buffers now rather than under the first burst of traffic.
  const { size } = runtime.manifest.preprocess.image;
  await runtime.embedImages(new Float32Array(init.warm.vision * 3 * size * size), init.warm.vision);
  const emb = new Float32Array(runtime.dv);
  await runtime.score(Array.from({ length: init.warm.encoder }, () => ({ imageEmbeddings: [emb], promptIds: [1], responseIds: [1] })));
  return runtime;
}

async function handle(rt: ModelRuntime, req: HostRequest): Promise<HostResponse> {
  switch (req.op) {
    case 'embed': {
      const embeddings = owned(await rt.embedImages(req.pixels, req.n));
      return { id: req.id, ok: true, embeddings };
    }
    case 'score': {
      const out = await rt.scorePacked(req.packed);
      const normalized = Float32Array.from(out.rewards, (r) => rt.normalize(r));
      if (!req.detail) return { id: req.id, ok: true, rewards: out.rewards, normalized, spread: out.spread };
      return { id: req.id, ok: true, rewards: out.rewards, normalized, spread: out.spread, heads: owned(out.heads), features: owned(out.features) };
    }
  }
}

/**
 * An array that owns its whole buffer, so it can be transferred: onnxruntime
 * 1.30's output tensors do (checked: offset 0, exact length), a view into a
 * larger buffer is copied rather than moving (and detaching) the rest.
 */
function owned(a: Float32Array): Float32Array {
  return a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : a.slice();
}

let runtime: ModelRuntime;
try {
  runtime = await load();
} catch (err) {
  port.postMessage({ type: 'failed', error: describe(err) } satisfies WorkerStartup);
  process.exit(0);
}
const newSpace = getHeapSpaceStatistics().find((sp) => sp.space_name === 'new_space');
const youngGenerationMiB = newSpace ? newSpace.space_size / 2 ** 20 : 0;
port.postMessage({ type: 'ready', manifest: runtime.manifest, tokenizer: runtime.tokenizer.spec, youngGenerationMiB } satisfies WorkerStartup);

let queue = Promise.resolve();
port.on('message', (msg: HostRequest | { op: 'release' }) => {
  queue = queue.then(async () => {
    if (msg.op === 'release') {
      await runtime.release();
      port.close();
      return;
    }
    let res: HostResponse;
    const t0 = performance.now();
    try {
      res = await handle(runtime, msg);
    } catch (err) {
      res = { id: msg.id, ok: false, error: describe(err) };
    }
    res.runMs = performance.now() - t0;
    // Our own arrays and onnxruntime's outputs (embeddings, heads, features: whole buffers, see owned()) move without a copy;
    // rewards and spread are ours (summarizeHeads).
    const transfer = !res.ok ? []
      : 'rewards' in res ? [res.rewards.buffer, res.normalized.buffer, res.spread.buffer, ...(res.heads ? [res.heads.buffer] : []), ...(res.features ? [res.features.buffer] : [])]
      : [res.embeddings.buffer];
    port.postMessage(res, transfer as ArrayBuffer[]);
  });
});
