"""Pretraining the vision tower on the generator's scene record (scene.py):
a 1x1 conv reads each grid cell's colour, kind and size (or "no shape")
with cross-entropy. This is this project's analogue of starting a VLM from
a pretrained vision encoder: the tower learns to see shapes from a
supervised signal the Bradley-Terry loss cannot give it cheaply (a pair's
two answers differ by a word whose truth depends on a 10 px shape). The
head is dropped afterwards; only the tower's weights carry over."""
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .scene import HEAD_SPLITS, image_targets

# Cells with a shape are about 3 in 64: weighting them up keeps the loss from
# being won by predicting "empty" everywhere. It also makes the tower mark
# more cells occupied than there are shapes (a large shape's neighbours):
# --pretrain-occupied-weight lowers it (README, round 4).
OCCUPIED_WEIGHT = 8.0


class SceneHead(nn.Module):
    def __init__(self, cells):
        super().__init__()
        self.conv = nn.Conv2d(cells, sum(HEAD_SPLITS), 1)

    def forward(self, cell_map):
        return torch.split(self.conv(cell_map), HEAD_SPLITS, dim=1)


def scene_loss(logits, targets, occupied_weight=OCCUPIED_WEIGHT):
    """Mean weighted CE over cells and the three attributes; targets [N, 3, G, G]."""
    w = 1.0 + (occupied_weight - 1.0) * (targets[:, 0] > 0).float()
    total = 0.0
    for j, lg in enumerate(logits):
        total = total + (F.cross_entropy(lg, targets[:, j], reduction='none') * w).sum() / w.sum()
    return total / len(logits)


def cell_accuracy(logits, targets):
    """(accuracy on cells with a shape, all three attributes right; accuracy on empty cells)."""
    pred = torch.stack([lg.argmax(1) for lg in logits], dim=1)
    occ = targets[:, 0] > 0
    right = (pred == targets).all(1)
    return float(right[occ].float().mean()), float(right[~occ].float().mean())


def evaluate(vision, head, data, ids, targets, batch=128):
    vision.eval()
    with torch.no_grad():
        outs = [head(vision.cell_map(data.pixels(ids[s:s + batch]))) for s in range(0, len(ids), batch)]
    logits = [torch.cat([o[j] for o in outs]) for j in range(len(HEAD_SPLITS))]
    return cell_accuracy(logits, torch.from_numpy(targets[ids]))


def mirror_half(pixels, targets, rng):
    """Mirrors a random half of the batch left to right, images and cell
    targets together. Every ShapesWorld shape is symmetric about its vertical
    axis (the triangle points up) and the scene sampler's layout rules do not
    depend on the side, so a mirrored scene is one the generator could have
    drawn: twice the scenes for the same rendering cost. A centre in column c
    lands in column G-1-c (x -> 1-x), so the targets mirror with the pixels."""
    pick = torch.from_numpy(rng.rand(pixels.shape[0]) < 0.5)
    pixels, targets = pixels.clone(), targets.clone()
    pixels[pick] = pixels[pick].flip(-1)
    targets[pick] = targets[pick].flip(-1)
    return pixels, targets


def pretrain_vision(vision, data, *, epochs, batch, lr, seed, emit, log_every=20, occupied_weight=OCCUPIED_WEIGHT, flip=False):
    """Trains `vision` in place on `data`'s images; returns held-out metrics
    (the last 10% of images, by a seeded permutation, never trained on)."""
    targets, has = image_targets(data, vision.grid)
    ids = np.flatnonzero(has)
    if len(ids) < 20:
        raise ValueError(f'{len(ids)} images carry a ShapesWorld scene record; vision pretraining needs at least 20')
    ids = ids[np.random.RandomState(seed).permutation(len(ids))]
    n_hold = max(10, len(ids) // 10)
    hold, train = np.sort(ids[:n_hold]), ids[n_hold:]
    # A tower with attribute readings trains its own 1x1 conv (kept: the
    # encoder reads its softmax); otherwise a separate head, dropped after.
    head = vision.attribute_logits if vision.attr is not None else SceneHead(vision.cells)
    params = list(vision.parameters()) + ([] if vision.attr is not None else list(head.parameters()))
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    steps_per_epoch = max(1, len(train) // batch)
    total = max(1, int(epochs * steps_per_epoch))
    t0, c0, avg = time.time(), time.process_time(), None
    emit('pretrain_start', images=len(train), held_out=len(hold), steps=total, batch=batch)
    for step in range(total):
        epoch, within = divmod(step, steps_per_epoch)
        order = np.random.RandomState((seed * 7919 + epoch) % 2**32).permutation(train)
        idx = np.sort(order[within * batch:(within + 1) * batch])
        for g in opt.param_groups:  # cosine from lr to lr/20
            g['lr'] = lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * step / total)))
        vision.train()
        pixels, tgt = data.pixels(idx), torch.from_numpy(targets[idx])
        if flip:
            pixels, tgt = mirror_half(pixels, tgt, np.random.RandomState((seed * 104729 + step) % 2**32))
        loss = scene_loss(head(vision.cell_map(pixels)), tgt, occupied_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        avg = loss.item() if avg is None else 0.95 * avg + 0.05 * loss.item()
        if (step + 1) % log_every == 0 or step + 1 == total:
            emit('pretrain_step', step=step + 1, steps=total, loss=round(avg, 4), seconds=round(time.time() - t0, 1),
                 cpu_seconds=round(time.process_time() - c0, 1))
    occ, empty = evaluate(vision, head, data, hold, targets)
    vision.eval()
    return {'pretrain.cell_accuracy.shapes': occ, 'pretrain.cell_accuracy.empty': empty}
