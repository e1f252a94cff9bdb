"""Image preprocessing of the bundle contract, the same as src/model/image.ts
for the images this package trains on: a PNG decoded to 8-bit RGB (alpha
flattened on white), then (v / 255 - mean) / std per channel, planar CHW.

The server resizes with sharp (Lanczos 3); this package does not resample,
so it takes images whose side is already the manifest's size (ShapesWorld
renders at 128 px and the learned bundle's size is 128). Any other size is
refused with a clear error rather than preprocessed differently from the
server."""
import struct
import zlib

import numpy as np

_SIG = b'\x89PNG\r\n\x1a\n'


class ImageError(ValueError):
    pass


def decode_png(data, field='image'):
    """PNG bytes -> uint8 array [H, W, 3]."""
    if data[:8] != _SIG:
        raise ImageError(f'{field}: not a PNG (only PNG is read here)')
    pos, idat, hdr = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack('>I', data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b'IHDR':
            hdr = struct.unpack('>IIBBBBB', body)
        elif kind == b'IDAT':
            idat.append(body)
        elif kind == b'IEND':
            break
    if hdr is None:
        raise ImageError(f'{field}: PNG without IHDR')
    w, h, depth, ctype, _, _, interlace = hdr
    channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
    if depth != 8 or channels is None or interlace != 0:
        raise ImageError(f'{field}: PNG depth {depth}, colour type {ctype}, interlace {interlace}: only 8-bit non-interlaced grey/RGB/RGBA is read here')
    raw = zlib.decompress(b''.join(idat))
    stride = w * channels
    rows = np.frombuffer(raw, dtype=np.uint8).reshape(h, stride + 1)
    out = np.zeros((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    for y in range(h):
        f = rows[y, 0]
        line = rows[y, 1:].astype(np.int32)
        if f == 0:
            cur = line
        elif f == 2:
            cur = (line + prev) & 0xFF
        else:
            cur = np.zeros(stride, dtype=np.int32)
            for x in range(stride):
                a = cur[x - channels] if x >= channels else 0
                b = prev[x]
                c = prev[x - channels] if x >= channels else 0
                if f == 1:
                    pred = a
                elif f == 3:
                    pred = (a + b) >> 1
                elif f == 4:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                else:
                    raise ImageError(f'{field}: bad PNG filter {f}')
                cur[x] = (line[x] + pred) & 0xFF
        out[y] = cur
        prev = cur
    px = out.reshape(h, w, channels)
    if channels in (2, 4):
        # sharp's flatten on white: alpha-composite, rounded.
        rgb, alpha = px[..., :channels - 1].astype(np.float64), px[..., channels - 1:].astype(np.float64) / 255
        px = np.rint(rgb * alpha + 255 * (1 - alpha)).astype(np.uint8)
    if px.shape[2] == 1:
        px = np.repeat(px, 3, axis=2)
    return px


def luts(spec):
    """Per-channel tables, computed in float64 and stored as float32 exactly as image.ts does."""
    return [((np.arange(256, dtype=np.float64) / 255 - spec['mean'][c]) / spec['std'][c]).astype(np.float32) for c in range(3)]


def check_size(rgb, spec, field='image'):
    s = spec['size']
    if rgb.shape[0] != s or rgb.shape[1] != s:
        raise ImageError(f'{field}: image is {rgb.shape[1]}x{rgb.shape[0]}; this trainer does not resample, the manifest size is {s}x{s}')
    return rgb


def normalize(rgb, spec, tables=None):
    """uint8 [S, S, 3] -> float32 [3, S, S] in channelOrder."""
    tables = tables or luts(spec)
    out = np.empty((3,) + rgb.shape[:2], dtype=np.float32)
    for c in range(3):
        src = c if spec['channelOrder'] == 'rgb' else 2 - c
        out[c] = tables[c][rgb[..., src]]
    return out


def preprocess(data, spec, field='image'):
    return normalize(check_size(decode_png(data, field), spec, field), spec)
