/**
 * The PyTorch package must see exactly the tensors the server sees:
 * src/model's image and text preprocessing against trainer/torch's, on real
 * PNGs and records written by the data set code. Stated tolerance: 1e-6 on
 * pixels (both compute (v/255 - mean)/std in float64 and round once to
 * float32, so the difference seen is 0), exact equality on token ids.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { preprocessImage } from '../../../src/model/image.js';
import type { ImagePreprocess, TextPreprocess } from '../../../src/model/manifest.js';
import { encodeText, Tokenizer } from '../../../src/model/text.js';
import { loadDataset } from '../../../trainer/data/datasets.js';
import { runPython, writeShapesData } from './helpers.js';

const TOKENIZER = join(import.meta.dirname, '../../../models/shapes-mrm/tokenizer.json');
const TOLERANCE = 1e-6;

interface Dumped { id: string; images: string[]; prompt_ids: number[]; chosen_ids: number[]; rejected_ids: number[] }

const SPECS: { image: ImagePreprocess; text: TextPreprocess }[] = [
  {
    image: { size: 128, channelOrder: 'rgb', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], maxImages: 2, maxPixels: 16777216 },
    text: { promptTemplate: '{system}\n{prompt}', responseTemplate: '{response}', maxPromptTokens: 64, maxResponseTokens: 128 },
  },
  {
    // Another order, uneven statistics, tight caps so both truncation rules run.
    image: { size: 128, channelOrder: 'bgr', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], maxImages: 2, maxPixels: 16777216 },
    text: { promptTemplate: 'System: {system}\nUser: {prompt}', responseTemplate: 'Answer: {response} Ref: {reference}', maxPromptTokens: 9, maxResponseTokens: 11 },
  },
];

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mrm-torch-pre-'));
  const recs = await writeShapesData(dir, 31, 14, 4);
  // Words outside the vocabulary (hashed buckets), non-ASCII and an astral
  // character (UTF-16 surrogates in the hash), and a prompt past its cap.
  const odd: typeof recs[number] = {
    ...recs[0]!, id: 'odd-1', system: 'Zebra naïve ünïcode 🦓 words, café!',
    prompt: `${'Lorem ipsum dolor sit amet '.repeat(20)}How many red circles are there?`,
    chosen: 'Quixotic 🦓 there are 3 red circles — résumé.', rejected: 'There are 4 red circles, ÄÖÜ.',
  };
  await rm(dir, { recursive: true, force: true });
  await writeShapesData(dir, 31, 14, 4, [odd]);
}, 120_000);
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('trainer/torch preprocessing', () => {
  for (const [k, spec] of SPECS.entries()) {
    it(`gives src/model's tensors (spec ${k})`, async () => {
      const out = JSON.parse(await runPython('mrm_torch.dump', ['--data', dir, '--preprocess', JSON.stringify(spec), '--tokenizer', TOKENIZER, '--limit', '100'])) as Dumped[];
      const pairs = await loadDataset(dir, 'llamafactory');
      const tok = Tokenizer.parse(JSON.parse(await readFile(TOKENIZER, 'utf8')), TOKENIZER);
      expect(out.map((d) => d.id)).toEqual(pairs.map((p) => p.id));
      expect(out.length).toBe(19);
      let worst = 0;
      let images = 0;
      for (const [i, p] of pairs.entries()) {
        const d = out[i]!;
        expect(d.images.length).toBe(p.images.length);
        for (const [j, bytes] of p.images.entries()) {
          const ts = await preprocessImage(bytes, spec.image, 'image');
          const py = new Float32Array(new Uint8Array(Buffer.from(d.images[j]!, 'base64')).buffer);
          expect(py.length).toBe(ts.length);
          for (let x = 0; x < ts.length; x++) worst = Math.max(worst, Math.abs(ts[x]! - py[x]!));
          images++;
        }
        const c = encodeText(tok, spec.text, { system: p.system, prompt: p.prompt, response: p.chosen });
        const r = encodeText(tok, spec.text, { system: p.system, prompt: p.prompt, response: p.rejected });
        expect(d.prompt_ids, p.id).toEqual(c.promptIds);
        expect(d.chosen_ids, p.id).toEqual(c.responseIds);
        expect(d.rejected_ids, p.id).toEqual(r.responseIds);
      }
      expect(images).toBeGreaterThan(19);
      expect(worst).toBeLessThanOrEqual(TOLERANCE);
    }, 120_000);
  }
});
