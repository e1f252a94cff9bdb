/** CPU time of a process and of its threads, from /proc (the benches' shared reader). */
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

let clkTck: number | undefined;
/** Clock ticks per second of /proc's times: asked once; 100 if getconf is missing. */
export function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try { clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100; } catch { clkTck = 100; }
  }
  return clkTck;
}

export interface ThreadCpu { name: string; ms: number; sys: number }

/** Thread id -> name and CPU ms (user + system, and system alone) so far. Threads that end between the listing and the read are skipped. */
export async function threadCpu(pid: number): Promise<Map<number, ThreadCpu>> {
  const out = new Map<number, ThreadCpu>();
  for (const tid of await readdir(`/proc/${pid}/task`).catch(() => [])) {
    let stat: string;
    try { stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8'); } catch { continue; }
    // comm (field 2) may hold spaces or ')': fields after the last ')' start at 3; utime and stime are 14 and 15.
    const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const rest = stat.slice(stat.lastIndexOf(')') + 1).trim().split(/\s+/);
    const tck = ticksPerSecond();
    out.set(Number(tid), { name, ms: (1000 * (Number(rest[11]) + Number(rest[12]))) / tck, sys: (1000 * Number(rest[12])) / tck });
  }
  return out;
}
