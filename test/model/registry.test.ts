import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BundleError, ManifestError, RegistryError } from '../../src/model/errors.js';
import { FILE_KEYS, type FileKey, type FileRef, parseManifest } from '../../src/model/manifest.js';
import { Registry } from '../../src/model/registry.js';

const FILE_NAMES: Record<FileKey, string> = {
  vision: 'vision.onnx',
  encoder: 'encoder.onnx',
  head: 'head.onnx',
  tokenizer: 'tokenizer/tokenizer.json',
};
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const content = (key: FileKey, tag: string) => `${key} of ${tag}`;

function validManifest(files: Record<FileKey, FileRef>, over: Record<string, unknown> = {}) {
  const t = (name: string, dtype: string, shape: (number | string)[]) => ({ name, dtype, shape });
  return {
    format: 'mrm-bundle/v1',
    name: 'rm',
    version: 1,
    parent: null,
    createdAt: '2024-05-01T00:00:00Z',
    files,
    io: {
      vision: { inputs: [t('pixels', 'float32', ['N', 3, 32, 32])], outputs: [t('embedding', 'float32', ['N', 16])] },
      encoder: {
        inputs: [
          t('image_embeddings', 'float32', ['N', 2, 16]),
          t('image_mask', 'float32', ['N', 2]),
          t('prompt_ids', 'int64', ['N', 8]),
          t('response_ids', 'int64', ['N', 12]),
        ],
        outputs: [t('features', 'float32', ['N', 4])],
      },
      head: { inputs: [t('features', 'float32', ['N', 4])], outputs: [t('rewards', 'float32', ['N', 1])] },
    },
    preprocess: {
      image: { size: 32, channelOrder: 'rgb', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], maxImages: 2, maxPixels: 1 << 24 },
      text: { promptTemplate: '{system}\n{prompt}', responseTemplate: '{response}', maxPromptTokens: 8, maxResponseTokens: 12 },
    },
    calibration: { mean: 0, std: 1, referenceSet: 'ref-v1', n: 100 },
    metrics: { accuracy: 0.75 },
    lineage: { roundId: null, datasetDigest: null },
    ...over,
  };
}

/**
 * Writes a bundle whose files hold `content(key, tag)`. Keys in `shared` get
 * sha-only refs to the file of another tag, as a head-only round does.
 */
