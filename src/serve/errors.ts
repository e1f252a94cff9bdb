/**
 * Failures of the serving path as values, and the one place where they (and
 * the model layer's InputErrors) become gRPC statuses. Handlers never pick a
 * status code themselves: they throw or return one of these, and `toStatus`
 * decides. Anything unrecognised is INTERNAL, logged with its cause chain.
 */
import { status as Status } from '@grpc/grpc-js';
import { InputError, type InputErrorKind } from '../model/errors.js';

export type ServeErrorKind =
  | 'invalid-request'
  | 'unknown-image'
  | 'queue-full'
  | 'deadline-exceeded'
  | 'cancelled'
  | 'unavailable'
  | 'internal';

export class ServeError extends Error {
  override readonly name = 'ServeError';
  constructor(
    readonly kind: ServeErrorKind,
    message: string,
    /** The request field it is about (`items[2].images[0]`), when there is one. */
    readonly field?: string,
    options?: { cause?: unknown },
  ) {
    super(field ? `${field}: ${message}` : message, options);
  }
}

const SERVE_STATUS: Record<ServeErrorKind, Status> = {
  'invalid-request': Status.INVALID_ARGUMENT,
  'unknown-image': Status.NOT_FOUND,
  'queue-full': Status.RESOURCE_EXHAUSTED,
  'deadline-exceeded': Status.DEADLINE_EXCEEDED,
  cancelled: Status.CANCELLED,
  unavailable: Status.UNAVAILABLE,
  internal: Status.INTERNAL,
};

/** Every InputError is the caller's to fix; the kinds are listed so a new one cannot slip through unmapped. */
const INPUT_STATUS: Record<InputErrorKind, Status> = {
  'too-many-pixels': Status.INVALID_ARGUMENT,
  'undecodable-image': Status.INVALID_ARGUMENT,
  'unsupported-image-format': Status.INVALID_ARGUMENT,
  'too-many-images': Status.INVALID_ARGUMENT,
  'text-too-long': Status.INVALID_ARGUMENT,
  'empty-text': Status.INVALID_ARGUMENT,
  'invalid-utf8': Status.INVALID_ARGUMENT,
};

export interface GrpcFailure {
  code: Status;
  details: string;
  /** True when the server, not the caller, is at fault: log it. */
  internal: boolean;
}

export function toStatus(err: unknown): GrpcFailure {
  if (err instanceof ServeError) return { code: SERVE_STATUS[err.kind], details: err.message, internal: err.kind === 'internal' };
  if (err instanceof InputError) return { code: INPUT_STATUS[err.kind], details: err.message, internal: false };
  return { code: Status.INTERNAL, details: 'internal error (logged on the server)', internal: true };
}

/**
 * The model layer names fields relative to what it was given (`response`,
 * `x[0]`); the same failure is reported to the caller at its place in the
 * request. Keeps kind, limit and cause.
 */
export function relabel(err: unknown, field: string): unknown {
  if (!(err instanceof InputError)) return err;
  const detail = err.message.startsWith(`${err.field}: `) ? err.message.slice(err.field.length + 2) : err.message;
  return new InputError(err.kind, field, detail, err.limit, { cause: err.cause ?? err });
}

export const isDropped = (err: unknown): boolean =>
  err instanceof ServeError && (err.kind === 'deadline-exceeded' || err.kind === 'cancelled');
