"""The generator's scene record, the ground truth the vision tower
pretrains on. Every ShapesWorld PNG carries its scene as JSON in a tEXt
chunk (trainer/shapes/scene-text.ts, keyword mrm-shapesworld-scene-v1):
which shapes, their colour, kind, size and centre. Here it becomes one
target per grid cell, the cell holding a shape's centre saying what that
shape is, so the cells the encoder reads are trained to say what is where."""
import json
import struct

import numpy as np

SCENE_KEY = b'mrm-shapesworld-scene-v1'
# world.ts's vocabularies, in its order; class 0 of every target is "no shape".
COLORS = ['red', 'green', 'blue', 'yellow', 'purple', 'orange']
KINDS = ['circle', 'square', 'triangle']
SIZES = ['small', 'large']
# Logit slices of the scene head: colour, kind, size.
HEAD_SPLITS = (len(COLORS) + 1, len(KINDS) + 1, len(SIZES) + 1)


def scene_of_png(data):
    """The scene dict a PNG carries, or None."""
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack('>I', data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        if kind == b'tEXt':
            body = data[pos + 8:pos + 8 + length]
            key, _, text = body.partition(b'\x00')
            if key == SCENE_KEY:
                try:
                    return json.loads(text.decode('latin-1'))
                except ValueError:
                    return None
        elif kind in (b'IDAT', b'IEND'):
            # tEXt chunks the generator writes come before the pixels.
            if kind == b'IEND':
                break
        pos += 12 + length
    return None


def cell_targets(scene, grid):
    """int64 [3, G, G]: colour, kind, size class of the shape whose centre is
    in each cell (0 = none). Shapes are in drawing order, so where two centres
    share a cell the one drawn on top wins."""
    t = np.zeros((3, grid, grid), dtype=np.int64)
    for s in scene['shapes']:
        r = min(grid - 1, max(0, int(s['y'] * grid)))
        c = min(grid - 1, max(0, int(s['x'] * grid)))
        t[0, r, c] = COLORS.index(s['color']) + 1
        t[1, r, c] = KINDS.index(s['kind']) + 1
        t[2, r, c] = SIZES.index(s['size']) + 1
    return t


def image_targets(data, grid):
    """[n_images, 3, G, G] targets for PairTensors' images (its row order:
    sorted paths) and a bool [n_images] of which images carry a scene."""
    paths = sorted(data.image_bytes)
    out = np.zeros((len(paths), 3, grid, grid), dtype=np.int64)
    has = np.zeros(len(paths), dtype=bool)
    for i, p in enumerate(paths):
        sc = scene_of_png(data.image_bytes[p])
        if sc is not None:
            out[i] = cell_targets(sc, grid)
            has[i] = True
    return out, has


def occupancy(readings):
    """P(a shape) per cell from its readings [..., 14]: the sum of the colour
    head's shape classes, not 1 - P(no shape). The two are equal, but a
    pretrained tower is sure of most empty cells, and 1 minus a float32
    within a few ulps of 1 keeps a digit or two: the log of it, the
    attention bias of attend_occupied, then moved rewards by up to 3e-4
    between float32 and float64 (and between PyTorch and onnxruntime)
    where the sum moves them by about 1e-5 (README, round 7)."""
    return readings[..., 1:HEAD_SPLITS[0]].sum(-1)
