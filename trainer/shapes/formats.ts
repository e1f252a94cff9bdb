/**
 * Preference records and their two file formats, as pure functions between
 * records and file text (dataset.ts does the files):
 *
 * - LLaMA-Factory ranking data (sharegpt): a JSON array of
 *   {conversations: [{from: 'human', value}], chosen: {from: 'gpt', value},
 *   rejected: {...}, images, system?}, `<image>` placeholders in the human turn
 *   (one per image, in front, unless the prompt already places them);
 * - DT2IT JSONL: {image_path, question, chosen, rejected} per line, image_path
 *   a string for one image and an array otherwise.
 *
 * Ground truth rides along in an `mrm` object ({id, truth, slice, meta}), so
 * a noisy label and the truth stay together through any export.
 */
import { ManifestError } from '../../src/model/errors.js';
import { JsonReader } from '../../src/model/validate.js';
import type { Annotation } from './annotators.js';
import { DatasetError } from './errors.js';
import type { PairSample } from './pair-sample.js';
import { imageKeys } from './render-pairs.js';

export const DATASET_FORMATS = ['llamafactory', 'dt2it'] as const;
export type DatasetFormat = (typeof DATASET_FORMATS)[number];

export const IMAGE_TOKEN = '<image>';

export interface PreferenceRecord {
  id: string;
  /** Paths relative to the dataset directory (before writing: keys of the PNG source). */
  images: string[];
  system?: string;
  prompt: string;
  chosen: string;
  rejected: string;
  /** Which of chosen/rejected is really the better one, when known. */
  truth?: 'chosen' | 'rejected';
  slice?: string;
  /** Training weight of the pair (a round's style/length balance); 1 when absent. */
  weight?: number;
  meta?: Record<string, unknown>;
}

/**
 * The record for a sample as annotated: chosen = the label's pick. Ties carry
 * no preference and give null. `images` defaults to the sample's image keys.
 */
export function toPreferenceRecord(sample: PairSample, annotation: Annotation, images: string[] = imageKeys(sample)): PreferenceRecord | null {
  if (annotation.label === 'tie') return null;
  const [a, b] = sample.responses;
  const chosenIsA = annotation.label === 'a';
  return {
    id: sample.id,
    images,
    ...(sample.system !== undefined ? { system: sample.system } : {}),
    prompt: sample.prompt,
    chosen: chosenIsA ? a : b,
    rejected: chosenIsA ? b : a,
    truth: annotation.label === annotation.truth ? 'chosen' : 'rejected',
    slice: sample.slice,
    meta: { ...sample.meta, ...(sample.reference !== undefined ? { reference: sample.reference } : {}) },
  };
}

/** The extras object. `meta` is JSON text: loaders that infer a table schema (Arrow) choke on free-form nested objects. */
interface MrmExtras {
  id: string;
  truth?: 'chosen' | 'rejected';
  slice?: string;
  weight?: number;
  meta?: string;
  /** DT2IT lines have no system field of their own. */
  system?: string;
}

function extras(r: PreferenceRecord, withSystem: boolean): MrmExtras {
  return {
    id: r.id,
    ...(r.truth !== undefined ? { truth: r.truth } : {}),
    ...(r.slice !== undefined ? { slice: r.slice } : {}),
    ...(r.weight !== undefined ? { weight: r.weight } : {}),
    ...(r.meta !== undefined ? { meta: JSON.stringify(r.meta) } : {}),
    ...(withSystem && r.system !== undefined ? { system: r.system } : {}),
  };
}

export function toLlamaFactory(r: PreferenceRecord): Record<string, unknown> {
  const value = r.prompt.includes(IMAGE_TOKEN) ? r.prompt : IMAGE_TOKEN.repeat(r.images.length) + r.prompt;
  return {
    conversations: [{ from: 'human', value }],
    chosen: { from: 'gpt', value: r.chosen },
    rejected: { from: 'gpt', value: r.rejected },
    images: r.images,
    ...(r.system !== undefined ? { system: r.system } : {}),
    mrm: extras(r, false),
  };
}

export function toDt2it(r: PreferenceRecord): Record<string, unknown> {
  return {
    image_path: r.images.length === 1 ? r.images[0] : r.images,
    question: r.prompt,
    chosen: r.chosen,
    rejected: r.rejected,
    mrm: extras(r, true),
  };
}

/** The `dataset_info.json` entry LLaMA-Factory needs for a ranking dataset in `fileName`. */
export function datasetInfoEntry(fileName: string): Record<string, unknown> {
  return {
    file_name: fileName,
    formatting: 'sharegpt',
    ranking: true,
    columns: { messages: 'conversations', chosen: 'chosen', rejected: 'rejected', images: 'images', system: 'system' },
  };
}

export function encodeRecords(records: readonly PreferenceRecord[], format: DatasetFormat): string {
  if (format === 'llamafactory') return `${JSON.stringify(records.map(toLlamaFactory), null, 2)}\n`;
  return records.map((r) => `${JSON.stringify(toDt2it(r))}\n`).join('');
}

export interface DecodeResult {
  records: PreferenceRecord[];
  /** Where each record was: its index in the JSON array, or its 1-based JSONL line. */
  locations: number[];
  /** One per bad record (or one for the whole file); bad records are left out of `records`. */
  errors: DatasetError[];
}

