/**
 * The learned model end to end, tiny: ShapesWorld data on disk -> a few
 * PyTorch steps (a real python3 child) -> ONNX export -> loadBundle -> a
 * server seeded with it -> rewards over gRPC, which must agree with
 * PyTorch's own rewards for the same pairs within 1e-4. Then a resumed run
 * picks up the checkpoint. Budget: 3 minutes on 2 cores; the timeouts are
 * wider because the development machine's 2 cores are shared by many (a
 * run there used about 40 s of CPU but several minutes of wall time).
 */
import { readFile, rm, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetDigest } from '../../../trainer/data/labeled-pair.js';
import { loadDataset } from '../../../trainer/data/datasets.js';
import { trainTorch, type TorchTrainResult } from '../../../trainer/torch/engine.js';
import { startTestServer, type TestServer } from '../../serve/helpers.js';
import { runPython, writeShapesData } from './helpers.js';

// A tinier model than the shipped one: the point is the path, not accuracy.
const TINY = ['--channels', '8,16,16,16', '--d', '32', '--layers', '1', '--heads', '2', '--log-every', '1'];

let dir: string;
let trained: TorchTrainResult;
let server: TestServer | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'mrm-torch-e2e-'));
  await writeShapesData(join(dir, 'data'), 17, 20, 4);
  trained = await trainTorch({ data: join(dir, 'data'), out: join(dir, 'bundle'), maxSteps: 2, batch: 8, extraArgs: [...TINY, '--checkpoint-every', '1'] });
}, 600_000);
afterAll(async () => {
  await server?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('mrm_torch end to end', () => {
  it('trains with progress, exports a bundle that loads, with lineage and calibration', async () => {
    const kinds = trained.events.map((e) => e.event);
    expect(kinds[0]).toBe('start');
    expect(kinds.filter((k) => k === 'step')).toHaveLength(2);
    expect(kinds.at(-1)).toBe('done');
    const m = trained.manifest;
    expect(m.name).toBe('shapes-mrm-learned');
    expect(m.io.vision.inputs[0]!.shape).toEqual(['N', 3, 128, 128]);
    expect(m.io.head.outputs[0]!.shape).toEqual(['N', 5]);
    expect(m.lineage.datasetDigest).toBe(datasetDigest(await loadDataset(join(dir, 'data'), 'llamafactory')));
    expect(m.calibration.std).toBeGreaterThan(0);
    expect(m.metrics['train.accuracy.overall']).toBeGreaterThanOrEqual(0);
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

  it('resumes from its checkpoint', async () => {
    const again = await trainTorch({ data: join(dir, 'data'), out: join(dir, 'bundle2'), checkpoints: `${trained.dir}.ckpt`, resume: true, maxSteps: 3, batch: 8, extraArgs: TINY });
    const resume = again.events.find((e) => e.event === 'resume');
    expect(resume?.step).toBe(2);
    expect(again.events.filter((e) => e.event === 'step').map((e) => e.step)).toEqual([3]);
    expect(JSON.parse(await readFile(join(dir, 'bundle2', 'manifest.json'), 'utf8')).lineage.datasetDigest).toBe(trained.manifest.lineage.datasetDigest);
  }, 600_000);
});
