/**
 * What the TypeScript side does when the Python side goes wrong: a crash, a
 * clean exit without a result, and an export that does not load are each
 * one TorchTrainError with its kind, and nothing is left at --out. The
 * failing trainers are real child processes: the real package on bad data,
 * and small shell scripts standing in for python that speak its protocol.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PYTHON, PACKAGE_DIR, TorchTrainError, trainTorch } from '../../../trainer/torch/engine.js';
import { writeShapesData } from './helpers.js';
import { writeTinyBundle } from '../../fixtures/tiny-bundle.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mrm-torch-engine-'));
  await writeTinyBundle(join(dir, 'template'));
  await mkdir(join(dir, 'empty-data'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A stand-in for python that copies the tiny bundle to --out, runs `tweak` there, and reports done. */
async function fakePython(name: string, tweak: string, done = true): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh
while [ $# -gt 0 ]; do if [ "$1" = --out ]; then out="$2"; fi; shift; done
mkdir -p "$out" && cp -r "${join(dir, 'template')}/." "$out" && cd "$out" && ${tweak}
echo '{"event": "start", "pairs": 1}'
${done ? `echo '{"event": "done", "out": "x"}'` : ''}
`);
  await chmod(path, 0o755);
  return path;
}

async function failure(p: Promise<unknown>): Promise<TorchTrainError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof TorchTrainError) return err;
    throw err;
  }
  throw new Error('expected a TorchTrainError');
}

describe('trainTorch failures', () => {
  it('a crash of the Python trainer is one clear error, and nothing is written', async () => {
    const out = join(dir, 'crashed');
    const e = await failure(trainTorch({ data: join(dir, 'empty-data'), out }));
    expect(e.kind).toBe('crashed');
    expect(e.message).toMatch(/exit 1\).*mrm_torch\.train: DatasetError: .*no train\.json/);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.staging`)).toBe(false);
  }, 60_000);

  it('an export that does not load is refused and removed', async () => {
    const out = join(dir, 'bad-export');
    const python = await fakePython('corrupting-python', 'printf x >> head.onnx');
    const e = await failure(trainTorch({ data: join(dir, 'empty-data'), out, python }));
    expect(e.kind).toBe('bad-export');
    expect(e.message).toMatch(/does not load: .*files\.head.*sha256/);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(`${out}.staging`)).toBe(false);
  });

  it('the same trainer with an intact export is accepted (the fake is not what fails)', async () => {
    const out = join(dir, 'good-export');
    const r = await trainTorch({ data: join(dir, 'empty-data'), out, python: await fakePython('honest-python', 'true') });
    expect(r.manifest.name).toBe('tiny');
    expect(r.events.map((x) => x.event)).toEqual(['start', 'done']);
    expect(existsSync(join(out, 'manifest.json'))).toBe(true);
    // A finished bundle is never overwritten.
    expect((await failure(trainTorch({ data: join(dir, 'empty-data'), out, python: await fakePython('again', 'true') }))).kind).toBe('exists');
  });

  it('an exit without a reported export is an error, and a missing python is one too', async () => {
    const out = join(dir, 'no-result');
    const e = await failure(trainTorch({ data: join(dir, 'empty-data'), out, python: await fakePython('quiet-python', 'true', false) }));
    expect(e.kind).toBe('no-result');
    expect(existsSync(out)).toBe(false);
    expect((await failure(trainTorch({ data: dir, out, python: join(dir, 'no-such-python') }))).kind).toBe('spawn-failed');
  });

  it('mrm train exits non-zero with the error on one line', () => {
    const r = spawnSync(process.execPath, ['bin/mrm.js', 'train', '--engine', 'torch', '--data', join(dir, 'empty-data'), '--out', join(dir, 'cli-out')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^mrm train: crashed: the PyTorch trainer failed \(exit 1\): mrm_torch\.train: DatasetError/m);
    expect(existsSync(join(dir, 'cli-out'))).toBe(false);
    const usage = spawnSync(process.execPath, ['bin/mrm.js', 'train', '--engine', 'jax', '--data', dir, '--out', join(dir, 'x')], { encoding: 'utf8' });
    expect(usage.status).toBe(2);
    expect(usage.stderr).toMatch(/--engine: expected one of torch, got 'jax'/);
  }, 60_000);

  it('mrm train hands everything after a lone -- to the engine, and refuses a stray argument', async () => {
    const argsFile = join(dir, 'engine-args.txt');
    const python = await fakePython('recording-python', `printf '%s\\n' "$ARGS" > ${argsFile}`);
    // The fake's argument loop shifts "$@" away, so the wrapper keeps a copy in ARGS first.
    const wrapper = join(dir, 'args-python');
    await writeFile(wrapper, `#!/bin/sh\nARGS="$*" exec ${python} "$@"\n`);
    await chmod(wrapper, 0o755);
    const out = join(dir, 'cli-extra');
    const r = spawnSync(process.execPath, ['bin/mrm.js', 'train', '--engine', 'torch', '--data', join(dir, 'empty-data'), '--out', out, '--python', wrapper, '--', '--ground-steps', '7', '--sink'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const passed = (await readFile(argsFile, 'utf8')).trim();
    expect(passed).toMatch(/ --ground-steps 7 --sink$/);
    expect(passed).toMatch(/^-m mrm_torch\.train --data /);
    const stray = spawnSync(process.execPath, ['bin/mrm.js', 'train', '--engine', 'torch', '--data', dir, '--out', join(dir, 'y'), 'extra'], { encoding: 'utf8' });
    expect(stray.status).toBe(2);
    expect(stray.stderr).toMatch(/unexpected argument extra; engine flags go after a lone --/);
  }, 60_000);

  it('a trainer whose parent is gone (the round or mrm train killed with -9) stops instead of training for nobody', async () => {
    await writeShapesData(join(dir, 'orphan-data'), 3, 8);
    const log = join(dir, 'orphan.log');
    // The shell starts the real trainer on a run far longer than the test, says its pid, and exits: the trainer is orphaned.
    const sh = spawnSync('/bin/sh', ['-c', `cd ${PACKAGE_DIR} && PYTHONPATH=. ${DEFAULT_PYTHON} -m mrm_torch.train --data ${join(dir, 'orphan-data')} --out ${join(dir, 'orphan')} \
      --epochs 100000 --batch 4 --channels 4,4 --strides 4,4 --grid 8 --d 8 --layers 1 --heads 1 --exit-with-parent $$ >/dev/null 2>${log} & echo $!`], { encoding: 'utf8' });
    const pid = Number(sh.stdout.trim());
    expect(pid).toBeGreaterThan(0);
    // Gone or a zombie (an orphan's new parent may not reap it at once).
    const alive = () => { try { return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); } catch { return false; } };
    const until = Date.now() + 60_000;
    while (alive() && Date.now() < until) await new Promise((r) => setTimeout(r, 200));
    const stopped = !alive();
    if (!stopped) process.kill(pid, 'SIGKILL');
    expect(stopped).toBe(true);
    // Either the watcher thread said why, or the kernel's parent-death signal
    // (set when the shell was still its direct parent) ended it first.
    const said = await readFile(log, 'utf8');
    if (said.trim()) expect(said).toMatch(/mrm_torch\.train: parent process \d+ is gone; exiting/);
    expect(existsSync(join(dir, 'orphan'))).toBe(false);
  }, 90_000);
});
