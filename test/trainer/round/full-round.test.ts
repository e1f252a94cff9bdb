/**
 * A 'full' round (fit: 'full') on real parts: a tiny learned bundle trained
 * by mrm_torch (a python3 child) serves Compare traffic (real gRPC) and logs
 * it; the round judges the logged pairs (the simulated judge over HTTP),
 * curates, fine-tunes the whole model in PyTorch from the served version's
 * torch.pt, gates the candidate by running its bundle on the gate pairs'
 * images, registers and activates it, and the server swaps to it. Then what
 * must fail does, with the active version unchanged: a crashing engine, an
 * export loadBundle rejects (shell scripts standing in for python, real
 * child processes), and a base version without PyTorch weights.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBundle } from '../../../src/model/bundle.js';
import type { Manifest } from '../../../src/model/manifest.js';
import { Registry } from '../../../src/model/registry.js';
import { RoundFolder } from '../../../src/rounds/folder.js';
import { DEFAULTS, type ServeConfig } from '../../../src/serve/config.js';
import { silentLogger } from '../../../src/serve/log.js';
import { createRewardClient, unary, type ScoreRequestMsg, type ScoreResponseMsg } from '../../../src/serve/proto.js';
import { startServer, type RunningServer } from '../../../src/serve/server.js';
import { loadDataset } from '../../../trainer/data/datasets.js';
import { scorePairs } from '../../../trainer/eval/evaluate.js';
import { evaluateRoundPairs } from '../../../trainer/dt2it/evaluate.js';
import { gatePairs as gatePairsOf } from '../../../trainer/dt2it/gate.js';
import { parseHeadOnnx } from '../../../trainer/dt2it/head-weights.js';
import { sideRewards } from '../../../trainer/dt2it/scoring.js';
import { startSimulatedJudge, type SimulatedJudge } from '../../../trainer/judges/simulated/server.js';
import type { PairLabeler } from '../../../trainer/judges/types.js';
import { parseRoundConfig, RoundConfigError } from '../../../trainer/round/config.js';
import { judgeLabeler, startRound } from '../../../trainer/round/main.js';
import { exportLlamaFactory } from '../../../trainer/round/export.js';
import { finetuneOptions } from '../../../trainer/round/full-fit.js';
import { ImageStore, loadPairs } from '../../../trainer/round/pairs-file.js';
import { featuresOf } from '../../../trainer/round/curate-features.js';
import { featurizePairs } from '../../../trainer/data/featurize.js';
import { writeTruthSet } from '../../../trainer/round/shapes-world.js';
import { sendTraffic } from './traffic.js';
import { DEFAULT_PYTHON, PACKAGE_DIR, trainTorch } from '../../../trainer/torch/engine.js';
import { writeShapesData } from '../torch/helpers.js';

// The tiny recipe of test/trainer/torch/end-to-end.test.ts: the path, not accuracy.
const TINY = ['--channels', '8,16,16,16', '--strides', '2,2,2,2', '--d', '32', '--layers', '1', '--heads', '2', '--log-every', '1',
  '--pretrain-epochs', '1', '--pretrain-batch', '8', '--freeze-vision', '--attributes', 'only', '--tie-readings', '--attend-occupied', '--sink', '--ground-steps', '2', '--ground-batch', '4'];
const MODEL = 'shapes-mrm-learned';

let dir: string;
let stateDir: string;
let bundle: string;
let server: RunningServer;
let judge: SimulatedJudge;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mrm-full-round-'));
  stateDir = join(dir, 'state');
  await writeShapesData(join(dir, 'base'), 17, 40, 4);
  await writeTruthSet(join(dir, 'gate'), 99, 60);
  bundle = (await trainTorch({ data: join(dir, 'base'), out: join(dir, 'learned'), maxSteps: 2, batch: 8, extraArgs: TINY })).dir;
  const config: ServeConfig = {
    ...DEFAULTS, host: '127.0.0.1', port: 0, stateDir, seedBundle: bundle, statsIntervalMs: 0,
    // Any free admin port: the default 50052 may be another test's.
    admin: { ...DEFAULTS.admin, port: 0 },
    // Every Compare pair is logged: a two-step model is unsure of everything.
    log: { ...DEFAULTS.log, enabled: true, band: 1e6, ratePerSec: 1e6, burst: 1e6, syncIntervalMs: 5 },
  };
  server = await startServer(config, silentLogger);
  await server.ready;
  judge = await startSimulatedJudge({ accuracy: 0.9 });
}, 120_000);

afterAll(async () => {
  await server?.shutdown('test done');
  await judge?.close();
  await rm(dir, { recursive: true, force: true });
});

/** The model version the server answers Score with. */
async function servedVersion(): Promise<number> {
  const client = createRewardClient(`127.0.0.1:${server.port}`);
  try {
    const res = await unary<ScoreRequestMsg, ScoreResponseMsg>(client.score.bind(client), { items: [{ prompt: 'How many circles?', response: 'Two.' }] });
    return res.model!.version;
  } finally {
    client.close();
  }
}

