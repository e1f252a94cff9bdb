/**
 * Bundle contract v1: the typed manifest and its validation. A bundle is a
 * directory with `manifest.json` and the files it lists; see DESIGN.md, "The
 * model contract". The tensor names of each stage are fixed by the contract so
 * the runtime can wire stages together without per-model code; the manifest
 * declares their shapes, and the loader checks the ONNX files against it.
 */
import { readFile } from 'node:fs/promises';
import { ManifestError } from './errors.js';
import { JsonReader } from './validate.js';

export const BUNDLE_FORMAT = 'mrm-bundle/v1';
export const MANIFEST_FILE = 'manifest.json';

export const STAGES = ['vision', 'encoder', 'head'] as const;
export type Stage = (typeof STAGES)[number];
export const FILE_KEYS = [...STAGES, 'tokenizer'] as const;
export type FileKey = (typeof FILE_KEYS)[number];
/**
 * An optional file no server reads: the PyTorch weights a learned bundle was
 * exported from (trainer/torch), which a 'full' round fine-tunes. Named in
 * `files` with its sha256 like the served files, so it travels with the
 * bundle and the registry copies it; loaders that only know FILE_KEYS (all
 * of bundle v1's) ignore it.
 */
export const TORCH_KEY = 'torch';
export type AnyFileKey = FileKey | typeof TORCH_KEY;

/** Tensor names each stage must have, in order. */
export const CONTRACT_IO = {
  vision: { inputs: ['pixels'], outputs: ['embedding'] },
  encoder: { inputs: ['image_embeddings', 'image_mask', 'prompt_ids', 'response_ids'], outputs: ['features'] },
  head: { inputs: ['features'], outputs: ['rewards'] },
} as const satisfies Record<Stage, { inputs: readonly string[]; outputs: readonly string[] }>;

export type DType = 'float32' | 'int64';
/** A dimension: a fixed size, or a symbolic name (the batch dimension `N`). */
export type Dim = number | string;

export interface TensorSpec {
  name: string;
  dtype: DType;
  shape: Dim[];
}

export interface StageIO {
  inputs: TensorSpec[];
  outputs: TensorSpec[];
}

/**
 * A file of the bundle. `path` is relative to the bundle directory; a version
 * that shares a file with its parent (head-only rounds) omits `path` and the
 * registry resolves the file by its sha256 along the parent chain.
 */
export interface FileRef {
  path?: string;
  sha256: string;
}

export interface ImagePreprocess {
  /** Square side the image is resized to. */
  size: number;
  channelOrder: 'rgb' | 'bgr';
  /** Per-channel mean and std applied to pixel values scaled to [0, 1]. */
  mean: [number, number, number];
  std: [number, number, number];
  /** Images per item the encoder takes (its image_mask width). */
  maxImages: number;
  /** Decoded pixel count above which an image is refused before decoding. */
  maxPixels: number;
}

export interface TextPreprocess {
  /** `{system}` and `{prompt}` are replaced; an absent system prompt is empty. */
  promptTemplate: string;
  /** `{response}` (and optionally `{reference}`) are replaced. */
  responseTemplate: string;
  maxPromptTokens: number;
  maxResponseTokens: number;
}

export interface Calibration {
  /** Mean and std of the raw reward on the reference set. */
  mean: number;
  std: number;
  referenceSet: string;
  n: number;
}

export interface Lineage {
  roundId: string | null;
  datasetDigest: string | null;
  /** The bundle whose frozen stages a head-only fit (mrm fit) reused; absent for bundles made otherwise. */
  base?: { name: string; version: number };
}

export interface Manifest {
  format: typeof BUNDLE_FORMAT;
  name: string;
  version: number;
  parent: number | null;
  createdAt: string;
  files: Record<FileKey, FileRef> & { [TORCH_KEY]?: FileRef };
  io: Record<Stage, StageIO>;
  preprocess: { image: ImagePreprocess; text: TextPreprocess };
  calibration: Calibration;
  /** Gate metrics (accuracy per slice, ECE, ...) of this version. */
  metrics: Record<string, number>;
  lineage: Lineage;
  /** Free-form description of how the version was made. */
  notes?: string;
}

const SHA256 = /^[0-9a-f]{64}$/;
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

function readDim(r: JsonReader): Dim {
  if (typeof r.value === 'string') return r.string({ pattern: /^[A-Za-z_][A-Za-z0-9_]*$/ });
  return r.number({ integer: true, min: 1 });
}

