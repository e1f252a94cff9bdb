/**
 * mrm demo: the whole improvement loop on this machine, on ShapesWorld, in a
 * fresh state directory: a start model fitted on noisy labels, a server
 * logging the RLHF-like traffic it is unsure of, the simulated judge on the
 * OpenAI protocol, rounds triggered and watched through the admin API, and a
 * before/after table.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { num, parse, str } from './args.js';
import { progressView } from './round-progress.js';

const HELP = `usage: mrm demo [--rounds N] [--state-dir DIR] [--start-n N] [--traffic N]

Runs the improvement loop end to end on ShapesWorld (about 5-10 minutes here):
  1. a start model: the shipped frozen stages with a head fitted on --start-n (2000)
     noisy pairs (style bias 0.7, content bias 0.5, flips 0.2);
  2. mrm serve on it (pair log on, admin API on loopback) and the simulated judge
     (accuracy 0.85, position bias 0.1, verbosity bias 0.15) on the OpenAI protocol;
  3. per round (--rounds, default 3): --traffic (600) pairs of GRPO groups and
     Compare calls through gRPC, then TriggerRound and WatchRound on the admin API;
  4. a slice table of the start model and the final active version on 1,000 unseen pairs.
--state-dir (default: a new temporary directory) keeps the registry, the pair log
and the round folders (each with report.html) for inspection.`;

export async function run(argv: string[]): Promise<void> {
  const { values } = parse(argv, { rounds: { type: 'string' }, 'state-dir': { type: 'string' }, 'start-n': { type: 'string' }, traffic: { type: 'string' } }, HELP);
  const rounds = num(values, 'rounds', 3, { integer: true, min: 1, max: 10 });
  const startN = num(values, 'start-n', 2000, { integer: true, min: 100 });
  const trafficN = num(values, 'traffic', 600, { integer: true, min: 50 });
  const root = resolve(str(values, 'state-dir') ?? (await mkdtemp(join(tmpdir(), 'mrm-demo-'))));
  const stateDir = join(root, 'state');
  const t0 = performance.now();
  const say = (s: string) => console.log(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(4)} s] ${s}`);

  const world = await import('../../trainer/round/shapes-world.js');
  const { startSimulatedJudge } = await import('../../trainer/judges/simulated/server.js');
  const { createAdminClient } = await import('../serve/admin-proto.js');
  const { fromMsg } = await import('../serve/admin-rounds.js');
  const { createRewardClient, unary } = await import('../serve/proto.js');

  say(`state directory ${stateDir}`);
  say(`fitting the start model on ${startN} noisy pairs ...`);
  const startVersion = await world.seedStartModel(stateDir, { n: startN, seed: 1, scratch: root });
  await world.writeTruthSet(join(root, 'gate'), 98, 1000);
  const t2i = await world.writeT2ITriples(join(root, 't2i'), 5, 300);
  const judge = await startSimulatedJudge({ accuracy: 0.85, positionBias: 0.1, verbosityBias: 0.15 });
  say(`simulated judge at ${judge.baseURL} (accuracy 0.85, position bias 0.1, verbosity bias 0.15)`);
  const server = await startServe(stateDir);
  say(`mrm serve on 127.0.0.1:${server.port} (admin 127.0.0.1:${server.adminPort}), serving version ${startVersion}`);
  const client = createRewardClient(`127.0.0.1:${server.port}`);
  const admin = createAdminClient(`127.0.0.1:${server.adminPort}`);
  // minLogged 20: later rounds see few pairs once the model is sure of most; they still run (and the gate decides).
  const settings = JSON.stringify({ base: { dir: join(root, 'base'), format: 'llamafactory' }, gate: { dir: join(root, 'gate'), format: 'llamafactory' }, t2i, judge: { baseURL: judge.baseURL, model: 'shapesworld-judge' }, minLogged: 20 });
  const ids: string[] = [];
  try {
    for (let r = 1; r <= rounds; r++) {
      const traffic = await world.trafficPairs(100 + r, trafficN);
      let versions = new Set<number>();
      for (let i = 0; i < traffic.length; i += 10) {
        const batch = traffic.slice(i, i + 10);
        if ((i / 10) % 2 === 0) {
          // GRPO: each prompt's sampled responses as one group (its image decoded and embedded once).
          const res = await unary(client.score.bind(client), { groups: batch.map(({ sample, images }) => ({ images: images.map((data) => ({ data })), prompt: sample.prompt, responses: [...sample.responses] })) });
          versions.add(Number(res.model!.version));
        } else {
          const res = await unary(client.compare.bind(client), { pairs: batch.map(({ sample, images }) => ({ images: images.map((data) => ({ data })), prompt: sample.prompt, responseA: sample.responses[0], responseB: sample.responses[1] })) });
          versions.add(Number(res.model!.version));
        }
      }
      say(`round ${r}: sent ${traffic.length} pairs (GRPO groups and Compare) to version ${[...versions].join(', ')}; triggering the round`);
      const { roundId } = await admin.call('triggerRound', { settingsJson: settings });
      ids.push(roundId);
      const view = progressView(process.stdout);
      let outcome = '';
      await admin.watchRound(roundId, (m) => {
        const e = fromMsg(m);
        view.event(e);
        if (e.type === 'round.done') outcome = `${e.outcome.decision}${e.outcome.version ? ` version ${e.outcome.version}` : ''}`;
        if (e.type === 'round.failed') outcome = `failed: ${e.error}`;
      });
      view.stop();
      say(`round ${r} (${roundId}): ${outcome}`);
      versions = new Set();
    }
    const active = JSON.parse((await admin.call('getModel', { version: 0 })).manifestJson) as { version: number };
    say(`evaluating the start model (version ${startVersion}) and the active version (${active.version}) on 1,000 unseen pairs ...`);
    const pairs = await world.truthPairs(99, 1000);
    const before = await world.evaluateVersion(stateDir, startVersion, pairs);
    const after = await world.evaluateVersion(stateDir, active.version, pairs);
    console.log(`\n${'slice'.padEnd(20)}${'pairs'.padStart(7)}${`v${startVersion} (start)`.padStart(14)}${`v${active.version} (after)`.padStart(14)}`);
    for (const s of before.slices) {
      const a = after.slices.find((x) => x.slice === s.slice)!;
      const pct = (x: number) => (Number.isNaN(x) ? '-' : `${(100 * x).toFixed(1)}%`);
      console.log(`${s.slice.padEnd(20)}${String(s.pairs).padStart(7)}${pct(s.accuracy).padStart(14)}${pct(a.accuracy).padStart(14)}`);
    }
    console.log(`${'ECE'.padEnd(20)}${''.padStart(7)}${before.ece.toFixed(3).padStart(14)}${after.ece.toFixed(3).padStart(14)}`);
    console.log(`\nround folders (state, step outputs, report.html): ${ids.map((id) => join(stateDir, 'rounds', id)).join('\n  ')}`);
    say('done');
  } finally {
    client.close();
    admin.close();
    await judge.close();
    server.proc.kill('SIGTERM');
    await new Promise((r) => server.proc.once('exit', r));
  }
}

async function startServe(stateDir: string): Promise<{ proc: ChildProcess; port: number; adminPort: number }> {
  const bin = new URL('../../bin/mrm.js', import.meta.url).pathname;
  const proc = spawn(process.execPath, [bin, 'serve', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--state-dir', stateDir, '--stats-interval-ms', '0',
    '--log-enabled', 'true', '--log-band', '0.3'], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolvePorts, reject) => {
    proc.once('exit', (code) => reject(new Error(`mrm serve exited with ${code} before serving`)));
    createInterface({ input: proc.stderr! }).on('line', (line) => {
      let rec: { event?: string; port?: number; adminPort?: number };
      try { rec = JSON.parse(line); } catch { return; }
      if (rec.event === 'server.serving') resolvePorts({ proc, port: rec.port!, adminPort: rec.adminPort! });
    });
  });
}