const config = (extra: Record<string, unknown> = {}) => parseRoundConfig({
  stateDir, model: MODEL, fit: 'full', full: { maxSteps: 3, batch: 8, lr: 0.01, freezeVision: false },
  base: { dir: join(dir, 'base'), format: 'llamafactory' }, gate: { dir: join(dir, 'gate'), format: 'llamafactory' },
  judge: { baseURL: judge.baseURL, model: 'judge-sim' }, minLogged: 0,
  // The wiring is under test, not whether three steps on a tiny model gain a point: the gate's numbers are checked below instead.
  gateMarginPts: -100, gateTolerancePts: 100, guardedSlices: ['grounded'], ...extra,
}, 'test');

async function failedRound(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the round to fail');
}

/** A stand-in for python that copies the learned bundle to --out, runs `tweak` there, and reports done. */
async function fakePython(name: string, body: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\nwhile [ $# -gt 0 ]; do if [ "$1" = --out ]; then out="$2"; fi; shift; done\n${body.replaceAll('BUNDLE', bundle)}\n`);
  await chmod(path, 0o755);
  return path;
}

describe("a 'full' round", () => {
  it('fine-tunes the served learned model, gates the candidate bundle on its own features, registers and activates it', async () => {
    await sendTraffic(server, 21, 40);
    const registry = new Registry(stateDir, MODEL);
    expect((await registry.active())!.version).toBe(1);
    const state = await startRound(config(), { log: silentLogger, labeler: judgeLabeler });
    const counts = Object.fromEntries(state.steps.map((s) => [s.name, s.counts]));
    expect(state.steps.map((s) => s.name)).toEqual(['collect', 'label', 'construct', 't2i', 'curate', 'finetune', 'gate', 'register', 'activate', 'report']);
    expect(state.status).toBe('finished');
    console.log(`full round, seconds per step: ${state.steps.map((s) => `${s.name} ${s.seconds}`).join(', ')}`);
    expect(counts.collect!.logged).toBe(40);
    expect(counts.finetune).toMatchObject({ steps: 3 });
    expect(counts.finetune!.pairs).toBeGreaterThan(40);
    expect(state.outcome?.decision, JSON.stringify(state.outcome)).toBe('activated');
    const v = state.outcome!.version!;
    expect((await registry.active())!.version).toBe(v);

    // A whole bundle: new stages, its own PyTorch weights for the next round, the round in its lineage.
    const list = await registry.list();
    const [m1, m2] = [1, v].map((n) => list.find((x) => x.version === n)!.manifest!) as [Manifest, Manifest];
    expect(m2.parent).toBe(1);
    expect(m2.lineage.roundId).toBe(state.id);
    expect(m2.metrics['gate.passed']).toBe(1);
    expect(m2.files.vision.sha256).not.toBe(m1.files.vision.sha256);
    expect(m2.files.encoder.path).toBe('encoder.onnx');
    expect(existsSync(await registry.resolveFile(v, 'torch'))).toBe(true);
    expect(m2.files.torch!.sha256).not.toBe(m1.files.torch!.sha256);

    // The gate scored the candidate with the candidate's stages: its rewards on
    // the gate pairs are the registered bundle's, through onnxruntime, and
    // not what the candidate head gives on the old tower's stored features.
    const folder = new RoundFolder(stateDir, state.id);
    const head = parseHeadOnnx(new Uint8Array(await readFile(await registry.resolveFile(v, 'head'))));
    const mine = sideRewards(head, await loadPairs(folder, 'gate.candidate'));
    const stale = sideRewards(head, await loadPairs(folder, 'gate'));
    const gatePairs = await loadDataset(join(dir, 'gate'), 'llamafactory');
    const { runtime } = await loadBundle(registry.versionDir(v));
    const served = await scorePairs(runtime, gatePairs).finally(() => runtime.release());
    let worst = 0;
    let moved = 0;
    gatePairs.forEach((_, i) => {
      worst = Math.max(worst, Math.abs(mine.ra[i]! - served.chosen[i]!), Math.abs(mine.rb[i]! - served.rejected[i]!));
      moved = Math.max(moved, Math.abs(stale.ra[i]! - served.chosen[i]!));
    });
    expect(worst).toBeLessThan(1e-4);
    expect(moved).toBeGreaterThan(1e-3);
    const gate = JSON.parse(await readFile(folder.path('gate.json'), 'utf8')) as { shadow: { pairs: number; agreement: number }; slices: { slice: string; candidate: number }[] };
    expect(gate.shadow.pairs).toBe(40);
    expect(gate.shadow.agreement).toBeGreaterThanOrEqual(0);
    // And the gate's numbers are those features' (a gate on the stored ones would differ here).
    const expected = evaluateRoundPairs(head, gatePairsOf(await loadPairs(folder, 'gate.candidate'), await loadPairs(folder, 'heldout.candidate')));
    expect(gate.slices.map((s) => [s.slice, s.candidate])).toEqual(expected.slices.map((s) => [s.slice, s.accuracy]));
    expect(gate.slices.find((s) => s.slice === 'grounded')).toBeDefined();
    expect(existsSync(folder.path('report.html'))).toBe(true);

    // The curated pairs' training weights (style/length balance) reach the PyTorch trainer as they reach the head fit.
    const exported = join(dir, 'exported');
    await exportLlamaFactory(stateDir, state.id, exported, { trainingYaml: false });
    const want = Object.fromEntries((await loadPairs(folder, 'curated')).filter((p) => p.label).map((p) => [p.item.id, p.weight ?? 1]));
    expect(Object.values(want).some((w) => w !== 1)).toBe(true);
    const read = spawnSync(DEFAULT_PYTHON, ['-c', 'import json, sys\nfrom mrm_torch.data import read_records\nprint(json.dumps({r["id"]: r["weight"] for r in read_records(sys.argv[1])}))', exported],
      { cwd: PACKAGE_DIR, env: { ...process.env, PYTHONPATH: PACKAGE_DIR }, encoding: 'utf8' });
    expect(read.status, read.stderr).toBe(0);
    expect(JSON.parse(read.stdout)).toEqual(want);

    // The server follows the ACTIVE pointer (hot swap), as after a head-only round.
    const until = Date.now() + 15_000;
    while ((await servedVersion()) !== v) {
      if (Date.now() > until) throw new Error(`the server still serves version ${await servedVersion()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }, 180_000);

  it('a crash of the Python engine fails the round with a clear error; the active version stays', async () => {
    const registry = new Registry(stateDir, MODEL);
    const before = await registry.active();
    const versions = (await registry.list()).length;
    const python = await fakePython('crashing-python', `echo '{"event": "start", "pairs": 1}'\necho 'mrm_torch.train: RuntimeError: out of memory' >&2\nexit 1`);
    const err = await failedRound(startRound(config(), { log: silentLogger, labeler: judgeLabeler, engine: { python } }));
    expect(err.message).toMatch(new RegExp(`round step 'finetune' failed: fit 'full': fine-tuning version ${before!.version} failed \\(crashed\\): .*exit 1.*mrm_torch\\.train: RuntimeError: out of memory`));
    expect(await registry.active()).toEqual(before);
    expect(await registry.list()).toHaveLength(versions);
  }, 120_000);

  it('an export that loadBundle rejects fails the round; nothing is registered', async () => {
    const registry = new Registry(stateDir, MODEL);
    const before = await registry.active();
    const versions = (await registry.list()).length;
    const python = await fakePython('corrupting-python', `mkdir -p "$out" && cp -r BUNDLE/. "$out" && printf x >> "$out/head.onnx"\necho '{"event": "done", "out": "x"}'`);
    const id = 'rbadexport';
    const err = await failedRound(startRound(config(), { log: silentLogger, labeler: judgeLabeler, engine: { python } }, id));
    expect(err.message).toMatch(/fine-tuning version \d+ failed \(bad-export\): the exported bundle does not load: .*files\.head.*sha256/);
    const state = await new RoundFolder(stateDir, id).load();
    expect(state.status).toBe('failed');
    expect(state.steps.find((s) => s.name === 'finetune')!.status).toBe('failed');
    expect(existsSync(new RoundFolder(stateDir, id).path('candidate-bundle'))).toBe(false);
    expect(await registry.active()).toEqual(before);
    expect(await registry.list()).toHaveLength(versions);
  }, 120_000);

  it('a base version without PyTorch weights (the program model) fails at collect, before any judge call, naming the version', async () => {
    const programState = join(dir, 'program-state');
    const registry = new Registry(programState, 'shapes-mrm');
    await registry.seedIfEmpty('models/shapes-mrm');
    const before = await registry.active();
    let judged = 0;
    const labeler: PairLabeler = { model: 'never', stats: () => ({ calls: judged, cached: 0, malformed: 0, leaking: 0, rateLimited: 0, serverErrors: 0, timeouts: 0, connectionErrors: 0, tokens: 0, failed: 0 }), label: async () => { judged++; return []; } };
    const id = 'rprogram';
    const err = await failedRound(startRound(config({ stateDir: programState, model: 'shapes-mrm' }), { log: silentLogger, labeler: async () => labeler }, id));
    expect(err.message).toMatch(/round step 'collect' failed: fit 'full': version 1 of shapes-mrm has no PyTorch weights \(manifest files\.torch\): it was not exported by trainer\/torch/);
    expect(judged).toBe(0);
    expect((await new RoundFolder(programState, id).load()).status).toBe('failed');
    expect(await registry.active()).toEqual(before);
    expect(await registry.list()).toHaveLength(1);
  }, 120_000);

  it('curateWith: step 1 scores on that bundle\'s features; the curated set keeps the version\'s own', async () => {
    const registry = new Registry(stateDir, MODEL);
    const before = await registry.active();
    // The program model as the scoring bundle: another encoder, another feature width than the learned version's.
    const other = 'models/shapes-mrm';
    const crashing = await fakePython('crash-after-curate', 'exit 3');
    await sendTraffic(server, 23, 30);
    const id = 'rcuratewith';
    const err = await failedRound(startRound(config({ curateWith: other, confirmFlips: true }), { log: silentLogger, labeler: judgeLabeler, engine: { python: crashing } }, id));
    expect(err.message).toMatch(/round step 'finetune' failed/);
    const folder = new RoundFolder(stateDir, id);
    expect((await folder.load()).steps.find((s) => s.name === 'curate')!.status).toBe('done');
    const train = await loadPairs(folder, 'train');
    const curated = await loadPairs(folder, 'curated');
    const own = new Map(train.map((p) => [p.item.id, p]));
    expect(curated.length).toBeGreaterThan(0);
    for (const p of curated) {
      expect(Array.from(p.fa)).toEqual(Array.from(own.get(p.item.id)!.fa));
      expect(Array.from(p.fb)).toEqual(Array.from(own.get(p.item.id)!.fb));
    }
    const cand = JSON.parse(await readFile(folder.path('candidate.json'), 'utf8')) as { curateWith: string; confirmFlips: boolean; counts: { consistency: Record<string, number>; flip: Record<string, number> } };
    expect(cand.curateWith).toBe(join(process.cwd(), other));
    expect(cand.confirmFlips).toBe(true);
    // Every flip went to the judges: none of them is among the pairs kept on the refit's agreement.
    expect(cand.counts.consistency.disputed).toBeGreaterThanOrEqual(cand.counts.flip.flipped!);
    expect(parseHeadOnnx(new Uint8Array(await readFile(folder.path('candidate-head.onnx')))).d).toBe(train[0]!.fa.length);
    // The scoring features are the other bundle's: what its stages give on the round's pairs' images and texts.
    const [scored] = await featuresOf(config({ curateWith: other }), other, [train.slice(0, 8)], new ImageStore(stateDir));
    const { runtime } = await loadBundle(other);
    const direct = await featurizePairs(runtime, await Promise.all(train.slice(0, 8).map(async (p) => ({
      id: p.item.id, images: await Promise.all(p.imageRefs.map((r) => new ImageStore(stateDir).bytes(r))), prompt: p.item.prompt,
      ...(p.item.system !== undefined ? { system: p.item.system } : {}), chosen: p.item.a, rejected: p.item.b,
    })))).finally(() => runtime.release());
    expect(scored![0]!.fa.length).toBe(direct.d);
    expect(direct.d).not.toBe(train[0]!.fa.length);
    scored!.forEach((p, i) => expect(Array.from(p.fb)).toEqual(Array.from(direct.rejected.subarray(i * direct.d, (i + 1) * direct.d))));
    // A directory that is not a bundle fails curation with the key's name; nothing changes.
    const bad = await failedRound(startRound(config({ curateWith: join(dir, 'nothing-here') }), { log: silentLogger, labeler: judgeLabeler }, 'rbadcuratewith'));
    expect(bad.message).toMatch(/round step 'curate' failed: curateWith: .*nothing-here is not a bundle that loads/);
    expect(await registry.active()).toEqual(before);
  }, 180_000);

  it('fit and full are validated where the config enters', () => {
    expect(parseRoundConfig({ stateDir, model: MODEL }, 't').fit).toBe('head');
    expect(parseRoundConfig({ stateDir, model: MODEL }, 't').curateWith).toBeNull();
    expect(parseRoundConfig({ stateDir, model: MODEL }, 't').confirmFlips).toBe(false);
    expect(() => parseRoundConfig({ stateDir, model: MODEL, confirmFlips: 'yes' }, 't')).toThrow(/confirmFlips/);
    expect(() => parseRoundConfig({ stateDir, model: MODEL, curateWith: '' }, 't')).toThrow(/curateWith/);
    expect(() => parseRoundConfig({ stateDir, model: MODEL, fit: 'partial' }, 't')).toThrow(/fit.*one of 'head', 'full', got 'partial'/);
    expect(() => parseRoundConfig({ stateDir, model: MODEL, full: { steps: 3 } }, 't')).toThrow(RoundConfigError);
    expect(() => parseRoundConfig({ stateDir, model: MODEL, full: { lr: 0 } }, 't')).toThrow(/full\.lr.*positive/);
    expect(() => parseRoundConfig({ stateDir, model: MODEL, full: { freezeVision: 'yes' } }, 't')).toThrow(/full\.freezeVision/);
    // By default the tower stays as pretrained; the test above trains it (freezeVision: false) to see a whole new bundle.
    const start = { torch: '/v/torch.pt', tokenizer: '/v/tokenizer.json' };
    const o = { data: 'd', out: 'o', checkpoints: 'c', seed: 1, threads: 1, name: 'n' };
    expect(finetuneOptions(parseRoundConfig({ stateDir, model: MODEL }, 't').full, start, o).extraArgs).toEqual(['--init-model', '/v/torch.pt', '--tokenizer', '/v/tokenizer.json', '--freeze-vision']);
    expect(finetuneOptions(parseRoundConfig({ stateDir, model: MODEL, full: { freezeVision: false } }, 't').full, start, o).extraArgs).not.toContain('--freeze-vision');
  });
});
