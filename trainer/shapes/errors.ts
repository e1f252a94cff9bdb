/**
 * Errors of ShapesWorld, as values with the fields a caller branches on and
 * the lower-level failure as `cause`.
 */

/** A scene specification that could not be met within the attempt budget. */
export class SceneSamplingError extends Error {
  override readonly name = 'SceneSamplingError';
  constructor(
    /** What was asked for, in words (for the message and for logs). */
    readonly spec: string,
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super(`could not sample a scene with ${spec} in ${attempts} attempts`, options);
  }
}

/** A question that cannot be asked about a scene, and why. */
export class UnaskableQuestion extends Error {
  override readonly name = 'UnaskableQuestion';
  constructor(
    readonly reason: 'missing-referent' | 'ambiguous-referent' | 'ambiguous-relation' | 'relation-not-offered',
    readonly question: string,
  ) {
    super(`cannot ask "${question}": ${reason}`);
  }
}

export type DatasetErrorKind = 'unreadable' | 'invalid-json' | 'invalid-field' | 'missing-image' | 'io';

/**
 * A dataset file or record that is not what it should be. `location` is the
 * file name with the record index (`train.json[17]`) or line (`train.jsonl:17`),
 * so the message reads like a compiler's.
 */
export class DatasetError extends Error {
  override readonly name = 'DatasetError';
  constructor(
    readonly kind: DatasetErrorKind,
    readonly file: string,
    /** 0-based record index (JSON array) or 1-based line number (JSONL); undefined for whole-file errors. */
    readonly record: number | undefined,
    /** JSON path of the offending field, when there is one. */
    readonly field: string | undefined,
    readonly expected: string,
    options?: { cause?: unknown; location?: string },
  ) {
    const where = options?.location ?? file;
    super(field !== undefined ? `${where}: field '${field}': expected ${expected}` : `${where}: expected ${expected}`, options);
  }
}
