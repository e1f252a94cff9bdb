/**
 * Errors of the model contract. Each is a value a caller can branch on
 * (`kind`), carries the place it is about (file, field, stage) and, where it
 * wraps a lower-level failure, that failure as `cause`. The serving layer maps
 * the kinds to gRPC statuses; nothing here knows about gRPC.
 */

export type ManifestErrorKind = 'unreadable' | 'invalid-json' | 'invalid-field';

/** A manifest (or other JSON contract file) that does not match its schema. */
export class ManifestError extends Error {
  override readonly name = 'ManifestError';
  constructor(
    readonly kind: ManifestErrorKind,
    readonly file: string,
    /** JSON path of the offending field, e.g. `io.head.outputs[0].shape`. */
    readonly field: string,
    readonly expected: string,
    options?: { cause?: unknown },
  ) {
    super(
      kind === 'invalid-field'
        ? `${file}: field '${field}': expected ${expected}`
        : `${file}: ${expected}`,
      options,
    );
  }
}

export type BundleErrorKind =
  | 'missing-file'
  | 'sha256-mismatch'
  | 'bad-model'
  | 'io-mismatch'
  | 'non-finite'
  | 'tokenizer';

/** A bundle that cannot become a serving version. */
export class BundleError extends Error {
  override readonly name = 'BundleError';
  constructor(
    readonly kind: BundleErrorKind,
    /** The bundle directory. */
    readonly bundle: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`bundle ${bundle}: ${message}`, options);
  }
}

export type InputErrorKind =
  | 'too-many-pixels'
  | 'undecodable-image'
  | 'unsupported-image-format'
  | 'too-many-images'
  | 'text-too-long'
  | 'empty-text'
  | 'invalid-utf8';

/**
 * Input a caller sent that the model contract refuses (the server turns these
 * into INVALID_ARGUMENT). `field` names what was wrong, `limit` the bound when
 * there is one, so the message can say both.
 */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(
    readonly kind: InputErrorKind,
    readonly field: string,
    message: string,
    readonly limit?: number,
    options?: { cause?: unknown },
  ) {
    super(`${field}: ${message}`, options);
  }
}

export type RegistryErrorKind = 'no-such-version' | 'no-such-file' | 'empty' | 'conflict' | 'io';

export class RegistryError extends Error {
  override readonly name = 'RegistryError';
  constructor(
    readonly kind: RegistryErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
