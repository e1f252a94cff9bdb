/**
 * A 'full' round's fine-tune: the whole learned model, in PyTorch, on the
 * round's curated set, starting from the weights of the version the round
 * improves (the torch.pt its bundle carries, trainer/torch/mrm_torch/export.py).
 * The engine is the one `mrm train --engine torch` runs (trainer/torch/engine.ts):
 * its own child process, progress relayed, and a result kept only if
 * loadBundle accepts it, so a crash or a bad export fails the step and leaves
 * nothing to register.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { loadBundle } from '../../src/model/bundle.js';
import { TORCH_KEY } from '../../src/model/manifest.js';
import { TorchTrainError, trainTorch, type TorchEvent, type TorchTrainOptions } from '../torch/engine.js';
import type { FullFitConfig, RoundConfig } from './config.js';
import { baseManifest, baseOf, registryOf, type BaseVersion } from './context.js';
import { exportLlamaFactory } from './export.js';
import type { Step, StepResult } from './runner.js';

/** Where a 'full' round keeps its candidate bundle, inside the round's folder. */
export const CANDIDATE_BUNDLE = 'candidate-bundle';
export const FINETUNE_FILE = 'finetune.json';

/** How the round starts the Python engine; tests put a failing stand-in here. */
export interface EngineOptions {
  python?: string;
}

export type FullFitErrorKind = 'no-torch-weights' | 'torch-sha-mismatch' | 'no-curated-pairs' | 'engine';

export class FullFitError extends Error {
  override readonly name = 'FullFitError';
  constructor(readonly kind: FullFitErrorKind, readonly version: number, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface TorchStart {
  torch: string;
  tokenizer: string;
  sha256: string;
}

async function fileSha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/**
 * The PyTorch weights and tokenizer of `base`, checked against its manifest;
 * a FullFitError naming the version when it has none (a program model, or a
 * head-only round's version, whose new head exists only as ONNX).
 */
export async function torchStart(cfg: RoundConfig, base: BaseVersion): Promise<TorchStart> {
  const m = await baseManifest(base);
  const ref = m.files[TORCH_KEY];
  if (!ref) {
    const what = m.lineage.roundId
      ? `it was made by head-only round ${m.lineage.roundId}, whose head exists only as ONNX`
      : 'it was not exported by trainer/torch (a program model such as models/shapes-mrm has none)';
    throw new FullFitError('no-torch-weights', base.version,
      `fit 'full': version ${base.version} of ${cfg.model} has no PyTorch weights (manifest files.${TORCH_KEY}): ${what}; run the round with fit 'head', or activate a learned version first`);
  }
  const registry = registryOf(cfg);
  const torch = await registry.resolveFile(base.version, TORCH_KEY);
  const sha = await fileSha256(torch);
  if (sha !== ref.sha256) {
    throw new FullFitError('torch-sha-mismatch', base.version, `fit 'full': version ${base.version}'s ${torch} has sha256 ${sha}, its manifest says ${ref.sha256}`);
  }
  return { torch, tokenizer: await registry.resolveFile(base.version, 'tokenizer'), sha256: sha };
}

/**
 * The engine call of a full fine-tune of `start` on the data set `data`: the
 * round's, and the one bench:learned-noise measures (so the benchmark's
 * "full round" row is this step's training, not a copy of it).
 */
export function finetuneOptions(full: FullFitConfig, start: Pick<TorchStart, 'torch' | 'tokenizer'>,
  o: { data: string; out: string; checkpoints: string; seed: number; threads: number; name: string; python?: string }): TorchTrainOptions {
  return {
    data: o.data, out: o.out, checkpoints: o.checkpoints,
    // A re-run after a kill continues from the last checkpoint (same data, same config).
    resume: true,
    epochs: full.epochs,
    ...(full.maxSteps > 0 ? { maxSteps: full.maxSteps } : {}),
    lr: full.lr, batch: full.batch, seed: o.seed, threads: o.threads, name: o.name,
    ...(o.python ? { python: o.python } : {}),
    extraArgs: ['--init-model', start.torch, '--tokenizer', start.tokenizer, ...(full.freezeVision ? ['--freeze-vision'] : [])],
  };
}

/** A finished candidate from an earlier attempt of this step (killed before it was marked done) is kept if it still loads. */
export async function loadable(dir: string): Promise<boolean> {
  if (!existsSync(dir)) return false;
  try {
    const { runtime } = await loadBundle(dir);
    await runtime.release();
    return true;
  } catch {
    return false;
  }
}

export function finetuneStep(cfg: RoundConfig, engine: EngineOptions = {}): Step {
  return {
    name: 'finetune',
    async run(ctx): Promise<StepResult> {
      const base = await baseOf(ctx.folder);
      const start = await torchStart(cfg, base);
      const out = ctx.folder.path(CANDIDATE_BUNDLE);
      const checkpoints = ctx.folder.path('candidate.ckpt');
      if (await loadable(out)) return { counts: { reused: 1 } };
      await rm(out, { recursive: true, force: true });
      // The engine reads data sets in the project's formats: the curated set as
      // `mrm round export` writes it (LLaMA-Factory ranking JSON + images).
      const data = ctx.folder.path('curated-llamafactory');
      await rm(data, { recursive: true, force: true });
      const ex = await exportLlamaFactory(cfg.stateDir, ctx.folder.id, data, { trainingYaml: false });
      if (ex.pairs === 0) throw new FullFitError('no-curated-pairs', base.version, `fit 'full': the curated set of round ${ctx.folder.id} has no labeled pairs to fine-tune on`);
      const m = await baseManifest(base);
      const steps: TorchEvent[] = [];
      let result;
      try {
        result = await trainTorch({
          ...finetuneOptions(cfg.full, start, { data, out, checkpoints, seed: cfg.seed, threads: cfg.threads, name: m.name, ...engine }),
          onEvent: (e) => {
            if (e.event !== 'step') return;
            steps.push(e);
            ctx.progress(Number(e.step), Number(e.steps));
          },
        });
      } catch (cause) {
        if (!(cause instanceof TorchTrainError)) throw cause;
        throw new FullFitError('engine', base.version, `fit 'full': fine-tuning version ${base.version} failed (${cause.kind}): ${cause.message}`, { cause });
      }
      const last = steps.at(-1);
      await ctx.folder.writeJson(FINETUNE_FILE, {
        from: { version: base.version, torchSha256: start.sha256 },
        pairs: ex.pairs, steps: last?.step ?? 0, loss: last?.loss ?? null, cpuSeconds: last?.cpu_seconds ?? null,
        files: Object.fromEntries(Object.entries(result.manifest.files).map(([k, f]) => [k, f.sha256])),
        calibration: result.manifest.calibration,
      });
      // The bundle holds the weights (torch.pt); the exported images and the optimizer state are not needed again.
      await rm(data, { recursive: true, force: true });
      await rm(checkpoints, { recursive: true, force: true });
      ctx.log.info('round.finetuned', { from: base.version, pairs: ex.pairs, steps: last?.step ?? 0 });
      return { counts: { pairs: ex.pairs, steps: Number(last?.step ?? 0) } };
    },
  };
}
