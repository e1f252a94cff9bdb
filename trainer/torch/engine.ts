/**
 * The PyTorch engine seen from TypeScript: start `python3 -m mrm_torch.train`
 * (the package beside this file), relay its JSON progress lines, and accept
 * its result only if src/model's loadBundle accepts it. Training writes into
 * a staging directory that becomes `out` only after validation, so a crash
 * or a bad export leaves nothing at `out` for anything to register.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBundle } from '../../src/model/bundle.js';
import { readManifest, type Manifest } from '../../src/model/manifest.js';

export const PACKAGE_DIR = dirname(fileURLToPath(import.meta.url));
/** apt's python3-torch and python3-onnx install into the system python; the python3 on PATH may be another. */
export const DEFAULT_PYTHON = '/usr/bin/python3';

export type TorchTrainErrorKind = 'exists' | 'spawn-failed' | 'crashed' | 'no-result' | 'bad-export';

export class TorchTrainError extends Error {
  override readonly name = 'TorchTrainError';
  constructor(readonly kind: TorchTrainErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface TorchEvent {
  event: string;
  [key: string]: unknown;
}

export interface TorchTrainOptions {
  data: string;
  out: string;
  epochs?: number;
  maxSteps?: number;
  batch?: number;
  seed?: number;
  lr?: number;
  threads?: number;
  resume?: boolean;
  evalData?: string;
  /** Default `${out}.ckpt`; kept after success so a longer run can resume. */
  checkpoints?: string;
  name?: string;
  python?: string;
  /** Further flags for mrm_torch.train, passed as they are. */
  extraArgs?: string[];
  onEvent?: (e: TorchEvent) => void;
  /** Lines on stderr that are not the final error (warnings). */
  onStderr?: (line: string) => void;
}

export interface TorchTrainResult {
  dir: string;
  manifest: Manifest;
  events: TorchEvent[];
}

function flags(o: TorchTrainOptions, staging: string): string[] {
  const f: string[] = ['-m', 'mrm_torch.train', '--data', resolve(o.data), '--out', staging, '--checkpoints', resolve(o.checkpoints ?? `${o.out}.ckpt`)];
  const opt = (name: string, v: number | string | undefined) => { if (v !== undefined) f.push(`--${name}`, String(v)); };
  opt('epochs', o.epochs);
  opt('max-steps', o.maxSteps);
  opt('batch', o.batch);
  opt('seed', o.seed);
  opt('lr', o.lr);
  opt('threads', o.threads);
  opt('name', o.name);
  opt('eval-data', o.evalData === undefined ? undefined : resolve(o.evalData));
  if (o.resume) f.push('--resume');
  // Its result is only ever kept by this process: if it dies, the trainer stops too.
  f.push('--exit-with-parent', String(process.pid));
  return [...f, ...(o.extraArgs ?? [])];
}

/** Runs the Python trainer to completion; resolves with the validated bundle at `out`. */
export async function trainTorch(o: TorchTrainOptions): Promise<TorchTrainResult> {
  const out = resolve(o.out);
  if (existsSync(out)) throw new TorchTrainError('exists', `${out} exists; give a new --out (a finished bundle is never overwritten)`);
  const staging = `${out}.staging`;
  await rm(staging, { recursive: true, force: true });
  const events: TorchEvent[] = [];
  const stderr: string[] = [];
  const python = o.python ?? DEFAULT_PYTHON;
  const code = await new Promise<number | string>((done, fail) => {
    const child = spawn(python, flags(o, staging), {
      cwd: PACKAGE_DIR,
      env: { ...process.env, PYTHONPATH: PACKAGE_DIR, PYTHONUNBUFFERED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.on('error', (err) => fail(new TorchTrainError('spawn-failed', `cannot start ${python}: ${err.message}`, { cause: err })));
    lines(child.stdout, (line) => {
      let e: TorchEvent;
      try {
        e = JSON.parse(line) as TorchEvent;
      } catch {
        o.onStderr?.(line); // stray prints from libraries are shown, not parsed
        return;
      }
      events.push(e);
      o.onEvent?.(e);
    });
    lines(child.stderr, (line) => {
      stderr.push(line);
      if (stderr.length > 200) stderr.shift();
      o.onStderr?.(line);
    });
    child.on('close', (c, signal) => done(c ?? `signal ${signal}`));
  });
  if (code !== 0) {
    await rm(staging, { recursive: true, force: true });
    // The trainer's own one-line summary if it wrote one, else the last lines.
    const summary = stderr.find((l) => l.startsWith('mrm_torch.train:')) ?? stderr.slice(-5).join('\n');
    throw new TorchTrainError('crashed', `the PyTorch trainer failed (exit ${code}): ${summary || '(no output on stderr)'}`);
  }
  if (!events.some((e) => e.event === 'done')) {
    await rm(staging, { recursive: true, force: true });
    throw new TorchTrainError('no-result', 'the PyTorch trainer exited 0 without reporting a finished export');
  }
  try {
    const { runtime } = await loadBundle(staging);
    await runtime.release();
  } catch (cause) {
    await rm(staging, { recursive: true, force: true });
    throw new TorchTrainError('bad-export', `the exported bundle does not load: ${(cause as Error).message}`, { cause });
  }
  await rename(staging, out);
  return { dir: out, manifest: await readManifest(resolve(out, 'manifest.json')), events };
}

function lines(stream: NodeJS.ReadableStream, each: (line: string) => void): void {
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    buf += chunk;
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).trimEnd();
      buf = buf.slice(i + 1);
      if (line) each(line);
    }
  });
  stream.on('end', () => { if (buf.trim()) each(buf.trim()); });
}
