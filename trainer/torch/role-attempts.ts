/**
 * Which role-stage run build:learned keeps. The role stages are rerun with
 * the next seed from the same stage 1 when a run is stuck (its readout never
 * left the position saddle) or scores below the recipe's held-out accuracy;
 * of the runs that were not stuck, the best on the held-out split is kept.
 * The held-out split (ShapesWorld seed 2) is the build's validation set, not
 * the seed-99 evaluation any claim is measured on.
 */

export interface RoleGate {
  /** Held-out position claims after grounding; below it the run is stuck and kept by no one. */
  minPosition: number;
  /** Held-out pair accuracy of the exported bundle; below it another seed is tried. */
  minAccuracy: number;
  /** Reruns in all, stuck or below. */
  retries: number;
  /** Reruns after a complete run below minAccuracy: a complete run costs twice a stuck one. */
  accuracyRetries: number;
}

export type RoleVerdict =
  | { kind: 'stuck'; position: number }
  | { kind: 'below'; accuracy: number }
  | { kind: 'accepted'; accuracy: number | null };

/**
 * A run by its manifest metrics (ground.accuracy.position, accuracy.overall).
 * A run without them (a tiny build without a held-out split, or an engine
 * that exported no evaluation) is accepted: nothing says it is worse.
 */
export function judgeRoleRun(metrics: Readonly<Record<string, number>> | undefined, gate: RoleGate): RoleVerdict {
  const position = metrics?.['ground.accuracy.position'];
  if (typeof position === 'number' && position < gate.minPosition) return { kind: 'stuck', position };
  const accuracy = metrics?.['accuracy.overall'];
  if (typeof accuracy !== 'number') return { kind: 'accepted', accuracy: null };
  return accuracy < gate.minAccuracy ? { kind: 'below', accuracy } : { kind: 'accepted', accuracy };
}

/** Whether `next` should replace `best` as the kept run: any verdict but 'stuck' beats none; higher accuracy wins. */
export function betterRun(next: RoleVerdict, best: RoleVerdict | null): boolean {
  if (next.kind === 'stuck') return false;
  if (!best || best.kind === 'stuck') return true;
  const a = (v: RoleVerdict) => (v.kind === 'stuck' ? -1 : v.accuracy ?? Infinity);
  return a(next) > a(best);
}

/**
 * Whether to run another seed after run `attempt` (0-based) judged `verdict`,
 * when `complete` runs so far (this one included) were not stuck.
 */
export function retryAfter(verdict: RoleVerdict, attempt: number, complete: number, gate: RoleGate): boolean {
  if (verdict.kind === 'accepted' || attempt >= gate.retries) return false;
  return verdict.kind === 'stuck' || complete <= gate.accuracyRetries;
}
