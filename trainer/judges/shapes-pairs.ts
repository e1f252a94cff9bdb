/** ShapesWorld samples as pairs to judge: rendered PNGs (each carrying its scene), prompt, reference, both responses. */
import type { PairSample } from '../shapes/pair-sample.js';
import { imageKeys, renderPairImages } from '../shapes/render-pairs.js';
import type { PairToJudge } from './types.js';

export async function shapesPairsToJudge(samples: readonly PairSample[], opts: { withReference?: boolean } = {}): Promise<PairToJudge[]> {
  const pngs = await renderPairImages(samples);
  return samples.map((s) => ({
    id: s.id,
    images: imageKeys(s).map((k) => pngs.get(k) as Buffer),
    ...(s.system !== undefined ? { system: s.system } : {}),
    prompt: s.prompt,
    ...(opts.withReference && s.reference !== undefined ? { reference: s.reference } : {}),
    a: s.responses[0],
    b: s.responses[1],
  }));
}
