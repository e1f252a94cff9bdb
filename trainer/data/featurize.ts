/**
 * Running a version's frozen stages (vision, encoder) over labeled pairs, the
 * same way the server does: preprocess each distinct image once, embed images
 * in batches, encode both responses of a pair against the same embeddings.
 * The head-only fit and the evaluation both start from these features.
 */
import { preprocessImage } from '../../src/model/image.js';
import { sha256Hex } from '../../src/model/digest.js';
import type { ModelRuntime } from '../../src/model/runtime.js';
import { encodeText } from '../../src/model/text.js';
import type { LabeledPair } from './labeled-pair.js';

export interface PairFeatures {
  d: number;
  n: number;
  /** [n, d] features of each pair's chosen and rejected response. */
  chosen: Float32Array;
  rejected: Float32Array;
}

/** Vision embeddings of every distinct image, keyed by sha256. */
export async function embedDistinctImages(rt: ModelRuntime, todo: Map<string, Uint8Array>, batch = 64): Promise<Map<string, Float32Array>> {
  const spec = rt.manifest.preprocess.image;
  const per = 3 * spec.size * spec.size;
  const keys = [...todo.keys()];
  const out = new Map<string, Float32Array>();
  for (let s = 0; s < keys.length; s += batch) {
    const chunk = keys.slice(s, s + batch);
    const pixels = new Float32Array(chunk.length * per);
    await Promise.all(chunk.map(async (k, i) => {
      pixels.set(await preprocessImage(todo.get(k)!, spec, `image ${k.slice(0, 12)}`), i * per);
    }));
    const emb = await rt.embedImages(pixels, chunk.length);
    chunk.forEach((k, i) => out.set(k, emb.slice(i * rt.dv, (i + 1) * rt.dv)));
  }
  return out;
}

export async function featurizePairs(rt: ModelRuntime, pairs: LabeledPair[], batch = 256): Promise<PairFeatures> {
  const shas = pairs.map((p) => p.images.map(sha256Hex));
  const distinct = new Map<string, Uint8Array>();
  pairs.forEach((p, i) => p.images.forEach((img, j) => distinct.set(shas[i]![j]!, img)));
  const emb = await embedDistinctImages(rt, distinct);
  const d = rt.d;
  const n = pairs.length;
  const chosen = new Float32Array(n * d);
  const rejected = new Float32Array(n * d);
  const text = rt.manifest.preprocess.text;
  for (let s = 0; s < n; s += batch) {
    const chunk = pairs.slice(s, s + batch);
    const items = chunk.flatMap((p, i) => {
      const imageEmbeddings = shas[s + i]!.map((k) => emb.get(k)!);
      return [p.chosen, p.rejected].map((response) => {
        const t = encodeText(rt.tokenizer, text, { system: p.system, prompt: p.prompt, response });
        return { imageEmbeddings, promptIds: t.promptIds, responseIds: t.responseIds };
      });
    });
    const f = await rt.encode(items);
    chunk.forEach((_, i) => {
      chosen.set(f.subarray((2 * i) * d, (2 * i + 1) * d), (s + i) * d);
      rejected.set(f.subarray((2 * i + 1) * d, (2 * i + 2) * d), (s + i) * d);
    });
  }
  return { d, n, chosen, rejected };
}
