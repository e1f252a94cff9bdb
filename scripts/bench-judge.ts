/**
 * npm run bench:judge [-- --n 400 --seed 21 --accuracy 0.85 --position-bias 0.1 --verbosity-bias 0.15 --json FILE]
 *
 * The simulated judge over HTTP through the real client, on a ShapesWorld
 * split: how often one call (one seeded order) and the both-orders vote pick
 * the right response, overall and per slice, and the cost per call. Timing
 * shares the machine with everything else running: re-run to compare.
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { shapesPairsToJudge } from '../trainer/judges/shapes-pairs.js';
import { simulatedLabeler } from '../trainer/judges/simulated-labeler.js';
import type { PairJudgment } from '../trainer/judges/types.js';
import { sampleSplit } from '../trainer/shapes/pairs.js';
import type { PairSample } from '../trainer/shapes/pair-sample.js';

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '400' },
    seed: { type: 'string', default: '21' },
    accuracy: { type: 'string', default: '0.85' },
    'position-bias': { type: 'string', default: '0.1' },
    'verbosity-bias': { type: 'string', default: '0.15' },
    json: { type: 'string' },
  },
});
const n = Number(values.n);
const judge = { accuracy: Number(values.accuracy), positionBias: Number(values['position-bias']), verbosityBias: Number(values['verbosity-bias']), seed: 1 };
const samples = sampleSplit(Number(values.seed), n);
const pairs = await shapesPairsToJudge(samples);
const s = await simulatedLabeler({ judge });
try {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const one = await s.labeler.label(pairs, { orders: 'one' });
  const t1 = performance.now();
  const c1 = process.cpuUsage(c0);
  const both = await s.labeler.label(pairs, { orders: 'both' });
  // 'both' reuses the one-order call from the cache: it made n new calls.
  const right = (j: PairJudgment, t: PairSample): boolean => j.scoreA !== j.scoreB && (j.scoreA > j.scoreB ? 'a' : 'b') === t.truth;
  const decisive = (j: PairJudgment): boolean => j.votes.a === 2 || j.votes.b === 2;
  const rows: Record<string, { pairs: number; one: number; bothMean: number; bothDecisive: number; decisiveShare: number }> = {};
  for (const slice of ['overall', ...new Set(samples.map((x) => x.slice))]) {
    const idx = samples.flatMap((x, i) => (slice === 'overall' || x.slice === slice ? [i] : []));
    const dec = idx.filter((i) => decisive(both[i]!));
    rows[slice] = {
      pairs: idx.length,
      one: idx.filter((i) => right(one[i]!, samples[i]!)).length / idx.length,
      bothMean: idx.filter((i) => right(both[i]!, samples[i]!)).length / idx.length,
      bothDecisive: dec.filter((i) => right(both[i]!, samples[i]!)).length / Math.max(1, dec.length),
      decisiveShare: dec.length / idx.length,
    };
  }
  console.log(`simulated judge: accuracy ${judge.accuracy}, position bias ${judge.positionBias}, verbosity bias ${judge.verbosityBias}; ShapesWorld seed ${values.seed}, ${n} pairs`);
  console.log('slice               pairs  one-order  both(mean score)  both(decisive)  decisive share');
  for (const [k, r] of Object.entries(rows)) {
    console.log(`${k.padEnd(18)} ${String(r.pairs).padStart(6)}  ${(100 * r.one).toFixed(1).padStart(8)}%  ${(100 * r.bothMean).toFixed(1).padStart(15)}%  ${(100 * r.bothDecisive).toFixed(1).padStart(13)}%  ${(100 * r.decisiveShare).toFixed(1).padStart(13)}%`);
  }
  const perCall = { wallMs: (t1 - t0) / n, cpuMs: (c1.user + c1.system) / 1000 / n };
  console.log(`one-order pass: ${perCall.wallMs.toFixed(1)} ms wall, ${perCall.cpuMs.toFixed(1)} ms CPU per call (client + in-process server); stats ${JSON.stringify(s.labeler.stats())}`);
  if (values.json) await writeFile(values.json, JSON.stringify({ judge, seed: Number(values.seed), n, rows, perCall, stats: s.labeler.stats() }, null, 2));
} finally {
  await s.close();
}
