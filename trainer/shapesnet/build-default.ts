/**
 * The shipped default model: ShapesNet's frozen stages and a head fitted on
 * oracle-labeled ShapesWorld pairs. Seeds are fixed so `npm run build:model`
 * rebuilds the same model; evaluation splits use other seeds.
 */
import { datasetDigest } from '../data/labeled-pair.js';
import { labeledShapesPairs } from '../data/shapes.js';
import { fitBundle, withTempDir, type FitBundleResult } from '../fit/fit-bundle.js';
import { sampleSplit } from '../shapes/pairs.js';
import { buildFrozenStages, SHAPESNET_NAME, writeFeatureBundle } from './stages.js';

export const DEFAULT_RECIPE = {
  trainSeed: 1,
  trainPairs: 8000,
  heldOutSeed: 2,
  heldOutPairs: 1000,
  fit: { kind: 'linear' as const, k: 5, seed: 1 },
  // Fixed (the first build's time) so a rebuild is byte-identical to the
  // shipped bundle, manifest included; test/trainer/default-model.test.ts
  // checks the frozen stages against it.
  createdAt: '2026-11-26T06:24:26.158Z',
};

export async function buildDefaultModel(out: string, recipe = DEFAULT_RECIPE): Promise<FitBundleResult> {
  const train = await labeledShapesPairs(sampleSplit(recipe.trainSeed, recipe.trainPairs));
  const heldOut = await labeledShapesPairs(sampleSplit(recipe.heldOutSeed, recipe.heldOutPairs));
  return withTempDir('shapesnet-', async (base) => {
    await writeFeatureBundle(base, buildFrozenStages());
    return fitBundle(train, {
      base,
      out,
      name: SHAPESNET_NAME,
      version: 1,
      fit: recipe.fit,
      heldOut,
      referenceSet: `shapesworld seed=${recipe.trainSeed} pairs=${recipe.trainPairs} (oracle labels)`,
      lineage: { datasetDigest: datasetDigest(train) },
      createdAt: recipe.createdAt,
      notes: `ShapesNet default model: fixed detector + grounding encoder, ${recipe.fit.kind} head (K=${recipe.fit.k}) fitted with Bradley-Terry on oracle labels; held-out metrics on seed ${recipe.heldOutSeed}`,
    });
  });
}
