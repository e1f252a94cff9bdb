/**
 * Writing a bundle directory: the files, their sha256s and a manifest whose
 * io section follows from the sizes. Used by the trainer to export what it
 * fits, by the default-model build, and by tests to make good and broken
 * bundles.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from './digest.js';
import {
  BUNDLE_FORMAT, MANIFEST_FILE,
  type Calibration, type FileKey, type FileRef, type ImagePreprocess, type Lineage, type Manifest, type Stage, type StageIO, type TextPreprocess,
} from './manifest.js';
import type { TokenizerSpec } from './text.js';

export interface StageSizes {
  dv: number;
  d: number;
  k: number;
}

/** The contract's io section for given sizes. */
export function contractIO(image: ImagePreprocess, text: TextPreprocess, s: StageSizes): Record<Stage, StageIO> {
  const { size, maxImages } = image;
  return {
    vision: {
      inputs: [{ name: 'pixels', dtype: 'float32', shape: ['N', 3, size, size] }],
      outputs: [{ name: 'embedding', dtype: 'float32', shape: ['N', s.dv] }],
    },
    encoder: {
      inputs: [
        { name: 'image_embeddings', dtype: 'float32', shape: ['N', maxImages, s.dv] },
        { name: 'image_mask', dtype: 'float32', shape: ['N', maxImages] },
        { name: 'prompt_ids', dtype: 'int64', shape: ['N', text.maxPromptTokens] },
        { name: 'response_ids', dtype: 'int64', shape: ['N', text.maxResponseTokens] },
      ],
      outputs: [{ name: 'features', dtype: 'float32', shape: ['N', s.d] }],
    },
    head: {
      inputs: [{ name: 'features', dtype: 'float32', shape: ['N', s.d] }],
      outputs: [{ name: 'rewards', dtype: 'float32', shape: ['N', s.k] }],
    },
  };
}

export interface BundleSpec {
  name: string;
  version: number;
  parent?: number | null;
  /** Stage files as bytes, or a FileRef to share a parent's file by sha256. */
  vision: Uint8Array | FileRef;
  encoder: Uint8Array | FileRef;
  head: Uint8Array;
  /** A spec to serialize, the bytes of a tokenizer.json, or a FileRef to share one. */
  tokenizer: TokenizerSpec | Uint8Array | FileRef;
  sizes: StageSizes;
  image: ImagePreprocess;
  text: TextPreprocess;
  calibration: Calibration;
  metrics?: Record<string, number>;
  lineage?: Partial<Lineage>;
  notes?: string;
  /**
   * ISO time for the manifest; default now. A build that must reproduce its
   * bytes (the shipped default model) gives a fixed one.
   */
  createdAt?: string;
}

const FILE_NAMES: Record<FileKey, string> = {
  vision: 'vision.onnx',
  encoder: 'encoder.onnx',
  head: 'head.onnx',
  tokenizer: 'tokenizer.json',
};

export async function writeBundle(dir: string, spec: BundleSpec): Promise<Manifest> {
  await mkdir(dir, { recursive: true });
  const files = {} as Record<FileKey, FileRef>;
  const put = async (key: FileKey, content: Uint8Array | FileRef) => {
    if (!(content instanceof Uint8Array)) {
      files[key] = { sha256: content.sha256 };
      return;
    }
    await writeFile(join(dir, FILE_NAMES[key]), content);
    files[key] = { path: FILE_NAMES[key], sha256: sha256Hex(content) };
  };
  await put('vision', spec.vision);
  await put('encoder', spec.encoder);
  await put('head', spec.head);
  const tok = spec.tokenizer;
  await put('tokenizer', tok instanceof Uint8Array || 'sha256' in tok ? tok : new TextEncoder().encode(JSON.stringify(tok)));
  const manifest: Manifest = {
    format: BUNDLE_FORMAT,
    name: spec.name,
    version: spec.version,
    parent: spec.parent ?? null,
    createdAt: spec.createdAt ?? new Date().toISOString(),
    files,
    io: contractIO(spec.image, spec.text, spec.sizes),
    preprocess: { image: spec.image, text: spec.text },
    calibration: spec.calibration,
    metrics: spec.metrics ?? {},
    lineage: { roundId: spec.lineage?.roundId ?? null, datasetDigest: spec.lineage?.datasetDigest ?? null, ...(spec.lineage?.base ? { base: spec.lineage.base } : {}) },
    ...(spec.notes ? { notes: spec.notes } : {}),
  };
  await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 2) + '\n');
  return manifest;
}
