/**
 * What a step reports besides its output: how many pairs came in, what
 * happened to them, how many went out. The round writes these into its
 * folder and the report's funnel reads them.
 */
export interface StepCounts {
  in: number;
  out: number;
  /** Step-specific tallies (flipped, kept, rejudged, dropped.tie, ...). */
  [what: string]: number;
}

export interface StepResult<T> {
  output: T;
  counts: StepCounts;
}
