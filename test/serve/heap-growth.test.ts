/**
 * heapGrowingPercent takes effect on a running process: set once at start-up
 * (as `mrm serve` does), the factor decides how often the old generation is
 * collected. Two child processes hold the same ~40 MB live heap and churn
 * the same mid-lived objects (they survive the young generation, then die);
 * at 1.1x (V8's floor) they run several times the full collections they run
 * at 2x. Were the flag ignored once the heap exists, both would use V8's
 * own factor and count alike.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MODULE = fileURLToPath(new URL('../../src/serve/heap-growth.ts', import.meta.url));

const CHILD = `
import { register } from 'tsx/esm/api';
import { PerformanceObserver, constants } from 'node:perf_hooks';
register();
const { setHeapGrowth } = await import(${JSON.stringify(MODULE)});
setHeapGrowth(Number(process.argv[1]));
let majors = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++;
}).observe({ entryTypes: ['gc'] });
const live = Array.from({ length: 400_000 }, (_, i) => ({ i, s: 'x' + i, a: [i, i + 1] }));
const ring = new Array(50_000);
for (let i = 0; i < 3_000_000; i++) ring[i % ring.length] = { i, a: [i, i], s: 'y' + (i & 1023) };
setTimeout(() => { console.log(JSON.stringify({ majors, live: live.length })); }, 50);
`;

function majorCollections(percent: number): number {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, String(percent)], { encoding: 'utf8', cwd: fileURLToPath(new URL('../..', import.meta.url)) });
  if (r.status !== 0) throw new Error(`child exited ${r.status}: ${r.stderr}`);
  return (JSON.parse(r.stdout.trim().split('\n').pop()!) as { majors: number }).majors;
}

describe('setHeapGrowth', () => {
  it('sets how often the old generation is collected, on the running process', () => {
    const tight = majorCollections(10);
    const loose = majorCollections(100);
    expect(tight).toBeGreaterThanOrEqual(4);
    expect(loose * 2).toBeLessThanOrEqual(tight);
  }, 60_000);
});
