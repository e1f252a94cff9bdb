import { createHash } from 'node:crypto';

/** Hex sha256: how the contract names files, images and data sets. */
export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}
