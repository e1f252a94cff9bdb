"""The grounding stage: before any preference pair, the encoder and heads
learn whether a claim about an image is true, from claims generated out of
the training images' scene records (claims.py), with binary cross-entropy.

Why: a Bradley-Terry pair's two answers differ in one word whose truth
depends on a 10 px shape, so the preference loss alone gives the encoder one
bit per pair about which words to bind to which cells, and runs of up to
20,000 pairs stayed at chance (README, "Measured"). Claims are unlimited
(every image answers every question type, each with a true and a false
claim), so the binding is taught directly, the way a VLM is pretrained on
captions before it is tuned on preferences. Every head is trained as the
logit of "this claim is true", which is the reward's orientation, so
Bradley-Terry continues from these weights unchanged.

Held out: the claims of 10% of the images (a seeded choice), never trained
on, give the reported `ground.accuracy.*` (true claim scored above its false
twin), per question type."""
import random
import time

import numpy as np
import torch
import torch.nn.functional as F

from .claims import QTYPES, claim_pair
from .scene import scene_of_png
from .t2i_claims import Flip, t2i_example
from .tensors import trim
from .text import encode_text, pack


def scenes_of(data):
    """The scene of each image row of PairTensors (sorted paths), or None."""
    return [scene_of_png(data.image_bytes[p]) for p in sorted(data.image_bytes)]


def draw(scenes, rows, rng, n, t2i=0.0, position=0.0, position_rows=None, count=0.0, t2i_mirror=0.0, mirror_rows=None):
    """n (image row or (row 1, row 2), qtype, question, true, false) examples
    from the given image rows, a share `t2i` of them two-image T2I questions
    and a share `position` of the rest position questions (on top of the
    fifth a uniform draw of the question type gives), asked of
    `position_rows` when given; then a share `count` of the rest count
    questions about a group the image holds (claims.py _count_present).
    `t2i_mirror`: the share of the T2I questions that set a relation caption
    against its own image flipped, asked of `mirror_rows` (two-shape images;
    t2i_claims.py mirror_draw)."""
    out = []
    while len(out) < n:
        if t2i and rng.random() < t2i:
            mirror = t2i_mirror and mirror_rows and rng.random() < t2i_mirror
            c = t2i_example(scenes, rows, rng, mirror_rows if mirror else None)
            if c is not None:
                out.append(c)
            continue
        qtype = 'position' if position and rng.random() < position else None
        if qtype is None and count and rng.random() < count:
            qtype = 'count_present'
        pool = position_rows if qtype and position_rows else rows
        i = pool[rng.randrange(len(pool))]
        c = claim_pair(scenes[i], rng, qtype)
        if c is not None:
            out.append((i, *c))
    return out


