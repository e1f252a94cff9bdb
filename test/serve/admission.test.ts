import { afterEach, describe, expect, it, vi } from 'vitest';
import { Admission, AdmissionRefused, MIN_QUEUE_FOR_WAIT, type Refusal, requestCost, StageRate } from '../../src/serve/admission.js';
import { headerBomb } from '../fixtures/png.js';

const MiB = 2 ** 20;

describe('admission', () => {
  it('reserves bytes until released and refuses what does not fit, naming the budget', () => {
    const a = new Admission({ maxInflightBytes: 10 * MiB, deadlineShedding: false, maxQueueWaitMs: 0, maxLoopLagMs: 0 }, new StageRate(2), new StageRate(0.2));
    const r1 = a.admit({ bytes: 6 * MiB, images: 1, units: 1 }, Infinity);
    const err = (() => { try { a.admit({ bytes: 5 * MiB, images: 1, units: 1 }, Infinity); } catch (e) { return e; } })();
    expect(err).toBeInstanceOf(AdmissionRefused);
    expect((err as Error).message).toMatch(/6\.0 MiB of the 10\.0 MiB in-flight budget \(admission\.maxInflightBytes\).*needs 5\.0 MiB/);
    expect((err as AdmissionRefused).retryAfterMs).toBeGreaterThanOrEqual(10);
    r1();
    r1(); // idempotent
    const r2 = a.admit({ bytes: 5 * MiB, images: 1, units: 1 }, Infinity);
    expect(a.snapshot()).toMatchObject({ admitted: 2, refusedBytes: 1, inflightBytes: 5 * MiB, peakInflightBytes: 6 * MiB });
    r2();
    expect(a.snapshot().inflightBytes).toBe(0);
  });

  it('admits a request larger than the budget when nothing else is in flight, so it is slow rather than impossible', () => {
    const a = new Admission({ maxInflightBytes: MiB, deadlineShedding: false, maxQueueWaitMs: 0, maxLoopLagMs: 0 }, new StageRate(2), new StageRate(0.2));
    const r = a.admit({ bytes: 5 * MiB, images: 1, units: 1 }, Infinity);
    expect(() => a.admit({ bytes: 1, images: 0, units: 1 }, Infinity)).toThrow(AdmissionRefused);
    r();
  });

  it('refuses a request whose deadline the queued work ahead cannot meet', () => {
    const a = new Admission({ maxInflightBytes: 0, deadlineShedding: true, maxQueueWaitMs: 0, maxLoopLagMs: 0 }, new StageRate(2), new StageRate(0.5));
    const held = Array.from({ length: 100 }, () => a.admit({ bytes: 1, images: 1, units: 1 }, Infinity));
    // 100 images x 2 ms + 100 units x 0.5 ms = 250 ms ahead, + 2.5 ms of its own, at the initial drain factor of 4
    // (nothing has finished yet to measure it).
    expect(a.expectedMs({ bytes: 1, images: 1, units: 1 })).toBeCloseTo(1010);
    expect(() => a.admit({ bytes: 1, images: 1, units: 1 }, 1000)).toThrow(/needs ~1010 ms, more than the 1000 ms left/);
    held.push(a.admit({ bytes: 1, images: 1, units: 1 }, 1100));
    held.forEach((r) => r());
    // Nothing ahead: admitted even when its own estimate exceeds its deadline (after a flood the rates can be stale;
    // refusing a lone call on them would refuse every call until the next batch, which would never come).
    const lone = a.admit({ bytes: 1, images: 100, units: 100 }, 200);
    expect(lone).toBeTypeOf('function');
    expect(() => a.admit({ bytes: 1, images: 1, units: 1 }, 200)).toThrow(AdmissionRefused);
    lone();
    expect(a.snapshot().refusedDeadline).toBe(2);
  });

  it('learns stage rates from batches', () => {
    const r = new StageRate(10);
    for (let i = 0; i < 30; i++) r.observe(16, 8);
    expect(r.perEntry).toBeCloseTo(2, 1);
  });

  it('does not jump on one batch that waited behind a long loop turn, and still follows a real slowdown', () => {
    const r = new StageRate(2.5);
    // A batch of 8 whose result waited behind a 280 ms turn: 35 ms an image, counted as at most 2 x 2.5.
    r.observe(280, 8);
    expect(r.perEntry).toBeCloseTo(0.8 * 2.5 + 0.2 * 5, 5);
    for (let i = 0; i < 5; i++) r.observe(20, 8);
    expect(r.perEntry).toBeLessThan(2.8);
    // The machine really is 4x slower: the estimate gets there within ~15 batches.
    for (let i = 0; i < 15; i++) r.observe(80, 8);
    expect(r.perEntry).toBeGreaterThan(9);
  });

  it('counts a PNG at its decoded size from the header, before decoding', () => {
    const bomb = headerBomb(4000, 3000);
    const c = requestCost([{ data: bomb }, {}], 2, 100, 196_608);
    expect(c.images).toBe(1);
    expect(c.bytes).toBe(100 + bomb.length + 4000 * 3000 * 4 + 196_608);
  });

  it('refuses by work: when the work admitted ahead would keep a request waiting past admission.maxQueueWaitMs', () => {
    // 2 ms per image + 0.5 ms per text = 2.5 ms of stage time a request, x4 (the initial drain factor) = 10 ms.
    const a = new Admission({ maxInflightBytes: 0, deadlineShedding: false, maxQueueWaitMs: 630, maxLoopLagMs: 0 }, new StageRate(2), new StageRate(0.5));
    const one = { bytes: 1, images: 1, units: 1 };
    const held = Array.from({ length: MIN_QUEUE_FOR_WAIT }, () => a.admit(one, Infinity));
    expect(a.snapshot().queueWaitMs).toBe(640);
    expect(() => a.admit(one, Infinity)).toThrow(/work admitted ahead needs ~640 ms, more than the 630 ms a request may wait \(admission\.maxQueueWaitMs\)/);
    // At the headers the refusal is a value (no Error built per refused call), with a pushback of the excess.
    const r = a.admitArrival(Infinity) as Refusal;
    expect(r.refused).toBe('wait');
    expect(r.retryAfterMs).toBe(10);
    expect(a.snapshot().refusedWait).toBe(2);
    held.pop()!();
    expect(a.snapshot().queueWaitMs).toBe(630);
    const arrival = a.admitArrival(Infinity);
    expect(arrival).toBeTypeOf('function');
    // Admitted at the headers, not yet read: counts as a typical request ahead of the next.
    expect(a.snapshot().queueWaitMs).toBe(640);
    expect((a.admitArrival(Infinity) as Refusal).refused).toBe('wait');
    (arrival as () => void)();
    held.forEach((h) => h());
  });

  it('counts a request at the work it causes, and a call at its headers at the work a typical one causes', () => {
    // The bound off: only the estimate (queueWaitMs) is looked at.
    const a = new Admission({ maxInflightBytes: 0, deadlineShedding: false, maxQueueWaitMs: 0, maxLoopLagMs: 0 }, new StageRate(2), new StageRate(0.5));
    // Repeats: each carries an image and a text, both cached, so it causes no work.
    const held = Array.from({ length: 40 }, () => a.admit({ bytes: 1, images: 0, units: 0 }, Infinity, { bytes: 1, images: 1, units: 1 }));
    expect(a.snapshot().queueWaitMs).toBe(0);
    // A call at its headers counts at the typical work, ~0 after 40 cache hits (0.9^40 x 2.5 ms x the initial factor 4):
    // the soak's cached mix was counted at its uncached size and its bursts read as seconds of wait.
    const arrivals = Array.from({ length: 100 }, () => a.admitArrival(Infinity) as () => void);
    expect(a.snapshot().queueWaitMs).toBeLessThanOrEqual(15);
    arrivals.forEach((r) => r());
    // New images follow: each is checked at its real work when its message is read, and the typical work follows
    // within a few dozen calls (weight 0.1), so the calls still at their headers count again.
    for (let i = 0; i < 30; i++) held.push(a.admit({ bytes: 1, images: 1, units: 1 }, Infinity));
    const arriving = Array.from({ length: 100 }, () => a.admitArrival(Infinity) as () => void);
    // 30 admitted + 100 arriving at >= 0.95 x 2.5 ms, x4.
    expect(a.snapshot().queueWaitMs).toBeGreaterThan(1200);
    arriving.forEach((r) => r());
    held.forEach((h) => h());
  });

  it('applies the wait bound only from 64 requests ahead: a closed-loop trainer of 64 in flight is served, slowly, not refused', () => {
    const a = new Admission({ maxInflightBytes: 0, deadlineShedding: false, maxQueueWaitMs: 1, maxLoopLagMs: 0 }, new StageRate(2), new StageRate(0.5));
    const held = [a.admit({ bytes: 1, images: 100, units: 100 }, Infinity)];
    for (let i = 0; i < MIN_QUEUE_FOR_WAIT - 1; i++) held.push(a.admit({ bytes: 1, images: 1, units: 1 }, Infinity));
    expect(() => a.admit({ bytes: 1, images: 1, units: 1 }, Infinity)).toThrow(AdmissionRefused);
    held.forEach((h) => h());
  });

  describe('the drain rate', () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    /**
     * 80 requests of 1 image and 1 unit admitted at once, then finished in batches of 8 (20 ms of
     * estimated stage time) every 100 ms of fake wall time, `refusalMs` of each 100 spent refusing.
     */
    const drainBatches = (a: Admission, refusalMs = 0) => {
      const pending = Array.from({ length: 80 }, () => a.admit({ bytes: 1, images: 1, units: 1 }, Infinity));
      for (let batch = 0; batch < 8; batch++) {
        vi.advanceTimersByTime(100);
        if (refusalMs > 0) a.refusalLoopTime(refusalMs);
        for (let i = 0; i < 8; i++) pending.shift()!();
        vi.runAllTicks();
        vi.advanceTimersToNextTimer();
      }
      return pending;
    };

    const admission = () => new Admission({ maxInflightBytes: 0, deadlineShedding: false, maxQueueWaitMs: 1000, maxLoopLagMs: 0 }, new StageRate(2), new StageRate(0.5));

    it('learns how much longer than the stage estimate admitted work really takes, counting a batch whole', () => {
      vi.useFakeTimers({ toFake: ['performance', 'setImmediate'] });
      const a = admission();
      // Work stays pending throughout; batches of 8 requests (20 ms of estimated stage time) finish every 100 ms of wall time: 5x.
      const pending = drainBatches(a);
      // Every window of 200 ms held two whole batches: samples of exactly 5 move the factor from 4 towards 5.
      expect(a.snapshot().drainFactor).toBeGreaterThan(4.7);
      expect(a.snapshot().drainFactor).toBeLessThanOrEqual(5);
      // The wait estimate follows: 16 requests x 2.5 ms x ~5.
      expect(a.snapshot().queueWaitMs).toBeGreaterThan(185);
      pending.forEach((p) => p());
    });

    it('keeps the event-loop time of refusals out: a refusal storm does not read as slow model work', () => {
      vi.useFakeTimers({ toFake: ['performance', 'setImmediate'] });
      const a = admission();
      // As above, batches of 8 (20 ms of stage time) every 100 ms of wall time, but 80 ms of each 100 went to
      // refusing other calls: the admitted work drained at 20 ms per batch, a factor of 1.
      const pending = drainBatches(a, 80);
      // Four windows of samples of exactly 1 move the factor from 4 to 1 + 3 x 0.7^4 = 1.72 (5x counted whole: 4.76).
      expect(a.snapshot().drainFactor).toBeCloseTo(1.72, 2);
      pending.forEach((p) => p());
    });

    it("counts the busiest thread's time, not the gaps between arrivals below saturation", () => {
      vi.useFakeTimers({ toFake: ['performance', 'setImmediate'] });
      const a = admission();
      // The same batches (20 ms of stage time every 100 ms of wall), but the main loop was busy only 60 ms of each
      // 100 and the worker 20: the rest were gaps between arrivals, which a backlog would not have.
      const t0 = performance.now();
      a.busyClocks = () => {
        const wall = performance.now() - t0;
        return { loopMs: 0.6 * wall, workerMs: 0.2 * wall };
      };
      const pending = drainBatches(a);
      // Samples of exactly 3 (60 ms of loop per 20 ms of stage time) move the factor from 4 to 3 + 0.7^4 = 3.24
      // (counted in wall time: 5, above 4.7).
      expect(a.snapshot().drainFactor).toBeCloseTo(3.24, 2);
      pending.forEach((p) => p());
    });

    it('moves at most to twice its value a window: a flood window whose loop time it cannot see does not make it explode', () => {
      vi.useFakeTimers({ toFake: ['performance', 'setImmediate'] });
      const a = admission();
      // Batches of 8 (20 ms of stage time) every 1000 ms: samples of 50 (the idle flood's read 30.7 within a second).
      const pending = Array.from({ length: 40 }, () => a.admit({ bytes: 1, images: 1, units: 1 }, Infinity));
      for (let batch = 0; batch < 2; batch++) {
        vi.advanceTimersByTime(1000);
        for (let i = 0; i < 8; i++) pending.shift()!();
        vi.runAllTicks();
        vi.advanceTimersToNextTimer();
      }
      // Two windows, each sample at most twice the factor: 4 -> 0.7x4 + 0.3x8 = 5.2 -> 0.7x5.2 + 0.3x10.4 = 6.76.
      expect(a.snapshot().drainFactor).toBeCloseTo(6.76, 2);
      pending.forEach((p) => p());
    });

    it('ignores refusal time while nothing admitted is pending (no window is open to take it)', () => {
      vi.useFakeTimers({ toFake: ['performance', 'setImmediate'] });
      const a = admission();
      a.refusalLoopTime(10_000);
      const pending = drainBatches(a);
      // The same 5x as the first case: the earlier refusal time was not carried into the windows.
      expect(a.snapshot().drainFactor).toBeGreaterThan(4.7);
      pending.forEach((p) => p());
    });
  });
});
