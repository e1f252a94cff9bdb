/**
 * What the event loop did while it could not answer: reads the main
 * thread's .cpuprofile (`node --cpu-prof`, e.g. `npm run flood -- --profile
 * DIR` or the soak's `--node-args="--cpu-prof --cpu-prof-dir DIR"`) and
 * prints every stretch of at least --min-ms in which the thread never went
 * idle (no '(idle)' sample: it never got back to waiting on its sockets,
 * timers and worker messages), with what took that stretch's time.
 *
 *   npx tsx scripts/bench-cost/stalls.ts DIR [--min-ms 100] [--top 8]
 *
 * A stalled loop is the latency the admission gate's stats see as
 * `loopMaxMs`: an answer ready in the model worker waits the whole stretch
 * for the main thread to send it. The whole-profile split (hotspots.ts)
 * hides which work comes in such long turns; this splits those turns only.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CpuProfile } from './profile.js';
import { selfTimes } from './hotspots.js';

export interface Stretch {
  /** Microseconds on the profile's clock. */
  fromUs: number;
  toUs: number;
}

/** Maximal runs of non-idle samples lasting >= minUs. */
export function busyStretches(p: CpuProfile, minUs: number): Stretch[] {
  const idle = new Set(p.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
  const out: Stretch[] = [];
  let t = p.startTime;
  let from: number | null = null;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    if (idle.has(p.samples[i]!)) {
      if (from !== null && t - from >= minUs) out.push({ fromUs: from, toUs: t });
      from = null;
    } else if (from === null) from = t;
  }
  if (from !== null && t - from >= minUs) out.push({ fromUs: from, toUs: t });
  return out;
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({ allowPositionals: true, options: { 'min-ms': { type: 'string', default: '100' }, top: { type: 'string', default: '8' } } });
  const dir = positionals[0];
  if (!dir) throw new Error('usage: stalls.ts DIR [--min-ms 100] [--top 8]');
  // Node names profiles CPU.<date>.<time>.<pid>.<threadId>.<seq>.cpuprofile; thread 0 is the main thread.
  const files = (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile') && f.split('.')[4] === '0').sort();
  if (files.length === 0) throw new Error(`no main-thread .cpuprofile in ${dir}`);
  const top = Number(values.top);
  for (const f of files) {
    const p = JSON.parse(await readFile(join(dir, f), 'utf8')) as CpuProfile;
    const stretches = busyStretches(p, Number(values['min-ms']) * 1000);
    const totalMs = stretches.reduce((s, x) => s + (x.toUs - x.fromUs) / 1000, 0);
    console.log(`${f}: ${stretches.length} busy stretches >= ${values['min-ms']} ms, ${totalMs.toFixed(0)} ms in all, over ${((p.endTime - p.startTime) / 1e6).toFixed(1)} s`);
    // Sums over every stretch first: the common cause of long turns.
    const all = new Map<string, number>();
    let busy = 0;
    for (const x of stretches) {
      const s = selfTimes(p, x.fromUs, x.toUs);
      busy += s.busyUs;
      for (const [fn, us] of s.byOwnerFunction) all.set(fn, (all.get(fn) ?? 0) + us);
    }
    const pct = (us: number, of: number) => `${((100 * us) / of).toFixed(1).padStart(5)}%`;
    console.log('  all stretches, by owning function (its own time and the node/V8 work it asked for):');
    for (const [fn, us] of [...all].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us, busy)}  ${fn}`);
    for (const x of stretches.sort((a, b) => (b.toUs - b.fromUs) - (a.toUs - a.fromUs)).slice(0, 5)) {
      const s = selfTimes(p, x.fromUs, x.toUs);
      console.log(`  stretch at ${((x.fromUs - p.startTime) / 1e6).toFixed(2)} s, ${((x.toUs - x.fromUs) / 1000).toFixed(0)} ms:`);
      for (const [fn, us] of [...s.byOwnerFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`    ${pct(us, s.busyUs)}  ${fn}`);
    }
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await main();
