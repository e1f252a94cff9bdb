/**
 * What the serving path knows about the call it works for: when the caller
 * stops waiting (the gRPC deadline, on the monotonic clock) and whether it has
 * gone away. Work for a caller who is no longer waiting is dropped, never run.
 */
import { ServeError } from './errors.js';

export interface Liveness {
  /** performance.now() time after which the result is useless; Infinity when none. */
  readonly deadline: number;
  /**
   * Set when the caller went away. A plain flag, not an AbortSignal: grpc-js
   * emits 'cancelled' at the end of every call, also a completed one, and
   * AbortController.abort() builds a DOMException with a stack each time.
   */
  readonly cancelled?: boolean;
}

/** Why an entry must not run now, or null when it may. */
export function deadReason(l: Liveness, now = performance.now()): ServeError | null {
  if (l.cancelled) return new ServeError('cancelled', 'the call was cancelled before it was scored');
  if (l.deadline <= now) return new ServeError('deadline-exceeded', 'the deadline passed before the model ran; dropped without scoring');
  return null;
}

export function throwIfDead(l: Liveness): void {
  const reason = deadReason(l);
  if (reason) throw reason;
}

/**
 * A gRPC deadline (a Date, epoch ms, or Infinity) on the monotonic clock, so
 * a wall-clock step cannot expire or revive queued work.
 */
export function monotonicDeadline(deadline: Date | number | undefined): number {
  if (deadline === undefined) return Infinity;
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  if (!Number.isFinite(ms)) return Infinity;
  return performance.now() + (ms - Date.now());
}
