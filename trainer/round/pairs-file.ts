/**
 * Round pairs on disk, between steps: one JSON file for everything but the
 * features and image bytes, one float32 file for the features (fa then fb
 * per pair). Images are stored by reference, not copied: `log:<sha256>` for
 * an image in the pair log's store, an absolute path for an image of a data
 * set; `ImageStore` turns references back into bytes for the pairs a judge
 * must see, and only for those.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { LoggedImages } from '../../src/pairlog/images.js';
import type { RoundFolder } from '../../src/rounds/folder.js';
import type { RoundPair } from '../dt2it/round-pair.js';

/** A RoundPair whose images are still references (item.images empty until loaded). */
export type StoredPair = RoundPair & { imageRefs: string[] };

interface PairMeta extends Omit<StoredPair, 'fa' | 'fb' | 'item'> {
  item: Omit<StoredPair['item'], 'images'>;
}

export async function savePairs(folder: RoundFolder, name: string, pairs: readonly StoredPair[]): Promise<void> {
  const d = pairs[0]?.fa.length ?? 0;
  const feats = new Float32Array(pairs.length * 2 * d);
  const meta: PairMeta[] = pairs.map((p, i) => {
    feats.set(p.fa, 2 * i * d);
    feats.set(p.fb, (2 * i + 1) * d);
    const { fa: _a, fb: _b, item, ...rest } = p;
    const { images: _i, ...text } = item;
    return { ...rest, item: text };
  });
  await writeFile(folder.path(`${name}.features.f32`), new Uint8Array(feats.buffer));
  await folder.writeJson(`${name}.pairs.json`, { d, pairs: meta });
}

export async function loadPairs(folder: RoundFolder, name: string): Promise<StoredPair[]> {
  const { d, pairs } = await folder.readJson<{ d: number; pairs: PairMeta[] }>(`${name}.pairs.json`);
  const buf = await readFile(folder.path(`${name}.features.f32`));
  const feats = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  if (feats.length !== pairs.length * 2 * d) throw new Error(`${name}: ${feats.length} features for ${pairs.length} pairs of dimension ${d}`);
  return pairs.map((m, i) => ({
    ...m,
    item: { ...m.item, images: [] },
    fa: feats.subarray(2 * i * d, (2 * i + 1) * d),
    fb: feats.subarray((2 * i + 1) * d, (2 * i + 2) * d),
  }));
}

export class ImageStore {
  private readonly cache = new Map<string, Promise<Uint8Array>>();
  private readonly logged: LoggedImages;

  constructor(stateDir: string) {
    this.logged = new LoggedImages(stateDir);
  }

  bytes(ref: string): Promise<Uint8Array> {
    let p = this.cache.get(ref);
    if (!p) {
      p = (ref.startsWith('log:') ? this.logged.get(ref.slice(4)) : readFile(ref)).then((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
      this.cache.set(ref, p);
    }
    return p;
  }

  /** Drops the bytes read so far (a step reads a chunk, judges it, moves on). */
  forget(): void {
    this.cache.clear();
  }
}
