/**
 * npm run build:learned: rebuild the learned bundle (trainer/torch) from its
 * seeds in one command: training data (seed 1, training paraphrases in half
 * the QA pairs), held-out data (seed 2, plus the held-out paraphrase slice),
 * then PyTorch through `mrm train`'s engine: the vision tower (4 stride-2
 * convs to an 8x8 grid, 8x cheaper than a stride-1 first layer for the same
 * cell accuracy, then 2 convs on the grid so a cell sees a whole shape;
 * recipe.ts LEARNED_ARCH) pretrained on the scene records of the training images
 * (recipe.ts LEARNED_PRETRAIN),
 * frozen, its cells handing over their colour/kind/size readings (embedded
 * through the words that name them, attention weighted to occupied cells); then the
 * grounding stage (claims about the training images, true or false) and
 * Bradley-Terry on the pairs; the bundle moved into place. Data and
 * checkpoints stay in var/build-learned, so an interrupted build continues
 * where it stopped (MRM_LEARNED_RESUME=1; the pretrained tower is kept in
 * the checkpoint directory as vision.pt).
 *
 * Sizes are environment variables so a small trial run uses the same script:
 * MRM_LEARNED_PAIRS, MRM_LEARNED_GROUND_STEPS,
 * MRM_LEARNED_EPOCHS, MRM_LEARNED_THREADS (2 on an idle machine; 1 when the
 * cores are shared, where two OpenMP threads wait on each other),
 * MRM_LEARNED_STAGE1_THREADS (default MRM_LEARNED_THREADS, which built the shipped bundle). The defaults are the recipe of trainer/torch/README.md
 * ("Measured"), where their CPU cost is measured and extrapolated. Round 4's
 * encoder and grounding flags (--pos-code, --slot-code, --text-pos-std,
 * --count-head) are left out: none moved the held-out numbers (README, round 4).
 *
 * Then (MRM_LEARNED_ROLES=1, the default) Round 6's role readout
 * (recipe.ts LEARNED_ROLES): two more grounding runs with the readout from
 * the first stage's grounded weights, then Bradley-Terry on the training
 * pairs, which replaces the first stage's. So that first stage stops after a
 * token Bradley-Terry run, and each stage is skipped on resume once its
 * checkpoint (grounded.pt) exists. MRM_LEARNED_ROLE_BT_EPOCHS and
 * MRM_LEARNED_ROLE_BT_STEPS (a cap, default recipe.ts's; 0 = none) size the last stage.
 * MRM_LEARNED_ROLES=0 builds the round-3 bundle as before. When the role
 * stages leave held-out position claims below LEARNED_ROLES.minPosition
 * (their readout never left its saddle) or the bundle's held-out accuracy
 * below LEARNED_ROLES.minAccuracy, they run again from stage 1 with the next
 * seed, at most LEARNED_ROLES.retries times; the best run that was not stuck
 * is kept (trainer/torch/role-attempts.ts), its grounded weights copied to
 * ckpt/roles-grounded.pt for bench:learned-noise, and the build fails only
 * when every run was stuck.
 */
