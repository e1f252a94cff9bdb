import { afterEach, describe, expect, it, vi } from 'vitest';
import { RefusalTurns } from '../../src/serve/admission-gate.js';

describe('RefusalTurns', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("reports each loop turn's refusal time once the turn is over: first refused header to the last refusal", () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    const later: (() => void)[] = [];
    const loop: number[] = [];
    const turns = new RefusalTurns((ms) => loop.push(ms), (fn) => later.push(fn));
    // One read turn: three refused calls, each 1 ms to answer, with 2 ms of grpc-js's setup of the next call between.
    for (let i = 0; i < 3; i++) {
      const headerAt = performance.now();
      vi.advanceTimersByTime(1);
      turns.refused(headerAt);
      vi.advanceTimersByTime(2);
    }
    expect(loop).toEqual([]);
    expect(later).toHaveLength(1);
    later.shift()!();
    // 0 -> 7 ms: the answers (3 ms) and the setup between them (4 ms); the 2 ms after the last refusal are not its.
    expect(loop).toEqual([7]);
    // The next turn starts its own span.
    vi.advanceTimersByTime(50);
    const headerAt = performance.now();
    vi.advanceTimersByTime(1);
    turns.refused(headerAt);
    later.shift()!();
    expect(loop).toEqual([7, 1]);
    expect(later).toHaveLength(0);
  });
});
