import { describe, expect, it } from 'vitest';
import { rampSaturation } from '../../scripts/soak-load.js';

/** A server that answers one call at a time, each in `serviceMs`: it sustains 1000 / serviceMs calls/s and queues beyond. */
function queueServer(serviceMs: number) {
  let freeAt = 0;
  return () => {
    const start = Math.max(performance.now(), freeAt);
    freeAt = start + serviceMs;
    return new Promise<string>((r) => setTimeout(() => r('OK'), freeAt - performance.now()));
  };
}

describe('the soak\'s open-loop ramp', () => {
  it('keeps the highest rate a queue sustains and stops at the first step it falls behind', async () => {
    // Capacity 50 calls/s; the steps offer 40-90% of 80: 32, 40, 48, 56, 64, 72. 20 ms a call keeps
    // timer jitter on a busy machine small against the service time the p99 is judged on.
    const lines: string[] = [];
    const r = await rampSaturation({ closedLoopRate: 80, stepSeconds: 1, fractions: [0.4, 0.5, 0.6, 0.7, 0.8, 0.9] }, queueServer(20), (l) => lines.push(l));
    expect(r.saturation).toBeGreaterThanOrEqual(40);
    expect(r.saturation).toBeLessThanOrEqual(56);
    const last = r.steps.at(-1)!;
    expect(last.holds).toBe(false);
    expect(last.rate).toBeGreaterThan(50);
    expect(r.steps.filter((s) => s.holds).map((s) => s.rate).at(-1)).toBe(r.saturation);
    expect(lines).toHaveLength(r.steps.length);
  });

  it('counts refusals against a step', async () => {
    let n = 0;
    const r = await rampSaturation({ closedLoopRate: 100, stepSeconds: 0.4, fractions: [0.5, 1] }, async () => (n++ % 10 === 9 ? 'RESOURCE_EXHAUSTED' : 'OK'), () => {});
    // 10% refused: the first step already does not hold, so no rate is sustained.
    expect(r.steps).toHaveLength(1);
    expect(r.steps[0]!.refused).toBeGreaterThan(0);
    expect(r.saturation).toBe(0);
  });
});
