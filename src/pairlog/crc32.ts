/**
 * CRC-32 (IEEE 802.3, the zlib/PNG polynomial), table-driven. Our own rather
 * than node:zlib's `crc32`, which needs Node >= 20.15 while package.json
 * allows any Node 20; the frames it guards are ~1 KiB, where a table loop is
 * far from being the writer's bottleneck. A test checks it against zlib's.
 */
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 of `bytes`, continuing from `crc` (0 to start). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