import { existsSync } from 'node:fs';
import { copyFile, rename, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { seededAnnotator } from '../trainer/data/shapes.js';
import { writeDataset } from '../trainer/shapes/dataset.js';
import { toPreferenceRecord } from '../trainer/shapes/formats.js';
import { sampleParaphraseSplit, sampleSplit } from '../trainer/shapes/pairs.js';
import { streamPairImages } from '../trainer/shapes/render-pairs.js';
import { trainTorch } from '../trainer/torch/engine.js';
import { LEARNED_ARCH, LEARNED_BT, LEARNED_PRETRAIN, LEARNED_ROLES } from '../trainer/torch/recipe.js';
import { betterRun, judgeRoleRun, retryAfter, type RoleVerdict } from '../trainer/torch/role-attempts.js';

const out = process.argv[2] ?? 'models/shapes-mrm-learned';
const env = (k: string, d: number) => (process.env[k] ? Number(process.env[k]) : d);
const pairs = env('MRM_LEARNED_PAIRS', 20000);
const epochs = env('MRM_LEARNED_EPOCHS', LEARNED_BT.epochs);
const groundSteps = env('MRM_LEARNED_GROUND_STEPS', 1500);
const threads = env('MRM_LEARNED_THREADS', 2);
// Stage 1's threads apart: its result depends on them (OpenMP's reductions
// add in another order), and at a given count it is deterministic. The
// shipped bundle's stage 1 ran at 2 (vision.onnx 51c6d345,
// pretrain.cell_accuracy.shapes 0.9675284624099731); round 8's bundle had a
// 1-thread tower (d4248f28), and a 1-thread stage 1 costs 29 minutes
// against 12-15, time the role reruns need: so the default is the build's
// own thread count (trainer/torch/README.md, "Fresh builds").
const stage1Threads = env('MRM_LEARNED_STAGE1_THREADS', threads);
const roles = env('MRM_LEARNED_ROLES', 1) === 1;
const roleEpochs = env('MRM_LEARNED_ROLE_BT_EPOCHS', LEARNED_ROLES.bt.epochs);
const roleSteps = env('MRM_LEARNED_ROLE_BT_STEPS', LEARNED_ROLES.bt.maxSteps);
const resume = process.env.MRM_LEARNED_RESUME === '1';
const work = `var/build-learned/${pairs}`;
// A token Bradley-Terry run (a few steps) where a stage's own pairs are not
// the result: the trainer exports a bundle after every run, and only the
// grounded weights (ckpt/grounded.pt) go on to the next stage.
const TOKEN_EPOCHS = 0.01;

async function gen(dir: string, seed: number, n: number, reword: number, paraphrase: number): Promise<void> {
  if (existsSync(join(dir, 'train.json'))) return;
  const samples = [...sampleSplit(seed, n, undefined, { reword }), ...(paraphrase ? sampleParaphraseSplit(seed, paraphrase) : [])];
  const oracle = seededAnnotator(seed, {});
  await writeDataset(dir, samples.map((s) => toPreferenceRecord(s, oracle(s))!), 'llamafactory', streamPairImages(samples));
  console.log(`data: ${dir} (${samples.length} pairs)`);
}

const t0 = performance.now();
await gen(join(work, 'train'), 1, pairs, 0.5, 0);
await gen(join(work, 'heldout'), 2, Math.max(200, Math.round(pairs / 8)), 0, Math.max(100, Math.round(pairs / 20)));
const staging = join(work, 'bundle');
const ckpt = join(work, 'ckpt');
const common = { data: join(work, 'train'), threads, seed: 1, onEvent: (e: { event: string }) => console.log(JSON.stringify(e)) };
const times: Record<string, number> = {};
/** The checkpoints of role stage i (0-based). */
const roleDir = (i: number) => join(work, `ckpt-roles-${i + 1}`);

/** Runs one trainTorch stage unless `done` (its checkpoint) exists on resume; keeps its wall minutes. */
async function stage(name: string, done: string | null, run: () => Promise<Awaited<ReturnType<typeof trainTorch>> | null>) {
  if (resume && done && existsSync(done)) {
    console.log(JSON.stringify({ event: 'stage_skipped', stage: name, found: done }));
    return null;
  }
  const s0 = performance.now();
  await rm(staging, { recursive: true, force: true });
  const r = await run();
  times[name] = (performance.now() - s0) / 60000;
  console.log(JSON.stringify({ event: 'stage_done', stage: name, minutes: times[name] }));
  return r;
}

let r = await stage('pretrain+ground', roles ? join(ckpt, 'grounded.pt') : null, () => trainTorch({
  ...common, threads: stage1Threads, evalData: roles ? undefined : join(work, 'heldout'), out: staging, checkpoints: ckpt,
  resume, epochs: roles ? TOKEN_EPOCHS : epochs, batch: LEARNED_BT.batch,
  extraArgs: ['--log-every', '25', '--checkpoint-every', '100', ...LEARNED_PRETRAIN, '--freeze-vision',
    ...LEARNED_ARCH, '--ground-steps', String(groundSteps)],
}));
/**
 * The role stages from stage 1's grounded weights, with `seed` (the module's
 * initialization and the questions' order). Attempt 0 keeps the stage names
 * and checkpoints a resumed build looks for.
 */
async function roleStages(seed: number, attempt: number) {
  // Each grounding run starts from the previous one's grounded weights, the
  // tower from the first stage's; absolute paths, since the trainer runs in
  // its package directory.
  let from = join(ckpt, 'grounded.pt');
  let last: Awaited<ReturnType<typeof trainTorch>> | null = null;
  const n = LEARNED_ROLES.groundSteps.length;
  for (let i = 0; i < n; i++) {
    const dir = roleDir(i);
    const isLast = i === n - 1;
    const init = from;
    last = await stage(`roles-${i + 1}${attempt ? `-retry-${attempt}` : ''}`, isLast ? null : join(dir, 'grounded.pt'), () => trainTorch({
      ...common, seed, evalData: isLast ? join(work, 'heldout') : undefined, out: staging, checkpoints: dir,
      resume, epochs: isLast ? roleEpochs : TOKEN_EPOCHS, maxSteps: isLast && roleSteps ? roleSteps : undefined,
      batch: LEARNED_ROLES.bt.batch,
      extraArgs: ['--log-every', '25', '--checkpoint-every', '100', '--vision-from', resolve(ckpt, 'vision.pt'), '--init-from', resolve(init),
        '--freeze-vision', ...LEARNED_ARCH, ...LEARNED_ROLES.args, '--ground-steps', String(LEARNED_ROLES.groundSteps[i]),
        // A stage stuck in the saddle is rerun anyway: no Bradley-Terry on it.
        ...(isLast ? ['--bt-min-ground-position', String(LEARNED_ROLES.minPosition)] : [])],
    }));
    from = join(dir, 'grounded.pt');
  }
  return last;
}

if (roles) {
  // The role readout leaves chance on position claims only once its signed
  // pointers break a saddle (README, round 6), and in round 7 two of six role
  // stages never did in their 500 steps (held-out position claims 44-54%,
  // the bundle 73% instead of 86-88%). Runs that do leave it still differ by
  // seed (round 8: 96.4% and 98.2% held out from two stage-1 runs; round 9,
  // with four roles, left it in 5 of 6 runs). Both are
  // visible on the held-out split, so the role stages run again from stage 1
  // with the next seed, and the best run that was not stuck is kept.
  let kept: { run: NonNullable<typeof r>; verdict: RoleVerdict } | null = null;
  let complete = 0;
  for (let attempt = 0; ; attempt++) {
    const seed = common.seed + attempt;
    const run = await roleStages(seed, attempt);
    const verdict = judgeRoleRun(run?.manifest.metrics, LEARNED_ROLES);
    console.log(JSON.stringify({ event: 'roles_run', seed, verdict }));
    if (verdict.kind !== 'stuck') complete++;
    if (run && betterRun(verdict, kept?.verdict ?? null)) {
      // Out of the staging directory, which the next stage clears.
      const dir = join(work, `bundle-roles-seed-${seed}`);
      await rm(dir, { recursive: true, force: true });
      await rename(run.dir, dir);
      if (kept) await rm(kept.run.dir, { recursive: true, force: true });
      kept = { run: { ...run, dir }, verdict };
      // The kept run's label-free weights (before its Bradley-Terry steps), where
      // bench:learned-noise starts; the role directories belong to the next seed.
      await copyFile(join(roleDir(LEARNED_ROLES.groundSteps.length - 1), 'grounded.pt'), join(ckpt, 'roles-grounded.pt'));
    }
    if (!retryAfter(verdict, attempt, complete, LEARNED_ROLES)) break;
    console.log(JSON.stringify({ event: 'roles_retry', seed, reason: verdict, next: seed + 1 }));
    for (let i = 0; i < LEARNED_ROLES.groundSteps.length; i++) await rm(roleDir(i), { recursive: true, force: true });
  }
  if (!kept) {
    throw new Error(`build:learned: the role stages left held-out position claims below ${LEARNED_ROLES.minPosition * 100}% `
      + `with ${LEARNED_ROLES.retries + 1} seeds (their readout never left its saddle); nothing was moved to ${out}`);
  }
  if (kept.verdict.kind === 'below') {
    console.log(JSON.stringify({ event: 'roles_below_target', kept: kept.verdict, minAccuracy: LEARNED_ROLES.minAccuracy }));
  }
  r = kept.run;
}
if (!r) throw new Error('build:learned: every stage was skipped; nothing to export');
await rm(out, { recursive: true, force: true });
await rename(r.dir, out);
console.log(JSON.stringify({ out, metrics: r.manifest.metrics, stageMinutes: times, minutes: (performance.now() - t0) / 60000 }, null, 2));
