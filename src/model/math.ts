/** Numeric helpers shared by the server (Compare's P(a > b)) and the trainer (loss, calibration). */

/** The logistic function; never overflows: exp of a non-positive number only. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}
