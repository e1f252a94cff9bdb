import { describe, expect, it, vi } from 'vitest';
import { Batcher, type BatcherOptions } from '../../src/serve/batcher.js';
import { ServeError } from '../../src/serve/errors.js';

const FOREVER = { deadline: Infinity };
const opts = (o: Partial<BatcherOptions> = {}): BatcherOptions => ({
  name: 'test', maxBatchSize: 4, maxQueueDelayMs: 0, maxQueueSize: 100, mergeRequests: true, ...o,
});

/** A stage that records its batches and finishes each when told to. */
function stage() {
  const batches: number[][] = [];
  const pending: (() => void)[] = [];
  let running = 0;
  let maxRunning = 0;
  const run = (xs: number[]) => {
    batches.push(xs);
    running++;
    maxRunning = Math.max(maxRunning, running);
    return new Promise<number[]>((resolve) => pending.push(() => {
      running--;
      resolve(xs.map((x) => x * 10));
    }));
  };
  const finishOne = async () => {
    pending.shift()?.();
    await new Promise((r) => setImmediate(r));
  };
  return { run, batches, finishOne, get maxRunning() { return maxRunning; } };
}

describe('Batcher', () => {
  it('merges entries of concurrent submissions up to maxBatchSize, one batch in flight', async () => {
    const s = stage();
    const b = new Batcher(opts(), s.run);
    const first = b.submit([1], FOREVER);
    const rest = [b.submit([2, 3], FOREVER), b.submit([4, 5, 6], FOREVER), b.submit([7], FOREVER)].flat();
    expect(s.batches).toEqual([[1]]);
    await s.finishOne();
    expect(s.batches).toEqual([[1], [2, 3, 4, 5]]);
    await s.finishOne();
    expect(s.batches).toEqual([[1], [2, 3, 4, 5], [6, 7]]);
    await s.finishOne();
    expect(await Promise.all([...first, ...rest])).toEqual([10, 20, 30, 40, 50, 60, 70]);
    expect(s.maxRunning).toBe(1);
    expect(b.stats).toMatchObject({ batches: 3, entries: 7, largestBatch: 4 });
    await b.idle();
  });

  it("tells onBatchTimed the batch's time on the running thread's clock, not the wall time its result took to be seen", async () => {
    const s = stage();
    let threadMs = 0;
    const timed: [number, number][] = [];
    const b = new Batcher(opts({ runClock: () => threadMs, onBatchTimed: (ms, n) => timed.push([ms, n]) }), (xs: number[]) => {
      // The thread works 12 ms on this batch; the wall time until the main loop sees the result is longer (a real await).
      threadMs += 12;
      return s.run(xs);
    });
    const out = b.submit([1, 2, 3], FOREVER);
    await new Promise((r) => setTimeout(r, 30));
    await s.finishOne();
    expect(await Promise.all(out)).toEqual([10, 20, 30]);
    expect(timed).toEqual([[12, 3]]);
    // Without a thread clock: the wall time (here >= the 30 ms it waited).
    const wall: number[] = [];
    const s2 = stage();
    const b2 = new Batcher(opts({ onBatchTimed: (ms) => wall.push(ms) }), s2.run);
    const out2 = b2.submit([1], FOREVER);
    await new Promise((r) => setTimeout(r, 30));
    await s2.finishOne();
    await Promise.all(out2);
    expect(wall[0]).toBeGreaterThanOrEqual(25);
    await b.idle();
    await b2.idle();
  });

  it('waits up to maxQueueDelayMs for company when idle', async () => {
    // Fake clock: on a loaded CI machine a real 10 ms sleep can overshoot the 30 ms delay.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const s = stage();
      const b = new Batcher(opts({ maxQueueDelayMs: 30 }), s.run);
      const p = [b.submit([1], FOREVER), b.submit([2], FOREVER)].flat();
      await vi.advanceTimersByTimeAsync(10);
      expect(s.batches).toEqual([]);
      p.push(...b.submit([3], FOREVER));
      await vi.advanceTimersByTimeAsync(19);
      expect(s.batches).toEqual([]);
      await vi.advanceTimersByTimeAsync(1);
      expect(s.batches).toEqual([[1, 2, 3]]);
      await s.finishOne();
      expect(await Promise.all(p)).toEqual([10, 20, 30]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('does not wait for company that cannot come', async () => {
    const s = stage();
    let others = 0;
    const b = new Batcher(opts({ maxQueueDelayMs: 1000, expectCompany: (queued) => others > queued }), s.run);
    const alone = b.submit([1], FOREVER);
    expect(s.batches).toEqual([[1]]);
    await s.finishOne();
    expect(await Promise.all(alone)).toEqual([10]);
    others = 2; // another request is on its way: wait for it
    const first = b.submit([2], FOREVER);
    expect(s.batches).toEqual([[1]]);
    const second = b.submit([3], FOREVER); // now both are queued: nobody else is coming
    expect(s.batches).toEqual([[1], [2, 3]]);
    await s.finishOne();
    expect(await Promise.all([...first, ...second])).toEqual([20, 30]);
  });

  it('refuses a submission that does not fit, whole, and keeps the queued ones', async () => {
    const s = stage();
    const b = new Batcher(opts({ maxQueueSize: 3 }), s.run);
    const running = b.submit([1], FOREVER); // in flight, not queued
    const queued = b.submit([2, 3], FOREVER);
    expect(() => b.submit([4, 5], FOREVER)).toThrow(ServeError);
    expect(() => b.submit([4, 5], FOREVER)).toThrow(/queue is full/);
    const fits = b.submit([4], FOREVER);
    expect(b.queued).toBe(3);
    await s.finishOne();
    await s.finishOne();
    expect(await Promise.all([...running, ...queued, ...fits])).toEqual([10, 20, 30, 40]);
    expect(b.stats.refused).toBe(2);
  });

  it('drops entries whose deadline passed or whose caller cancelled, without running them', async () => {
    const s = stage();
    const b = new Batcher(opts(), s.run);
    const busy = b.submit([1], FOREVER);
    const caller = { deadline: Infinity, cancelled: false };
    const expired = b.submit([2], { deadline: performance.now() + 5 })[0]!.catch((e: unknown) => e);
    const cancelled = b.submit([3], caller)[0]!.catch((e: unknown) => e);
    const live = b.submit([4], FOREVER);
    caller.cancelled = true;
    await new Promise((r) => setTimeout(r, 10));
    await s.finishOne();
    expect(await expired).toMatchObject({ kind: 'deadline-exceeded' });
    expect(await cancelled).toMatchObject({ kind: 'cancelled' });
    expect(s.batches).toEqual([[1], [4]]);
    await s.finishOne();
    expect(await Promise.all([...busy, ...live])).toEqual([10, 40]);
    expect(b.stats.dropped).toBe(2);
  });

  it('does not merge submissions when mergeRequests is off (the naive server)', async () => {
    const s = stage();
    const b = new Batcher(opts({ mergeRequests: false }), s.run);
    const all = [b.submit([1, 2], FOREVER), b.submit([3], FOREVER), b.submit([4, 5, 6, 7, 8], FOREVER)].flat();
    for (let i = 0; i < 4; i++) await s.finishOne();
    expect(s.batches).toEqual([[1, 2], [3], [4, 5, 6, 7], [8]]);
    expect(await Promise.all(all)).toEqual([10, 20, 30, 40, 50, 60, 70, 80]);
  });

  it('rejects the whole batch with INTERNAL when the stage fails, and carries on', async () => {
    let fail = true;
    const b = new Batcher(opts(), async (xs: number[]) => {
      if (fail) throw new Error('onnx exploded');
      return xs;
    });
    const bad = await Promise.allSettled(b.submit([1, 2], FOREVER));
    for (const r of bad) expect(r).toMatchObject({ status: 'rejected', reason: { kind: 'internal', cause: { message: 'onnx exploded' } } });
    fail = false;
    expect(await Promise.all(b.submit([3], FOREVER))).toEqual([3]);
  });

  it('holds a batch while a stage sharing its thread runs one, and sends it as that one ends, before that stage sends again', async () => {
    const order: string[] = [];
    const a = stage();
    const b = stage();
    const vision = new Batcher(opts({ name: 'vision' }), (xs: number[]) => { order.push(`v${xs}`); return a.run(xs); });
    const encoder = new Batcher(opts({ name: 'encoder', sharesThreadWith: vision }), (xs: number[]) => { order.push(`e${xs}`); return b.run(xs); });
    // Nothing running on the thread: no hold.
    const e0 = encoder.submit([1], FOREVER);
    expect(order).toEqual(['e1']);
    await b.finishOne();
    expect(await Promise.all(e0)).toEqual([10]);

    const v1 = vision.submit([2], FOREVER);
    const e1 = [encoder.submit([3], FOREVER), encoder.submit([4], FOREVER)].flat();
    vision.submit([5], FOREVER);
    expect(order).toEqual(['e1', 'v2']); // the encoder's entries wait for the vision batch, and fill
    await a.finishOne();
    expect(await Promise.all(v1)).toEqual([20]);
    // The held batch goes first, then vision's next: neither starves.
    expect(order).toEqual(['e1', 'v2', 'e3,4', 'v5']);
    await b.finishOne();
    expect(await Promise.all(e1)).toEqual([30, 40]);
    // A full batch does not wait.
    encoder.submit([6, 7, 8, 9], FOREVER);
    expect(order.at(-1)).toBe('e6,7,8,9');
  });

  it('with feederHoldMs, holds while the feeder has entries queued, sends when its queue empties, and no longer than the bound', async () => {
    const order: string[] = [];
    const a = stage();
    const b = stage();
    const vision = new Batcher(opts({ name: 'vision', maxBatchSize: 1 }), (xs: number[]) => { order.push(`v${xs}`); return a.run(xs); });
    const encoder = new Batcher(opts({ name: 'encoder', sharesThreadWith: vision, feederHoldMs: 60 }), (xs: number[]) => { order.push(`e${xs}`); return b.run(xs); });
    // Nothing queued upstream (a lone caller): no hold.
    encoder.submit([1], FOREVER);
    expect(order).toEqual(['e1']);
    await b.finishOne();

    vision.submit([2], FOREVER);
    vision.submit([3], FOREVER);
    encoder.submit([4], FOREVER);
    expect(order).toEqual(['e1', 'v2']);
    await a.finishOne();
    // v3 is queued: its embedding comes to the encoder next, so the held batch waits for it.
    expect(order).toEqual(['e1', 'v2', 'v3']);
    encoder.submit([5], FOREVER);
    await a.finishOne();
    expect(order).toEqual(['e1', 'v2', 'v3', 'e4,5']);
    await b.finishOne();

    // A feeder whose queue does not empty: the encoder goes after feederHoldMs.
    const t0 = performance.now();
    vision.submit([6], FOREVER);
    vision.submit([7], FOREVER);
    vision.submit([8], FOREVER);
    encoder.submit([9], FOREVER);
    await a.finishOne(); // v6 done, v7 runs, v8 still queued
    expect(order.at(-1)).toBe('v7');
    await new Promise((r) => setTimeout(r, 80));
    expect(order.at(-1)).toBe('v7'); // the bound passed while v7 ran: sent as it ends, before v8
    await a.finishOne();
    expect(order.slice(-3)).toEqual(['v7', 'e9', 'v8']);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(60);
    // A full batch never waits.
    vision.submit([10], FOREVER);
    encoder.submit([11, 12, 13, 14], FOREVER);
    expect(order.at(-1)).not.toBe('e11,12,13,14'); // the thread is busy (e9 runs)
    await b.finishOne();
    expect(order).toContain('e11,12,13,14');
  });

  it('does not hold the naive server\'s batches', async () => {
    const a = stage();
    const b = stage();
    const vision = new Batcher(opts({ mergeRequests: false }), a.run);
    const encoder = new Batcher(opts({ mergeRequests: false, sharesThreadWith: vision }), b.run);
    vision.submit([1], FOREVER);
    encoder.submit([2], FOREVER);
    expect(b.batches).toEqual([[2]]);
  });
});
