/**
 * npm run bench:round -- [--logged 20000] [--state-dir DIR] [--json FILE]
 *
 * One improvement round over a large pair log, timed per step: the issue's
 * "one round over 20,000 logged pairs in <= 2 minutes here, with the
 * simulated judge at zero latency (features come from the log)".
 *
 * Set-up (not timed; cached in --state-dir, default var/bench-round, so a
 * second run starts at once): the start model (shipped frozen stages, a head
 * fitted on 2,000 noisy pairs), --logged ShapesWorld pairs written to the pair
 * log as a server would write them (features from the start model's frozen
 * stages, images stored once), a 1,000-pair gate set and 300 T2I triples.
 * The simulated judge runs as its own process (`mrm judge serve`), as a
 * remote judge would. Then the round runs in this process, and the table
 * gives each step's wall seconds, CPU seconds of this process and of the
 * judge's, and counts. On a shared machine compare the CPU columns: wall
 * time there mostly measures the neighbours.
 */
import { spawn } from 'node:child_process';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { sha256Hex } from '../src/model/digest.js';
import { Registry } from '../src/model/registry.js';
import type { RoundEvent } from '../src/rounds/folder.js';
import { PairLogWriter } from '../src/pairlog/writer.js';
import { silentLogger } from '../src/serve/log.js';
import { labeledShapesPairs } from '../trainer/data/shapes.js';
import { parseRoundConfig } from '../trainer/round/config.js';
import { activeBase, featurize } from '../trainer/round/context.js';
import { judgeLabeler, startRound } from '../trainer/round/main.js';
import { NO_T2I, seedStartModel, writeT2ITriples, writeTruthSet } from '../trainer/round/shapes-world.js';
import { sampleSplit } from '../trainer/shapes/pairs.js';

const { values } = parseArgs({ options: { logged: { type: 'string', default: '20000' }, 'state-dir': { type: 'string', default: 'var/bench-round' }, json: { type: 'string' } } });
const n = Number(values.logged);
const root = resolve(values['state-dir']!);
const stateDir = join(root, 'state');
const ready = join(root, `ready-${n}`);

if (!(await access(ready).then(() => true, () => false))) {
  console.error(`set-up: start model, ${n} logged pairs, gate set, T2I triples in ${root} (once) ...`);
  await rm(root, { recursive: true, force: true });
  await mkdir(root, { recursive: true });
  await seedStartModel(stateDir, { n: 2000, seed: 1, scratch: root });
  await writeTruthSet(join(root, 'gate'), 98, 1000);
  await writeT2ITriples(join(root, 't2i'), 5, 300);
  const base = await activeBase(parseRoundConfig({ stateDir, model: 'shapes-mrm' }, 'bench'));
  const writer = await PairLogWriter.open({ stateDir, syncIntervalMs: 50, syncRecords: 1024, segmentBytes: 64 * 2 ** 20, maxBytes: 8 * 2 ** 30, queueRecords: 4096, log: silentLogger });
  const chunk = 2000;
  for (let start = 0; start < n; start += chunk) {
    const samples = sampleSplit(777, Math.min(n, start + chunk), NO_T2I).slice(start);
    const pairs = await labeledShapesPairs(samples);
    const [f] = await featurize(parseRoundConfig({ stateDir, model: 'shapes-mrm' }, 'bench'), base, [pairs]);
    const d = f!.d;
    for (const [i, p] of pairs.entries()) {
      // labeledShapesPairs puts the chosen (oracle) response first; the log has them in the policy's order.
      const s = samples[i]!;
      const chosenIsA = p.chosen === s.responses[0];
      const fa = (chosenIsA ? f!.chosen : f!.rejected).slice(i * d, (i + 1) * d);
      const fb = (chosenIsA ? f!.rejected : f!.chosen).slice(i * d, (i + 1) * d);
      const side = (response: string, features: Float32Array) => ({ response, reward: 0, heads: [0], spread: 0, features });
      while (!writer.append({
        record: {
          id: `bench-${s.id}`, time: new Date().toISOString(), source: 'compare', model: 'shapes-mrm', version: base.version, encoderSha256: base.encoderSha256,
          images: p.images.map((b) => sha256Hex(b)), system: s.system ?? '', prompt: s.prompt, reference: '',
          a: side(s.responses[0], fa), b: side(s.responses[1], fb), margin: 0,
        },
        imageBytes: p.images,
      })) await new Promise((r) => setTimeout(r, 20));
    }
    console.error(`  logged ${Math.min(n, start + chunk)}/${n}`);
  }
  await writer.close();
  await writeFile(ready, new Date().toISOString());
} else {
  // Rewind: the round's cursor and the active pointer back to the start model, so every run does the same work.
  await rm(join(stateDir, 'pairlog', 'cursors'), { recursive: true, force: true });
  await rm(join(stateDir, 'rounds'), { recursive: true, force: true });
  await new Registry(stateDir, 'shapes-mrm').activate(2, 'bench:round rewinds to the start model');
}

