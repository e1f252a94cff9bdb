/**
 * Datasets on disk: a data file (LLaMA-Factory JSON + dataset_info.json, or
 * DT2IT JSONL) and `images/<sha256>.png`, named by content so an image used
 * by many records (or rendered twice) is stored once.
 */
import { createHash } from 'node:crypto';
import { access, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatasetError } from './errors.js';
import { datasetInfoEntry, decodeRecords, encodeRecords, type DatasetFormat, type PreferenceRecord } from './formats.js';

/** PNG bytes by the keys records use in `images`: a map, or a stream of [key, bytes] (see streamPairImages). */
export type PngSource =
  | ReadonlyMap<string, Uint8Array>
  | Iterable<readonly [string, Uint8Array]>
  | AsyncIterable<readonly [string, Uint8Array]>;

export interface DatasetOptions {
  /** Data file stem and dataset_info.json key; default 'train'. */
  name?: string;
}

export interface WrittenDataset {
  /** The records as written: `images` are paths relative to the directory. */
  records: PreferenceRecord[];
  dataFile: string;
  /** Distinct image files written. */
  images: number;
}

const WRITE_CONCURRENCY = 16;

export function dataFileName(format: DatasetFormat, name = 'train'): string {
  return format === 'llamafactory' ? `${name}.json` : `${name}.jsonl`;
}

/** The dataset-relative path of a PNG. */
export function imagePath(png: Uint8Array): string {
  return `images/${createHash('sha256').update(png).digest('hex')}.png`;
}

/**
 * Writes `records` (whose `images` are keys into `pngs`) and their images.
 * Throws DatasetError: 'missing-image' for a key `pngs` lacks, 'invalid-field'
 * for a record the format cannot hold, 'io' when the file system refuses.
 */
export async function writeDataset(
  dir: string,
  records: readonly PreferenceRecord[],
  format: DatasetFormat,
  pngs: PngSource,
  opts: DatasetOptions = {},
): Promise<WrittenDataset> {
  const name = opts.name ?? 'train';
  const file = dataFileName(format, name);
  await io(file, () => mkdir(join(dir, 'images'), { recursive: true }));
  const pathByKey = await writeImages(dir, file, records, pngs);
  const written = records.map((r, i): PreferenceRecord => ({
    ...r,
    images: r.images.map((key, j) => {
      const p = pathByKey.get(key);
      if (p === undefined) throw new DatasetError('missing-image', file, i, `images[${j}]`, `a PNG for image key '${key}'`);
      return p;
    }),
  }));
  const text = encodeRecords(written, format);
  // Whatever is written must read back: check before it reaches the disk.
  const check = decodeRecords(text, format, file);
  if (check.errors.length > 0) throw check.errors[0] as DatasetError;
  await atomicWrite(join(dir, file), text, file);
  if (format === 'llamafactory') await writeDatasetInfo(dir, name, file);
  return { records: written, dataFile: file, images: new Set(pathByKey.values()).size };
}

export interface ReadDataset {
  records: PreferenceRecord[];
  /** Bad records (left out of `records`) and whole-file problems. */
  errors: DatasetError[];
}

/**
 * Reads a dataset back. Problems are values: each bad record gives a
 * DatasetError naming file, record index or line, and field; records that
 * point at missing image files are bad records too.
 */
export async function readDataset(dir: string, format: DatasetFormat, opts: DatasetOptions = {}): Promise<ReadDataset> {
  const name = opts.name ?? 'train';
  const file = dataFileName(format, name);
  let text: string;
  try {
    text = await readFile(join(dir, file), 'utf8');
  } catch (err) {
    return { records: [], errors: [new DatasetError('unreadable', file, undefined, undefined, 'a readable file', { cause: err })] };
  }
  const decoded = decodeRecords(text, format, file);
  const records: PreferenceRecord[] = [];
  const errors = [...decoded.errors];
  const exists = new Map<string, Promise<boolean>>();
  const present = (p: string): Promise<boolean> => {
    let e = exists.get(p);
    if (!e) {
      e = access(join(dir, p)).then(
        () => true,
        () => false,
      );
      exists.set(p, e);
    }
    return e;
  };
  for (let i = 0; i < decoded.records.length; i++) {
    const r = decoded.records[i] as PreferenceRecord;
    const missing = (await Promise.all(r.images.map(present))).indexOf(false);
    if (missing < 0) {
      records.push(r);
      continue;
    }
    const at = decoded.locations[i] as number;
    const location = format === 'llamafactory' ? `${file}[${at}]` : `${file}:${at}`;
    const field = format === 'llamafactory' ? `images[${missing}]` : r.images.length === 1 ? 'image_path' : `image_path[${missing}]`;
    errors.push(new DatasetError('missing-image', file, at, field, `an existing image file, '${r.images[missing]}' is missing`, { location }));
  }
  errors.sort((a, b) => (a.record ?? -1) - (b.record ?? -1));
  return { records, errors };
}

async function writeImages(dir: string, file: string, records: readonly PreferenceRecord[], pngs: PngSource): Promise<Map<string, string>> {
  const wanted = new Set(records.flatMap((r) => r.images));
  const pathByKey = new Map<string, string>();
  const written = new Set<string>();
  const inFlight = new Set<Promise<void>>();
  const put = async (key: string, png: Uint8Array): Promise<void> => {
    const p = imagePath(png);
    pathByKey.set(key, p);
    if (written.has(p)) return;
    written.add(p);
    const job = writeOnce(join(dir, p), png, file).finally(() => inFlight.delete(job));
    inFlight.add(job);
    if (inFlight.size >= WRITE_CONCURRENCY) await Promise.race(inFlight);
  };
  if (pngs instanceof Map) {
    // Only what the records use; a missing key is reported by the caller.
    for (const key of wanted) {
      const png = (pngs as ReadonlyMap<string, Uint8Array>).get(key);
      if (png) await put(key, png);
    }
  } else {
    for await (const [key, png] of pngs as AsyncIterable<readonly [string, Uint8Array]>) if (wanted.has(key)) await put(key, png);
  }
  await Promise.all(inFlight);
  return pathByKey;
}

/** Content-named files never change: an existing one is already right. */
async function writeOnce(path: string, data: Uint8Array, file: string): Promise<void> {
  try {
    await writeFile(path, data, { flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return;
    throw new DatasetError('io', file, undefined, undefined, `a writable file at ${path}`, { cause: err });
  }
}

async function atomicWrite(path: string, text: string, file: string): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  await io(file, async () => {
    await writeFile(tmp, text);
    await rename(tmp, path);
  });
}

async function writeDatasetInfo(dir: string, name: string, file: string): Promise<void> {
  const infoPath = join(dir, 'dataset_info.json');
  let info: Record<string, unknown> = {};
  try {
    info = JSON.parse(await readFile(infoPath, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new DatasetError('invalid-json', 'dataset_info.json', undefined, undefined, 'valid JSON to add the dataset to', { cause: err });
    }
  }
  if (typeof info !== 'object' || info === null || Array.isArray(info)) {
    throw new DatasetError('invalid-field', 'dataset_info.json', undefined, '(root)', 'an object of datasets');
  }
  info[name] = datasetInfoEntry(file);
  await atomicWrite(infoPath, `${JSON.stringify(info, null, 2)}\n`, 'dataset_info.json');
}

async function io<T>(file: string, f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof DatasetError) throw err;
    throw new DatasetError('io', file, undefined, undefined, 'a writable dataset directory', { cause: err });
  }
}
