import { mkdtemp, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../src/model/bundle.js';
import { sha256Hex } from '../../src/model/digest.js';
import { BundleError, ManifestError } from '../../src/model/errors.js';
import { TINY, TINY_D, tinyHead, tinyVision, writeTinyBundle } from '../fixtures/tiny-bundle.js';

let root: string;
let n = 0;
const fresh = () => join(root, `b${n++}`);

async function patchManifest(dir: string, patch: (m: any) => void): Promise<void> {
  const p = join(dir, 'manifest.json');
  const m = JSON.parse(await readFile(p, 'utf8'));
  patch(m);
  await writeFile(p, JSON.stringify(m));
}

/** Replace a stage file and its sha256 in the manifest, so only the content is wrong. */
async function replaceFile(dir: string, key: string, bytes: Uint8Array): Promise<void> {
  await writeFile(join(dir, `${key}.onnx`), bytes);
  await patchManifest(dir, (m) => { m.files[key].sha256 = sha256Hex(bytes); });
}

async function refusal(dir: string): Promise<Error> {
  const err = await loadBundle(dir).then(() => null, (e: Error) => e);
  expect(err, 'bundle should have been refused').toBeInstanceOf(Error);
  return err!;
}

beforeAll(async () => { root = await mkdtemp(join(tmpdir(), 'mrm-bundle-')); });
afterAll(async () => { await rm(root, { recursive: true, force: true }); });

describe('loadBundle', () => {
  it('loads a good bundle and scores items with K heads', async () => {
    const { runtime } = await loadBundle(await writeTinyBundle(fresh()));
    try {
      const pixels = new Float32Array(2 * 3 * TINY.size * TINY.size).map((_, i) => (i % 7) / 7);
      const emb = await runtime.embedImages(pixels, 2);
      expect(emb.length).toBe(2 * TINY.dv);
      const out = await runtime.score([
        { imageEmbeddings: [emb.subarray(0, TINY.dv)], promptIds: [1, 3], responseIds: [5, 7] },
        { imageEmbeddings: [], promptIds: [2, 4], responseIds: [6] },
      ]);
      expect(out.features.length).toBe(2 * TINY_D);
      expect(out.heads.length).toBe(2 * TINY.k);
      const mean0 = (out.heads[0]! + out.heads[1]! + out.heads[2]!) / 3;
      expect(out.rewards[0]).toBeCloseTo(mean0, 5);
      expect(out.rewards[0]).not.toBeCloseTo(out.rewards[1]!, 3);
      expect(out.spread[0]).toBeGreaterThan(0);
    } finally {
      await runtime.release();
    }
  });

  const messages: string[] = [];
  const expectBundleError = async (dir: string, kind: string, text: RegExp) => {
    const err = await refusal(dir);
    expect(err).toBeInstanceOf(BundleError);
    expect((err as BundleError).kind).toBe(kind);
    expect(err.message).toMatch(text);
    messages.push(err.message.replace(dir, ''));
  };

  it('refuses a missing file, naming it', async () => {
    const dir = await writeTinyBundle(fresh());
    await unlink(join(dir, 'encoder.onnx'));
    await expectBundleError(dir, 'missing-file', /files\.encoder: cannot read .*encoder\.onnx/);
  });

  it('refuses a file whose sha256 differs from the manifest', async () => {
    const dir = await writeTinyBundle(fresh());
    await writeFile(join(dir, 'head.onnx'), Buffer.concat([await readFile(join(dir, 'head.onnx')), Buffer.from([0])]));
    await expectBundleError(dir, 'sha256-mismatch', /files\.head .*sha256 is [0-9a-f]{64}, manifest says [0-9a-f]{64}/);
  });

  it('refuses bytes onnxruntime cannot load', async () => {
    const dir = await writeTinyBundle(fresh());
    await replaceFile(dir, 'vision', new TextEncoder().encode('not an onnx model'));
    await expectBundleError(dir, 'bad-model', /vision\.onnx: onnxruntime cannot load it/);
  });

  it('refuses a stage whose tensor names differ from the manifest', async () => {
    const dir = await writeTinyBundle(fresh());
    await replaceFile(dir, 'vision', tinyVision({ outputName: 'image_features' }));
    await expectBundleError(dir, 'io-mismatch', /vision\.onnx: output names \[image_features\], manifest io\.vision says \[embedding\]/);
  });

  it('refuses a stage whose shape differs from the manifest', async () => {
    const dir = await writeTinyBundle(fresh());
    await replaceFile(dir, 'head', tinyHead({ d: TINY_D + 1 }));
    await expectBundleError(dir, 'io-mismatch', new RegExp(`head\\.onnx: input 'features' has shape \\[N, ${TINY_D + 1}\\], manifest says \\[N, ${TINY_D}\\]`));
  });

  it('refuses a head that outputs NaN on the warm-up set', async () => {
    const dir = await writeTinyBundle(fresh(), { head: tinyHead({ nan: true }) });
    await expectBundleError(dir, 'non-finite', /warm-up: head\.onnx output rewards\[0\]\[1\] is NaN/);
  });

  it('gives each broken-bundle case a distinct message', () => {
    expect(messages.length).toBe(6);
    expect(new Set(messages).size).toBe(messages.length);
  });
});

describe('manifest validation', () => {
  const cases: [string, (m: any) => void, RegExp][] = [
    ['a negative calibration std', (m) => { m.calibration.std = -1; }, /field 'calibration\.std': expected a positive number, got -1/],
    ['an unknown format', (m) => { m.format = 'mrm-bundle/v0'; }, /field 'format': expected 'mrm-bundle\/v1', got 'mrm-bundle\/v0'/],
    ['a tensor name off the contract', (m) => { m.io.head.inputs[0].name = 'x'; }, /field 'io\.head\.inputs\[0\]\.name': expected 'features' \(contract v1\), got 'x'/],
    ['a missing sha256', (m) => { delete m.files.head.sha256; }, /field 'files\.head\.sha256': expected a string/],
    ['a file path outside the bundle', (m) => { m.files.head.path = '../x.onnx'; }, /field 'files\.head\.path': expected a path inside the bundle directory/],
    ['an image size that disagrees with the vision input', (m) => { m.preprocess.image.size = 32; }, /field 'io\.vision\.inputs\[0\]\.shape': expected \[N, 3, 32, 32\] \(preprocess\.image\.size\), got \[N, 3, 16, 16\]/],
    ['a prompt template without {prompt}', (m) => { m.preprocess.text.promptTemplate = '{system}'; }, /field 'preprocess\.text\.promptTemplate': expected a template containing '\{prompt\}'/],
    ['a fractional version', (m) => { m.version = 1.5; }, /field 'version': expected an integer, got 1\.5/],
  ];
  for (const [what, patch, text] of cases) {
    it(`refuses ${what}, naming the file and field`, async () => {
      const dir = await writeTinyBundle(fresh());
      await patchManifest(dir, patch);
      const err = await refusal(dir);
      expect(err).toBeInstanceOf(ManifestError);
      expect(err.message).toContain(join(dir, 'manifest.json'));
      expect(err.message).toMatch(text);
    });
  }

  it('refuses a manifest that is not JSON', async () => {
    const dir = await writeTinyBundle(fresh());
    await writeFile(join(dir, 'manifest.json'), '{"format": ');
    const err = await refusal(dir);
    expect(err).toBeInstanceOf(ManifestError);
    expect((err as ManifestError).kind).toBe('invalid-json');
  });
});
