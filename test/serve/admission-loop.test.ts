import { afterEach, describe, expect, it, vi } from 'vitest';
import { LoopLag, MIN_BACKLOG, STORM_INTERVAL_MS, STORM_TICKS } from '../../src/serve/admission-loop.js';
import { Admission, type Refusal, StageRate } from '../../src/serve/admission.js';
import { DEFAULTS } from '../../src/serve/config.js';

/** Drives a LoopLag by hand: a tick 10 ms after the last, each as late as the loop turn before it. */
function clock(lag: LoopLag) {
  let now = 0;
  let due = 10;
  return {
    get now() {
      return now;
    },
    /** The tick due next runs `lateMs` late (the loop turn before it held it up that long). */
    turn(lateMs: number) {
      now = due + lateMs;
      lag.tick(due, now, now + 10);
      due = now + 10;
    },
    arrive(n: number) {
      for (let i = 0; i < n; i++) lag.arrived();
    },
  };
}

describe('the storm rule (admission.maxLoopLagMs)', () => {
  it('holds once the loop has been late turn after turn for an interval while calls pile up, and ends with the first turn on time', () => {
    const lag = new LoopLag(50);
    const c = clock(lag);
    c.turn(0);
    expect(lag.overloaded(c.now)).toBe(false);
    // A flood: turns of 60 ms reading hundreds of HEADERS each.
    c.turn(60);
    c.arrive(300);
    expect(lag.overloaded(c.now)).toBe(false); // one late turn: could be a GC pause
    c.turn(60);
    c.arrive(300);
    expect(lag.overloaded(c.now)).toBe(false); // two late turns: the turn after a stall may be late too
    c.turn(60);
    expect(STORM_TICKS).toBe(3);
    expect(lag.overloaded(c.now)).toBe(true);
    c.turn(60);
    expect(lag.overloaded(c.now)).toBe(true);
    // The storm is over: the next tick is on time.
    c.turn(2);
    expect(lag.overloaded(c.now)).toBe(false);
    expect(lag.lateTicks).toBe(4);
  });

  it('ignores single long turns (GC, a stolen core) and the turn that reads their backlog', () => {
    const lag = new LoopLag(50);
    const c = clock(lag);
    for (let i = 0; i < 20; i++) {
      c.turn(280); // a 280 ms stall, the soak's longest
      c.arrive(280);
      c.turn(60); // reading what arrived meanwhile
      expect(lag.overloaded(c.now)).toBe(false);
      c.turn(5);
      c.turn(5);
    }
  });

  it('needs a backlog: a starved machine serving a few calls is slow, not flooded', () => {
    const lag = new LoopLag(50);
    const c = clock(lag);
    for (let i = 0; i < 10; i++) {
      c.turn(80);
      c.arrive(10);
      for (let j = 0; j < 8; j++) lag.finished();
    }
    expect(lag.overloaded(c.now)).toBe(false);
    // A closed-loop client of 64 in flight, starting the streak with none: at most 64 more arrivals than finishes.
    c.arrive(MIN_BACKLOG - 20);
    expect(lag.overloaded(c.now)).toBe(false);
    // The calls pile up beyond that.
    c.arrive(1);
    expect(lag.overloaded(c.now)).toBe(true);
  });

  it('counts the turn running now: a tick overdue by more than the target extends the streak', () => {
    const lag = new LoopLag(50);
    const c = clock(lag);
    c.turn(0);
    c.turn(70);
    c.turn(70);
    c.arrive(MIN_BACKLOG + 1);
    // Two late ticks so far, 150 ms of streak; the pending tick is due at now + 10 and not yet late.
    expect(lag.overloaded(c.now)).toBe(false);
    // 61 ms into the current turn its tick is late too: the third.
    expect(lag.overloaded(c.now + 61)).toBe(true);
    expect(STORM_INTERVAL_MS).toBeLessThanOrEqual(150);
  });

  describe('as admission sees it', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    it('refuses every arrival during a storm, even with nothing admitted ahead, naming the key, and admits again after it', () => {
      vi.useFakeTimers({ toFake: ['performance'] });
      const a = new Admission({ maxInflightBytes: 0, deadlineShedding: false, maxQueueWaitMs: 0, maxLoopLagMs: 50 }, new StageRate(2), new StageRate(0.5));
      const lag = a.loop!;
      const t0 = performance.now();
      // Turns of 60-70 ms, each tick as late; 200 HEADERS arrive in them and nothing finishes.
      vi.advanceTimersByTime(60);
      lag.tick(t0, t0 + 60, t0 + 70);
      const held = Array.from({ length: 200 }, () => a.admitArrival(Infinity));
      expect(held.every((h) => typeof h === 'function')).toBe(true);
      vi.advanceTimersByTime(150);
      lag.tick(t0 + 70, t0 + 140, t0 + 150);
      lag.tick(t0 + 150, t0 + 210, t0 + 220);
      (held as (() => void)[]).forEach((h) => h()); // their messages came: nothing is admitted now
      const r = a.admitArrival(Infinity) as Refusal;
      expect(r.refused).toBe('loop');
      expect(r.message).toMatch(/event loop has been late by more than 50 ms .*\(admission\.maxLoopLagMs\)/);
      expect(r.retryAfterMs).toBe(STORM_INTERVAL_MS);
      expect(a.snapshot()).toMatchObject({ refusedLoop: 1, loopLateTicks: 3 });
      // The next tick is on time: the storm is over.
      vi.advanceTimersByTime(2);
      lag.tick(t0 + 220, t0 + 212, t0 + 222);
      expect(a.admitArrival(Infinity)).toBeTypeOf('function');
    });

    it("a flood's HEADERS: one saturation's worth admitted by the wait bound, the rest refused while the loop stays late, calls admitted after", () => {
      vi.useFakeTimers({ toFake: ['performance'] });
      // The defaults (config-defaults.ts: 64 MiB, deadline shedding, 1000 ms, 50 ms); the default model's stage rates.
      const a = new Admission(DEFAULTS.admission, new StageRate(2.3), new StageRate(0.15));
      const lag = a.loop!;
      const t0 = performance.now();
      let due = t0 + 10;
      const reasons: Record<string, number> = {};
      const admitted: (() => void)[] = [];
      // 10,000 HEADERS in 20 loop turns of 100 ms (500 a turn, ~0.2 ms each), half with 5 s deadlines; each turn holds
      // up the detector's tick by its length. Nothing admitted finishes meanwhile (the worst case for the estimate).
      for (let turn = 0; turn < 20; turn++) {
        for (let i = 0; i < 500; i++) {
          vi.advanceTimersByTime(0.2);
          const r = a.admitArrival(i % 2 === 0 ? 5000 - (performance.now() - t0) : Infinity);
          if (typeof r === 'function') admitted.push(r);
          else reasons[r.refused] = (reasons[r.refused] ?? 0) + 1;
        }
        lag.tick(due, performance.now(), performance.now() + 10);
        due = performance.now() + 10;
      }
      // The wait bound stops the first turn at 103 ahead (~103 x 2.45 ms x the initial factor 4 > 1000 ms);
      // from the third late turn the storm rule refuses everything, with nothing left for the estimate to decide.
      expect(admitted.length).toBe(103);
      expect(reasons.wait).toBeGreaterThan(400);
      expect(reasons.loop).toBeGreaterThan(8000);
      expect(reasons.wait! + reasons.loop! + (reasons.deadline ?? 0)).toBe(10_000 - 103);
      // The admitted calls are served; the loop is on time again: the next call is admitted.
      admitted.forEach((r) => r());
      vi.advanceTimersByTime(10);
      lag.tick(due, due + 1, due + 11);
      expect(a.admitArrival(Infinity)).toBeTypeOf('function');
    });

    it('ticks on a timer of its own that stops with the server', () => {
      vi.useFakeTimers({ toFake: ['performance', 'setTimeout', 'clearTimeout'] });
      const lag = new LoopLag(50);
      const seen: number[] = [];
      const tick = lag.tick.bind(lag);
      lag.tick = (due, now, next) => {
        seen.push(now - due);
        tick(due, now, next);
      };
      const stop = lag.start(10);
      vi.advanceTimersByTime(100);
      expect(seen).toHaveLength(10);
      expect(lag.lateTicks).toBe(0);
      stop();
      vi.advanceTimersByTime(100);
      expect(seen).toHaveLength(10);
    });
  });
});
