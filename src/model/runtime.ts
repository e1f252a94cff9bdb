/**
 * The three ONNX stages of a loaded version, and the arithmetic that turns
 * head outputs into served numbers (mean reward, ensemble spread, calibrated
 * reward). Knows nothing of files, caches or batching.
 */
import * as ort from 'onnxruntime-node';
import { dims, type Manifest, type Stage } from './manifest.js';
import { packItems, type EncoderItem, type PackedItems, type PackShape } from './pack.js';
import type { Tokenizer } from './text.js';

export type { EncoderItem, PackedItems } from './pack.js';
export type Sessions = Record<Stage, ort.InferenceSession>;

export interface HeadOutput {
  /** Mean over the K heads, one per item. */
  rewards: Float32Array;
  /** Standard deviation over the K heads, one per item. */
  spread: Float32Array;
  /** Raw [B, K] head outputs. */
  heads: Float32Array;
}

export class ModelRuntime {
  readonly dv: number;
  readonly d: number;
  readonly k: number;

  constructor(
    readonly manifest: Manifest,
    readonly tokenizer: Tokenizer,
    private readonly sessions: Sessions,
  ) {
    ({ dv: this.dv, d: this.d, k: this.k } = dims(manifest));
  }

  get version(): number {
    return this.manifest.version;
  }

  /** pixels: n preprocessed images, [n, 3, S, S] -> [n, Dv]. */
  async embedImages(pixels: Float32Array, n: number): Promise<Float32Array> {
    const s = this.manifest.preprocess.image.size;
    const out = await this.sessions.vision.run({ pixels: new ort.Tensor('float32', pixels, [n, 3, s, s]) });
    return out.embedding!.data as Float32Array;
  }

  /** How this version's encoder takes a batch (packItems). */
  get packShape(): PackShape {
    return packShapeOf(this.manifest, this.dv);
  }

  /** Items -> features [B, D]. */
  async encode(items: EncoderItem[]): Promise<Float32Array> {
    return this.encodePacked(packItems(items, this.packShape));
  }

  /** Packed items (packItems with this version's packShape) -> features [B, D]. */
  async encodePacked(p: PackedItems): Promise<Float32Array> {
    const { maxImages, dv, tp, tr } = this.packShape;
    const { b } = p;
    const out = await this.sessions.encoder.run({
      image_embeddings: new ort.Tensor('float32', p.emb, [b, maxImages, dv]),
      image_mask: new ort.Tensor('float32', p.mask, [b, maxImages]),
      prompt_ids: new ort.Tensor('int64', p.prompt, [b, tp]),
      response_ids: new ort.Tensor('int64', p.response, [b, tr]),
    });
    return out.features!.data as Float32Array;
  }

  /** Features [B, D] -> rewards. */
  async head(features: Float32Array, b: number): Promise<HeadOutput> {
    return runHead(this.sessions.head, features, b, this.d, this.k);
  }

  async score(items: EncoderItem[]): Promise<HeadOutput & { features: Float32Array }> {
    return this.scorePacked(packItems(items, this.packShape));
  }

  async scorePacked(p: PackedItems): Promise<HeadOutput & { features: Float32Array }> {
    const features = await this.encodePacked(p);
    return { ...(await this.head(features, p.b)), features };
  }

  /** Reward on the version's calibrated scale: z-score against its reference set. */
  normalize(reward: number): number {
    const { mean, std } = this.manifest.calibration;
    return (reward - mean) / std;
  }

  async release(): Promise<void> {
    await Promise.all(Object.values(this.sessions).map((s) => s.release()));
  }
}

/**
 * A head session on features [B, D]: what a server answers. Also how the
 * trainer scores a head it has just fitted, before any bundle loads it.
 */
export async function runHead(session: ort.InferenceSession, features: Float32Array, b: number, d: number, k: number): Promise<HeadOutput> {
  const out = await session.run({ features: new ort.Tensor('float32', features, [b, d]) });
  return summarizeHeads(out.rewards!.data as Float32Array, b, k);
}

export function summarizeHeads(heads: Float32Array, b: number, k: number): HeadOutput {
  const rewards = new Float32Array(b);
  const spread = new Float32Array(b);
  for (let i = 0; i < b; i++) {
    let sum = 0;
    for (let j = 0; j < k; j++) sum += heads[i * k + j]!;
    const mean = sum / k;
    let v = 0;
    for (let j = 0; j < k; j++) v += (heads[i * k + j]! - mean) ** 2;
    rewards[i] = mean;
    spread[i] = Math.sqrt(v / k);
  }
  return { rewards, spread, heads };
}

/** A manifest's encoder input shape, for packItems (the server packs on its main thread with this). */
export function packShapeOf(m: Manifest, dv: number): PackShape {
  return { maxImages: m.preprocess.image.maxImages, dv, tp: m.preprocess.text.maxPromptTokens, tr: m.preprocess.text.maxResponseTokens };
}
