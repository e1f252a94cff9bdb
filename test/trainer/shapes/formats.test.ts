import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { annotateAll } from '../../../trainer/shapes/annotators.js';
import { readDataset, writeDataset } from '../../../trainer/shapes/dataset.js';
import { DatasetError } from '../../../trainer/shapes/errors.js';
import { decodeRecords, toPreferenceRecord, type PreferenceRecord } from '../../../trainer/shapes/formats.js';
import { sampleSplit } from '../../../trainer/shapes/pairs.js';
import { imageKeys, renderPairImages, streamPairImages } from '../../../trainer/shapes/render-pairs.js';
import { Rng } from '../../../trainer/shapes/rng.js';

const dirs: string[] = [];
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'shapes-formats-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('dataset formats', async () => {
  const samples = sampleSplit(71, 40);
  const pngs = await renderPairImages(samples);
  const labels = annotateAll(samples, { styleBias: 0.7, flip: 0.1, coarse: 0.2 }, Rng.fromSeed(72));
  const records = samples.map((s, i) => toPreferenceRecord(s, labels[i]!)).filter((r): r is PreferenceRecord => r !== null);

  it('drops ties and keeps the truth beside the label', () => {
    expect(records.length).toBe(labels.filter((l) => l.label !== 'tie').length);
    expect(records.length).toBeLessThan(samples.length);
    for (const r of records) {
      const s = samples.find((x) => x.id === r.id)!;
      const correct = s.responses[s.truth === 'a' ? 0 : 1];
      expect(r.truth).toBe(r.chosen === correct ? 'chosen' : 'rejected');
      expect(r.images).toEqual(imageKeys(s));
    }
  });

  for (const format of ['llamafactory', 'dt2it'] as const) {
    it(`${format}: write then read gives the same records and byte-identical images`, async () => {
      const dir = tempDir();
      const written = await writeDataset(dir, records, format, pngs);
      expect(written.records.map((r) => r.id)).toEqual(records.map((r) => r.id));
      const back = await readDataset(dir, format);
      expect(back.errors).toEqual([]);
      expect(back.records).toEqual(written.records);
      records.forEach((r, i) => {
        r.images.forEach((key, j) => {
          const path = written.records[i]!.images[j]!;
          expect(path).toMatch(/^images\/[0-9a-f]{64}\.png$/);
          expect(Buffer.compare(readFileSync(join(dir, path)), pngs.get(key)!)).toBe(0);
        });
      });
      // A stream of PNGs writes the same files as the map.
      const dir2 = tempDir();
      const streamed = await writeDataset(dir2, records, format, streamPairImages(samples));
      expect(streamed.records).toEqual(written.records);
    });
  }

  it('a pair weight (style/length balance of a round) rides in mrm.weight in both formats; a non-positive one is an error', async () => {
    const weighted = records.map((r, i) => (i % 3 === 0 ? { ...r, weight: 0.25 + i / 8 } : r));
    for (const format of ['llamafactory', 'dt2it'] as const) {
      const dir = tempDir();
      const written = await writeDataset(dir, weighted, format, pngs);
      const back = await readDataset(dir, format);
      expect(back.errors).toEqual([]);
      expect(back.records.map((r) => r.weight)).toEqual(weighted.map((r) => r.weight));
      expect(back.records).toEqual(written.records);
    }
    const row = { conversations: [{ from: 'human', value: 'Which?' }], chosen: { from: 'gpt', value: 'A.' }, rejected: { from: 'gpt', value: 'B.' }, mrm: { id: 'x', weight: 0 } };
    expect(decodeRecords(JSON.stringify([row]), 'llamafactory', 'train.json').errors.map((e) => e.message)).toEqual(["train.json[0]: field 'mrm.weight': expected a positive number, got 0"]);
  });

  it('LLaMA-Factory: ranking entries, one <image> per image, dataset_info.json, mrm extras', async () => {
    const dir = tempDir();
    await writeDataset(dir, records, 'llamafactory', pngs, { name: 'shapes' });
    const info = JSON.parse(readFileSync(join(dir, 'dataset_info.json'), 'utf8'));
    expect(info.shapes).toEqual({
      file_name: 'shapes.json',
      formatting: 'sharegpt',
      ranking: true,
      columns: { messages: 'conversations', chosen: 'chosen', rejected: 'rejected', images: 'images', system: 'system' },
    });
    const data = JSON.parse(readFileSync(join(dir, 'shapes.json'), 'utf8')) as Record<string, any>[];
    data.forEach((row, i) => {
      const r = records[i]!;
      expect(row.conversations).toHaveLength(1);
      expect(row.conversations[0].from).toBe('human');
      expect(row.chosen).toEqual({ from: 'gpt', value: r.chosen });
      expect(row.rejected).toEqual({ from: 'gpt', value: r.rejected });
      expect(row.conversations[0].value.split('<image>').length - 1).toBe(row.images.length);
      if (r.images.length === 1) expect(row.conversations[0].value).toBe(`<image>${r.prompt}`);
      else expect(row.conversations[0].value).toBe(r.prompt); // t2i prompts place their own placeholders
      expect(row.mrm.id).toBe(r.id);
      expect(row.mrm.truth).toBe(r.truth);
      expect(row.mrm.slice).toBe(r.slice);
      expect('system' in row).toBe(r.system !== undefined);
    });
    // Adding a second dataset keeps the first one's entry.
    await writeDataset(dir, records.slice(0, 3), 'llamafactory', pngs, { name: 'more' });
    expect(Object.keys(JSON.parse(readFileSync(join(dir, 'dataset_info.json'), 'utf8'))).sort()).toEqual(['more', 'shapes']);
  });

  it('stores identical images once', async () => {
    const dir = tempDir();
    const one = records.find((r) => r.images.length === 1)!;
    const key = one.images[0]!;
    const twice = [one, { ...one, id: 'copy', images: ['other-key'] }];
    const out = await writeDataset(dir, twice, 'dt2it', new Map([...pngs, ['other-key', pngs.get(key)!]]));
    expect(out.images).toBe(1);
    expect(out.records[0]!.images).toEqual(out.records[1]!.images);
  });

  it('refuses to write a record whose image is not in the source', async () => {
    const err = await writeDataset(tempDir(), [{ ...records[0]!, images: ['nope'] }], 'dt2it', pngs).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DatasetError);
    expect((err as DatasetError).kind).toBe('missing-image');
    expect((err as DatasetError).message).toBe("train.jsonl: field 'images[0]': expected a PNG for image key 'nope'");
  });
});

