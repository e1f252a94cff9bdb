/**
 * npm run bench:learned-noise: issue 15's noisy-set claim. The learned MRM
 * and the head-only model on bench:dt2it's data (same seeds, same noisy
 * base set, same judge, same evaluation split): how much the noise costs
 * each, and how much of the learned model's loss a full DT2IT round wins
 * back. bench:dt2it's data, pipeline and judge are imported, not copied.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { labeledShapesPairs } from '../../trainer/data/shapes.js';
import { fitRound } from '../../trainer/dt2it/fit.js';
import { finetuneOptions } from '../../trainer/round/full-fit.js';
import { ROUND_DEFAULTS } from '../../trainer/round/config.js';
import { evalData, evalSamples, EVAL_SEED, NOISE, seedData, type DataContext } from '../bench-dt2it/data.js';
import { benchJudge, DEFAULT_JUDGE } from '../bench-dt2it/judge.js';
import { row, runSeed, SLICES, type Row } from '../bench-dt2it/rows.js';
import { checkClaims, formatRows, gapBySlice, meanRows, type BenchRow, type Roles } from './gap.js';
import { btOptions, checkLabelFree, labelFreeBaseOptions, evalBundle, torchFiles, trainOnce, writePairs, type Trained } from './learned.js';
import { parseOptions } from './options.js';

const headRow = (r: Row, name: string): BenchRow => ({ name, side: 'head', accuracy: r.accuracy, trainPairs: r.trainPairs, labelAccuracy: r.labelAccuracy });

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  checkLabelFree(o.visionFrom, o.initFrom);
  const t0 = performance.now();
  console.log(`recipe ${o.recipe}; label-free start (no preference label seen): tower ${o.visionFrom} (pretrained on scene records), encoder+heads ${o.initFrom} (grounded on scene claims)`);
  console.log(`start set noise: ${JSON.stringify(NOISE)}; sizes ${JSON.stringify(o.sizes)}; rounds ${o.rounds}; curation features ${o.curateFeatures}${o.confirmFlips ? ', flips confirmed by the judges' : ''}; judge ${JSON.stringify(DEFAULT_JUDGE)}; threads ${o.threads}`);
  const program: DataContext = { model: o.model, cache: o.featureCache, threads: o.threads };
  const evalHead = await evalData(program, o.sizes.eval);
  // What `mrm eval --seed 99 --n EVAL` scores: the same samples, chosen = the truth.
  const evalPairs = await labeledShapesPairs(evalSamples(o.sizes.eval));
  // Bundles are reused by a re-run: the two recipes keep theirs apart (arch where it always was).
  const root = o.recipe === 'arch' ? o.work : join(o.work, 'roles');
  const perSeed: { seed: number; rows: BenchRow[]; roles: Roles; trainings: Record<string, Trained>; seconds: Record<string, number>; pipeline: Record<string, Row[]> }[] = [];
  for (let seed = o.firstSeed; seed <= o.seeds; seed++) {
    const sec: Record<string, number> = {};
    const lap = (k: string, since: number) => { sec[k] = (performance.now() - since) / 1000; return performance.now(); };
    let t = performance.now();
    const dir = join(root, `seed-${seed}`);
    const d = await seedData(program, seed, o.sizes, NOISE);
    t = lap('data', t);

    // Head-only side: bench:dt2it's rows, plus an oracle on the base pairs alone (what the learned oracle trains on).
    const j = await benchJudge(DEFAULT_JUDGE, seed);
    const head = await runSeed(d, evalHead, j.labeler, { seed, rounds: o.rounds, fit: {}, scorerAblation: false }).finally(() => j.close());
    const baseTruth = d.base.map((p) => ({ ...p, label: p.truth!, weight: 1 }));
    const headOracle = row('oracle (true labels, base pairs)', fitRound(baseTruth, { fit: { seed } }).weights, baseTruth, evalHead);
    t = lap('head', t);

    // Learned side: Bradley-Terry from the label-free checkpoints, on the noisy labels and on the truth.
    const bt = { visionFrom: o.visionFrom, initFrom: o.initFrom, seed, threads: o.threads, recipe: o.recipe };
    await writePairs(join(dir, 'data-noisy'), d.base);
    await writePairs(join(dir, 'data-oracle'), baseTruth);
    const noisy = await trainOnce('learned, noisy', btOptions(join(dir, 'data-noisy'), join(dir, 'noisy'), { ...bt, name: 'learned-noisy' }));
    t = lap('trainNoisy', t);
    const oracle = await trainOnce('learned, oracle', btOptions(join(dir, 'data-oracle'), join(dir, 'oracle'), { ...bt, name: 'learned-oracle' }));
    t = lap('trainOracle', t);

    // The same DT2IT pipeline, its scoring heads on the features of the label-free base (a round's
    // curateWith) or of the noisy learned model itself; then a 'full' round's fine-tune on its curated set.
    const base = o.curateFeatures === 'base'
      ? await trainOnce('label-free base (0 steps)', labelFreeBaseOptions(join(dir, 'data-noisy'), join(root, 'label-free-base'), bt))
      : noisy;
    const learnedCtx: DataContext = { model: base.dir, cache: o.featureCache, threads: o.threads };
    const ld = await seedData(learnedCtx, seed, o.sizes, NOISE);
    const lEval = await evalData(learnedCtx, o.sizes.eval);
    const j2 = await benchJudge(DEFAULT_JUDGE, seed);
    const learnedHeads = await runSeed(ld, lEval, j2.labeler, { seed, rounds: o.rounds, fit: {}, scorerAblation: false, confirmFlips: o.confirmFlips }).finally(() => j2.close());
    t = lap('curate', t);
    console.log(`labels right after each step (curation features ${o.curateFeatures}, confirmFlips ${o.confirmFlips}): ${learnedHeads.rows.slice(0, -1).map((r) => `${r.name} ${(100 * r.labelAccuracy).toFixed(1)}%`).join('; ')}`);
    // Kept apart per scorer features: a re-run with the other choice must not reuse this one's set or bundle.
    const tag = `${o.curateFeatures === 'base' ? '-base' : ''}${o.confirmFlips ? '-confirm' : ''}`;
    const curatedPairs = await writePairs(join(dir, `data-curated${tag}`), learnedHeads.curated);
    const start = await torchFiles(noisy.dir);
    const round = await trainOnce('learned, full round', finetuneOptions(ROUND_DEFAULTS.full, start, {
      data: join(dir, `data-curated${tag}`), out: join(dir, `round${tag}`), checkpoints: join(dir, `round${tag}.ckpt`), seed, threads: o.threads, name: 'learned-round',
    }));
    t = lap('trainRound', t);
    // Diagnostic: the same fine-tune on the head side's curated set, whose step-1 scorers are heads on the program
    // model's stages. It separates what the learned round's curation could label from what the fine-tune can learn.
    const clean = o.diagnostic ? await (async () => {
      const pairs = await writePairs(join(dir, 'data-curated-program'), head.curated);
      const tr = await trainOnce('learned, full round on program-curated set', finetuneOptions(ROUND_DEFAULTS.full, start, {
        data: join(dir, 'data-curated-program'), out: join(dir, 'round-program-curated'), checkpoints: join(dir, 'round-program-curated.ckpt'), seed, threads: o.threads, name: 'learned-round-program-curated',
      }));
      return { pairs, tr };
    })() : null;
    t = lap('trainRoundProgramCurated', t);

    const learnedRow = async (name: string, tr: Trained, trainPairs: number, labelAccuracy: number): Promise<BenchRow> =>
      ({ name, side: 'learned', accuracy: await evalBundle(tr.dir, evalPairs, o.threads), trainPairs, labelAccuracy });
    const headNoisy = headRow(head.rows[0]!, 'head: start (noisy set)');
    const headRound = headRow(head.rows[head.rows.length - 2]!, `head: + DT2IT, ${head.rows[head.rows.length - 2]!.name.slice(2)}`);
    const headAll = headRow(head.rows[head.rows.length - 1]!, 'head: oracle (true labels, all data)');
    const headBase = headRow(headOracle, 'head: oracle (true labels, base pairs)');
    const lHeads = learnedHeads.rows[learnedHeads.rows.length - 2]!;
    const roles: Roles = {
      headNoisy, headOracle: headBase,
      learnedNoisy: await learnedRow('learned: noisy set', noisy, head.rows[0]!.trainPairs, head.rows[0]!.labelAccuracy),
      learnedOracle: await learnedRow('learned: oracle (true labels, base pairs)', oracle, baseTruth.length, 1),
      learnedRound: await learnedRow(`learned: + DT2IT full round (${o.rounds} curations)`, round, curatedPairs, lHeads.labelAccuracy),
    };
    const cleanRow = clean ? await learnedRow('learned: full round on the head side\'s curated set', clean.tr, clean.pairs, head.rows[head.rows.length - 2]!.labelAccuracy) : null;
    lap('eval', t);
    const rows: BenchRow[] = [
      headNoisy, headRound, headBase, headAll,
      roles.learnedNoisy,
      { name: `learned: curation heads (${o.curateFeatures} features), round ${o.rounds}`, side: 'learned', accuracy: lHeads.accuracy, trainPairs: lHeads.trainPairs, labelAccuracy: lHeads.labelAccuracy },
      roles.learnedRound, ...(cleanRow ? [cleanRow] : []), roles.learnedOracle,
    ];
    perSeed.push({
      seed, rows, roles, trainings: { noisy, oracle, round, ...(clean ? { roundProgramCurated: clean.tr } : {}) }, seconds: sec,
      // Every pipeline row on both sides (label accuracy, funnel): where the learned side's curation stops cleaning labels.
      pipeline: { head: head.rows, learnedFeatures: learnedHeads.rows },
    });
    console.log(`\nseed ${seed} (${JSON.stringify(Object.fromEntries(Object.entries(sec).map(([k, v]) => [k, Math.round(v)])))} s)`);
    console.log(formatRows(rows));
  }
  const rows = meanRows(perSeed.map((s) => s.rows));
  const roleOf = (name: string) => rows.find((r) => r.name === name)!;
  const r0 = perSeed[0]!.roles;
  const roles: Roles = {
    headNoisy: roleOf(r0.headNoisy.name), headOracle: roleOf(r0.headOracle.name),
    learnedNoisy: roleOf(r0.learnedNoisy.name), learnedOracle: roleOf(r0.learnedOracle.name), learnedRound: roleOf(r0.learnedRound.name),
  };
  const checks = checkClaims(roles);
  const gaps = gapBySlice(roles);
  console.log(`\naccuracy, mean over seeds ${o.firstSeed}-${o.seeds}, ${o.sizes.eval} pairs of ShapesWorld seed ${EVAL_SEED} (learned bundles scored as mrm eval --seed ${EVAL_SEED} --n ${o.sizes.eval})`);
  console.log(formatRows(rows));
  console.log(`gap closed by the full round: ${SLICES.map((s) => `${s} ${Number.isNaN(gaps[s]!) ? 'no gap' : `${(100 * gaps[s]!).toFixed(0)}%`}`).join(', ')}`);
  for (const c of checks) console.log(`${c.passed ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);
  const json = {
    recipe: o.recipe,
    labelFree: { visionFrom: o.visionFrom, initFrom: o.initFrom, note: 'tower pretrained on scene records, grounding on scene claims: no preference labels' },
    noise: NOISE, sizes: o.sizes, rounds: o.rounds, curateFeatures: o.curateFeatures, confirmFlips: o.confirmFlips, seeds: o.seeds, firstSeed: o.firstSeed, threads: o.threads, judge: DEFAULT_JUDGE, roundFull: ROUND_DEFAULTS.full,
    rows, gapClosed: gaps, checks, perSeed, seconds: (performance.now() - t0) / 1000,
  };
  await mkdir(dirname(o.json), { recursive: true });
  await writeFile(o.json, JSON.stringify(json, null, 2) + '\n');
  console.log(`\nwrote ${o.json}; total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
