/** mrm fit: a head-only bundle from a data set, on a base version's frozen stages. */
import { formatReport } from '../../trainer/eval/metrics.js';
import { datasetDigest } from '../../trainer/data/labeled-pair.js';
import { labeledShapesPairs } from '../../trainer/data/shapes.js';
import { fitBundle } from '../../trainer/fit/fit-bundle.js';
import { sampleSplit } from '../../trainer/shapes/pairs.js';
import { join } from 'node:path';
import { MANIFEST_FILE, readManifest } from '../model/manifest.js';
import { noPositionals, num, oneOf, parse, required, str, UsageError } from './args.js';
import { checkBundleDir } from './bundle-arg.js';
import { PAIR_SOURCE_HELP, PAIR_SOURCE_OPTIONS, readPairSource } from './pair-source.js';

/** The manifest's name rule (src/model/manifest.ts), checked here to answer with the flag. */
const MODEL_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

const HELP = `usage: mrm fit (--data DIR | --seed S --n N) --out DIR [options]

${PAIR_SOURCE_HELP}
  --out DIR            where to write the bundle
  --name NAME          model name in the manifest (default: the base's name +
                       "-fit-" + the first 8 hex digits of the data's digest)
  --version V          version number in the manifest (default 1)
  --base DIR           version whose vision, encoder and tokenizer are reused
                       (default models/shapes-mrm)
  --head linear|mlp    head kind (default linear)
  --k K                ensemble (bootstrap) heads (default 5)
  --hidden H           hidden units per mlp head (default 16)
  --epochs E           training epochs (default 40)
  --held-out-seed S    ShapesWorld split for the manifest's metrics
                       (default 2; -1 for none)
  --held-out-n N       pairs in that split (default 1000)
  --feature-cache DIR  reuse features of the same data and frozen stages
                       (default var/cache/features; 'none' to disable)

The manifest's lineage names the base bundle and the data set's digest.`;

export async function run(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, {
    ...PAIR_SOURCE_OPTIONS,
    out: { type: 'string' },
    base: { type: 'string' },
    head: { type: 'string' },
    k: { type: 'string' },
    hidden: { type: 'string' },
    epochs: { type: 'string' },
    name: { type: 'string' },
    version: { type: 'string' },
    'held-out-seed': { type: 'string' },
    'held-out-n': { type: 'string' },
    'feature-cache': { type: 'string' },
  }, HELP);
  noPositionals(positionals);
  const cache = str(values, 'feature-cache', 'var/cache/features');
  const out = required(values, 'out', 'the directory to write the fitted bundle to, e.g. --out scratch/fitted');
  const base = str(values, 'base', 'models/shapes-mrm')!;
  await checkBundleDir('base', base);
  const name = str(values, 'name');
  if (name !== undefined && !MODEL_NAME.test(name)) throw new UsageError(`--name: expected lower-case letters, digits, '.', '_' or '-' (at most 64), got '${name}'`);
  const heldSeed = num(values, 'held-out-seed', 2, { integer: true, min: -1 });
  // Held-out pairs from the training split would score memory, not generalization.
  if (values.data === undefined && heldSeed === num(values, 'seed', 1, { integer: true, min: 0 })) {
    throw new UsageError(`--held-out-seed ${heldSeed} is the training seed; the held-out split must come from another seed`);
  }
  const source = await readPairSource(values, { seed: 1, n: 8000 });
  const heldOut = heldSeed < 0 ? [] : await labeledShapesPairs(sampleSplit(heldSeed, num(values, 'held-out-n', 1000, { integer: true, min: 1 })));
  const digest = datasetDigest(source.pairs);
  // A fitted bundle must not pass for its base: "shapes-mrm v1" served from
  // two different heads looked identical to every client.
  const baseManifest = await readManifest(join(base, MANIFEST_FILE));
  const r = await fitBundle(source.pairs, {
    base,
    out,
    name: name ?? `${baseManifest.name.slice(0, 50)}-fit-${digest.slice(0, 8)}`,
    version: num(values, 'version', 1, { integer: true, min: 1 }),
    fit: {
      kind: oneOf(values, 'head', ['linear', 'mlp'] as const, 'linear'),
      k: num(values, 'k', 5, { integer: true, min: 1, max: 64 }),
      hidden: num(values, 'hidden', 16, { integer: true, min: 1, max: 1024 }),
      epochs: num(values, 'epochs', 40, { integer: true, min: 1 }),
    },
    heldOut,
    referenceSet: source.description,
    lineage: { datasetDigest: digest, base: { name: baseManifest.name, version: baseManifest.version } },
    notes: `mrm fit on ${source.description}`,
    ...(cache !== 'none' ? { featureCache: cache } : {}),
  });
  if (r.heldOut) console.log(formatReport(r.heldOut, `held-out ShapesWorld seed ${heldSeed}`));
  console.log(`wrote ${out}: ${r.manifest.name} version ${r.manifest.version} (head fitted on ${baseManifest.name} v${baseManifest.version}), ${source.pairs.length} pairs; featurize ${r.seconds.featurize.toFixed(1)} s${r.featuresCached ? ' (cached features)' : ''}, fit ${r.seconds.fit.toFixed(1)} s`);
}
