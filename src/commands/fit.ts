/** mrm fit: a head-only bundle from a data set, on a base version's frozen stages. */
import { formatReport } from '../../trainer/eval/metrics.js';
import { datasetDigest } from '../../trainer/data/labeled-pair.js';
import { labeledShapesPairs } from '../../trainer/data/shapes.js';
import { fitBundle } from '../../trainer/fit/fit-bundle.js';
import { sampleSplit } from '../../trainer/shapes/pairs.js';
import { num, oneOf, parse, str, UsageError } from './args.js';
import { PAIR_SOURCE_HELP, PAIR_SOURCE_OPTIONS, readPairSource } from './pair-source.js';

const HELP = `usage: mrm fit (--data DIR | --seed S --n N) --out DIR [options]

${PAIR_SOURCE_HELP}
  --out DIR            where to write the bundle
  --base DIR           version whose vision, encoder and tokenizer are reused
                       (default models/shapes-mrm)
  --head linear|mlp    head kind (default linear)
  --k K                ensemble (bootstrap) heads (default 5)
  --hidden H           hidden units per mlp head (default 16)
  --epochs E           (default 40)
  --version V          version number in the manifest (default 1)
  --held-out-seed S    ShapesWorld split for the manifest's metrics (default 2;
  --held-out-n N       -1 for none) and its size (default 1000)
  --feature-cache DIR  reuse features of the same data and frozen stages
                       (default var/cache/features; 'none' to disable)`;

export async function run(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    ...PAIR_SOURCE_OPTIONS,
    out: { type: 'string' },
    base: { type: 'string' },
    head: { type: 'string' },
    k: { type: 'string' },
    hidden: { type: 'string' },
    epochs: { type: 'string' },
    version: { type: 'string' },
    'held-out-seed': { type: 'string' },
    'held-out-n': { type: 'string' },
    'feature-cache': { type: 'string' },
  }, HELP);
  const cache = str(values, 'feature-cache', 'var/cache/features');
  const out = str(values, 'out');
  if (!out) throw new UsageError(`--out is required\n\n${HELP}`);
  const heldSeed = num(values, 'held-out-seed', 2, { integer: true, min: -1 });
  // Held-out pairs from the training split would score memory, not generalization.
  if (values.data === undefined && heldSeed === num(values, 'seed', 1, { integer: true, min: 0 })) {
    throw new UsageError(`--held-out-seed ${heldSeed} is the training seed; the held-out split must come from another seed`);
  }
  const source = await readPairSource(values, { seed: 1, n: 8000 });
  const heldOut = heldSeed < 0 ? [] : await labeledShapesPairs(sampleSplit(heldSeed, num(values, 'held-out-n', 1000, { integer: true, min: 1 })));
  const r = await fitBundle(source.pairs, {
    base: str(values, 'base', 'models/shapes-mrm')!,
    out,
    version: num(values, 'version', 1, { integer: true, min: 1 }),
    fit: {
      kind: oneOf(values, 'head', ['linear', 'mlp'] as const, 'linear'),
      k: num(values, 'k', 5, { integer: true, min: 1, max: 64 }),
      hidden: num(values, 'hidden', 16, { integer: true, min: 1, max: 1024 }),
      epochs: num(values, 'epochs', 40, { integer: true, min: 1 }),
    },
    heldOut,
    referenceSet: source.description,
    lineage: { datasetDigest: datasetDigest(source.pairs) },
    notes: `mrm fit on ${source.description}`,
    ...(cache !== 'none' ? { featureCache: cache } : {}),
  });
  if (r.heldOut) console.log(formatReport(r.heldOut, `held-out ShapesWorld seed ${heldSeed}`));
  console.log(`wrote ${out}: ${source.pairs.length} pairs; featurize ${r.seconds.featurize.toFixed(1)} s${r.featuresCached ? ' (cached features)' : ''}, fit ${r.seconds.fit.toFixed(1)} s`);
}
