/**
 * A PNG file's chunk structure: the signature, every chunk's CRC, IHDR's
 * fields, the order rules, and the chunks the decoder needs (PLTE, tRNS,
 * IDAT). Nothing is inflated here, so a header's size can be judged before
 * any pixel data is touched.
 *
 * CRC policy: every chunk's CRC is checked, ancillary ones included, and a
 * mismatch refuses the file. That is what sharp does with its default
 * failOn 'warning' (libpng reports a bad ancillary CRC as a warning), so a
 * file refused here was refused before. node:zlib's crc32 costs ~1 us per
 * 10 KB, nothing next to the inflate.
 */
import { crc32 } from 'node:zlib';
import { PngError } from './errors.js';

export const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] as const;

export type ColourType = 0 | 2 | 3 | 4 | 6;

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: 1 | 2 | 4 | 8 | 16;
  colourType: ColourType;
  interlaced: boolean;
}

export interface PngChunks {
  header: PngHeader;
  /** PLTE entries as RGB triples (colour type 3 only). */
  palette?: Uint8Array;
  /** tRNS body: palette alphas (type 3) or the transparent key (types 0 and 2). */
  transparency?: Uint8Array;
  /** IDAT bodies, in order. */
  idat: Uint8Array[];
  /** An iCCP chunk: sharp converts such images through the profile. */
  hasIccProfile: boolean;
  /** An eXIf chunk: sharp may rotate such images (autoOrient). */
  hasExif: boolean;
}

/** Bit depths PNG allows per colour type (PNG spec, table 11.1). */
const DEPTHS: Record<ColourType, readonly number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};

/** Samples per pixel as stored. */
export const CHANNELS: Record<ColourType, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

const MAX_DIMENSION = 0x7fffffff; // PNG's limit for width and height

export function isPng(b: Uint8Array): boolean {
  return PNG_SIGNATURE.every((x, i) => b[i] === x);
}

export function readChunks(bytes: Uint8Array): PngChunks {
  if (!isPng(bytes)) throw new PngError('undecodable', 'no PNG signature');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let header: PngHeader | undefined;
  let palette: Uint8Array | undefined;
  let transparency: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let idatEnded = false;
  let hasIccProfile = false;
  let hasExif = false;

  let pos = 8;
  while (pos < bytes.length) {
    if (pos + 8 > bytes.length) throw new PngError('undecodable', `file truncated in a chunk header at byte ${pos}`);
    const length = view.getUint32(pos);
    const type = String.fromCharCode(bytes[pos + 4]!, bytes[pos + 5]!, bytes[pos + 6]!, bytes[pos + 7]!);
    if (!/^[A-Za-z]{4}$/.test(type)) throw new PngError('undecodable', `invalid chunk type at byte ${pos}`);
    if (length > MAX_DIMENSION) throw new PngError('undecodable', `chunk ${type} at byte ${pos} claims ${length} bytes, more than PNG allows`);
    const end = pos + 8 + length;
    if (end + 4 > bytes.length) {
      throw new PngError('undecodable', `file truncated in chunk ${type} at byte ${pos} (${length} bytes claimed, ${Math.max(0, bytes.length - pos - 12)} present)`);
    }
    const body = bytes.subarray(pos + 8, end);
    const stored = view.getUint32(end);
    if ((crc32(bytes.subarray(pos + 4, end)) >>> 0) !== stored) {
      throw new PngError('undecodable', `CRC mismatch in chunk ${type} at byte ${pos}`);
    }
    if (header === undefined && type !== 'IHDR') throw new PngError('undecodable', `first chunk is ${type}, expected IHDR`);
    if (type !== 'IDAT' && idat.length > 0) idatEnded = true;

    switch (type) {
      case 'IHDR':
        if (header !== undefined) throw new PngError('undecodable', 'more than one IHDR chunk');
        header = readHeader(body);
        break;
      case 'PLTE':
        if (idat.length > 0) throw new PngError('undecodable', 'PLTE after IDAT');
        if (palette !== undefined) throw new PngError('undecodable', 'more than one PLTE chunk');
        palette = readPalette(body, header!);
        break;
      case 'tRNS':
        if (idat.length > 0) throw new PngError('undecodable', 'tRNS after IDAT');
        transparency = readTransparency(body, header!, palette);
        break;
      case 'IDAT':
        if (idatEnded) throw new PngError('undecodable', 'IDAT chunks are not consecutive');
        idat.push(body);
        break;
      case 'iCCP':
        hasIccProfile = true;
        break;
      case 'eXIf':
        hasExif = true;
        break;
      case 'IEND':
        pos = bytes.length; // anything after IEND is not part of the image
        continue;
      default:
        // Bit 5 of the first byte clear: a critical chunk this decoder must understand.
        if ((bytes[pos + 4]! & 0x20) === 0) throw new PngError('undecodable', `unknown critical chunk ${type}`);
    }
    pos = end + 4;
  }
  if (header === undefined) throw new PngError('undecodable', 'no IHDR chunk');
  if (idat.length === 0) throw new PngError('undecodable', 'no IDAT chunk (no image data)');
  if (header.colourType === 3 && palette === undefined) throw new PngError('undecodable', 'colour type 3 (palette) without a PLTE chunk');
  return {
    header,
    ...(header.colourType === 3 ? { palette: palette! } : {}),
    ...(transparency ? { transparency } : {}),
    idat,
    hasIccProfile,
    hasExif,
  };
}

