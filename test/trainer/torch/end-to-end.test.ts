/**
 * The learned model end to end, tiny: ShapesWorld data on disk -> a few
 * PyTorch steps (a real python3 child) -> ONNX export -> loadBundle -> a
 * server seeded with it -> rewards over gRPC, which must agree with
 * PyTorch's own rewards for the same pairs within 1e-4. Then a resumed run
 * picks up the checkpoint. And the path a Python trainer takes: `mrm serve`
 * as its own process (bin/mrm.js, what `npm start` runs) on the exported
 * bundle, and apt's grpcio client (examples/python/check_rewards.py) sending
 * 200 pairs the model never saw and comparing each reward, calibrated reward
 * and spread with mrm_torch.score's PyTorch numbers to 1e-4. Budget: 3 minutes on 2 cores; the timeouts are
 * wider because the development machine's 2 cores are shared by many (a
 * run there used about 40 s of CPU but several minutes of wall time).
 */
import { type ChildProcess } from 'node:child_process';
import { readFile, rm, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetDigest } from '../../../trainer/data/labeled-pair.js';
import { loadDataset } from '../../../trainer/data/datasets.js';
import { trainTorch, type TorchTrainResult } from '../../../trainer/torch/engine.js';
import { runCommand, spawnServer, startTestServer, type TestServer } from '../../serve/helpers.js';
import { runPython, writeShapesData } from './helpers.js';

// A tinier model than the shipped one: the point is the path, not accuracy.
// The shipped recipe's path, tiny: the tower pretrained on the PNGs' scene
// records, its cells' readings alone (tied to their words, attention on
// occupied cells), frozen, the grounding stage on
// claims about the images, then the pair steps.
const TINY = ['--channels', '8,16,16,16', '--strides', '2,2,2,2', '--d', '32', '--layers', '1', '--heads', '2', '--log-every', '1',
  '--pretrain-epochs', '1', '--pretrain-batch', '8', '--freeze-vision', '--attributes', 'only', '--tie-readings', '--attend-occupied', '--sink', '--ground-steps', '2', '--ground-batch', '4'];

let dir: string;
let trained: TorchTrainResult;
let server: TestServer | undefined;
let served: ChildProcess | undefined;
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

const run = (cmd: string, args: string[]) => runCommand(cmd, args, ROOT);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mrm-torch-e2e-'));
  await writeShapesData(join(dir, 'data'), 17, 20, 4);
  trained = await trainTorch({ data: join(dir, 'data'), out: join(dir, 'bundle'), maxSteps: 2, batch: 8, extraArgs: [...TINY, '--checkpoint-every', '1'] });
}, 600_000);
afterAll(async () => {
  await server?.close();
  if (served && served.exitCode === null) {
    const exited = new Promise((resolve) => served!.on('exit', resolve));
    served.kill('SIGTERM');
    await exited;
  }
  await rm(dir, { recursive: true, force: true });
});

