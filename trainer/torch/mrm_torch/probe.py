"""Does the vision embedding see colours? A linear probe: logistic
regression from a vision stage's embedding to "colour X is in the picture"
for each colour, on a ShapesWorld data set's images (labels from the scene
record each PNG carries, scene.py). Held out: the last 30% of them.
Printed beside the majority rate, for a randomly initialized vision stage
(seeded) and, with --checkpoint, a trained one. A tower whose probe sits at
the majority rate cannot ground colour words, whatever the encoder does.

  python3 -m mrm_torch.probe --data DIR [--checkpoint OUT.ckpt/last.pt]"""
import argparse
import json
import os

import numpy as np
import torch
import torch.nn.functional as F

from .model import RewardModel
from .scene import COLORS, scene_of_png
from .tensors import PairTensors
from .text import Tokenizer
from .train import DEFAULT_PREPROCESS, DEFAULT_TOKENIZER


def scene_colours(data, limit):
    """Image rows and the colours each holds, from the scene record every
    ShapesWorld PNG carries (scene.py). (An earlier version read the colours
    from the description pairs' meta.answers[0], which is the first answer
    shown, not always the true one.)"""
    rows, labels = [], []
    for i, p in enumerate(sorted(data.image_bytes)):
        sc = scene_of_png(data.image_bytes[p])
        if sc is not None:
            rows.append(i)
            labels.append({s['color'] for s in sc['shapes']})
        if len(rows) >= limit:
            break
    return rows, labels


def probe(emb, y, seed=0):
    """Held-out accuracy per column of a ridge-regularized logistic probe."""
    torch.manual_seed(seed)
    x = (emb - emb.mean(0)) / (emb.std(0) + 1e-6)
    n = len(y)
    tr = torch.arange(n) < int(0.7 * n)
    w = torch.zeros(x.shape[1], y.shape[1], requires_grad=True)
    b = torch.zeros(y.shape[1], requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=1e-2)
    for _ in range(300):
        loss = F.binary_cross_entropy_with_logits(x[tr] @ w + b, y[tr]) + 1e-3 * (w ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        acc = (((x[~tr] @ w + b) > 0).float() == y[~tr]).float().mean(0)
    base = torch.maximum(y[~tr].mean(0), 1 - y[~tr].mean(0))
    return acc, base


def main(argv=None):
    ap = argparse.ArgumentParser(prog='mrm_torch.probe')
    ap.add_argument('--data', required=True)
    ap.add_argument('--checkpoint', help='a training checkpoint (last.pt, final.pt) or a pretrained tower (vision.pt)')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--images', type=int, default=600, help='images probed (70% fit, 30% held out)')
    ap.add_argument('--channels', default='16,32,48,64,64')
    ap.add_argument('--strides', default='1,2,2,2,2')
    ap.add_argument('--grid', type=int, default=8)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    tok = Tokenizer.load(DEFAULT_TOKENIZER)
    data = PairTensors(a.data, tok, DEFAULT_PREPROCESS)
    rows, labels = scene_colours(data, a.images)
    if len(rows) < 20:
        raise SystemExit(f'{a.data}: {len(rows)} images carry a scene record; the probe needs at least 20')
    y = torch.tensor([[float(c in l) for c in COLORS] for l in labels])
    models = []
    torch.manual_seed(a.seed)
    cfg = {'size': 128, 'channels': [int(c) for c in a.channels.split(',')], 'strides': [int(c) for c in a.strides.split(',')],
           'grid': a.grid, 'vocab_size': tok.vocab_size, 'max_images': 2, 'max_prompt': 64, 'max_response': 128,
           'd': 64, 'heads': 4, 'layers': 2, 'k': 5}
    models.append((f'random init (seed {a.seed})', RewardModel(cfg)))
    if a.checkpoint:
        state = torch.load(a.checkpoint)
        m = RewardModel(state['cfg'])
        if 'vision' in state:
            m.vision.load_state_dict(state['vision'])
        else:
            m.load_state_dict(state['model'])
        models.append((f'{os.path.basename(a.checkpoint)} (step {state.get("step", "final")})', m))
    for name, m in models:
        m.eval()
        with torch.no_grad():
            emb = m.vision(data.pixels(np.array(rows)))
        acc, base = probe(emb, y)
        print(json.dumps({'vision': name, 'images': len(rows), 'colours': COLORS, 'mean_probe': round(acc.mean().item(), 3), 'mean_majority': round(base.mean().item(), 3),
                          'probe_accuracy': [round(v, 3) for v in acc.tolist()], 'majority': [round(v, 3) for v in base.tolist()]}))


if __name__ == '__main__':
    main()
