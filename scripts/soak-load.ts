/**
 * The soak's load: an open loop at a fixed rate, and the open-loop ramp
 * that finds the rate the server sustains (scripts/soak.ts).
 *
 * Why a ramp and not the closed-loop probe alone: a closed loop at 32 in
 * flight keeps the batches full, so it reads a higher rate than calls
 * arriving one by one on a schedule can get. On the idle machine
 * (2026-12-01) the probe read 1,469-1,701 mixed calls/s while the server's
 * main thread was already at 0.9-1.1 cores under an open loop of 1,004, and
 * "80% of the probe" (1,361) fell behind after 5 minutes. The ramp offers
 * the real open-loop arrivals at rising rates and keeps the highest rate the
 * server answered without queueing up; the soak holds 80% of that.
 */

/** What one call ended with: 'OK...' for an answer, else the status name. */
export type CallOutcome = string;

/**
 * Starts `call()` on a schedule at `rate` per second for `ms`, whatever the
 * latency (as trainers do), and reports each call's outcome with when it
 * started and how long it took. Resolves once every call started has ended.
 */
export async function openLoop(rate: number, ms: number, call: () => Promise<CallOutcome>, onEnd: (outcome: CallOutcome, startedAt: number, latencyMs: number) => void): Promise<void> {
  const inflight = new Set<Promise<void>>();
  const stopAt = performance.now() + ms;
  let due = performance.now();
  while (performance.now() < stopAt) {
    const now = performance.now();
    while (due <= now) {
      due += 1000 / rate;
      const s = performance.now();
      const tracked: Promise<void> = call().then((outcome) => onEnd(outcome, s, performance.now() - s)).finally(() => inflight.delete(tracked));
      inflight.add(tracked);
    }
    await new Promise((r) => setTimeout(r, Math.max(1, due - performance.now())));
  }
  await Promise.all(inflight);
}

export interface RampStep {
  rate: number;
  calls: number;
  /** Answered calls per second over the step. */
  answeredPerS: number;
  p99Ms: number;
  refused: number;
  holds: boolean;
}

export interface RampOptions {
  /** The closed-loop probe's rate: the ramp's steps are fractions of it. */
  closedLoopRate: number;
  /** Seconds per step; the first quarter of each is its transient and not judged. */
  stepSeconds: number;
  fractions: readonly number[];
}

/**
 * Default steps: 40% to 120% of the closed-loop rate by 10%. 40% because the
 * open loop sustained ~60-70% of the probe on the idle machine, so the first
 * steps hold and give the unloaded p99 the later ones are judged against.
 */
export const RAMP_FRACTIONS = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2] as const;

/**
 * A step holds when it answered >= 97% of what it offered, refused <= 0.5%
 * of it, and its p99 stayed within 3x the first step's: a queue that grows
 * fails all three, and 3x leaves room for the rise in queueing that any
 * load near a server's knee has (at 80% utilization a single queue waits
 * ~4x what it does at 40%) without calling that knee saturation. The ramp stops at the first step that does not hold (a
 * backlog would spill into the next step) and returns the last one that did.
 */
export async function rampSaturation(opts: RampOptions, call: () => Promise<CallOutcome>, log: (line: string) => void): Promise<{ saturation: number; steps: RampStep[] }> {
  const steps: RampStep[] = [];
  let baseP99 = Infinity;
  let saturation = 0;
  for (const f of opts.fractions) {
    const rate = Math.round(f * opts.closedLoopRate);
    const ms = opts.stepSeconds * 1000;
    const t0 = performance.now();
    const judgedFrom = t0 + ms / 4;
    const lat: number[] = [];
    let offered = 0;
    let refused = 0;
    let answered = 0;
    await openLoop(rate, ms, call, (outcome, startedAt, latencyMs) => {
      if (startedAt < judgedFrom) return;
      offered++;
      if (outcome.startsWith('OK')) {
        answered++;
        lat.push(latencyMs);
      } else if (outcome === 'RESOURCE_EXHAUSTED') refused++;
    });
    lat.sort((a, b) => a - b);
    const p99Ms = lat[Math.min(lat.length - 1, Math.floor(0.99 * lat.length))] ?? Infinity;
    if (steps.length === 0) baseP99 = p99Ms;
    const judgedS = (ms * 3) / 4 / 1000;
    const step: RampStep = {
      rate, calls: offered, answeredPerS: answered / judgedS, p99Ms, refused,
      holds: answered >= 0.97 * offered && refused <= 0.005 * offered && p99Ms <= 3 * baseP99,
    };
    steps.push(step);
    log(`ramp: ${rate} calls/s offered, ${step.answeredPerS.toFixed(0)} answered/s, p99 ${p99Ms.toFixed(0)} ms, ${refused} refused: ${step.holds ? 'holds' : 'does not hold'}`);
    if (!step.holds) break;
    saturation = rate;
  }
  return { saturation, steps };
}