describe('mrm_torch end to end', () => {
  it('trains with progress, exports a bundle that loads, with lineage and calibration', async () => {
    const kinds = trained.events.map((e) => e.event);
    expect(kinds[0]).toBe('start');
    expect(kinds.filter((k) => k === 'step')).toHaveLength(2);
    expect(kinds.indexOf('pretrained')).toBeGreaterThan(kinds.indexOf('pretrain_step'));
    expect(kinds.indexOf('pretrained')).toBeLessThan(kinds.indexOf('ground_step'));
    expect(kinds.indexOf('grounded')).toBeLessThan(kinds.indexOf('step'));
    expect(kinds.at(-1)).toBe('done');
    const m = trained.manifest;
    expect(m.name).toBe('shapes-mrm-learned');
    expect(m.io.vision.inputs[0]!.shape).toEqual(['N', 3, 128, 128]);
    expect(m.io.head.outputs[0]!.shape).toEqual(['N', 5]);
    expect(m.lineage.datasetDigest).toBe(datasetDigest(await loadDataset(join(dir, 'data'), 'llamafactory')));
    expect(m.calibration.std).toBeGreaterThan(0);
    expect(m.metrics['train.accuracy.overall']).toBeGreaterThanOrEqual(0);
    expect(m.metrics['pretrain.cell_accuracy.shapes']).toBeGreaterThanOrEqual(0);
    expect(m.metrics['ground.accuracy.overall']).toBeGreaterThanOrEqual(0);
  });

  it('serves it: rewards over gRPC equal PyTorch rewards within 1e-4', async () => {
    server = await startTestServer({ seedBundle: trained.dir });
    const pairs = await loadDataset(join(dir, 'data'), 'llamafactory');
    const torchOut = (await runPython('mrm_torch.score', ['--bundle', trained.dir, '--checkpoint', join(`${trained.dir}.ckpt`, 'final.pt'), '--data', join(dir, 'data')]))
      .trim().split('\n').map((l) => JSON.parse(l) as { id: string; chosen: number; rejected: number });
    expect(torchOut.map((r) => r.id)).toEqual(pairs.map((p) => p.id));
    const res = await server.score({
      items: pairs.flatMap((p) => [p.chosen, p.rejected].map((response) => ({
        images: p.images.map((data) => ({ data })), ...(p.system !== undefined ? { system: p.system } : {}), prompt: p.prompt, response,
      }))),
    });
    expect(res.model).toEqual({ name: 'shapes-mrm-learned', version: 1 });
    let worst = 0;
    const served: number[] = [];
    torchOut.forEach((t, i) => {
      const [c, r] = [res.items[2 * i]!.reward, res.items[2 * i + 1]!.reward];
      served.push(c, r);
      worst = Math.max(worst, Math.abs(c - t.chosen), Math.abs(r - t.rejected));
    });
    expect(worst).toBeLessThanOrEqual(1e-4);
    // Not a constant model: rewards differ between responses.
    expect(Math.max(...served) - Math.min(...served)).toBeGreaterThan(1e-3);
  }, 300_000);

  it('mrm serve as its own process, checked from Python with grpcio: 200 unseen pairs agree with PyTorch to 1e-4', async () => {
    await writeShapesData(join(dir, 'score'), 29, 180, 20);
    await runPython('mrm_torch.score', ['--bundle', trained.dir, '--checkpoint', join(`${trained.dir}.ckpt`, 'final.pt'), '--data', join(dir, 'score'),
      '--rewards', join(dir, 'torch-rewards.jsonl')]);
    const rows = (await readFile(join(dir, 'torch-rewards.jsonl'), 'utf8')).trim().split('\n');
    expect(rows).toHaveLength(200);
    let port: number;
    ({ proc: served, port } = await spawnServer(process.execPath, ['bin/mrm.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0',
      '--state-dir', join(dir, 'state'), '--seed-bundle', trained.dir], { cwd: ROOT }));
    const check = (file: string) => run('/usr/bin/python3', [join(ROOT, 'examples/python/check_rewards.py'), '--addr', `127.0.0.1:${port}`,
      '--rewards', file, '--images', join(dir, 'score', 'images'), '--wait', '30']);
    const ok = await check(join(dir, 'torch-rewards.jsonl'));
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toContain("server model [('shapes-mrm-learned', 1)]");
    expect(ok.out).toContain('pairs: 200; answered by the server: 200;');
    // The check can fail: one PyTorch reward moved by 2e-4 is caught.
    const row = JSON.parse(rows[17]!) as { rewards: { chosen: { reward: number } } };
    row.rewards.chosen.reward += 2e-4;
    rows[17] = JSON.stringify(row);
    await writeFile(join(dir, 'tampered.jsonl'), rows.join('\n') + '\n');
    const bad = await check(join(dir, 'tampered.jsonl'));
    expect(bad.code, bad.out).toBe(1);
    expect(bad.out).toContain('exceeds the tolerance');
  }, 300_000);

  it('resumes from its checkpoint', async () => {
    const again = await trainTorch({ data: join(dir, 'data'), out: join(dir, 'bundle2'), checkpoints: `${trained.dir}.ckpt`, resume: true, maxSteps: 3, batch: 8, extraArgs: TINY });
    const resume = again.events.find((e) => e.event === 'resume');
    expect(resume?.step).toBe(2);
    // The pretrained tower is reloaded, not pretrained again, and stays frozen:
    // the exported vision stage is the same file after one more pair step.
    expect(again.events.some((e) => e.event === 'resume_pretrain')).toBe(true);
    expect(again.events.some((e) => e.event === 'pretrain_step')).toBe(false);
    expect(again.manifest.files.vision.sha256).toBe(trained.manifest.files.vision.sha256);
    expect(again.manifest.files.encoder.sha256).not.toBe(trained.manifest.files.encoder.sha256);
    expect(again.events.filter((e) => e.event === 'step').map((e) => e.step)).toEqual([3]);
    expect(JSON.parse(await readFile(join(dir, 'bundle2', 'manifest.json'), 'utf8')).lineage.datasetDigest).toBe(trained.manifest.lineage.datasetDigest);
  }, 600_000);

  // build:learned reruns a role stage whose readout stayed in its saddle;
  // the gate saves that stage its Bradley-Terry steps. 1.01 no run can reach.
  it('skips Bradley-Terry when grounding leaves held-out position claims below --bt-min-ground-position', async () => {
    const gated = await trainTorch({ data: join(dir, 'data'), evalData: join(dir, 'data'), out: join(dir, 'gated'), checkpoints: join(dir, 'gated.ckpt'), maxSteps: 3, batch: 8,
      extraArgs: [...TINY, '--vision-from', join(`${trained.dir}.ckpt`, 'vision.pt'), '--bt-min-ground-position', '1.01'] });
    const position = gated.manifest.metrics?.['ground.accuracy.position'];
    expect(typeof position).toBe('number');
    expect(gated.events.find((e) => e.event === 'bt_skipped')).toMatchObject({ reason: 'ground.accuracy.position', value: expect.closeTo(position as number, 4), minimum: 1.01 });
    expect(gated.events.some((e) => e.event === 'step')).toBe(false);
    expect(gated.events.find((e) => e.event === 'done')?.steps).toBe(0);
    // No held-out evaluation either; the bundle is still written and loads.
    expect(Object.keys(gated.manifest.metrics ?? {}).some((k) => k.startsWith('accuracy.'))).toBe(false);
  }, 600_000);
});
