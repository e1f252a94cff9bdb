/**
 * Where a profiled server's CPU went, by self time: reads the .cpuprofile
 * files `node --cpu-prof` wrote (one per thread; scripts/bench-serve/threads.ts
 * --cpu-prof DIR makes them under load) and prints, per thread, the busy
 * time's split by module (our src/, grpc-js, protobufjs, onnxruntime's
 * binding, node internals, GC, native) and its top functions.
 *
 *   npx tsx scripts/bench-cost/hotspots.ts DIR [--top 25] [--last SECONDS]
 *
 * --last S keeps the samples of each profile's last S seconds only: the
 * server is stopped as its load ends, so that is the loaded window, without
 * the startup's module loading and warm-up (which otherwise dominate).
 *
 * Self time, unlike profile.ts's inclusive shares: a sample counts for the
 * frame on top of its stack only, so the rows add up to the thread's busy
 * time and say which code itself burns the CPU (a copy, a hash, a parse),
 * not which caller led there. Times are the profiler's sampled time over
 * the whole profile (warm-up included): read the shares, not the totals.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CpuProfile } from './profile.js';

/** Module buckets, first match wins; a frame without a URL is V8/native (GC and (program) are their own). */
const MODULES: [string, RegExp][] = [
  ['src/serve', /\/src\/serve\//],
  ['src/model', /\/src\/model\//],
  ['src/other', /\/src\//],
  ['grpc-js', /node_modules\/@grpc\/grpc-js\//],
  ['protobufjs', /node_modules\/(protobufjs|@protobufjs|@grpc\/proto-loader)\//],
  ['onnxruntime', /node_modules\/onnxruntime-(node|common)\//],
  ['sharp', /node_modules\/sharp\//],
  ['lru-cache', /node_modules\/lru-cache\//],
  ['tokenizers', /node_modules\/@huggingface\//],
  ['other node_modules', /node_modules\//],
  ['node internals', /^node:/],
];

function moduleOf(fn: string, url: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return '(program)';
  if (!url) return 'native/V8 builtins';
  for (const [name, re] of MODULES) if (re.test(url)) return name;
  return 'other';
}

export interface SelfTimes {
  busyUs: number;
  byModule: Map<string, number>;
  byFunction: Map<string, number>;
}

/** `fromUs`: samples before this time (the profile's clock, us) are left out. */
export function selfTimes(p: CpuProfile, fromUs = -Infinity): SelfTimes {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const out: SelfTimes = { busyUs: 0, byModule: new Map(), byFunction: new Map() };
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    if (t < fromUs) continue;
    const dt = p.timeDeltas[i + 1] ?? 0;
    const { functionName, url } = byId.get(p.samples[i]!)!.callFrame;
    if (functionName === '(idle)') continue;
    out.busyUs += dt;
    const mod = moduleOf(functionName, url);
    out.byModule.set(mod, (out.byModule.get(mod) ?? 0) + dt);
    const short = url ? url.replace(/^.*\/(node_modules\/|src\/|scripts\/)/, '$1') : '';
    const key = `${functionName || '(anonymous)'} ${short}`;
    out.byFunction.set(key, (out.byFunction.get(key) ?? 0) + dt);
  }
  return out;
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '25' }, last: { type: 'string' } } });
  const dir = positionals[0];
  if (!dir) throw new Error('usage: hotspots.ts DIR [--top N]');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile')).sort();
  const top = Number(values.top);
  for (const f of files) {
    const p = JSON.parse(await readFile(join(dir, f), 'utf8')) as CpuProfile;
    const s = selfTimes(p, values.last === undefined ? -Infinity : p.endTime - Number(values.last) * 1e6);
    if (s.busyUs === 0) continue;
    // Node names profiles CPU.<date>.<time>.<pid>.<threadId>.<seq>.cpuprofile; thread 0 is the main thread.
    const thread = f.split('.')[4] === '0' ? 'main thread' : `worker thread ${f.split('.')[4]}`;
    console.log(`\n${thread} (${f}): busy ${(s.busyUs / 1e6).toFixed(2)} s sampled`);
    const pct = (us: number) => `${((100 * us) / s.busyUs).toFixed(1).padStart(5)}%`;
    for (const [m, us] of [...s.byModule].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(us)}  ${m}`);
    console.log('  top functions (self):');
    for (const [fn, us] of [...s.byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${fn}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
