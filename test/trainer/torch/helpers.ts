/**
 * Shared by the PyTorch engine tests: a small ShapesWorld data set on disk
 * (every slice, training paraphrases, held-out ones, system prompts) and
 * running the Python package as a real child process.
 */
import { spawn } from 'node:child_process';
import { seededAnnotator } from '../../../trainer/data/shapes.js';
import { writeDataset } from '../../../trainer/shapes/dataset.js';
import { toPreferenceRecord, type PreferenceRecord } from '../../../trainer/shapes/formats.js';
import { sampleParaphraseSplit, sampleSplit } from '../../../trainer/shapes/pairs.js';
import { streamPairImages } from '../../../trainer/shapes/render-pairs.js';
import { DEFAULT_PYTHON, PACKAGE_DIR } from '../../../trainer/torch/engine.js';

export async function writeShapesData(dir: string, seed: number, n: number, paraphrase = 0, extra: PreferenceRecord[] = []): Promise<PreferenceRecord[]> {
  const samples = [...sampleSplit(seed, n, undefined, { reword: 0.5 }), ...(paraphrase > 0 ? sampleParaphraseSplit(seed, paraphrase) : [])];
  const annotate = seededAnnotator(seed, {});
  const records = samples.map((s) => toPreferenceRecord(s, annotate(s))!);
  await writeDataset(dir, [...records, ...extra], 'llamafactory', streamPairImages(samples));
  return records;
}

/** Runs `python3 -m <module> args` in the package; resolves with stdout, rejects with stderr. */
export function runPython(module: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(DEFAULT_PYTHON, ['-m', module, ...args], { cwd: PACKAGE_DIR, env: { ...process.env, PYTHONPATH: PACKAGE_DIR } });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { err += b.toString(); });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`python -m ${module} exited ${code}: ${err}`))));
  });
}
