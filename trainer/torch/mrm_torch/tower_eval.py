"""How well a pretrained tower reads scenes it never saw: `python3 -m
mrm_torch.tower_eval --data DIR --vision OUT.ckpt/vision.pt [--images N]`.

Pretraining's own held-out figure (`pretrain.cell_accuracy.shapes`) asks for
each shape in exactly its centre's cell. The encoder needs less and more
than that: the set of shapes an image holds (a shape read one cell off still
counts once), and no shape where there is none. So besides per-attribute
cell accuracy this prints, per image, whether the multiset of (colour, kind,
size) the tower reads equals the scene's, whether the count does, and empty
cells read as occupied per real shape. Prints one JSON line."""
import argparse
import json
from collections import Counter

import numpy as np
import torch

from .model import Vision
from .scene import COLORS, KINDS, SIZES, image_targets, scene_of_png
from .tensors import PairTensors
from .text import Tokenizer
from .train import DEFAULT_PREPROCESS, DEFAULT_TOKENIZER


def read_scene(pred):
    """The multiset of (colour, kind, size) a [3, G, G] class map holds."""
    occ = pred[0] > 0
    return Counter((COLORS[pred[0][r][c] - 1], KINDS[max(pred[1][r][c], 1) - 1], SIZES[max(pred[2][r][c], 1) - 1])
                   for r, c in zip(*np.nonzero(occ)))


def evaluate_tower(vision, data, n_images, batch=256):
    paths = sorted(data.image_bytes)
    targets, has = image_targets(data, vision.grid)
    ids = np.flatnonzero(has)[:n_images]
    if len(ids) == 0:
        raise SystemExit('no image in the data set carries a ShapesWorld scene record')
    vision.eval()
    preds = []
    with torch.no_grad():
        for s in range(0, len(ids), batch):
            lg = vision.attribute_logits(vision.cell_map(data.pixels(ids[s:s + batch])))
            preds.append(torch.stack([x.argmax(1) for x in lg], 1).numpy())
    pred = np.concatenate(preds)
    t = targets[ids]
    occ = t[:, 0] > 0
    shapes = int(occ.sum())
    multiset = count = 0
    for i, img in enumerate(ids):
        truth = Counter((s['color'], s['kind'], s['size']) for s in scene_of_png(data.image_bytes[paths[img]])['shapes'])
        got = read_scene(pred[i])
        multiset += got == truth
        count += sum(got.values()) == sum(truth.values())
    attr = {name: float((pred[:, j] == t[:, j])[occ].mean()) for j, name in enumerate(('colour', 'kind', 'size'))}
    return {
        'images': int(len(ids)),
        'cells.shapes': float((pred == t).all(1)[occ].mean()),
        **{f'cells.{k}': v for k, v in attr.items()},
        'cells.false_occupied_per_shape': float(((pred[:, 0] > 0) & ~occ).sum() / shapes),
        'cells.missed_per_shape': float(((pred[:, 0] == 0) & occ).sum() / shapes),
        'images.multiset_right': multiset / len(ids),
        'images.count_right': count / len(ids),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(prog='mrm_torch.tower_eval')
    ap.add_argument('--data', required=True, help='a data set in the project formats whose PNGs carry scene records')
    ap.add_argument('--vision', required=True, help="a tower checkpoint (a run's OUT.ckpt/vision.pt)")
    ap.add_argument('--images', type=int, default=3000)
    ap.add_argument('--threads', type=int, default=1)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    state = torch.load(a.vision)
    vision = Vision.from_cfg(state['cfg'])
    vision.load_state_dict(state['vision'])
    if vision.attr is None:
        raise SystemExit(f'{a.vision}: a tower without attribute readings has no scene head to read')
    tok = Tokenizer(json.load(open(DEFAULT_TOKENIZER)))
    data = PairTensors(a.data, tok, DEFAULT_PREPROCESS)
    print(json.dumps({'vision': a.vision, **evaluate_tower(vision, data, a.images)}))


if __name__ == '__main__':
    main()
