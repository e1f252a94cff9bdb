/**
 * Encoder items -> the encoder's four input tensors' data, packed once.
 *
 * The server packs on its event loop and moves the four buffers to the model
 * worker (a transfer, no copy). Posting the items themselves cost a
 * structured clone of every embedding and of every token id as a boxed
 * number, then the worker packed them anyway: 13% of the event loop's self
 * time at 64 single items in flight was postMessage.
 */
import { endianness } from 'node:os';

/** One item ready for the encoder: embeddings of its images and its token ids. */
export interface EncoderItem {
  /** One [Dv] embedding per image, at most maxImages. */
  imageEmbeddings: Float32Array[];
  promptIds: number[];
  responseIds: number[];
}

export interface PackShape {
  maxImages: number;
  dv: number;
  /** Token caps: maxPromptTokens, maxResponseTokens. */
  tp: number;
  tr: number;
}

/** A batch of B items as the encoder takes it; each array owns its buffer (transferable). */
export interface PackedItems {
  b: number;
  /** [B, maxImages, Dv], zero where an item has fewer images. */
  emb: Float32Array;
  /** [B, maxImages]: 1 for each image an item has. */
  mask: Float32Array;
  /** [B, tp] and [B, tr], zero-padded, cut at the caps. */
  prompt: BigInt64Array;
  response: BigInt64Array;
}

// Token ids are small non-negative integers: on a little-endian machine an
// int64 holding one is its int32 in the low word and 0 in the high word, so
// ids are written through an Int32Array view rather than one BigInt each.
const LE = endianness() === 'LE';
const I32_MAX = 0x7fffffff;

function putIds(into: BigInt64Array, words: Int32Array, at: number, ids: number[], cap: number): void {
  const n = Math.min(ids.length, cap);
  for (let j = 0; j < n; j++) {
    const id = ids[j]!;
    if (LE && id >= 0 && id <= I32_MAX) words[2 * (at + j)] = id;
    else into[at + j] = BigInt(id);
  }
}

export function packItems(items: EncoderItem[], s: PackShape): PackedItems {
  const b = items.length;
  const { maxImages, dv, tp, tr } = s;
  const emb = new Float32Array(b * maxImages * dv);
  const mask = new Float32Array(b * maxImages);
  const prompt = new BigInt64Array(b * tp);
  const response = new BigInt64Array(b * tr);
  const pw = new Int32Array(prompt.buffer);
  const rw = new Int32Array(response.buffer);
  for (let i = 0; i < b; i++) {
    const it = items[i]!;
    const n = Math.min(it.imageEmbeddings.length, maxImages);
    for (let j = 0; j < n; j++) {
      emb.set(it.imageEmbeddings[j]!, (i * maxImages + j) * dv);
      mask[i * maxImages + j] = 1;
    }
    putIds(prompt, pw, i * tp, it.promptIds, tp);
    putIds(response, rw, i * tr, it.responseIds, tr);
  }
  return { b, emb, mask, prompt, response };
}
