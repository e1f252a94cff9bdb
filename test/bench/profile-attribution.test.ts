import { describe, expect, it } from 'vitest';
import { attribute, type CpuProfile } from '../../scripts/bench-cost/profile.js';

// root -> main (app.ts) -> offer (src/pairlog/writer.ts) -> digest (digest.ts)
//      -> (idle), (garbage collector)
const frame = (functionName: string, url = '') => ({ functionName, url });
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 5, 6] },
    { id: 2, callFrame: frame('main', 'file:///x/src/serve/app.ts'), children: [3] },
    { id: 3, callFrame: frame('offer', 'file:///x/src/pairlog/writer.ts'), children: [4] },
    { id: 4, callFrame: frame('digest', 'file:///x/src/model/digest.ts') },
    { id: 5, callFrame: frame('(idle)') },
    { id: 6, callFrame: frame('(garbage collector)') },
  ],
  startTime: 0,
  endTime: 100,
  // Each sample stands for the delta that follows it: main 10, offer 20, digest 30, idle 25, gc 15.
  samples: [2, 3, 4, 5, 6, 2],
  timeDeltas: [0, 10, 20, 30, 25, 15],
};

describe('CPU profile attribution (bench:cost)', () => {
  it('counts a part inclusively, leaves idle out of busy time and reports GC apart', () => {
    const a = attribute(profile, [{ name: 'pairlog', url: /\/src\/pairlog\// }, { name: 'digest', url: /digest\.ts$/ }]);
    expect(a.idleUs).toBe(25);
    expect(a.busyUs).toBe(10 + 20 + 30 + 15);
    expect(a.gcUs).toBe(15);
    // The digest called from the pair log is the pair log's cost too.
    expect(a.parts).toEqual({ pairlog: 50, digest: 30 });
  });

  it('counts frames of other files that a part names by file and function', () => {
    const withDetail: CpuProfile = {
      ...profile,
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2, 5] },
        { id: 2, callFrame: frame('score', 'file:///x/src/serve/scorer.ts'), children: [3, 4] },
        { id: 3, callFrame: frame('putDetail', 'file:///x/src/serve/caches.ts') },
        { id: 4, callFrame: frame('putReward', 'file:///x/src/serve/caches.ts') },
        { id: 5, callFrame: frame('(idle)') },
      ],
      samples: [2, 3, 4, 5, 2],
      timeDeltas: [0, 10, 20, 30, 25],
    };
    const a = attribute(withDetail, [{ name: 'pairlog', url: /\/src\/pairlog\//, also: [{ url: /\/src\/serve\/caches\.ts$/, fn: /^putDetail$/ }] }]);
    expect(a.busyUs).toBe(10 + 20 + 30);
    expect(a.parts).toEqual({ pairlog: 20 });
  });

  it('leaves the project\'s work that a part\'s wrapper runs as a callback out of the part', () => {
    // score -> sync (telemetry, a wrapper) -> validate (src/serve) -> digest (node:crypto)
    //                                      -> end (@opentelemetry)
    const wrapped: CpuProfile = {
      ...profile,
      nodes: [
        { id: 1, callFrame: frame('(root)'), children: [2] },
        { id: 2, callFrame: frame('score', 'file:///x/src/serve/service.ts'), children: [3] },
        { id: 3, callFrame: frame('sync', 'file:///x/src/telemetry/spans.ts'), children: [4, 6] },
        { id: 4, callFrame: frame('validate', 'file:///x/src/serve/request.ts'), children: [5] },
        { id: 5, callFrame: frame('digest', 'node:internal/crypto/hash') },
        { id: 6, callFrame: frame('end', 'file:///x/node_modules/@opentelemetry/sdk-trace-base/build/src/Span.js') },
      ],
      samples: [3, 4, 5, 6, 2],
      timeDeltas: [0, 10, 20, 30, 40],
    };
    const tel = { name: 'telemetry', url: /\/src\/telemetry\/|\/node_modules\/@opentelemetry\//, wrappers: /^(sync|child)$/ };
    const a = attribute(wrapped, [tel]);
    // sync itself (10) and the span's end (40) are telemetry; validate (20) and its digest (30) are not.
    expect(a.parts).toEqual({ telemetry: 10 + 40 });
    // Without the wrapper rule everything under sync would count.
    expect(attribute(wrapped, [{ name: 'telemetry', url: tel.url }]).parts).toEqual({ telemetry: 100 });
  });
});
