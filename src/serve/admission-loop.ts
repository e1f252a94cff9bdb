/**
 * A storm detector on the event loop, CoDel-style: it says "overloaded" only
 * when the loop has been late persistently (turn after turn for an
 * interval), not after one long turn, and only while calls arrive much
 * faster than they finish.
 *
 * Why the loop and not an estimate of the queue: under a flood of HEADERS
 * the queue that makes admitted calls slow is not ours. Each call's headers
 * cost grpc-js and Node's HTTP/2 ~0.2 ms of loop time (0.05-0.2 ms more to
 * refuse it), so 10,000 of them are seconds of loop turns, and the calls
 * not yet read wait in the sockets meanwhile: in the 2026-12-01 idle flood
 * the median call's headers reached the gate 2.3 s after its client sent
 * them (5000 ms deadline, 2685 ms left). A call admitted then has already
 * waited longer than 2x the saturation p99 before admission sees it, and no
 * wait estimate of the work behind it can tell. A loop turn that long delays
 * this detector's tick by as much, which is what it measures: each tick's
 * lateness is the length of the turn that held it up, i.e. how long data
 * waits in the sockets before the server reads it.
 *
 * One long turn is not a storm: a GC pause, a stolen core, or reading the
 * calls that arrived during one, then the loop is on time again; the soak at
 * 80% load has such turns of 120-280 ms every few seconds. So "overloaded"
 * needs STORM_TICKS late ticks in a row spanning admission.maxLoopLagMs'
 * interval (the streak), and a backlog: more than MIN_BACKLOG more calls
 * arrived than finished during the streak (a starved machine with a handful
 * of calls is slow, not flooded, and refusing them would not make it
 * faster). Then even a call with nothing admitted ahead is refused: unlike
 * the work estimate, the lateness is measured now, and ends with the storm.
 */

/** Late ticks in a row before the loop counts as overloaded: more than one long turn and the turn that reads its backlog. */
export const STORM_TICKS = 3;
/**
 * More calls than this must have arrived than finished during the streak:
 * 64, the calls a closed-loop trainer keeps in flight (admission.ts
 * MIN_QUEUE_FOR_WAIT). Such a client sends a call only when one finishes,
 * so over any streak its arrivals exceed its finishes by at most 64, and on
 * a starved machine it is never refused by this rule.
 */
export const MIN_BACKLOG = 64;
/**
 * How long the loop must stay late: CoDel's interval (100 ms, about a
 * round trip plus a few loop turns). Longer, and a flood's first interval
 * reads hundreds more HEADERS (~500 a 100 ms at ~0.2 ms each) before the
 * rule holds; shorter, and a GC pause with the turn after it would do.
 */
export const STORM_INTERVAL_MS = 100;

interface Streak {
  /** When the first late tick was due (performance.now() ms): the loop has been late since. */
  from: number;
  ticks: number;
  arrived: number;
  finished: number;
}

export class LoopLag {
  private streak: Streak | null = null;
  /** When the pending tick is due: a tick overdue by more than the target extends the streak while its turn runs. */
  private due = 0;
  lateTicks = 0;

  /**
   * `targetMs`: a tick later than this is late (the turn before it held the
   * sockets that long; admission.maxLoopLagMs). `intervalMs`: how long the streak must last.
   */
  constructor(readonly targetMs: number, readonly intervalMs = STORM_INTERVAL_MS) {}

  /** The tick due at `dueAt` ran at `now`; the next one is due at `nextDue`. */
  tick(dueAt: number, now: number, nextDue: number): void {
    this.due = nextDue;
    if (now - dueAt <= this.targetMs) {
      this.streak = null;
      return;
    }
    this.lateTicks++;
    if (this.streak) this.streak.ticks++;
    else this.streak = { from: dueAt, ticks: 1, arrived: 0, finished: 0 };
  }

  /** A unary call's headers arrived at the gate (admitted or refused). */
  arrived(): void {
    if (this.streak) this.streak.arrived++;
  }

  /** An admitted call finished. */
  finished(): void {
    if (this.streak) this.streak.finished++;
  }

  /** Whether the loop has been late for a whole interval while calls piled up (see the file's comment). */
  overloaded(now: number): boolean {
    const s = this.streak;
    if (!s || s.arrived - s.finished <= MIN_BACKLOG || now - s.from < this.intervalMs) return false;
    // The streak's ticks so far, and the pending one if this turn has already made it late.
    const overdue = now - this.due > this.targetMs ? 1 : 0;
    return s.ticks + overdue >= STORM_TICKS;
  }

  /** Starts ticking every `periodMs` (unref'd: it never keeps the process up); returns the stop function. */
  start(periodMs = 10): () => void {
    let timer: NodeJS.Timeout;
    const schedule = () => {
      const dueAt = performance.now() + periodMs;
      this.due = dueAt;
      timer = setTimeout(() => {
        const now = performance.now();
        this.tick(dueAt, now, now + periodMs);
        schedule();
      }, periodMs);
      timer.unref();
    };
    schedule();
    return () => clearTimeout(timer);
  }
}
