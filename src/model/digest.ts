import { createHash } from 'node:crypto';

/** Hex sha256: how the contract names files, images and data sets. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * How content digests frame one record (a served item, a data set's pair):
 * a JSON array of its image sha256s and its texts. JSON quotes and escapes
 * strings, so field boundaries cannot shift (("ab", "c") and ("a", "bc")
 * differ), and arrays close, so records concatenated into one hash cannot
 * run into each other either.
 */
export function contentRecord(imageShas: readonly string[], texts: readonly string[]): string {
  return JSON.stringify([imageShas, ...texts]);
}