class Batcher:
    """Examples -> the encoder's inputs: the image in slot 0, the question as
    the prompt (a system prompt as the pair data has it, half the time), true
    claims first then false ones."""

    def __init__(self, data, tok, pre, vision, cache):
        self.data, self.tok, self.tspec = data, tok, pre['text']
        self.m, self.vision, self.cache = pre['image']['maxImages'], vision, cache

    def embed(self, rows):
        flips = [j for j, r in enumerate(rows) if isinstance(r, Flip)]
        if not flips:
            return self.embed_rows(rows)
        plain = [j for j, r in enumerate(rows) if not isinstance(r, Flip)]
        out = torch.empty(len(rows), self.vision.dv)
        if plain:
            out[plain] = self.embed_rows([rows[j] for j in plain])
        # [n, 3, S, S]: x is the last dimension, y the one before.
        px = self.data.pixels(np.asarray([rows[j].row for j in flips]))
        px = torch.stack([torch.flip(p, [2 if rows[j].axis == 'x' else 1]) for p, j in zip(px, flips)])
        with torch.set_grad_enabled(self.cache is None and torch.is_grad_enabled()):
            out[flips] = self.vision(px)
        return out

    def embed_rows(self, rows):
        if self.cache is not None:
            return self.cache[torch.as_tensor(rows)].float()
        return self.vision(self.data.pixels(np.asarray(rows)))

    def __call__(self, examples, systems):
        b = len(examples)
        emb = torch.zeros(b, self.m, self.vision.dv)
        mask = torch.zeros(b, self.m)
        for slot in range(self.m):
            # A T2I example's rows are a tuple, one per slot; others have one image.
            at = [j for j, e in enumerate(examples) if (isinstance(e[0], tuple) and slot < len(e[0])) or (slot == 0 and not isinstance(e[0], tuple))]
            if at:
                emb[at, slot] = self.embed([examples[j][0][slot] if isinstance(examples[j][0], tuple) else examples[j][0] for j in at])
                mask[at, slot] = 1.0
        prompts, resp = [], []
        for (_, _, q, _, _), sys_ in zip(examples, systems):
            prompts.append(encode_text(self.tok, self.tspec, sys_, q, 'x')[0])
        for col in (3, 4):
            for e, sys_ in zip(examples, systems):
                resp.append(encode_text(self.tok, self.tspec, sys_, e[2], e[col])[1])
        prompt = torch.tensor(pack(prompts, self.tspec['maxPromptTokens']), dtype=torch.int64)
        response = torch.tensor(pack(resp, self.tspec['maxResponseTokens']), dtype=torch.int64)
        return torch.cat([emb, emb]), torch.cat([mask, mask]), trim(torch.cat([prompt, prompt])), trim(response)


def accuracy(model, batcher, examples, systems, batch=128):
    """Per question type and overall: the share of examples whose true claim
    gets the higher mean reward (the pair accuracy BT is measured by)."""
    model.eval()
    right = []
    with torch.no_grad():
        for s in range(0, len(examples), batch):
            ex = examples[s:s + batch]
            r = model.rewards(*batcher(ex, systems[s:s + batch])).mean(1)
            right += (r[:len(ex)] > r[len(ex):]).tolist()
    right = np.array(right, dtype=float)
    # overall over the single-image questions, comparable with runs without T2I.
    single = np.array([e[1] not in ('t2i', 't2i_mirror', 'position_few', 'count_present') for e in examples])
    out = {'ground.accuracy.overall': float(right[single].mean())}
    for q in QTYPES + ['count_present', 't2i', 't2i_mirror', 'position_few']:
        sel = np.array([e[1] == q for e in examples])
        if sel.any():
            out[f'ground.accuracy.{q}'] = float(right[sel].mean())
    return out


