/** mrm data: generate ShapesWorld splits to disk; convert data sets between formats. */
import { loadDataset } from '../../trainer/data/datasets.js';
import { seededAnnotator } from '../../trainer/data/shapes.js';
import { writeDataset } from '../../trainer/shapes/dataset.js';
import { DATASET_FORMATS, toPreferenceRecord, type PreferenceRecord } from '../../trainer/shapes/formats.js';
import { shapesSamples } from './pair-source.js';
import { streamPairImages } from '../../trainer/shapes/render-pairs.js';
import { sha256Hex } from '../model/digest.js';
import { num, oneOf, parse, str, UsageError } from './args.js';

const HELP = `usage: mrm data gen --seed S --n N --out DIR [--format F] [--style-bias P] [--flip Q] [--coarse C]
                    [--reword P] [--paraphrase M]
       mrm data convert --in DIR --from F --out DIR --to F

  gen       a ShapesWorld split: PNG images under DIR/images, records in
            LLaMA-Factory ranking format (train.json + dataset_info.json) or
            DT2IT JSONL (train.jsonl); ground truth kept in each record's "mrm"
  convert   read a data set in one format and write it in the other
  formats   ${DATASET_FORMATS.join(', ')} (default llamafactory)
  --reword P      word a QA pair with a training paraphrase with prob. P (default 0)
  --paraphrase M  append M pairs of the held-out 'paraphrase' eval slice (default 0)`;

export async function run(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  if (sub === 'gen') return gen(rest);
  if (sub === 'convert') return convert(rest);
  throw new UsageError(sub ? `unknown subcommand '${sub}'\n\n${HELP}` : HELP);
}

async function gen(argv: string[]): Promise<void> {
  const { values } = parse(argv, {
    seed: { type: 'string' }, n: { type: 'string' }, out: { type: 'string' }, format: { type: 'string' },
    'style-bias': { type: 'string' }, flip: { type: 'string' }, coarse: { type: 'string' },
    reword: { type: 'string' }, paraphrase: { type: 'string' },
  }, HELP);
  const out = str(values, 'out');
  if (!out) throw new UsageError(`--out is required\n\n${HELP}`);
  const seed = num(values, 'seed', 0, { integer: true, min: 0 });
  const n = num(values, 'n', 1000, { integer: true, min: 1, max: 1_000_000 });
  const format = oneOf(values, 'format', DATASET_FORMATS, 'llamafactory');
  const cfg = {
    styleBias: num(values, 'style-bias', 0, { min: 0, max: 1 }),
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
  const { values } = parse(argv, { in: { type: 'string' }, from: { type: 'string' }, out: { type: 'string' }, to: { type: 'string' } }, HELP);
  const src = str(values, 'in');
  const out = str(values, 'out');
  if (!src || !out) throw new UsageError(`--in and --out are required\n\n${HELP}`);
  const pairs = await loadDataset(src, oneOf(values, 'from', DATASET_FORMATS, 'llamafactory'));
  const pngs = new Map<string, Uint8Array>();
  const records: PreferenceRecord[] = pairs.map((p) => {
    const keys = p.images.map((img) => { const k = sha256Hex(img); pngs.set(k, img); return k; });
    const { images: _images, weight: _weight, ...rest } = p;
    return { ...rest, images: keys };
  });
  const written = await writeDataset(out, records, oneOf(values, 'to', DATASET_FORMATS, 'dt2it'), pngs);
  console.log(`wrote ${out}/${written.dataFile}: ${written.records.length} pairs, ${written.images} images`);
}