function readTensor(r: JsonReader): TensorSpec {
  return {
    name: r.get('name').string({ nonEmpty: true }),
    dtype: r.get('dtype').string({ oneOf: ['float32', 'int64'] }) as DType,
    shape: r.get('shape').array({ minLength: 1 }).map(readDim),
  };
}

function readStageIO(r: JsonReader, stage: Stage): StageIO {
  const want = CONTRACT_IO[stage];
  const io = {
    inputs: r.get('inputs').array({ length: want.inputs.length }).map(readTensor),
    outputs: r.get('outputs').array({ length: want.outputs.length }).map(readTensor),
  };
  io.inputs.forEach((t, i) => {
    if (t.name !== want.inputs[i]) r.get('inputs').array()[i]!.get('name').fail(`'${want.inputs[i]}' (contract v1), got '${t.name}'`);
  });
  io.outputs.forEach((t, i) => {
    if (t.name !== want.outputs[i]) r.get('outputs').array()[i]!.get('name').fail(`'${want.outputs[i]}' (contract v1), got '${t.name}'`);
  });
  return io;
}

function readFileRef(r: JsonReader): FileRef {
  const ref: FileRef = { sha256: r.get('sha256').string({ pattern: SHA256 }) };
  if (r.has('path')) {
    const p = r.get('path').string({ nonEmpty: true });
    if (p.includes('..') || p.startsWith('/')) r.get('path').fail('a path inside the bundle directory');
    ref.path = p;
  }
  return ref;
}

function readTriple(r: JsonReader, opts: { positive?: boolean } = {}): [number, number, number] {
  const [a, b, c] = r.array({ length: 3 }).map((x) => x.number(opts));
  return [a!, b!, c!];
}

/** Parse and validate a manifest object; `file` names it in errors. */
export function parseManifest(value: unknown, file: string): Manifest {
  const r = JsonReader.root(file, value);
  const format = r.get('format').string();
  if (format !== BUNDLE_FORMAT) r.get('format').fail(`'${BUNDLE_FORMAT}', got '${format}'`);

  const files = {} as Manifest['files'];
  for (const key of FILE_KEYS) files[key] = readFileRef(r.get('files').get(key));
  if (r.get('files').has(TORCH_KEY)) files[TORCH_KEY] = readFileRef(r.get('files').get(TORCH_KEY));

  const io = {} as Record<Stage, StageIO>;
  for (const stage of STAGES) io[stage] = readStageIO(r.get('io').get(stage), stage);

  const img = r.get('preprocess').get('image');
  const image: ImagePreprocess = {
    size: img.get('size').number({ integer: true, min: 8, max: 4096 }),
    channelOrder: img.get('channelOrder').string({ oneOf: ['rgb', 'bgr'] }) as 'rgb' | 'bgr',
    mean: readTriple(img.get('mean')),
    std: readTriple(img.get('std'), { positive: true }),
    maxImages: img.get('maxImages').number({ integer: true, min: 1, max: 64 }),
    maxPixels: img.get('maxPixels').number({ integer: true, min: 1 }),
  };
  const txt = r.get('preprocess').get('text');
  const text: TextPreprocess = {
    promptTemplate: txt.get('promptTemplate').string({ nonEmpty: true }),
    responseTemplate: txt.get('responseTemplate').string({ nonEmpty: true }),
    maxPromptTokens: txt.get('maxPromptTokens').number({ integer: true, min: 1, max: 65536 }),
    maxResponseTokens: txt.get('maxResponseTokens').number({ integer: true, min: 1, max: 65536 }),
  };
  if (!text.promptTemplate.includes('{prompt}')) txt.get('promptTemplate').fail("a template containing '{prompt}'");
  if (!text.responseTemplate.includes('{response}')) txt.get('responseTemplate').fail("a template containing '{response}'");

  const cal = r.get('calibration');
  const calibration: Calibration = {
    mean: cal.get('mean').number(),
    std: cal.get('std').number({ positive: true }),
    referenceSet: cal.get('referenceSet').string(),
    n: cal.get('n').number({ integer: true, min: 0 }),
  };

  const metrics: Record<string, number> = {};
  for (const [k, v] of r.opt('metrics', (m) => m.entries(), [])) metrics[k] = v.number();

  const lin = r.get('lineage');
  const lineage: Lineage = {
    roundId: lin.opt('roundId', (x) => x.string(), null),
    datasetDigest: lin.opt('datasetDigest', (x) => x.string(), null),
  };
  if (lin.has('base')) {
    const b = lin.get('base');
    lineage.base = { name: b.get('name').string({ pattern: NAME }), version: b.get('version').number({ integer: true, min: 1 }) };
  }

  const manifest: Manifest = {
    format: BUNDLE_FORMAT,
    name: r.get('name').string({ pattern: NAME }),
    version: r.get('version').number({ integer: true, min: 1 }),
    parent: r.opt('parent', (p) => p.number({ integer: true, min: 1 }), null),
    createdAt: r.get('createdAt').string({ nonEmpty: true }),
    files,
    io,
    preprocess: { image, text },
    calibration,
    metrics,
    lineage,
  };
  if (r.has('notes')) manifest.notes = r.get('notes').string();
  checkConsistency(manifest, r);
  return manifest;
}

