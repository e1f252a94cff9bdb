/**
 * Data sets on disk as LabeledPairs: read the records (LLaMA-Factory or
 * DT2IT), load their image files. A data set with bad records is refused
 * whole, listing the first problems, rather than silently trained on in part.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readDataset } from '../shapes/dataset.js';
import type { DatasetFormat } from '../shapes/formats.js';
import type { LabeledPair } from './labeled-pair.js';

export class DatasetRefused extends Error {
  override readonly name = 'DatasetRefused';
  constructor(readonly dir: string, readonly problems: Error[]) {
    const shown = problems.slice(0, 5).map((e) => `  ${e.message}`).join('\n');
    const more = problems.length > 5 ? `\n  ... and ${problems.length - 5} more` : '';
    super(`${dir}: ${problems.length} bad record(s)\n${shown}${more}`, { cause: problems[0] });
  }
}

export async function loadDataset(dir: string, format: DatasetFormat): Promise<LabeledPair[]> {
  const { records, errors } = await readDataset(dir, format);
  if (errors.length > 0) throw new DatasetRefused(dir, errors);
  const cache = new Map<string, Promise<Uint8Array>>();
  const image = (p: string) => {
    let b = cache.get(p);
    if (!b) cache.set(p, (b = readFile(join(dir, p)).then((buf) => new Uint8Array(buf))));
    return b;
  };
  return Promise.all(records.map(async (r) => ({
    id: r.id,
    images: await Promise.all(r.images.map(image)),
    ...(r.system !== undefined ? { system: r.system } : {}),
    prompt: r.prompt,
    chosen: r.chosen,
    rejected: r.rejected,
    ...(r.truth ? { truth: r.truth } : {}),
    ...(r.slice ? { slice: r.slice } : {}),
  })));
}
