/**
 * npm run bench:dt2it [-- --json FILE --seeds 3 ...]: the DT2IT ablation on
 * ShapesWorld. For each seed: a noisy start set, logged pairs, T2I triples;
 * rows that add the method's steps one by one, fitted and scored on one
 * fixed evaluation split; mean and std over seeds per slice; JSON out.
 */
import { writeFile } from 'node:fs/promises';
import { num, parse, str } from '../../src/commands/args.js';
import { evalData, NOISE, seedData, type BenchSizes } from './data.js';
import { benchJudge, DEFAULT_JUDGE } from './judge.js';
import { runSeed, SLICES, type Row, type SeedResult } from './rows.js';
import { checkTargets, formatTable, summarize } from './summary.js';

const HELP = `usage: npm run bench:dt2it [-- options]

  --seeds N            seeds 1..N (default 3)
  --base N             noisy start pairs per seed (default 2000)
  --logged N           logged (unlabeled) pairs per seed (default 1500)
  --t2i N              T2I triples per seed (default 500)
  --eval N             evaluation pairs, ShapesWorld seed 99 (default 1500)
  --rounds R           curation rounds (default 3)
  --judge-accuracy P   (default 0.85)
  --position-bias P    (default 0.1)
  --verbosity-bias P   (default 0.15)
  --no-ablation        skip the step-1 scoring-model ablation
  --json FILE          write the results as JSON (default var/bench/dt2it.json)
  --feature-cache DIR  (default var/cache/features)
  --model DIR          frozen stages to featurize with (default models/shapes-mrm)`;

async function main(): Promise<void> {
  const { values } = parse(process.argv.slice(2), {
    seeds: { type: 'string' }, base: { type: 'string' }, logged: { type: 'string' }, t2i: { type: 'string' }, eval: { type: 'string' },
    rounds: { type: 'string' }, 'judge-accuracy': { type: 'string' }, 'position-bias': { type: 'string' }, 'verbosity-bias': { type: 'string' },
    'no-ablation': { type: 'boolean' }, json: { type: 'string' }, 'feature-cache': { type: 'string' }, model: { type: 'string' },
  }, HELP);
  const seeds = num(values, 'seeds', 3, { integer: true, min: 1, max: 20 });
  const sizes: BenchSizes = {
    base: num(values, 'base', 2000, { integer: true, min: 50 }),
    logged: num(values, 'logged', 1500, { integer: true, min: 50 }),
    t2i: num(values, 't2i', 500, { integer: true, min: 10 }),
    eval: num(values, 'eval', 1500, { integer: true, min: 50 }),
  };
  const judge = {
    accuracy: num(values, 'judge-accuracy', DEFAULT_JUDGE.accuracy, { min: 0, max: 1 }),
    positionBias: num(values, 'position-bias', DEFAULT_JUDGE.positionBias, { min: 0, max: 1 }),
    verbosityBias: num(values, 'verbosity-bias', DEFAULT_JUDGE.verbosityBias, { min: 0, max: 1 }),
  };
  const rounds = num(values, 'rounds', 3, { integer: true, min: 1, max: 10 });
  const ctx = { model: str(values, 'model', 'models/shapes-mrm')!, cache: str(values, 'feature-cache', 'var/cache/features')!, threads: 2 };
  const jsonOut = str(values, 'json', 'var/bench/dt2it.json')!;
  const t0 = performance.now();
  console.log(`judge: accuracy ${judge.accuracy}, position bias ${judge.positionBias}, verbosity bias ${judge.verbosityBias}`);
  console.log(`start set noise: ${JSON.stringify(NOISE)}; sizes ${JSON.stringify(sizes)}; rounds ${rounds}`);
  const evalPairs = await evalData(ctx, sizes.eval);
  const results: SeedResult[] = [];
  let judgeKind = '';
  const seconds: { seed: number; data: number; rows: number }[] = [];
  for (let seed = 1; seed <= seeds; seed++) {
    const s0 = performance.now();
    const data = await seedData(ctx, seed, sizes, NOISE);
    const s1 = performance.now();
    const j = await benchJudge(judge, seed);
    judgeKind = j.kind;
    try {
      results.push(await runSeed(data, evalPairs, j.labeler, { seed, rounds, fit: {}, scorerAblation: !values['no-ablation'] }));
    } finally {
      await j.close();
    }
    seconds.push({ seed, data: (s1 - s0) / 1000, rows: (performance.now() - s1) / 1000 });
    console.log(`seed ${seed}: data ${((s1 - s0) / 1000).toFixed(1)} s, rows ${((performance.now() - s1) / 1000).toFixed(1)} s`);
    console.log(formatTable(summarize([results[results.length - 1]!.rows]), 1));
  }
  const table = summarize(results.map((r) => r.rows));
  console.log(`\njudge: ${judgeKind}\n`);
  console.log(formatTable(table, seeds));
  const ablation: Record<string, ReturnType<typeof summarize>> = {};
  for (const k of Object.keys(results[0]!.scorerAblation)) {
    ablation[k] = summarize(results.map((r) => r.scorerAblation[k]!));
    console.log(`\ncuration step 1 scored by '${k}' only:`);
    console.log(formatTable(ablation[k]!, seeds, false));
  }
  const targets = checkTargets(table);
  console.log('\n' + targets.lines.join('\n'));
  const json = {
    judge: { ...judge, kind: judgeKind }, noise: NOISE, sizes, rounds, seeds, slices: SLICES,
    table, scorerAblation: ablation, targets,
    perSeed: results.map((r, i) => ({ seed: i + 1, rows: r.rows satisfies Row[], scorerAblation: r.scorerAblation, judgeCalls: r.judgeCalls })),
    seconds: { total: (performance.now() - t0) / 1000, perSeed: seconds },
  };
  const { mkdir } = await import('node:fs/promises');
  const { dirname } = await import('node:path');
  await mkdir(dirname(jsonOut), { recursive: true });
  await writeFile(jsonOut, JSON.stringify(json, null, 2) + '\n');
  console.log(`\nwrote ${jsonOut}; total ${((performance.now() - t0) / 1000).toFixed(0)} s`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
