/**
 * Features of a data set, cached on disk by what determines them: the frozen
 * stages' files and preprocessing, and the data set's content. Head-only fits
 * re-run on the same data (hyperparameters, curation rounds, ablations), and
 * featurizing is almost all of their time, so a re-fit reads the features
 * back instead of running vision and encoder again.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../../src/model/digest.js';
import type { ModelRuntime } from '../../src/model/runtime.js';
import { featurizePairs, type PairFeatures } from './featurize.js';
import { datasetDigest, type LabeledPair } from './labeled-pair.js';

/** The part of a version that decides its features (not its head). */
export function featureKey(rt: ModelRuntime, pairs: LabeledPair[]): string {
  const m = rt.manifest;
  const stages = JSON.stringify([m.files.vision.sha256, m.files.encoder.sha256, m.files.tokenizer.sha256, m.preprocess]);
  return sha256Hex(`${stages}\n${datasetDigest(pairs)}`);
}

export async function cachedFeatures(rt: ModelRuntime, pairs: LabeledPair[], dir: string | undefined): Promise<PairFeatures & { cached: boolean }> {
  if (!dir) return { ...(await featurizePairs(rt, pairs)), cached: false };
  const file = join(dir, `${featureKey(rt, pairs)}.f32`);
  const hit = await readFile(file).catch(() => null);
  if (hit && hit.byteLength === 8 * pairs.length * rt.d) {
    const all = new Float32Array(hit.buffer, hit.byteOffset, hit.byteLength / 4).slice();
    const half = pairs.length * rt.d;
    return { d: rt.d, n: pairs.length, chosen: all.subarray(0, half), rejected: all.subarray(half), cached: true };
  }
  const f = await featurizePairs(rt, pairs);
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, Buffer.concat([Buffer.from(f.chosen.buffer, f.chosen.byteOffset, f.chosen.byteLength), Buffer.from(f.rejected.buffer, f.rejected.byteOffset, f.rejected.byteLength)]));
  await rename(tmp, file);
  return { ...f, cached: false };
}
