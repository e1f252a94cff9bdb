import { describe, expect, it } from 'vitest';
import type { CpuProfile } from '../../scripts/bench-cost/profile.js';
import { busyStretches } from '../../scripts/bench-cost/stalls.js';

const frame = (functionName: string, url = '') => ({ functionName, url });
// Busy from 0 to the idle sample at 180 ms, busy again at 190 ms until idle at 195 ms, busy at the end from 300 ms.
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 3] },
    { id: 2, callFrame: frame('onSessionHeaders', 'node:internal/http2/core') },
    { id: 3, callFrame: frame('(idle)') },
  ],
  startTime: 0,
  endTime: 450_000,
  samples: [2, 2, 2, 3, 2, 3, 2, 2],
  timeDeltas: [0, 50_000, 60_000, 70_000, 10_000, 5_000, 105_000, 145_000],
};

describe('stalls (busy stretches of the event loop)', () => {
  it('finds every run of samples without an idle one that lasts at least the minimum, the last one open-ended', () => {
    expect(busyStretches(profile, 100_000)).toEqual([{ fromUs: 0, toUs: 180_000 }, { fromUs: 300_000, toUs: 445_000 }]);
    expect(busyStretches(profile, 1_000)).toHaveLength(3);
    expect(busyStretches(profile, 200_000)).toEqual([]);
  });
});
