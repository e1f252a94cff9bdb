/**
 * kill -9 under Compare load, restart on the same state directory: every
 * record reported synced comes back, none twice, none corrupt, with its
 * images readable, the torn tail cut. Two rounds here; `npm run test:crash`
 * runs twenty (scripts/crash-pairlog.ts).
 */
import { describe, expect, it } from 'vitest';
import { crashRounds, table } from '../../scripts/crash-pairlog.js';

describe('pair log crash safety', () => {
  it('loses no synced record across SIGKILL and restart', async () => {
    const results = await crashRounds(2);
    console.log(table(results));
    for (const r of results) {
      expect(r.synced).toBeGreaterThan(0);
      expect(r).toMatchObject({ missing: 0, duplicates: 0, corrupt: 0, imagesMissing: 0 });
      expect(r.tornBytes).toBeGreaterThan(0);
      expect(r.cut).toBe(r.tornBytes);
      // Records the server wrote after its last reported sync may also be back (the page cache survives SIGKILL).
      expect(r.returned).toBeGreaterThanOrEqual(r.synced);
    }
  }, 300_000);
});
