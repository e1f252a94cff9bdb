/**
 * The steps of one round after collect, in DESIGN.md's order. Each reads what
 * earlier steps wrote in the round's folder and writes its own output there;
 * the DT2IT arithmetic lives in trainer/dt2it, the judges behind PairLabeler.
 *
 *   label      judge the logged pairs in both orders (cached by content)
 *   construct  votes -> labels and strengths; hold out a share for the gate;
 *              chosen position balanced; training set = current set + judged
 *   t2i        add the reformulated T2I pairs; balance style and length
 *   curate     DT2IT curation (flip, fit, consistency, re-judge, merge) and
 *              the candidate fit
 *   finetune   ('full' rounds only) the whole learned model fine-tuned in
 *              PyTorch on the curated set (full-fit.ts)
 *   gate       candidate vs the version it improves, on trusted + held-out
 *              judged pairs; shadow comparison on logged traffic
 *   register   the candidate as a new version, head-only or a whole bundle
 *              (marked rejected in its manifest when the gate said no)
 *   activate   move the ACTIVE pointer if the gate passed; servers follow it
 *   report     report.html
 */
import { readFile, writeFile } from 'node:fs/promises';
import { buildHeadOnnx, type HeadWeights } from '../../src/model/onnx/heads.js';
import type { RoundFolder } from '../../src/rounds/folder.js';
import type { JudgeOrders, PairJudgment, PairLabeler, PairToJudge } from '../judges/types.js';
import { balancePosition, balanceStyle } from '../dt2it/balance.js';
import { constructFromJudgments } from '../dt2it/construct.js';
import { curateRound } from '../dt2it/curate-round.js';
import { fitRound } from '../dt2it/fit.js';
import type { GateDecision, ShadowReport } from '../dt2it/gate.js';
import { parseHeadOnnx } from '../dt2it/head-weights.js';
import type { RoundConfig } from './config.js';
import { collectStep, heldOut } from './collect.js';
import { featuresOf, withOwnFeatures } from './curate-features.js';
import { baseHead, baseOf } from './context.js';
import { ImageStore, loadPairs, savePairs, type StoredPair } from './pairs-file.js';
import { activateStep, registerStep } from './register.js';
import { reportStep } from './report-step.js';
import { finetuneStep, type EngineOptions } from './full-fit.js';
import { gateStep } from './gate-step.js';
import type { Step } from './runner.js';

export const STEP_NAMES = ['collect', 'label', 'construct', 't2i', 'curate', 'gate', 'register', 'activate', 'report'] as const;

/** A 'full' round fine-tunes between curation and the gate; a round's folder lists its steps, so a resumed round keeps its kind. */
export function stepNames(cfg: RoundConfig): string[] {
  return cfg.fit === 'full' ? STEP_NAMES.flatMap((s) => (s === 'gate' ? ['finetune', s] : [s])) : [...STEP_NAMES];
}

export interface GateOutput {
  decision: GateDecision;
  shadow: ShadowReport & { points: { active: number; candidate: number }[] };
  slices: { slice: string; pairs: number; active: number; candidate: number }[];
  calibration: { mean: number; std: number; n: number };
}

/** Pairs handed to the judge at a time: their images are read just before, a few hundred files at once, not all of a large log. */
const JUDGE_CHUNK = 256;

/**
 * A labeler that fills in image bytes from their references just before the
 * judge sees them: steps carry references, and only the pairs that reach a
 * judge cost a read, a chunk at a time (memory and open files stay bounded).
 */
function withImages(labeler: PairLabeler, refs: Map<string, string[]>, store: ImageStore): PairLabeler {
  return {
    model: labeler.model,
    stats: () => labeler.stats(),
    async label(pairs: PairToJudge[], opts: { orders: JudgeOrders; onProgress?: (done: number, total: number) => void }) {
      const out: PairJudgment[] = [];
      for (let i = 0; i < pairs.length; i += JUDGE_CHUNK) {
        const chunk = pairs.slice(i, i + JUDGE_CHUNK);
        const loaded = await Promise.all(chunk.map(async (p) => ({ ...p, images: p.images.length > 0 ? p.images : await Promise.all((refs.get(p.id) ?? []).map((r) => store.bytes(r))) })));
        out.push(...(await labeler.label(loaded, { orders: opts.orders, onProgress: (done) => opts.onProgress?.(i + done, pairs.length) })));
        store.forget();
      }
      return out;
    },
  };
}

const refsOf = (pairs: readonly StoredPair[]) => new Map(pairs.map((p) => [p.item.id, p.imageRefs]));

/** Steps keep image references; DT2IT functions return RoundPairs built from them by spread, so the references survive. */
const stored = (pairs: readonly unknown[]) => pairs as StoredPair[];

