import { describe, expect, it } from 'vitest';
import { selfTimes } from '../../scripts/bench-cost/hotspots.js';
import type { CpuProfile } from '../../scripts/bench-cost/profile.js';

// root -> score (src/serve/scorer.ts) -> inflate (node:zlib) -> processChunkSync (native)
//      -> onSessionHeaders (node:internal/http2/core) -> handle (grpc-js build/src/server.js)
//      -> onSessionHeaders (node:internal/http2/core) alone
//      -> (idle), (garbage collector)
const frame = (functionName: string, url = '') => ({ functionName, url });
const profile: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 5, 7, 8] },
    { id: 2, callFrame: frame('score', 'file:///x/src/serve/scorer.ts'), children: [3] },
    { id: 3, callFrame: frame('inflate', 'node:zlib'), children: [4] },
    { id: 4, callFrame: frame('processChunkSync') },
    { id: 5, callFrame: frame('onSessionHeaders', 'node:internal/http2/core'), children: [6] },
    { id: 6, callFrame: frame('handle', 'file:///x/node_modules/@grpc/grpc-js/build/src/server.js') },
    { id: 7, callFrame: frame('(idle)') },
    { id: 8, callFrame: frame('(garbage collector)') },
  ],
  startTime: 0,
  endTime: 1000,
  // Weights (the delta after each sample): score 10, processChunkSync 40, handle 20, onSessionHeaders 5, idle 100, gc 25.
  samples: [2, 4, 6, 5, 7, 8, 2],
  timeDeltas: [0, 10, 40, 20, 5, 100, 25],
};

describe('hotspots (self time by module and owner)', () => {
  it('splits busy time by the top frame\'s module, grpc-js before src/', () => {
    const s = selfTimes(profile);
    expect(s.busyUs).toBe(10 + 40 + 20 + 5 + 25);
    expect(Object.fromEntries(s.byModule)).toEqual({ 'src/serve': 10, 'native/V8 builtins': 40, 'grpc-js': 20, 'node internals': 5, GC: 25 });
  });

  it('charges node and V8 frames to their nearest owning caller; node-only stacks by their outermost node file', () => {
    const s = selfTimes(profile);
    expect(Object.fromEntries(s.byOwner)).toEqual({ 'src/serve': 50, 'grpc-js': 20, 'node:internal/http2/core (node only)': 5, GC: 25 });
    expect(s.byOwnerFunction.get('score src/serve/scorer.ts')).toBe(50);
  });

  it('leaves out samples before `fromUs`', () => {
    // Sample times: 0, 10, 50, 70, 75, 175, 200.
    const s = selfTimes(profile, 60);
    expect(s.busyUs).toBe(5 + 25);
  });

  it('and after `toUs` (bench:cost\'s window.json)', () => {
    // Samples at 0, 10 and 50 are in: score 10, processChunkSync 40, handle 20.
    const s = selfTimes(profile, 0, 60);
    expect(s.busyUs).toBe(10 + 40 + 20);
    expect(s.byModule.get('GC')).toBeUndefined();
  });
});
