/**
 * CRC-32 (IEEE 802.3, the zlib/PNG polynomial): node:zlib's native one, which
 * is why package.json asks for Node >= 20.15. It was a table loop in JS; with
 * every qualifying pair logged, that loop was the largest single cost of the
 * pair log's writer on the server's event loop (bench:serve --log-compare),
 * and the PNG decoder already needed zlib's.
 */
import { crc32 as zlibCrc32 } from 'node:zlib';

/** CRC-32 of `bytes`, continuing from `crc` (0 to start). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  return zlibCrc32(bytes, crc) >>> 0;
}
