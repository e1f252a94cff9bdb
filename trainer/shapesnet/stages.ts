/**
 * The frozen part of the default model (ShapesNet): preprocessing settings,
 * tokenizer, vision and encoder graphs. Everything here is a pure function of
 * the code, so `npm run build:model` reproduces the same bytes; only the head
 * is fitted.
 */
import type { ImagePreprocess, TextPreprocess } from '../../src/model/manifest.js';
import { buildHeadOnnx } from '../../src/model/onnx/heads.js';
import type { TokenizerSpec } from '../../src/model/text.js';
import { writeBundle, type BundleSpec } from '../../src/model/write.js';
import { buildEncoderOnnx, ENCODER_D } from './encoder.js';
import { buildTokenizerSpec } from './lexicon.js';
import { buildVisionOnnx, VISION_DV } from './vision.js';

export const SHAPESNET_NAME = 'shapes-mrm';

export const SHAPESNET_IMAGE: ImagePreprocess = {
  // 56 px keeps a small shape about 4 px in radius: enough for the matched
  // filters to tell circles, squares and triangles apart (48 px was not), at
  // three quarters of the cost of 64 px.
  size: 56,
  channelOrder: 'rgb',
  mean: [0.5, 0.5, 0.5],
  std: [0.25, 0.25, 0.25],
  // Two images: the T2I reformulation compares two.
  maxImages: 2,
  maxPixels: 4096 * 4096,
};

export const SHAPESNET_TEXT: TextPreprocess = {
  promptTemplate: '{system}\n{prompt}',
  responseTemplate: '{response}',
  // A T2I prompt with a system prompt and a two-object caption is ~60 tokens.
  maxPromptTokens: 96,
  // Verbose answers with markdown run to ~90 tokens.
  maxResponseTokens: 160,
};

export interface FrozenStages {
  vision: Uint8Array;
  encoder: Uint8Array;
  tokenizer: TokenizerSpec;
}

export function buildFrozenStages(): FrozenStages {
  const tokenizer = buildTokenizerSpec();
  return {
    vision: buildVisionOnnx(SHAPESNET_IMAGE),
    encoder: buildEncoderOnnx(SHAPESNET_IMAGE, SHAPESNET_TEXT, tokenizer),
    tokenizer,
  };
}

/** A bundle of the frozen stages and a given head (bytes of head.onnx). */
export function shapesnetSpec(stages: FrozenStages, head: Uint8Array, k: number, rest: Partial<BundleSpec> = {}): BundleSpec {
  return {
    name: SHAPESNET_NAME,
    version: 1,
    ...stages,
    head,
    sizes: { dv: VISION_DV, d: ENCODER_D, k },
    image: SHAPESNET_IMAGE,
    text: SHAPESNET_TEXT,
    calibration: { mean: 0, std: 1, referenceSet: 'none', n: 0 },
    ...rest,
  };
}

/**
 * A bundle with a zero head: loads and warms up like any other, and lets the
 * trainer run the frozen stages through the real loader before any head exists.
 */
export async function writeFeatureBundle(dir: string, stages: FrozenStages): Promise<void> {
  const zero = buildHeadOnnx({ kind: 'linear', d: ENCODER_D, k: 1, w: new Float32Array(ENCODER_D), b: new Float32Array(1) });
  await writeBundle(dir, shapesnetSpec(stages, zero, 1, { notes: 'frozen stages with a zero head, for featurizing' }));
}