/** Records from file text; `file` names the file in errors and gives imported records without ids theirs. */
export function decodeRecords(text: string, format: DatasetFormat, file: string): DecodeResult {
  const records: PreferenceRecord[] = [];
  const locations: number[] = [];
  const errors: DatasetError[] = [];
  const stem = file.replace(/\.[^.]*$/, '');
  if (format === 'llamafactory') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (err) {
      return { records, locations, errors: [new DatasetError('invalid-json', file, undefined, undefined, `valid JSON (${(err as Error).message})`, { cause: err })] };
    }
    if (!Array.isArray(parsed)) return { records, locations, errors: [new DatasetError('invalid-field', file, undefined, '(root)', 'a JSON array of records')] };
    parsed.forEach((value, i) => {
      const r = readRecord(fromLlamaFactory, value, file, i, `${file}[${i}]`, `${stem}-${i}`);
      if (r instanceof DatasetError) errors.push(r);
      else {
        records.push(r);
        locations.push(i);
      }
    });
    return { records, locations, errors };
  }
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    const lineNo = i + 1;
    if (line.trim() === '') return;
    const location = `${file}:${lineNo}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (err) {
      errors.push(new DatasetError('invalid-json', file, lineNo, undefined, `valid JSON (${(err as Error).message})`, { cause: err, location }));
      return;
    }
    const r = readRecord(fromDt2it, value, file, lineNo, location, `${stem}-${lineNo}`);
    if (r instanceof DatasetError) errors.push(r);
    else {
      records.push(r);
      locations.push(lineNo);
    }
  });
  return { records, locations, errors };
}

type RecordReader = (r: JsonReader, fallbackId: string) => PreferenceRecord;

/** Runs a reader; the JsonReader's thrown ManifestError becomes this record's DatasetError. */
function readRecord(read: RecordReader, value: unknown, file: string, record: number, location: string, fallbackId: string): PreferenceRecord | DatasetError {
  try {
    return read(JsonReader.root(location, value), fallbackId);
  } catch (err) {
    if (err instanceof ManifestError) return new DatasetError('invalid-field', file, record, err.field, err.expected, { cause: err, location });
    throw err;
  }
}

function fromLlamaFactory(r: JsonReader, fallbackId: string): PreferenceRecord {
  r.object();
  const turns = r.get('conversations').array();
  if (turns.length !== 1) r.get('conversations').fail(`a single human turn, got ${turns.length} turns`);
  const turn = turns[0] as JsonReader;
  turn.get('from').string({ oneOf: ['human'] });
  const value = text(turn.get('value'));
  const images = r.has('images') ? r.get('images').array().map(path) : [];
  const placeholders = value.split(IMAGE_TOKEN).length - 1;
  if (placeholders !== images.length) {
    turn.get('value').fail(`${images.length} '${IMAGE_TOKEN}' placeholder(s), one per image, got ${placeholders}`);
  }
  const lead = IMAGE_TOKEN.repeat(images.length);
  const rest = value.slice(lead.length);
  const prompt = value.startsWith(lead) && !rest.includes(IMAGE_TOKEN) && rest.length > 0 ? rest : value;
  const reply = (key: string): string => {
    const m = r.get(key);
    m.object();
    m.get('from').string({ oneOf: ['gpt'] });
    return text(m.get('value'));
  };
  const system = r.has('system') ? r.get('system').string() : undefined;
  return assemble(r, fallbackId, { images, system, prompt, chosen: reply('chosen'), rejected: reply('rejected') });
}

function fromDt2it(r: JsonReader, fallbackId: string): PreferenceRecord {
  r.object();
  const ip = r.get('image_path');
  const images = Array.isArray(ip.value) ? ip.array().map(path) : [path(ip)];
  const mrm = r.has('mrm') ? r.get('mrm') : undefined;
  const system = mrm?.has('system') ? mrm.get('system').string() : undefined;
  return assemble(r, fallbackId, { images, system, prompt: text(r.get('question')), chosen: text(r.get('chosen')), rejected: text(r.get('rejected')) });
}

function assemble(
  r: JsonReader,
  fallbackId: string,
  core: { images: string[]; system: string | undefined; prompt: string; chosen: string; rejected: string },
): PreferenceRecord {
  const out: PreferenceRecord = { id: fallbackId, images: core.images, prompt: core.prompt, chosen: core.chosen, rejected: core.rejected };
  if (core.system !== undefined) out.system = core.system;
  if (!r.has('mrm')) return out;
  const m = r.get('mrm');
  m.object();
  out.id = text(m.get('id'));
  if (m.has('truth')) out.truth = m.get('truth').string({ oneOf: ['chosen', 'rejected'] }) as 'chosen' | 'rejected';
  if (m.has('slice')) out.slice = text(m.get('slice'));
  if (m.has('weight')) out.weight = m.get('weight').number({ positive: true });
  if (m.has('meta')) {
    const f = m.get('meta');
    let meta: unknown;
    try {
      meta = JSON.parse(f.string());
    } catch {
      f.fail('JSON text of an object');
    }
    if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) f.fail('JSON text of an object');
    out.meta = meta as Record<string, unknown>;
  }
  return out;
}

/** A non-empty string; says when the field is missing rather than mistyped. */
function text(f: JsonReader): string {
  const v = f.value;
  if (v === undefined) f.fail('a non-empty string, but the field is missing');
  if (typeof v !== 'string') f.fail(`a non-empty string, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
  if (v.length === 0) f.fail('a non-empty string');
  return v;
}

/** An image path that stays inside the dataset directory. */
function path(f: JsonReader): string {
  const p = text(f);
  if (p.startsWith('/') || p.includes('\\') || p.split('/').includes('..')) f.fail(`a relative path inside the dataset directory, got '${p}'`);
  return p;
}
