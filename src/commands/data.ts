/** mrm data: generate ShapesWorld splits to disk; convert data sets between formats. */
import { loadDataset } from '../../trainer/data/datasets.js';
import { seededAnnotator } from '../../trainer/data/shapes.js';
import { writeDataset } from '../../trainer/shapes/dataset.js';
import { DATASET_FORMATS, toPreferenceRecord, type PreferenceRecord } from '../../trainer/shapes/formats.js';
import { shapesSamples } from './pair-source.js';
import { streamPairImages } from '../../trainer/shapes/render-pairs.js';
import { sha256Hex } from '../model/digest.js';
import { noPositionals, num, oneOf, parse, required, UsageError } from './args.js';
import { checkDataDir } from './pair-source.js';

const FORMATS_LINE = `formats: ${DATASET_FORMATS.join(', ')} (default llamafactory)`;

const GEN_HELP = `usage: mrm data gen --seed S --n N --out DIR [options]

A ShapesWorld split: PNG images under DIR/images, records in LLaMA-Factory
ranking format (train.json + dataset_info.json) or DT2IT JSONL (train.jsonl);
each record keeps its ground truth in "mrm" beside its (noisy) label.

  --seed S          split seed (integer >= 0)
  --n N             pairs to sample; ties are dropped
  --out DIR         where to write the data set
  --format F        llamafactory (default) or dt2it
  --style-bias P    annotator prefers the more verbose response with prob. P (default 0)
  --content-bias P  then prefers "yes", the larger count, the longer description with prob. P (default 0)
  --flip Q          then flips the label with prob. Q (default 0)
  --coarse C        gives no preference (pair dropped) with prob. C (default 0)
  --reword P        word a QA pair with a training paraphrase with prob. P (default 0)
  --paraphrase M    append M pairs of the held-out 'paraphrase' eval slice (default 0)`;

const CONVERT_HELP = `usage: mrm data convert --in DIR --out DIR [--from F] [--to F]

Reads a data set in one format and writes it in the other (images by sha256).

  --in DIR          data set to read
  --from F          its format (default llamafactory)
  --out DIR         where to write
  --to F            format to write (default dt2it)
${FORMATS_LINE}`;

const HELP = `usage: mrm data gen --seed S --n N --out DIR [options]
       mrm data convert --in DIR --out DIR [--from F] [--to F]

  gen       a ShapesWorld split on disk (mrm data gen --help)
  convert   a data set from one format to the other (mrm data convert --help)
  ${FORMATS_LINE}`;

export async function run(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'gen') return gen(rest);
  if (sub === 'convert') return convert(rest);
  if (sub === '--help' || sub === '-h') return void parse(['--help'], {}, HELP);
  throw new UsageError(sub ? `unknown subcommand '${sub}'; expected gen or convert (mrm data --help)` : 'expected a subcommand: gen or convert (mrm data --help)');
}

async function gen(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, {
    seed: { type: 'string' }, n: { type: 'string' }, out: { type: 'string' }, format: { type: 'string' },
    'style-bias': { type: 'string' }, 'content-bias': { type: 'string' }, flip: { type: 'string' }, coarse: { type: 'string' },
    reword: { type: 'string' }, paraphrase: { type: 'string' },
  }, GEN_HELP);
  noPositionals(positionals);
  // No default seed or size: a split is named by them, so the command says which one it is.
  required(values, 'seed', 'the split seed, e.g. --seed 7');
  required(values, 'n', 'the number of pairs, e.g. --n 64');
  const out = required(values, 'out', 'the directory to write the data set to, e.g. --out scratch/data');
  const seed = num(values, 'seed', 0, { integer: true, min: 0 });
  const n = num(values, 'n', 0, { integer: true, min: 1, max: 1_000_000 });
  const format = oneOf(values, 'format', DATASET_FORMATS, 'llamafactory');
  const cfg = {
    styleBias: num(values, 'style-bias', 0, { min: 0, max: 1 }),
    contentBias: num(values, 'content-bias', 0, { min: 0, max: 1 }),
    flip: num(values, 'flip', 0, { min: 0, max: 1 }),
    coarse: num(values, 'coarse', 0, { min: 0, max: 1 }),
  };
  const t0 = performance.now();
  const samples = shapesSamples(values, seed, n);
  const annotator = seededAnnotator(seed, cfg);
  const records = samples.map((s) => toPreferenceRecord(s, annotator(s))).filter((r): r is PreferenceRecord => r !== null);
  const written = await writeDataset(out, records, format, streamPairImages(samples));
  const noisy = written.records.filter((r) => r.truth === 'rejected').length;
  console.log(`wrote ${out}/${written.dataFile}: ${written.records.length} pairs (${samples.length - written.records.length} ties dropped, ${noisy} labels wrong), ${written.images} images, ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}

async function convert(argv: string[]): Promise<void> {
  const { values, positionals } = parse(argv, { in: { type: 'string' }, from: { type: 'string' }, out: { type: 'string' }, to: { type: 'string' } }, CONVERT_HELP);
  noPositionals(positionals);
  const src = required(values, 'in', 'the data set directory to read');
  const out = required(values, 'out', 'the directory to write the converted data set to');
  const from = oneOf(values, 'from', DATASET_FORMATS, 'llamafactory');
  await checkDataDir('in', src, from);
  const pairs = await loadDataset(src, from);
  const pngs = new Map<string, Uint8Array>();
  const records: PreferenceRecord[] = pairs.map((p) => {
    const keys = p.images.map((img) => { const k = sha256Hex(img); pngs.set(k, img); return k; });
    const { images: _images, weight: _weight, ...rest } = p;
    return { ...rest, images: keys };
  });
  const written = await writeDataset(out, records, oneOf(values, 'to', DATASET_FORMATS, 'dt2it'), pngs);
  console.log(`wrote ${out}/${written.dataFile}: ${written.records.length} pairs, ${written.images} images`);
}
