/**
 * A round's curated set for an existing training engine: LLaMA-Factory's
 * ranking format (train.json + dataset_info.json + images/) and a training
 * YAML for `llamafactory-cli train` (stage rm on a Qwen-VL base, DeepSpeed),
 * so a full fine-tune runs where the GPUs are and comes back through
 * `mrm models import` as a bundle.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RoundFolder } from '../../src/rounds/folder.js';
import { pairRecords } from '../dt2it/records.js';
import { writeDataset } from '../shapes/dataset.js';
import { ImageStore, loadPairs } from './pairs-file.js';

export interface ExportResult {
  pairs: number;
  images: number;
  dataFile: string;
  yaml: string | null;
}

/** `trainingYaml: false` leaves out train_rm.yaml (a 'full' round hands the data to its own engine). */
export async function exportLlamaFactory(stateDir: string, roundId: string, out: string, opts: { baseModel?: string; trainingYaml?: boolean } = {}): Promise<ExportResult> {
  const folder = new RoundFolder(stateDir, roundId);
  const pairs = (await loadPairs(folder, 'curated')).filter((p) => p.label);
  const store = new ImageStore(stateDir);
  const { records, pngs } = await pairRecords(pairs, (p) => Promise.all(p.imageRefs.map((r) => store.bytes(r))));
  const written = await writeDataset(out, records, 'llamafactory', pngs);
  const yaml = join(out, 'train_rm.yaml');
  if (opts.trainingYaml === false) return { pairs: written.records.length, images: written.images, dataFile: written.dataFile, yaml: null };
  await writeFile(yaml, trainingYaml(opts.baseModel ?? 'Qwen/Qwen2-VL-7B-Instruct', roundId));
  return { pairs: written.records.length, images: written.images, dataFile: written.dataFile, yaml };
}

/** A reward-model run for llamafactory-cli on this data set (dataset_info.json names it "train"). */
function trainingYaml(base: string, roundId: string): string {
  return `# llamafactory-cli train train_rm.yaml  (round ${roundId}, exported by mrm round export)
### model
model_name_or_path: ${base}
trust_remote_code: true

### method
stage: rm
do_train: true
finetuning_type: full
deepspeed: examples/deepspeed/ds_z3_config.json

### dataset
dataset_dir: .
dataset: train
template: qwen2_vl
cutoff_len: 2048
preprocessing_num_workers: 8

### output
output_dir: saves/mrm-round-${roundId}
logging_steps: 10
save_steps: 500
plot_loss: true

### train
per_device_train_batch_size: 1
gradient_accumulation_steps: 8
learning_rate: 1.0e-5
num_train_epochs: 1.0
lr_scheduler_type: cosine
warmup_ratio: 0.1
bf16: true
`;
}
