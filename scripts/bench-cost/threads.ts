/** CPU time per thread of a process, from /proc/<pid>/task/<tid>/stat. */
import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try { clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100; } catch { clkTck = 100; }
  }
  return clkTck;
}

/** Thread id -> CPU ms (user + system) so far. Threads that end between the listing and the read are skipped. */
export async function threadCpuMs(pid: number): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  for (const tid of await readdir(`/proc/${pid}/task`)) {
    let stat: string;
    try { stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'utf8'); } catch { continue; }
    // comm (field 2) may hold spaces or ')': fields after the last ')' start at 3; utime and stime are 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 1).trim().split(/\s+/);
    out.set(Number(tid), (1000 * (Number(rest[11]) + Number(rest[12]))) / ticksPerSecond());
  }
  return out;
}