export function roundSteps(cfg: RoundConfig, labeler: PairLabeler, engine: EngineOptions = {}): Step[] {
  const store = new ImageStore(cfg.stateDir);
  return [
    collectStep(cfg),
    {
      name: 'label',
      async run(ctx) {
        const logged = await loadPairs(ctx.folder, 'logged');
        const judge = withImages(labeler, refsOf(logged), store);
        const before = labeler.stats();
        const judgments = await judge.label(logged.map((p) => p.item), { orders: 'both', onProgress: ctx.progress });
        await ctx.folder.writeJson('judgments.json', judgments);
        const after = labeler.stats();
        return { counts: { in: logged.length, judged: judgments.length, calls: after.calls - before.calls, cached: after.cached - before.cached, failed: after.failed - before.failed } };
      },
    },
    {
      name: 'construct',
      async run(ctx) {
        const logged = await loadPairs(ctx.folder, 'logged');
        const judgments = await ctx.folder.readJson<PairJudgment[]>('judgments.json');
        const built = constructFromJudgments(logged, judgments);
        const judged = stored(built.output.pairs);
        const train = judged.filter((p) => !heldOut(p.item.id, cfg.heldOutShare, cfg.seed));
        const held = judged.filter((p) => heldOut(p.item.id, cfg.heldOutShare, cfg.seed));
        const positioned = stored(balancePosition(train, cfg.seed).output);
        const current = await loadPairs(ctx.folder, 'base');
        await savePairs(ctx.folder, 'judged', positioned);
        await savePairs(ctx.folder, 'heldout', held);
        await savePairs(ctx.folder, 'constructed', [...current, ...positioned]);
        await ctx.folder.writeJson('strength.json', built.output.pairs.map((p) => p.strength ?? 0));
        return { counts: { ...built.counts, judgedTrain: train.length, heldOut: held.length, current: current.length, out: current.length + positioned.length } };
      },
    },
    {
      name: 't2i',
      async run(ctx) {
        const constructed = await loadPairs(ctx.folder, 'constructed');
        const t2i = await loadPairs(ctx.folder, 't2i');
        // T2I pairs already in the current set (a later round) are not added twice.
        const have = new Set(constructed.map((p) => p.item.id));
        const add = t2i.filter((p) => !have.has(p.item.id));
        const bal = balanceStyle([...constructed, ...add]);
        await savePairs(ctx.folder, 'train', stored(bal.output.pairs));
        await ctx.folder.writeJson('style.json', { before: bal.output.before, after: bal.output.after, maxWeight: bal.output.maxWeight });
        return { counts: { ...bal.counts, t2iAdded: add.length } };
      },
    },
    {
      name: 'curate',
      async run(ctx) {
        const pairs = await loadPairs(ctx.folder, 'train');
        const judged = await loadPairs(ctx.folder, 'judged');
        const base = await baseOf(ctx.folder);
        // Step 1's scoring models: the version being improved, and a model fitted
        // on this round's judge-constructed pairs alone, which has not seen the
        // base set and so does not share its biases (trainer/dt2it/curate.ts).
        // With curateWith, both are heads on that bundle's features, the first
        // fitted on the round's training set as it stands (the version's head
        // lives on other features).
        const [scoreOn, judgedOn] = cfg.curateWith ? await featuresOf(cfg, cfg.curateWith, [pairs, judged], store) : [pairs, judged];
        const scorers: HeadWeights[] = [cfg.curateWith ? fitRound(scoreOn!).weights : await baseHead(cfg, base)];
        if (judged.length > 0) scorers.push(fitRound(balanceStyle(judgedOn!).output.pairs).weights);
        const res = await curateRound(scoreOn!, { scorers, labeler: withImages(labeler, refsOf(pairs), store), confirmFlips: cfg.confirmFlips });
        // The candidate head and every later step work on the version's own features.
        const curated = cfg.curateWith ? withOwnFeatures(res.pairs, pairs) : res.pairs;
        const candidate = cfg.curateWith ? fitRound(curated) : res.candidate;
        await savePairs(ctx.folder, 'curated', stored(curated));
        await writeFile(ctx.folder.path('candidate-head.onnx'), buildHeadOnnx(candidate.weights));
        await ctx.folder.writeJson('candidate.json', { calibration: candidate.calibration, fit: candidate.report, funnel: res.funnel, counts: res.counts, scorers: scorers.length, curateWith: cfg.curateWith, confirmFlips: cfg.confirmFlips });
        return { counts: { ...res.funnel, scorers: scorers.length } };
      },
    },
    ...(cfg.fit === 'full' ? [finetuneStep(cfg, engine)] : []),
    gateStep(cfg),
    registerStep(cfg),
    activateStep(cfg),
    reportStep(cfg, labeler),
  ];
}

export async function candidateHead(folder: RoundFolder): Promise<HeadWeights> {
  return parseHeadOnnx(new Uint8Array(await readFile(folder.path('candidate-head.onnx'))));
}