describe('bad records', () => {
  const good = { image_path: 'images/a.png', question: 'How many red circles are there?', chosen: 'There are 2 red circles.', rejected: 'There is 1 red circle.' };

  it('DT2IT JSONL: each error names the line and the field', () => {
    const { chosen: _drop, ...missing } = good;
    const lines = [
      JSON.stringify(good),
      JSON.stringify(missing),
      JSON.stringify({ ...good, chosen: '' }),
      JSON.stringify({ ...good, rejected: 7 }),
      '{"image_path": "images/a.png", "question": ',
      JSON.stringify({ ...good, image_path: ['images/a.png', 3] }),
      JSON.stringify({ ...good, image_path: '../etc/passwd' }),
      JSON.stringify({ ...good, mrm: { id: 'x', truth: 'maybe' } }),
      JSON.stringify({ ...good, mrm: { id: 'x', meta: '[1]' } }),
      '',
    ];
    const { records, errors } = decodeRecords(lines.join('\n'), 'dt2it', 'train.jsonl');
    expect(records).toHaveLength(1);
    expect(records[0]).toEqual({ id: 'train-1', images: ['images/a.png'], prompt: good.question, chosen: good.chosen, rejected: good.rejected });
    expect(errors.map((e) => e.message)).toEqual([
      "train.jsonl:2: field 'chosen': expected a non-empty string, but the field is missing",
      "train.jsonl:3: field 'chosen': expected a non-empty string",
      "train.jsonl:4: field 'rejected': expected a non-empty string, got number",
      expect.stringMatching(/^train\.jsonl:5: expected valid JSON \(/),
      "train.jsonl:6: field 'image_path[1]': expected a non-empty string, got number",
      "train.jsonl:7: field 'image_path': expected a relative path inside the dataset directory, got '../etc/passwd'",
      "train.jsonl:8: field 'mrm.truth': expected one of 'chosen', 'rejected', got 'maybe'",
      "train.jsonl:9: field 'mrm.meta': expected JSON text of an object",
    ]);
    expect(errors.map((e) => e.record)).toEqual([2, 3, 4, 5, 6, 7, 8, 9]);
    expect(errors[0]).toMatchObject({ kind: 'invalid-field', file: 'train.jsonl', field: 'chosen' });
    expect(errors[3]).toMatchObject({ kind: 'invalid-json', record: 5, field: undefined });
  });

  it('LLaMA-Factory JSON: each error names the record index and the field', () => {
    const row = (over: Record<string, unknown>): Record<string, unknown> => ({
      conversations: [{ from: 'human', value: '<image>How many red circles are there?' }],
      chosen: { from: 'gpt', value: 'There are 2 red circles.' },
      rejected: { from: 'gpt', value: 'There is 1 red circle.' },
      images: ['images/a.png'],
      ...over,
    });
    const text = JSON.stringify([
      row({}),
      row({ chosen: { from: 'gpt', value: '' } }),
      row({ rejected: undefined }),
      row({ images: ['images/a.png', 'images/b.png'] }),
      row({ conversations: [{ from: 'gpt', value: 'x' }] }),
      row({ chosen: 'There are 2 red circles.' }),
    ]);
    const { records, errors } = decodeRecords(text, 'llamafactory', 'train.json');
    expect(records).toEqual([
      { id: 'train-0', images: ['images/a.png'], prompt: 'How many red circles are there?', chosen: 'There are 2 red circles.', rejected: 'There is 1 red circle.' },
    ]);
    expect(errors.map((e) => e.message)).toEqual([
      "train.json[1]: field 'chosen.value': expected a non-empty string",
      "train.json[2]: field 'rejected': expected an object",
      "train.json[3]: field 'conversations[0].value': expected 2 '<image>' placeholder(s), one per image, got 1",
      "train.json[4]: field 'conversations[0].from': expected one of 'human', got 'gpt'",
      "train.json[5]: field 'chosen': expected an object",
    ]);
    expect(decodeRecords('{"not": "an array"}', 'llamafactory', 'train.json').errors[0]!.message).toBe("train.json: field '(root)': expected a JSON array of records");
    expect(decodeRecords('[{', 'llamafactory', 'train.json').errors[0]!.kind).toBe('invalid-json');
  });

  it('readDataset reports unreadable files and missing images as values', async () => {
    const dir = tempDir();
    expect((await readDataset(dir, 'dt2it')).errors[0]).toMatchObject({ kind: 'unreadable', file: 'train.jsonl' });
    writeFileSync(join(dir, 'train.jsonl'), `${JSON.stringify(good)}\n`);
    const { records, errors } = await readDataset(dir, 'dt2it');
    expect(records).toEqual([]);
    expect(errors.map((e) => e.message)).toEqual(["train.jsonl:1: field 'image_path': expected an existing image file, 'images/a.png' is missing"]);
  });
});
