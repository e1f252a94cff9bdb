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
 * Without it, a window.json in DIR (bench:cost --keep-prof writes one: its
 * measured window) keeps exactly that window's samples.
 *
 * Self time, unlike profile.ts's inclusive shares: a sample counts for the
 * frame on top of its stack only, so the rows add up to the thread's busy
 * time and say which code itself burns the CPU (a copy, a hash, a parse),
 * not which caller led there. A second split charges node's and V8's own
 * frames to their nearest caller that is ours or a package's (who asked
 * for the inflate, the HTTP/2 write, the postMessage). Times are the profiler's sampled time over
 * the whole profile (warm-up included): read the shares, not the totals.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CpuProfile } from './profile.js';

/** Module buckets, first match wins; a frame without a URL is V8/native (GC and (program) are their own). */
const MODULES: [string, RegExp][] = [
  // Packages first: grpc-js's files live under build/src/.
  ['grpc-js', /node_modules\/@grpc\/grpc-js\//],
  ['protobufjs', /node_modules\/(protobufjs|@protobufjs|@grpc\/proto-loader)\//],
  ['onnxruntime', /node_modules\/onnxruntime-(node|common)\//],
  ['sharp', /node_modules\/sharp\//],
  ['lru-cache', /node_modules\/lru-cache\//],
  ['tokenizers', /node_modules\/@huggingface\//],
  ['other node_modules', /node_modules\//],
  ['node internals', /^node:/],
  ['src/serve', /\/src\/serve\//],
  ['src/model', /\/src\/model\//],
  ['src/other', /\/src\//],
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
  /**
   * By owner: the module of the nearest frame on the stack that is ours or a
   * package's (not node:, not V8), so node:zlib under our PNG decode counts
   * for src/model and node:http2 under grpc-js for grpc-js.
   */
  byOwner: Map<string, number>;
  /** The same, by the owning frame's function: what in our code (or a package) asked for the time. */
  byOwnerFunction: Map<string, number>;
}

const OWNERLESS = new Set(['node internals', 'native/V8 builtins', 'other']);

/** `fromUs`: samples before this time (the profile's clock, us) are left out. */
const label = (fn: string, url: string) => `${fn || '(anonymous)'} ${url.replace(/^.*\/(node_modules\/|src\/|scripts\/)/, '$1').replace(/\?tsx-namespace=\d+$/, '')}`;

export function selfTimes(p: CpuProfile, fromUs = -Infinity, toUs = Infinity): SelfTimes {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const ownerMemo = new Map<number, string | null>();
  const ownerFnMemo = new Map<number, string | null>();
  const ownerFnOf = (id: number): string | null => {
    const known = ownerFnMemo.get(id);
    if (known !== undefined) return known;
    const { functionName, url } = byId.get(id)!.callFrame;
    const up = parent.get(id);
    const fn = !OWNERLESS.has(moduleOf(functionName, url)) ? label(functionName, url) : up === undefined ? null : ownerFnOf(up);
    ownerFnMemo.set(id, fn);
    return fn;
  };
  // The nearest owning frame, or null when the whole stack is node's and V8's.
  const ownerOf = (id: number): string | null => {
    const known = ownerMemo.get(id);
    if (known !== undefined) return known;
    const { functionName, url } = byId.get(id)!.callFrame;
    const mod = moduleOf(functionName, url);
    const up = parent.get(id);
    const owner = !OWNERLESS.has(mod) ? mod : up === undefined ? null : ownerOf(up);
    ownerMemo.set(id, owner);
    return owner;
  };
  // For those: the outermost node: file on the stack (an HTTP/2 session callback, a MessagePort, a timer).
  const entryOf = (id: number): string => {
    let label = 'V8/native only';
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const url = byId.get(at)!.callFrame.url;
      if (url.startsWith('node:')) label = `${url} (node only)`;
    }
    return label;
  };
  const out: SelfTimes = { busyUs: 0, byModule: new Map(), byFunction: new Map(), byOwner: new Map(), byOwnerFunction: new Map() };
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    if (t < fromUs || t > toUs) continue;
    const dt = p.timeDeltas[i + 1] ?? 0;
    const { functionName, url } = byId.get(p.samples[i]!)!.callFrame;
    if (functionName === '(idle)') continue;
    out.busyUs += dt;
    const mod = moduleOf(functionName, url);
    out.byModule.set(mod, (out.byModule.get(mod) ?? 0) + dt);
    const owner = ownerOf(p.samples[i]!) ?? (mod === 'GC' || mod === '(program)' ? mod : entryOf(p.samples[i]!));
    out.byOwner.set(owner, (out.byOwner.get(owner) ?? 0) + dt);
    const ownerFn = ownerFnOf(p.samples[i]!) ?? owner;
    out.byOwnerFunction.set(ownerFn, (out.byOwnerFunction.get(ownerFn) ?? 0) + dt);
    const key = label(functionName, url);
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
  // bench:cost --keep-prof leaves its measured window (the profile's clock, us) beside the profiles.
  const window = values.last === undefined
    ? (JSON.parse(await readFile(join(dir, 'window.json'), 'utf8').catch(() => 'null')) as { from: number; to: number } | null)
    : null;
  if (window) console.log(`window of bench:cost: ${((window.to - window.from) / 1e6).toFixed(2)} s`);
  for (const f of files) {
    const p = JSON.parse(await readFile(join(dir, f), 'utf8')) as CpuProfile;
    const s = window ? selfTimes(p, window.from, window.to) : selfTimes(p, values.last === undefined ? -Infinity : p.endTime - Number(values.last) * 1e6);
    if (s.busyUs === 0) continue;
    // Node names profiles CPU.<date>.<time>.<pid>.<threadId>.<seq>.cpuprofile; thread 0 is the main thread.
    const thread = f.split('.')[4] === '0' ? 'main thread' : `worker thread ${f.split('.')[4]}`;
    console.log(`\n${thread} (${f}): busy ${(s.busyUs / 1e6).toFixed(2)} s sampled`);
    const pct = (us: number) => `${((100 * us) / s.busyUs).toFixed(1).padStart(5)}%`;
    console.log('  by module (self):');
    for (const [m, us] of [...s.byModule].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(us)}  ${m}`);
    console.log('  by owner (node internals and V8 builtins charged to their nearest caller that is ours or a package\'s):');
    for (const [m, us] of [...s.byOwner].sort((a, b) => b[1] - a[1])) console.log(`  ${pct(us)}  ${m}`);
    console.log('  top owning functions (their own time and the node/V8 work they asked for):');
    for (const [fn, us] of [...s.byOwnerFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${fn}`);
    console.log('  top functions (self):');
    for (const [fn, us] of [...s.byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${fn}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
