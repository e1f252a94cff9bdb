/**
 * What the gRPC stack alone costs per reward: an echo server that speaks the
 * real API (the same package definition, loader options and grpc.Server
 * options as `mrm serve`) and answers Score with results of the real shape
 * without decoding an image or running a model, under the same load as the
 * real server, its CPU time per reward read the same way (/proc, all threads).
 *
 *   npx tsx scripts/bench-cost/grpc-floor.ts [--runs 3] [--seconds 6] [--levels 8,64] [--workloads single,group16] [--kinds echo,server] [--model DIR] [--cpu-prof DIR]
 *
 * --cpu-prof DIR: every server runs under `node --cpu-prof`, its profiles in
 * DIR/<echo|server>-<workload>/ (read them with hotspots.ts --last SECONDS).
 *
 * Per run and workload (single items, groups of 16), the echo server and
 * `mrm serve` alternate, each a fresh process pinned to core 0 with the load
 * generator (scripts/bench-serve/loadgen.ts, distinct ShapesWorld items) on
 * core 1. Prints medians: CPU per reward of each and the echo's share of the
 * real server's. Read against bench:serve's in-process CPU per reward, the
 * echo's is the part of the server's gap that no change to our own code can
 * remove (grpc-js, protobufjs, HTTP/2, the event loop's I/O).
 *
 * As a child, `--echo` runs the echo server and prints its port on stderr as
 * `mrm serve` does ({"event":"server.serving","port":N}).
 */
import * as grpc from '@grpc/grpc-js';
import { spawn, spawnSync } from 'node:child_process';
import { cpus, tmpdir } from 'node:os';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '../../src/serve/config.js';
import { connectionWindowInterceptor, rewardServerOptions } from '../../src/serve/grpc-options.js';
import { loadPackage, rewardServiceDefinition, type ScoreRequestMsg } from '../../src/serve/proto.js';
import type { LevelResult, Workload } from '../bench-serve/items.js';
import type { LoadgenSpec } from '../bench-serve/loadgen.js';

const LOADGEN = fileURLToPath(new URL('../bench-serve/loadgen.ts', import.meta.url));
const SELF = fileURLToPath(import.meta.url);

/** Results of the real shape and size: distinct numbers, so nothing encodes as a default. */
function echoServer(): Promise<number> {
  // The real server's options and connection window; not its admission (our code, in the server column).
  const server = new grpc.Server({ ...rewardServerOptions(DEFAULTS), interceptors: [connectionWindowInterceptor()] });
  let n = 0;
  const result = (id = '') => { n++; return { reward: n * 0.001, normalizedReward: -n * 0.002, spread: 0.01, cached: false, truncated: false, id }; };
  server.addService(rewardServiceDefinition(loadPackage()), {
    score: (call: grpc.ServerUnaryCall<ScoreRequestMsg, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      const r = call.request;
      cb(null, {
        requestId: r.requestId ?? '',
        model: { name: 'shapes-mrm', version: 1 },
        items: (r.items ?? []).map((it) => result(it.id ?? '')),
        groups: (r.groups ?? []).map((g) => ({ id: g.id ?? '', responses: (g.responses ?? []).map(() => result()) })),
      });
    },
  });
  return new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
}

const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : NaN);