// The judge in its own process, like a remote endpoint; no judgment cache from earlier runs.
await rm(join(stateDir, 'cache', 'judgments'), { recursive: true, force: true });
// `node --cpu-prof --cpu-prof-dir=D --import tsx scripts/bench-round.ts` profiles the judge too.
const profile = process.execArgv.filter((a) => a.startsWith('--cpu-prof'));
const judge = spawn(process.execPath, [...profile, 'bin/mrm.js', 'judge', 'serve', '--port', '0', '--accuracy', '0.85', '--position-bias', '0.1', '--verbosity-bias', '0.15'], { stdio: ['ignore', 'pipe', 'pipe'] });
const baseURL = await new Promise<string>((res, rej) => {
  judge.once('exit', (c) => rej(new Error(`mrm judge serve exited with ${c}`)));
  const seen = (line: string) => { const m = /(http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(line); if (m) res(m[1]!); };
  createInterface({ input: judge.stdout! }).on('line', seen);
  createInterface({ input: judge.stderr! }).on('line', seen);
});
try {
  const cfg = parseRoundConfig({
    stateDir, model: 'shapes-mrm', gate: { dir: join(root, 'gate'), format: 'llamafactory' }, t2i: join(root, 't2i', 'triples.jsonl'),
    judge: { baseURL, model: 'shapesworld-judge', concurrency: 16 }, maxLogged: n,
  }, 'bench');
  // CPU seconds per step, this process (process.cpuUsage) and the judge's
  // (/proc/<pid>/stat utime+stime): wall time on a shared machine says more
  // about the neighbours than about the round.
  const clk = 100; // USER_HZ, 100 on Linux
  const judgeCpu = async (): Promise<number> => {
    const f = (await readFile(`/proc/${judge.pid}/stat`, 'utf8').catch(() => '')).split(') ')[1]?.split(' ') ?? [];
    return (Number(f[11] ?? 0) + Number(f[12] ?? 0)) / clk;
  };
  const cpu = new Map<string, { round: number; judge: number }>();
  let mark = { round: 0, judge: 0 };
  const now = async () => ({ round: (() => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; })(), judge: await judgeCpu() });
  const marks: Promise<void>[] = [];
  const listen = (e: RoundEvent): void => {
    if (e.type === 'step.start') marks.push(now().then((m) => { mark = m; }));
    if (e.type === 'step.done') {
      const step = e.step;
      marks.push(now().then((m) => { cpu.set(step, { round: m.round - mark.round, judge: m.judge - mark.judge }); }));
    }
  };
  const t0 = performance.now();
  const cpu0 = await now();
  const state = await startRound(cfg, { log: silentLogger, labeler: judgeLabeler, listen });
  await Promise.all(marks);
  const cpu1 = await now();
  const total = (performance.now() - t0) / 1000;
  const cpuTotal = { round: cpu1.round - cpu0.round, judge: cpu1.judge - cpu0.judge };
  console.log(`\nround over ${n} logged pairs: ${total.toFixed(1)} s wall (target <= 120 s), CPU ${cpuTotal.round.toFixed(1)} s round + ${cpuTotal.judge.toFixed(1)} s judge, outcome ${state.outcome?.decision}${state.outcome?.version ? ` v${state.outcome.version}` : ''}; load ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`${'step'.padEnd(10)} ${'wall s'.padStart(8)} ${'cpu s'.padStart(7)} ${'judge s'.padStart(8)}  counts`);
  for (const s of state.steps) {
    const c = cpu.get(s.name);
    console.log(`${s.name.padEnd(10)} ${String(s.seconds ?? '-').padStart(8)} ${(c ? c.round.toFixed(1) : '-').padStart(7)} ${(c ? c.judge.toFixed(1) : '-').padStart(8)}  ${Object.entries(s.counts).map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(3)}`).join(', ')}`);
  }
  const file = values.json ?? join('bench-results', `round-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, JSON.stringify({ logged: n, seconds: total, cpuSeconds: cpuTotal, stepCpuSeconds: Object.fromEntries(cpu), outcome: state.outcome, steps: state.steps, loadavg: (await import('node:os')).loadavg() }, null, 2));
  console.log(`wrote ${file}`);
} finally {
  judge.kill('SIGTERM');
}
