/**
 * Garbage-collection pauses per stats interval (count, total and longest),
 * from V8's `gc` performance entries: a p99 spike that comes with a long
 * pause here is the heap's, one that comes with a long event-loop delay and
 * no pause is something else on the loop or the machine (the soak tells
 * them apart with this).
 */
import { PerformanceObserver } from 'node:perf_hooks';

export interface GcPausesJson { count: number; totalMs: number; maxMs: number }

export class GcPauses {
  private count = 0;
  private totalMs = 0;
  private maxMs = 0;
  private readonly observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      this.count++;
      this.totalMs += e.duration;
      if (e.duration > this.maxMs) this.maxMs = e.duration;
    }
  });

  start(): void {
    this.observer.observe({ entryTypes: ['gc'] });
  }

  stop(): void {
    this.observer.disconnect();
  }

  /** This interval's pauses; starts the next interval. */
  take(): GcPausesJson {
    const out = { count: this.count, totalMs: Math.round(this.totalMs * 10) / 10, maxMs: Math.round(this.maxMs * 10) / 10 };
    this.count = 0;
    this.totalMs = 0;
    this.maxMs = 0;
    return out;
  }
}