async function measure(kind: 'echo' | 'server', model: string, w: Workload, levels: number[], seconds: number, seed: number, pin: boolean, profDir: string | undefined): Promise<LevelResult[]> {
  const state = await mkdtemp(join(tmpdir(), 'mrm-floor-'));
  // Each process's profile in its own folder, so hotspots.ts reads one server at a time.
  const prof = profDir ? ['--cpu-prof', '--cpu-prof-dir', join(profDir, `${kind}-${w}`)] : [];
  const args = kind === 'echo'
    ? [...prof, ...process.execArgv, SELF, '--echo']
    : [...prof, 'bin/mrm.js', 'serve', '--host', '127.0.0.1', '--port', '0', '--admin-port', '0', '--state-dir', state, '--seed-bundle', model, '--stats-interval-ms', '0'];
  const wrap = (core: string, a: string[]): [string, string[]] => (pin ? ['taskset', ['-c', core, process.execPath, ...a]] : [process.execPath, a]);
  const [cmd, argv] = wrap('0', args);
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise((r) => proc.once('exit', r));
  try {
    let port = 0;
    for await (const line of createInterface({ input: proc.stderr! })) {
      const rec = JSON.parse(line) as { event: string; port?: number };
      if (rec.event === 'server.serving') { port = rec.port!; break; }
    }
    if (!port) throw new Error(`${kind} exited before serving`);
    proc.stderr!.resume();
    // A warm-up level at the lowest concurrency, then the measured levels (the load generator warms each too).
    const spec: LoadgenSpec = { addr: `127.0.0.1:${port}`, seed, workload: w, levels, seconds, cacheHits: 0, serverPid: proc.pid! };
    const [lc, la] = wrap('1', [...process.execArgv, LOADGEN, JSON.stringify(spec)]);
    const lg = spawn(lc, la, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    lg.stdout!.on('data', (b: Buffer) => { out += b.toString(); });
    const code = await new Promise((r) => lg.once('exit', r));
    if (code !== 0) throw new Error(`load generator exited with ${String(code)}`);
    return JSON.parse(out) as LevelResult[];
  } finally {
    proc.kill('SIGTERM');
    await exited;
    await rm(state, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    echo: { type: 'boolean', default: false }, runs: { type: 'string', default: '3' }, seconds: { type: 'string', default: '6' },
    levels: { type: 'string', default: '8,64' }, 'cpu-prof': { type: 'string' }, workloads: { type: 'string', default: 'single,group16' }, kinds: { type: 'string', default: 'echo,server' }, model: { type: 'string', default: 'models/shapes-mrm' }, seed: { type: 'string', default: '7' },
  } });
  if (values.echo) {
    // A clean exit on the parent's SIGTERM, so that --cpu-prof writes the profile.
    process.once('SIGTERM', () => process.exit(0));
    const port = await echoServer();
    process.stderr.write(JSON.stringify({ event: 'server.serving', port }) + '\n');
    return;
  }
  const levels = values.levels.split(',').map(Number);
  const workloads = values.workloads.split(',') as Workload[];
  const kinds = values.kinds.split(',');
  const runs = Number(values.runs);
  const pin = cpus().length >= 2 && spawnSync('taskset', ['-c', '1', 'true']).status === 0;
  const raw: { kind: string; w: Workload; run: number; levels: LevelResult[] }[] = [];
  for (let run = 0; run < runs; run++) {
    for (const w of workloads) {
      const order = run % 2 === 0 ? (['echo', 'server'] as const) : (['server', 'echo'] as const);
      for (const kind of order.filter((k) => kinds.includes(k))) {
        raw.push({ kind, w, run, levels: await measure(kind, values.model, w, levels, Number(values.seconds), Number(values.seed) + run, pin, values['cpu-prof']) });
        console.error(`run ${run + 1}/${runs} ${w} ${kind}: done`);
      }
    }
  }
  console.log(`\ngRPC stack floor: echo server (real API, no work) vs mrm serve, ${runs} runs alternating, ${values.seconds} s per level, ${pin ? 'server on core 0, load on core 1' : 'unpinned'}; medians`);
  console.log(`${'workload'.padEnd(8)} ${'conc'.padStart(4)} | ${'echo r/s'.padStart(9)} ${'cpu/r'.padStart(7)} | ${'server r/s'.padStart(10)} ${'cpu/r'.padStart(7)} | echo share of server cpu/r (per run)`);
  for (const w of workloads) {
    for (const c of levels) {
      const pick = (kind: string) => raw.filter((r) => r.kind === kind && r.w === w).map((r) => r.levels.find((l) => l.concurrency === c)!);
      const e = pick('echo');
      const s = pick('server');
      const cpu = (ls: LevelResult[]) => median(ls.map((l) => l.serverCpuMsPerReward ?? NaN));
      const share = e.map((x, i) => (x.serverCpuMsPerReward ?? NaN) / (s[i]?.serverCpuMsPerReward ?? NaN));
      const rps = (ls: LevelResult[]) => median(ls.map((l) => l.rewardsPerSec));
      console.log(`${w.padEnd(8)} ${String(c).padStart(4)} | ${rps(e).toFixed(1).padStart(9)} ${cpu(e).toFixed(3).padStart(7)} | ${rps(s).toFixed(1).padStart(10)} ${cpu(s).toFixed(3).padStart(7)} | ${median(share).toFixed(3)} (${share.map((x) => x.toFixed(3)).join(', ')})`);
    }
  }
}

await main();
