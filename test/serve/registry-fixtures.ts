/**
 * Versions to swap between and broken versions to refuse, written into a
 * server's registry. A second good version is the tiny bundle with other head
 * weights (another reward for the same item, so a response shows which version
 * scored it). Broken versions are written straight into versions/<n>, the way
 * a bad copy or a buggy exporter would leave them (Registry.register itself
 * refuses some of these).
 */
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256Hex } from '../../src/model/digest.js';
import { buildHeadOnnx } from '../../src/model/onnx/heads.js';
import { Registry } from '../../src/model/registry.js';
import { TINY, TINY_D, tinyHead, tinyVision, writeTinyBundle } from '../fixtures/tiny-bundle.js';

export function headWithScale(scale: number): Uint8Array {
  return buildHeadOnnx({ kind: 'linear', d: TINY_D, k: TINY.k, w: Float32Array.from({ length: TINY_D * TINY.k }, (_, i) => Math.cos(i + 1) * scale), b: new Float32Array(TINY.k) });
}

/** Registers a good tiny version n (head weights depend on n) and returns n. */
export async function addGoodVersion(stateDir: string, scratch: string, n: number): Promise<number> {
  const dir = await writeTinyBundle(join(scratch, `good-${n}-${Date.now()}`), { version: n, head: headWithScale(0.1 * n) });
  return new Registry(stateDir, 'tiny').register(dir, { version: n });
}

async function patchManifest(dir: string, patch: (m: any) => void): Promise<void> {
  const p = join(dir, 'manifest.json');
  const m = JSON.parse(await readFile(p, 'utf8'));
  patch(m);
  await writeFile(p, JSON.stringify(m));
}

async function replaceFile(dir: string, key: string, bytes: Uint8Array): Promise<void> {
  await writeFile(join(dir, `${key}.onnx`), bytes);
  await patchManifest(dir, (m) => { m.files[key].sha256 = sha256Hex(bytes); });
}

/** Every way the bundle loader (and the serving loader) refuses a version, with the reason the refusal must name. */
export const BROKEN: { what: string; reason: RegExp; make: (dir: string, n: number) => Promise<void> }[] = [
  { what: 'a missing file', reason: /files\.encoder: cannot read/, make: async (dir) => { await unlink(join(dir, 'encoder.onnx')); } },
  { what: 'a sha256 mismatch', reason: /files\.head .*sha256 is [0-9a-f]{64}, manifest says/, make: async (dir) => {
    await writeFile(join(dir, 'head.onnx'), Buffer.concat([await readFile(join(dir, 'head.onnx')), Buffer.from([0])]));
  } },
  { what: 'bytes onnxruntime cannot load', reason: /vision\.onnx: onnxruntime cannot load it/, make: (dir) => replaceFile(dir, 'vision', new TextEncoder().encode('not an onnx model')) },
  { what: 'tensor names off the manifest', reason: /vision\.onnx: output names \[image_features\]/, make: (dir) => replaceFile(dir, 'vision', tinyVision({ outputName: 'image_features' })) },
  { what: 'a tensor shape off the manifest', reason: /head\.onnx: input 'features' has shape/, make: (dir) => replaceFile(dir, 'head', tinyHead({ d: TINY_D + 1 })) },
  { what: 'NaN rewards on the warm-up set', reason: /warm-up: head\.onnx output rewards\[0\]\[1\] is NaN/, make: (dir) => replaceFile(dir, 'head', tinyHead({ nan: true })) },
  { what: 'an invalid manifest field', reason: /field 'calibration\.std': expected a positive number/, make: (dir) => patchManifest(dir, (m) => { m.calibration.std = -1; }) },
  { what: 'a manifest that is not JSON', reason: /valid JSON/, make: async (dir) => { await writeFile(join(dir, 'manifest.json'), '{"format": '); } },
  { what: 'a manifest version other than its directory', reason: /manifest version 1 is not its directory's version/, make: (dir) => patchManifest(dir, (m) => { m.version = 1; }) },
  { what: 'another model\'s bundle', reason: /manifest name 'other' is not the registry's model 'tiny'/, make: (dir) => patchManifest(dir, (m) => { m.name = 'other'; }) },
  { what: 'a head-only version whose parent lacks the shared file', reason: /ancestor|no path and no ancestor/, make: (dir) => patchManifest(dir, (m) => { m.parent = 1; delete m.files.vision.path; m.files.vision.sha256 = 'f'.repeat(64); }) },
];

/** Writes broken version n straight into the registry (no Registry.register checks). */
export async function addBrokenVersion(stateDir: string, n: number, make: (dir: string, n: number) => Promise<void>): Promise<string> {
  const dir = new Registry(stateDir, 'tiny').versionDir(n);
  await writeTinyBundle(dir, { version: n, head: headWithScale(0.1 * n) });
  await make(dir, n);
  return dir;
}
