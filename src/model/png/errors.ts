/** Why the PNG decoder refused a file; image.ts turns it into an InputError naming the caller's field. */
export type PngErrorKind = 'undecodable';

export class PngError extends Error {
  override readonly name = 'PngError';
  constructor(readonly kind: PngErrorKind, message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
