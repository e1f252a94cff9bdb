/**
 * Loading a bundle into a ready runtime: files present and matching their
 * sha256, ONNX sessions created, their inputs and outputs checked against the
 * manifest, and a warm-up run whose rewards must all be finite. A bundle that
 * fails any step never reaches serving.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { sha256Hex } from './digest.js';
import { BundleError } from './errors.js';
import {
  FILE_KEYS, fmtShape, MANIFEST_FILE, readManifest, STAGES,
  type FileKey, type FileRef, type Manifest, type Stage, type TensorSpec,
} from './manifest.js';
import { ModelRuntime, type EncoderItem, type Sessions } from './runtime.js';
import { Tokenizer, tokenizerError } from './text.js';

export interface LoadOptions {
  /** onnxruntime intra-op threads per session. */
  threads?: number;
  /** Where files without a `path` are found (the registry's parent chain). */
  resolveFile?: (key: FileKey, ref: FileRef) => Promise<string>;
}

export interface LoadedBundle {
  dir: string;
  manifest: Manifest;
  runtime: ModelRuntime;
}

async function readChecked(dir: string, key: FileKey, ref: FileRef, opts: LoadOptions): Promise<Uint8Array> {
  let path: string;
  if (ref.path) path = join(dir, ref.path);
  else if (opts.resolveFile) path = await opts.resolveFile(key, ref);
  else throw new BundleError('missing-file', dir, `files.${key}: no path and no registry to resolve sha256 ${ref.sha256}`);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (cause) {
    throw new BundleError('missing-file', dir, `files.${key}: cannot read ${path}`, { cause });
  }
  const got = sha256Hex(bytes);
  if (got !== ref.sha256) {
    throw new BundleError('sha256-mismatch', dir, `files.${key} (${path}): sha256 is ${got}, manifest says ${ref.sha256}`);
  }
  return bytes;
}

export function sessionOptions(opts: LoadOptions): ort.InferenceSession.SessionOptions {
  return {
    // Parallel execution gave multi-ms p99 spikes on 2 cores for graphs this small.
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    intraOpNumThreads: opts.threads ?? 1,
    interOpNumThreads: 1,
  };
}

/** Names, dtypes and fixed dims of a session's tensors must be the manifest's. */
function checkIO(dir: string, stage: Stage, session: ort.InferenceSession, m: Manifest): void {
  const sides = [
    ['input', session.inputMetadata, m.io[stage].inputs],
    ['output', session.outputMetadata, m.io[stage].outputs],
  ] as const;
  for (const [side, meta, specs] of sides) {
    const names = meta.map((x) => x.name);
    const want = specs.map((s) => s.name);
    if (names.length !== want.length || names.some((n) => !want.includes(n))) {
      throw new BundleError('io-mismatch', dir, `${stage}.onnx: ${side} names [${names.join(', ')}], manifest io.${stage} says [${want.join(', ')}]`);
    }
    for (const spec of specs) checkTensor(dir, stage, side, meta.find((x) => x.name === spec.name)!, spec);
  }
}

function checkTensor(dir: string, stage: Stage, side: string, meta: ort.InferenceSession.ValueMetadata, spec: TensorSpec): void {
  if (!meta.isTensor) throw new BundleError('io-mismatch', dir, `${stage}.onnx: ${side} '${spec.name}' is not a tensor`);
  const where = `${stage}.onnx: ${side} '${spec.name}'`;
  if (meta.type !== spec.dtype) throw new BundleError('io-mismatch', dir, `${where} has dtype ${meta.type}, manifest says ${spec.dtype}`);
  const shape = meta.shape;
  const ok = shape.length === spec.shape.length && spec.shape.every((d, i) => typeof d === 'string' ? typeof shape[i] === 'string' || shape[i] === -1 : shape[i] === d);
  if (!ok) throw new BundleError('io-mismatch', dir, `${where} has shape ${fmtShape(shape)}, manifest says ${fmtShape(spec.shape)}`);
}

/**
 * Deterministic warm-up inputs: a few items with textured images and token ids
 * spread over the vocabulary, so every stage runs on realistic sizes.
 */
function warmupInputs(m: Manifest, tok: Tokenizer): { pixels: Float32Array; n: number; items: (n: Float32Array, dv: number) => EncoderItem[] } {
  const { size, maxImages } = m.preprocess.image;
  const n = Math.min(2, maxImages) + 1;
  const pixels = new Float32Array(n * 3 * size * size);
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.sin(i * 0.017) * 1.5;
  const ids = (len: number, off: number) => Array.from({ length: len }, (_, j) => 1 + ((j * 7919 + off) % (tok.vocabSize - 1)));
  const items = (emb: Float32Array, dv: number) => Array.from({ length: 4 }, (_, i) => ({
    imageEmbeddings: Array.from({ length: i % (Math.min(2, maxImages) + 1) }, (_, j) => emb.subarray(j * dv, (j + 1) * dv)),
    promptIds: ids(Math.min(12, m.preprocess.text.maxPromptTokens), i),
    responseIds: ids(Math.min(5 + i * 9, m.preprocess.text.maxResponseTokens), i * 31),
  }));
  return { pixels, n, items };
}

async function warmUp(dir: string, rt: ModelRuntime): Promise<void> {
  const w = warmupInputs(rt.manifest, rt.tokenizer);
  let heads: Float32Array;
  try {
    const emb = await rt.embedImages(w.pixels, w.n);
    if (!emb.every(Number.isFinite)) throw new BundleError('non-finite', dir, 'warm-up: vision.onnx produced non-finite embeddings');
    heads = (await rt.score(w.items(emb, rt.dv))).heads;
  } catch (cause) {
    if (cause instanceof BundleError) throw cause;
    throw new BundleError('bad-model', dir, `warm-up run failed: ${(cause as Error).message}`, { cause });
  }
  const bad = heads.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0) {
    throw new BundleError('non-finite', dir, `warm-up: head.onnx output rewards[${Math.floor(bad / rt.k)}][${bad % rt.k}] is ${heads[bad]}`);
  }
}

export async function loadBundle(dir: string, opts: LoadOptions = {}): Promise<LoadedBundle> {
  const manifest = await readManifest(join(dir, MANIFEST_FILE));
  const bytes = {} as Record<FileKey, Uint8Array>;
  for (const key of FILE_KEYS) bytes[key] = await readChecked(dir, key, manifest.files[key], opts);

  let tokenizer: Tokenizer;
  try {
    tokenizer = Tokenizer.parse(JSON.parse(new TextDecoder().decode(bytes.tokenizer)), `${dir}/tokenizer`);
  } catch (cause) {
    throw tokenizerError(dir, cause);
  }

  const sessions = {} as Sessions;
  try {
    for (const stage of STAGES) {
      try {
        sessions[stage] = await ort.InferenceSession.create(bytes[stage], sessionOptions(opts));
      } catch (cause) {
        throw new BundleError('bad-model', dir, `${stage}.onnx: onnxruntime cannot load it: ${(cause as Error).message}`, { cause });
      }
      checkIO(dir, stage, sessions[stage], manifest);
    }
    const runtime = new ModelRuntime(manifest, tokenizer, sessions);
    await warmUp(dir, runtime);
    return { dir, manifest, runtime };
  } catch (err) {
    await Promise.all(Object.values(sessions).map((s) => s.release().catch(() => undefined)));
    throw err;
  }
}
