/**
 * Rendering a split's images to PNG (each carrying its scene, scene-text.ts), on the calling thread or, with
 * `workers`, rasterizing on it while worker threads deflate earlier images
 * (deflate-pool.ts).
 *
 * `streamPairImages` is the way for big splits: it yields each PNG in split
 * order with a bounded number in flight, so a caller that writes them out
 * holds only a few at a time. (Holding 20,000 pairs' PNGs, about 600 MB, in
 * memory doubles the time in garbage collection alone.)
 */
import { DeflatePool, defaultDeflateWorkers } from './deflate-pool.js';
import type { PairSample } from './pair-sample.js';
import { assemblePng, encodePngSync, filterRows, PNG_DEFLATE_OPTIONS } from './png.js';
import { rasterize, type RasterOptions } from './raster.js';
import { sceneText } from './scene-text.js';

export interface RenderPairsOptions extends RasterOptions {
  /** Deflate worker threads; 0 encodes on the calling thread. Default: defaultDeflateWorkers(). */
  workers?: number;
}

/** The key of image `index` of pair `id`, as streamPairImages and renderPairImages name it. */
export function imageKey(id: string, index: number): string {
  return `${id}/${index}`;
}

/** The image keys of a pair, in prompt order. */
export function imageKeys(sample: PairSample): string[] {
  return sample.images.map((_, i) => imageKey(sample.id, i));
}

/** [imageKey, PNG bytes] for every image of `samples`, in split order. */
export async function* streamPairImages(
  samples: readonly PairSample[],
  opts: RenderPairsOptions = {},
): AsyncGenerator<[string, Buffer], void, undefined> {
  const workers = opts.workers ?? defaultDeflateWorkers();
  if (workers === 0) {
    for (const s of samples) {
      for (let i = 0; i < s.images.length; i++) yield [imageKey(s.id, i), encodePngSync(rasterize(s.images[i]!, opts), sceneText(s.images[i]!))];
    }
    return;
  }
  const pool = new DeflatePool(workers, PNG_DEFLATE_OPTIONS);
  const limit = 4 * workers;
  const queue: Promise<[string, Buffer]>[] = [];
  try {
    for (const s of samples) {
      for (let i = 0; i < s.images.length; i++) {
        const raster = rasterize(s.images[i]!, opts);
        const key = imageKey(s.id, i);
        const text = sceneText(s.images[i]!);
        const job = pool.deflate(filterRows(raster)).then((idat): [string, Buffer] => [key, assemblePng(raster, idat, text)]);
        // A rejection is observed when the job reaches the head of the queue.
        job.catch(() => undefined);
        queue.push(job);
        if (queue.length >= limit) yield await (queue.shift() as Promise<[string, Buffer]>);
      }
    }
    while (queue.length > 0) yield await (queue.shift() as Promise<[string, Buffer]>);
  } finally {
    await pool.close();
  }
}

/** Every PNG of `samples` in memory, keyed by imageKey; for small sets (see streamPairImages). */
export async function renderPairImages(samples: readonly PairSample[], opts: RenderPairsOptions = {}): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for await (const [key, png] of streamPairImages(samples, opts)) out.set(key, png);
  return out;
}
