/**
 * Where a call's time goes on the server, per stats interval: when its
 * headers arrived, how long its message took to follow them (HTTP/2 flow
 * control, other streams' data on the connection), how long it then took to
 * answer (queue wait + decode + model), and what the refusals cost the event
 * loop. Counted at the arrival gate (admission.ts) with a few clock reads per
 * call; the server logs and resets it with each `server.stats` line, so a
 * flood's intervals can be merged (the histograms add up) and compared with
 * the latencies its clients saw.
 */

/**
 * Latencies in log-spaced buckets (each 10% wider than the last, from
 * 0.1 ms): merging intervals is adding counts, and a percentile read from the
 * buckets is within 10% of the exact one, which is plenty to tell a queue of
 * 5 s from one of 0.5 s.
 */
export class LatencyHistogram {
  static readonly RATIO = 1.1;
  static readonly MIN_MS = 0.1;
  private counts = new Map<number, number>();
  private n = 0;
  private maxMs = 0;

  add(ms: number): void {
    const i = ms <= LatencyHistogram.MIN_MS ? 0 : Math.ceil(Math.log(ms / LatencyHistogram.MIN_MS) / Math.log(LatencyHistogram.RATIO));
    this.counts.set(i, (this.counts.get(i) ?? 0) + 1);
    this.n++;
    if (ms > this.maxMs) this.maxMs = ms;
  }

  get count(): number {
    return this.n;
  }

  /** The upper edge of the bucket holding the q-quantile (ms); NaN when empty. */
  percentile(q: number): number {
    if (this.n === 0) return NaN;
    const rank = Math.min(this.n - 1, Math.floor(q * this.n));
    let seen = 0;
    for (const i of [...this.counts.keys()].sort((a, b) => a - b)) {
      seen += this.counts.get(i)!;
      if (seen > rank) return Math.min(this.maxMs, LatencyHistogram.MIN_MS * LatencyHistogram.RATIO ** i);
    }
    return this.maxMs;
  }

  toJSON(): HistogramJson {
    return { n: this.n, p50: round(this.percentile(0.5)), p99: round(this.percentile(0.99)), max: round(this.maxMs), buckets: Object.fromEntries(this.counts) };
  }

  static fromJSON(list: HistogramJson[]): LatencyHistogram {
    const h = new LatencyHistogram();
    for (const j of list) {
      for (const [i, c] of Object.entries(j.buckets)) h.counts.set(Number(i), (h.counts.get(Number(i)) ?? 0) + c);
      h.n += j.n;
      h.maxMs = Math.max(h.maxMs, j.max);
    }
    return h;
  }
}

export interface HistogramJson {
  n: number;
  p50: number;
  p99: number;
  max: number;
  /** bucket index -> count; bucket i ends at 0.1 ms x 1.1^i. */
  buckets: Record<string, number>;
}

export interface CallTimingJson {
  /** Epoch ms the interval started and ended. */
  fromMs: number;
  toMs: number;
  /** Calls whose headers reached the gate, and what the gate did with them. */
  headers: number;
  admitted: number;
  refused: number;
  /** Event-loop time spent deciding and sending the refusals (ms). */
  refusalMs: number;
  /** Epoch ms of the interval's first and last header (null: none). */
  firstHeaderMs: number | null;
  lastHeaderMs: number | null;
  /** For calls admitted at their headers: headers -> message read. */
  headerToMessage: HistogramJson;
  /** Calls answered OK: message read -> status sent. */
  messageToAnswer: HistogramJson;
  /** Calls answered OK: headers -> status sent (the server's whole share of the latency). */
  headerToAnswer: HistogramJson;
  /** Calls with a deadline: how much of it was left when their headers arrived. */
  deadlineLeftAtHeader: HistogramJson;
}

export class CallTiming {
  private fromMs = Date.now();
  private headers = 0;
  private admitted = 0;
  private refused = 0;
  private refusalMs = 0;
  private firstHeaderMs: number | null = null;
  private lastHeaderMs: number | null = null;
  private headerToMessage = new LatencyHistogram();
  private messageToAnswer = new LatencyHistogram();
  private headerToAnswer = new LatencyHistogram();
  private deadlineLeft = new LatencyHistogram();

  /** A call's headers arrived; `deadlineLeftMs` is Infinity without a deadline. */
  header(deadlineLeftMs: number): void {
    this.headers++;
    const now = Date.now();
    this.firstHeaderMs ??= now;
    this.lastHeaderMs = now;
    if (Number.isFinite(deadlineLeftMs)) this.deadlineLeft.add(Math.max(0, deadlineLeftMs));
  }

  refusedAtHeader(costMs: number): void {
    this.refused++;
    this.refusalMs += costMs;
  }

  admittedAtHeader(): void {
    this.admitted++;
  }

  message(waitedMs: number): void {
    this.headerToMessage.add(waitedMs);
  }

  answeredOk(sinceHeaderMs: number, sinceMessageMs: number): void {
    this.headerToAnswer.add(sinceHeaderMs);
    this.messageToAnswer.add(sinceMessageMs);
  }

  /** This interval's numbers; starts the next interval. */
  take(): CallTimingJson {
    const now = Date.now();
    const out: CallTimingJson = {
      fromMs: this.fromMs,
      toMs: now,
      headers: this.headers,
      admitted: this.admitted,
      refused: this.refused,
      refusalMs: round(this.refusalMs),
      firstHeaderMs: this.firstHeaderMs,
      lastHeaderMs: this.lastHeaderMs,
      headerToMessage: this.headerToMessage.toJSON(),
      messageToAnswer: this.messageToAnswer.toJSON(),
      headerToAnswer: this.headerToAnswer.toJSON(),
      deadlineLeftAtHeader: this.deadlineLeft.toJSON(),
    };
    Object.assign(this, new CallTiming());
    this.fromMs = now;
    return out;
  }
}

const round = (x: number) => (Number.isFinite(x) ? Math.round(x * 10) / 10 : x);
