/**
 * Gatekeeping for a paid endpoint: at most `concurrency` calls in flight,
 * starts spaced to `requestsPerSecond`, and a shared pause (a 429's
 * Retry-After holds everyone back, not only the call that got it: the
 * server said the account is over its limit).
 */
export class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  private nextStart = 0;
  private pausedUntil = 0;

  constructor(
    readonly concurrency: number,
    /** 0 or Infinity: no rate limit. */
    readonly requestsPerSecond: number,
  ) {
    if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError(`judge concurrency must be an integer >= 1, got ${concurrency}`);
    if (!(requestsPerSecond >= 0)) throw new RangeError(`judge requests per second must be >= 0, got ${requestsPerSecond}`);
  }

  /** Hold every call that has not started yet until `ms` from now. */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + ms);
  }

  async run<T>(f: () => Promise<T>): Promise<T> {
    if (this.active >= this.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active++;
    try {
      await this.waitTurn();
      return await f();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next waiter: `active` stays counted.
      if (next) next();
      else this.active--;
    }
  }

  private async waitTurn(): Promise<void> {
    const interval = this.requestsPerSecond > 0 && Number.isFinite(this.requestsPerSecond) ? 1000 / this.requestsPerSecond : 0;
    for (;;) {
      const now = Date.now();
      const at = Math.max(now, this.pausedUntil, this.nextStart);
      if (at <= now) {
        this.nextStart = now + interval;
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, at - now));
    }
  }
}