/** Shapes that must agree across stages and with the preprocessing. */
function checkConsistency(m: Manifest, r: JsonReader): void {
  const at = (stage: Stage, dir: 'inputs' | 'outputs', i: number) =>
    r.get('io').get(stage).get(dir).array()[i]!.get('shape');
  const expectShape = (stage: Stage, dir: 'inputs' | 'outputs', i: number, want: Dim[], why: string) => {
    const got = m.io[stage][dir][i]!.shape;
    const ok = got.length === want.length && got.every((d, j) => typeof want[j] === 'string' ? typeof d === 'string' : d === want[j]);
    if (!ok) at(stage, dir, i).fail(`${fmtShape(want)} (${why}), got ${fmtShape(got)}`);
  };
  const { size, maxImages } = m.preprocess.image;
  const { maxPromptTokens, maxResponseTokens } = m.preprocess.text;
  expectShape('vision', 'inputs', 0, ['N', 3, size, size], 'preprocess.image.size');
  const dv = m.io.vision.outputs[0]!.shape[1];
  if (m.io.vision.outputs[0]!.shape.length !== 2 || typeof dv !== 'number') return at('vision', 'outputs', 0).fail('[N, Dv] with a fixed Dv');
  expectShape('encoder', 'inputs', 0, ['N', maxImages, dv], 'maxImages and the vision embedding size');
  expectShape('encoder', 'inputs', 1, ['N', maxImages], 'preprocess.image.maxImages');
  expectShape('encoder', 'inputs', 2, ['N', maxPromptTokens], 'preprocess.text.maxPromptTokens');
  expectShape('encoder', 'inputs', 3, ['N', maxResponseTokens], 'preprocess.text.maxResponseTokens');
  const d = m.io.encoder.outputs[0]!.shape[1];
  if (m.io.encoder.outputs[0]!.shape.length !== 2 || typeof d !== 'number') return at('encoder', 'outputs', 0).fail('[N, D] with a fixed D');
  expectShape('head', 'inputs', 0, ['N', d], 'the encoder feature size');
  const k = m.io.head.outputs[0]!.shape[1];
  if (m.io.head.outputs[0]!.shape.length !== 2 || typeof k !== 'number') at('head', 'outputs', 0).fail('[N, K] with a fixed K >= 1');
  const dtypes: [Stage, 'inputs' | 'outputs', number, DType][] = [
    ['vision', 'inputs', 0, 'float32'], ['vision', 'outputs', 0, 'float32'],
    ['encoder', 'inputs', 0, 'float32'], ['encoder', 'inputs', 1, 'float32'],
    ['encoder', 'inputs', 2, 'int64'], ['encoder', 'inputs', 3, 'int64'],
    ['encoder', 'outputs', 0, 'float32'], ['head', 'inputs', 0, 'float32'], ['head', 'outputs', 0, 'float32'],
  ];
  for (const [stage, dir, i, dtype] of dtypes) {
    if (m.io[stage][dir][i]!.dtype !== dtype) {
      r.get('io').get(stage).get(dir).array()[i]!.get('dtype').fail(`'${dtype}' (contract v1)`);
    }
  }
}

export function fmtShape(shape: readonly Dim[]): string {
  return `[${shape.join(', ')}]`;
}

/** Sizes a runtime needs, derived once from a validated manifest. */
export function dims(m: Manifest): { dv: number; d: number; k: number } {
  return {
    dv: m.io.vision.outputs[0]!.shape[1] as number,
    d: m.io.encoder.outputs[0]!.shape[1] as number,
    k: m.io.head.outputs[0]!.shape[1] as number,
  };
}

export async function readManifest(path: string): Promise<Manifest> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    throw new ManifestError('unreadable', path, '', 'a readable file', { cause });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    throw new ManifestError('invalid-json', path, '', `valid JSON (${(cause as Error).message})`, { cause });
  }
  return parseManifest(value, path);
}
