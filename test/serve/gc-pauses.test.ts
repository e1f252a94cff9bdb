import { describe, expect, it } from 'vitest';
import { GcPauses } from '../../src/serve/gc-pauses.js';

describe('GcPauses', () => {
  it('counts the pauses of an interval (garbage made here forces a scavenge), then starts the next one at zero', async () => {
    const gc = new GcPauses();
    gc.start();
    try {
      let keep = 0;
      for (let i = 0; i < 200_000; i++) keep += new Array(16).fill(i).length;
      expect(keep).toBe(3_200_000);
      // The observer is told after the pauses, in a later task.
      await new Promise((r) => setTimeout(r, 50));
      const first = gc.take();
      expect(first.count).toBeGreaterThan(0);
      expect(first.maxMs).toBeGreaterThan(0);
      expect(first.maxMs).toBeLessThanOrEqual(first.totalMs);
      expect(gc.take()).toEqual({ count: 0, totalMs: 0, maxMs: 0 });
    } finally {
      gc.stop();
    }
  });
});