async function writeBundle(dir: string, tag: string, opts: { shared?: Partial<Record<FileKey, string>>; over?: Record<string, unknown> } = {}) {
  await mkdir(dir, { recursive: true });
  const files = {} as Record<FileKey, FileRef>;
  for (const key of FILE_KEYS) {
    const sharedTag = opts.shared?.[key];
    if (sharedTag !== undefined) {
      files[key] = { sha256: sha(content(key, sharedTag)) };
      continue;
    }
    await mkdir(dirname(join(dir, FILE_NAMES[key])), { recursive: true });
    await writeFile(join(dir, FILE_NAMES[key]), content(key, tag));
    files[key] = { path: FILE_NAMES[key], sha256: sha(content(key, tag)) };
  }
  await writeFile(join(dir, 'manifest.json'), JSON.stringify(validManifest(files, opts.over)));
  return dir;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

let tmp: string;
let reg: Registry;
beforeEach(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'mrm-registry-'));
  reg = new Registry(join(tmp, 'models'), 'rm');
});
afterEach(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('Registry', () => {
  it('the test helper builds a valid manifest', async () => {
    const dir = await writeBundle(join(tmp, 'b'), 'a');
    const m = parseManifest(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')), 'm');
    expect(m.files.tokenizer).toEqual({ path: 'tokenizer/tokenizer.json', sha256: sha(content('tokenizer', 'a')) });
  });

  it('registers, lists, activates and rolls back', async () => {
    expect(await reg.list()).toEqual([]);
    expect(await reg.active()).toBeNull();
    const b1 = await writeBundle(join(tmp, 'b1'), 'one', { over: { 'x-extra': { kept: true } } });
    const b2 = await writeBundle(join(tmp, 'b2'), 'two', { over: { version: 7 } });
    expect(await reg.register(b1)).toBe(1);
    expect(await reg.register(b2)).toBe(2);

    // The stored manifest is renumbered and keeps fields the parser does not know.
    const stored2 = JSON.parse(await readFile(join(reg.versionDir(2), 'manifest.json'), 'utf8'));
    expect(stored2.version).toBe(2);
    const stored1 = JSON.parse(await readFile(join(reg.versionDir(1), 'manifest.json'), 'utf8'));
    expect(stored1['x-extra']).toEqual({ kept: true });
    expect(await readFile(join(reg.versionDir(1), 'tokenizer/tokenizer.json'), 'utf8')).toBe(content('tokenizer', 'one'));

    await reg.activate(1, 'first');
    expect(await reg.active()).toMatchObject({ version: 1, previous: null, reason: 'first' });
    await reg.activate(2, 'better');
    expect(await reg.active()).toMatchObject({ version: 2, previous: 1, reason: 'better' });
    const listed = await reg.list();
    expect(listed.map((v) => [v.version, v.active, v.manifest?.version])).toEqual([[1, false, 1], [2, true, 2]]);
    expect(listed[1]!.dir).toBe(reg.versionDir(2));

    // Re-activating the serving version keeps its rollback target.
    await reg.activate(2, 'again');
    expect(await reg.active()).toMatchObject({ version: 2, previous: 1 });

    await reg.rollback('regression');
    expect(await reg.active()).toMatchObject({ version: 1, previous: 2, reason: 'regression' });
  });

  it('refuses an existing version, and leaves nothing behind when a copy fails', async () => {
    const b = await writeBundle(join(tmp, 'b'), 'one');
    await reg.register(b);
    const conflict = await rejection(reg.register(b, { version: 1 }));
    expect(conflict).toBeInstanceOf(RegistryError);
    expect((conflict as RegistryError).kind).toBe('conflict');

    await rm(join(b, 'head.onnx'));
    const missing = await rejection(reg.register(b));
    expect(missing).toBeInstanceOf(BundleError);
    expect((missing as BundleError).kind).toBe('missing-file');
    expect(await readdir(reg.versionsDir)).toEqual(['1']);
  });

  it('lists a version with an invalid manifest with its error', async () => {
    await reg.register(await writeBundle(join(tmp, 'b'), 'one'));
    await mkdir(reg.versionDir(2));
    await writeFile(join(reg.versionDir(2), 'manifest.json'), JSON.stringify({ ...validManifest({} as never), version: 2 }));
    const [v1, v2] = await reg.list();
    expect(v1!.manifest?.version).toBe(1);
    expect(v2!.manifest).toBeUndefined();
    expect(v2!.error).toBeInstanceOf(ManifestError);
    expect(v2!.error!.field).toBe('files.vision');
  });

  it('activating a missing version is a no-such-version error', async () => {
    const err = await rejection(reg.activate(3, 'typo'));
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).kind).toBe('no-such-version');
    expect((err as RegistryError).message).toContain('no version 3');
    expect(await reg.active()).toBeNull();

    expect(((await rejection(reg.rollback('x'))) as RegistryError).kind).toBe('empty');
    await reg.register(await writeBundle(join(tmp, 'b'), 'one'));
    await reg.activate(1, 'first');
    expect(((await rejection(reg.rollback('x'))) as RegistryError).kind).toBe('no-such-version');
  });

  it('a crash between the temp write and the rename keeps the old ACTIVE', async () => {
    await reg.register(await writeBundle(join(tmp, 'b1'), 'one'));
    await reg.register(await writeBundle(join(tmp, 'b2'), 'two'));
    await reg.activate(1, 'first');
    const before = await reg.activeStamp();
    const crash = new Error('simulated crash');
    const err = await rejection(
      reg.activate(2, 'doomed', {
        beforeRename: async () => {
          // The temp file is complete at this point, next to the target.
          expect((await readdir(reg.modelDir)).some((f) => f.endsWith('.tmp'))).toBe(true);
          throw crash;
        },
      }),
    );
    expect(err).toBe(crash);
    expect(await reg.active()).toMatchObject({ version: 1, previous: null, reason: 'first' });
    expect(await reg.activeStamp()).toBe(before);
    expect((await readdir(reg.modelDir)).sort()).toEqual(['ACTIVE', 'versions']);
  });

  it('a half-written or wrong ACTIVE gives a precise ManifestError', async () => {
    await mkdir(reg.modelDir, { recursive: true });
    await writeFile(reg.activeFile, '{"version": 2, "previ');
    const torn = await rejection(reg.active());
    expect(torn).toBeInstanceOf(ManifestError);
    expect(torn).toMatchObject({ kind: 'invalid-json', file: reg.activeFile });

    await writeFile(reg.activeFile, JSON.stringify({ version: 'two', previous: null, updatedAt: 'now', reason: '' }));
    const wrong = await rejection(reg.active());
    expect(wrong).toMatchObject({ kind: 'invalid-field', file: reg.activeFile, field: 'version' });
    expect((wrong as Error).message).toContain(`${reg.activeFile}: field 'version': expected a finite number`);
  });

  it('activeStamp changes when ACTIVE is replaced', async () => {
    expect(await reg.activeStamp()).toBeNull();
    await reg.register(await writeBundle(join(tmp, 'b'), 'one'));
    await reg.activate(1, 'a');
    const a = await reg.activeStamp();
    expect(a).not.toBeNull();
    expect(await reg.activeStamp()).toBe(a);
    await reg.activate(1, 'b');
    expect(await reg.activeStamp()).not.toBe(a);
  });

  it('seeds an empty registry once, as the manifest version', async () => {
    const b = await writeBundle(join(tmp, 'shipped'), 'one', { over: { version: 3 } });
    expect(await reg.seedIfEmpty(b)).toEqual({ seeded: true, version: 3 });
    expect(await reg.active()).toMatchObject({ version: 3, previous: null, reason: `seeded from ${b}` });
    expect(await reg.seedIfEmpty(b)).toEqual({ seeded: false, version: 3 });
    expect((await reg.list()).map((v) => v.version)).toEqual([3]);
  });

  it('concurrent seeders seed exactly once', async () => {
    const b = await writeBundle(join(tmp, 'shipped'), 'one');
    for (let round = 0; round < 5; round++) {
      const root = join(tmp, `race-${round}`);
      const results = await Promise.all(Array.from({ length: 4 }, () => new Registry(root, 'rm').seedIfEmpty(b)));
      expect(results.filter((r) => r.seeded)).toHaveLength(1);
      expect(results.every((r) => r.version === 1)).toBe(true);
      const r = new Registry(root, 'rm');
      expect(await readdir(r.versionsDir)).toEqual(['1']);
      expect(await r.active()).toMatchObject({ version: 1, previous: null });
    }
  });

  it('resolves shared files along the parent chain', async () => {
    await reg.register(await writeBundle(join(tmp, 'b1'), 'one'));
    const shared2 = { vision: 'one', encoder: 'one', tokenizer: 'one' };
    await reg.register(await writeBundle(join(tmp, 'b2'), 'two', { shared: shared2, over: { parent: 1 } }));
    await reg.register(await writeBundle(join(tmp, 'b3'), 'three', { shared: { ...shared2, head: 'two' }, over: { parent: 2 } }));

    expect(await reg.resolveFile(3, 'vision')).toBe(join(reg.versionDir(1), 'vision.onnx'));
    expect(await reg.resolveFile(3, 'tokenizer')).toBe(join(reg.versionDir(1), 'tokenizer/tokenizer.json'));
    expect(await reg.resolveFile(3, 'head')).toBe(join(reg.versionDir(2), 'head.onnx'));
    expect(await reg.resolveFile(2, 'head')).toBe(join(reg.versionDir(2), 'head.onnx'));
    expect(await readFile(await reg.resolveFile(3, 'encoder'), 'utf8')).toBe(content('encoder', 'one'));
  });

  it('refuses a shared file no ancestor holds', async () => {
    await reg.register(await writeBundle(join(tmp, 'b1'), 'one'));
    const orphan = await writeBundle(join(tmp, 'b2'), 'two', { shared: { vision: 'nowhere' }, over: { parent: 1 } });
    const err = await rejection(reg.register(orphan));
    expect(err).toMatchObject({ name: 'RegistryError', kind: 'no-such-version' });
    expect((err as Error).message).toContain(sha(content('vision', 'nowhere')));
    expect(await readdir(reg.versionsDir)).toEqual(['1']);

    // A version put in place by hand is caught when the file is resolved.
    await mkdir(reg.versionDir(2));
    const m = JSON.parse(await readFile(join(orphan, 'manifest.json'), 'utf8'));
    await writeFile(join(reg.versionDir(2), 'manifest.json'), JSON.stringify({ ...m, version: 2 }));
    const late = await rejection(reg.resolveFile(2, 'vision'));
    expect(late).toMatchObject({ name: 'RegistryError', kind: 'no-such-version' });
    expect((late as Error).message).toContain(sha(content('vision', 'nowhere')));
  });
});