def ground(model, data, tok, pre, cache, *, steps, batch, lr, seed, emit, log_every=25, eval_every=0, system=None, t2i=0.0, position=0.0,
           position_max_shapes=0, role_lr_scale=1.0, count=0.0, t2i_mirror=0.0):
    """Trains model.encoder and model.head in place; returns held-out metrics."""
    scenes = scenes_of(data)
    rows = [i for i, s in enumerate(scenes) if s is not None and s['shapes']]
    if len(rows) < 2:
        raise ValueError(f'{len(rows)} images carry a ShapesWorld scene record; the grounding stage needs at least 2')
    rows = [rows[i] for i in np.random.RandomState(seed + 17).permutation(len(rows))]
    n_hold = max(1, len(rows) // 10)
    hold, train = rows[:n_hold], rows[n_hold:]
    rng = random.Random(seed)
    hold_ex = draw(scenes, hold, random.Random(seed + 1), 1000)
    if count:
        # Held out apart too, for the same reason.
        hold_ex += draw(scenes, hold, random.Random(seed + 5), 300, count=1.0)
    if t2i:
        # Held-out T2I questions apart, so the single-image numbers stay comparable across runs.
        hold_ex += draw(scenes, hold, random.Random(seed + 3), 300, t2i=1.0)
        # Relation captions against their own image flipped (the near miss
        # Bradley-Terry's T2I relation pairs are), whether or not training
        # asks them: what the plain T2I questions above cannot show.
        two = [r for r in hold if len(scenes[r]['shapes']) == 2]
        if two:
            hold_ex += draw(scenes, two, random.Random(seed + 6), 200, t2i=1.0, t2i_mirror=1.0, mirror_rows=two)
    mirror_rows = [r for r in train if len(scenes[r]['shapes']) == 2] if t2i_mirror else None
    # position_max_shapes: training's position questions only from images
    # with at most this many shapes, where which shape a noun names is least
    # ambiguous (README, round 5: a curriculum test); held out, beside the
    # usual position questions, 200 on such images as `position_few`.
    position_rows = None
    if position_max_shapes:
        position_rows = [r for r in train if 2 <= len(scenes[r]['shapes']) <= position_max_shapes]
        few = [r for r in hold if 2 <= len(scenes[r]['shapes']) <= position_max_shapes]
        if not position_rows or not few:
            raise ValueError(f'no image with 2 to {position_max_shapes} shapes to ask position questions of')
        hold_ex += [(e[0], 'position_few', *e[2:]) for e in draw(scenes, few, random.Random(seed + 4), 200, position=1.0, position_rows=few)
                    if e[1] == 'position'][:200]
    pick_sys = lambda r, n: [system if system and r.random() < 0.5 else None for _ in range(n)]
    hold_sys = pick_sys(random.Random(seed + 2), len(hold_ex))
    batcher = Batcher(data, tok, pre, model.vision, cache)
    named = list(model.encoder.named_parameters(prefix='encoder')) + list(model.head.named_parameters(prefix='head'))
    if cache is None:
        named += list(model.vision.named_parameters(prefix='vision'))
    named = [(k, p) for k, p in named if p.requires_grad]
    params = [p for _, p in named]
    # role_lr_scale: the role readout's own learning rate, as a multiple. It
    # starts fresh beside weights grounding has already fitted, and its
    # pointer and query logits must move by several units before a role
    # singles out a word (Adam moves a weight by about lr a step).
    roles = [p for k, p in named if k.startswith('encoder.roles.')]
    rest = [p for k, p in named if not k.startswith('encoder.roles.')]
    groups = [{'params': rest, 'scale': 1.0}] + ([{'params': roles, 'scale': role_lr_scale}] if roles else [])
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=0.01)
    warm = max(1, steps // 20)
    emit('ground_start', images=len(train), held_out=len(hold), steps=steps, batch=batch)
    t0, c0, avg = time.time(), time.process_time(), None
    for step in range(steps):
        for g in opt.param_groups:
            g['lr'] = g['scale'] * (lr * (step + 1) / warm if step < warm else lr * (0.05 + 0.95 * 0.5 * (1 + np.cos(np.pi * (step - warm) / max(1, steps - warm)))))
        model.train()
        model.vision.eval()
        ex = draw(scenes, train, rng, batch, t2i, position, position_rows, count, t2i_mirror, mirror_rows)
        heads = model.rewards(*batcher(ex, pick_sys(rng, batch)))
        target = torch.cat([torch.ones(batch, 1), torch.zeros(batch, 1)]).expand_as(heads)
        loss = F.binary_cross_entropy_with_logits(heads, target)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        avg = loss.item() if avg is None else 0.95 * avg + 0.05 * loss.item()
        if (step + 1) % log_every == 0 or step + 1 == steps:
            emit('ground_step', step=step + 1, steps=steps, loss=round(avg, 4), seconds=round(time.time() - t0, 1),
                 cpu_seconds=round(time.process_time() - c0, 1))
        if eval_every and (step + 1) % eval_every == 0 and step + 1 < steps:
            emit('ground_eval', step=step + 1, **{k: round(v, 4) for k, v in accuracy(model, batcher, hold_ex, hold_sys).items()})
    return accuracy(model, batcher, hold_ex, hold_sys)