function readHeader(body: Uint8Array): PngHeader {
  if (body.length !== 13) throw new PngError('undecodable', `IHDR is ${body.length} bytes, expected 13`);
  const view = new DataView(body.buffer, body.byteOffset, 13);
  const width = view.getUint32(0);
  const height = view.getUint32(4);
  const [bitDepth, colourType, compression, filter, interlace] = [body[8]!, body[9]!, body[10]!, body[11]!, body[12]!];
  if (width === 0 || width > MAX_DIMENSION) throw new PngError('undecodable', `IHDR width ${width} is outside 1..${MAX_DIMENSION}`);
  if (height === 0 || height > MAX_DIMENSION) throw new PngError('undecodable', `IHDR height ${height} is outside 1..${MAX_DIMENSION}`);
  if (!(colourType in DEPTHS)) throw new PngError('undecodable', `IHDR colour type ${colourType} is not one of 0, 2, 3, 4, 6`);
  const allowed = DEPTHS[colourType as ColourType];
  if (!allowed.includes(bitDepth)) {
    throw new PngError('undecodable', `IHDR bit depth ${bitDepth} is not valid for colour type ${colourType} (allowed: ${allowed.join(', ')})`);
  }
  if (compression !== 0) throw new PngError('undecodable', `IHDR compression method ${compression} is not 0 (deflate)`);
  if (filter !== 0) throw new PngError('undecodable', `IHDR filter method ${filter} is not 0`);
  if (interlace > 1) throw new PngError('undecodable', `IHDR interlace method ${interlace} is not 0 (none) or 1 (Adam7)`);
  return { width, height, bitDepth: bitDepth as PngHeader['bitDepth'], colourType: colourType as ColourType, interlaced: interlace === 1 };
}

function readPalette(body: Uint8Array, h: PngHeader): Uint8Array | undefined {
  if (h.colourType === 0 || h.colourType === 4) throw new PngError('undecodable', `PLTE chunk in a greyscale image (colour type ${h.colourType})`);
  const entries = body.length / 3;
  if (!Number.isInteger(entries) || entries < 1 || entries > 256) {
    throw new PngError('undecodable', `PLTE is ${body.length} bytes, expected 3 x 1..256 entries`);
  }
  if (h.colourType !== 3) return undefined; // a suggested palette for a truecolour image: not needed to decode
  if (entries > 1 << h.bitDepth) throw new PngError('undecodable', `PLTE has ${entries} entries, more than bit depth ${h.bitDepth} can index`);
  return body;
}

function readTransparency(body: Uint8Array, h: PngHeader, palette: Uint8Array | undefined): Uint8Array {
  switch (h.colourType) {
    case 0:
      if (body.length !== 2) throw new PngError('undecodable', `tRNS is ${body.length} bytes, expected 2 for colour type 0`);
      return body;
    case 2:
      if (body.length !== 6) throw new PngError('undecodable', `tRNS is ${body.length} bytes, expected 6 for colour type 2`);
      return body;
    case 3:
      if (palette === undefined) throw new PngError('undecodable', 'tRNS before PLTE');
      if (body.length > palette.length / 3) throw new PngError('undecodable', `tRNS has ${body.length} entries, more than the ${palette.length / 3} of PLTE`);
      return body;
    default:
      throw new PngError('undecodable', `tRNS chunk in an image with an alpha channel (colour type ${h.colourType})`);
  }
}
