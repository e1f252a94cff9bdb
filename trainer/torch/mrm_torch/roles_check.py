"""Measures RoleReadout's invariances on random inputs and prints one JSON
object (test/trainer/torch/role-readout.test.ts asserts on it):

- cell_order: the largest change of the output when each slot's cells are
  permuted together with their coordinates and occupancy logits (the module
  must read a cell's place from its coordinates, not from its index);
- coords_matter: the smallest change, over the rows, when the cells alone are
  permuted and their coordinates stay (so the first number can fail: a
  module that ignored the places would show 0 here);
- padding: the largest change when every row gets trailing padding (random
  vectors in the padded slots, so a leak would show);
- absent_slot: the largest change when the cells of a masked-out image slot
  are replaced by noise;
- init: the largest difference between the rewards of a model with
  --role-readout 2 as initialised and the same weights without it."""
import argparse
import json

import torch

from .model import RewardModel
from .roles import RoleReadout
from .scene import HEAD_SPLITS as ATTRIBUTE_SPLITS


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--seed', type=int, default=5)
    ap.add_argument('--rows', type=int, default=12)
    ap.add_argument('--lookup', choices=['pooled', 'tokens', 'signed'], default='pooled')
    ap.add_argument('--count', choices=['sum', 'attributes'], help='with each role counting the cells it finds')
    ap.add_argument('--number', choices=['lookup', 'attributes'], help="each token's count compared with the stated number")
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    d, vocab, grid, m, p, r, n = 16, 40, 4, 2, 9, 7, a.rows
    mod = RoleReadout(d, vocab, 2, m, grid, lookup=a.lookup, count=a.count, number=a.number).eval()
    with torch.no_grad():
        if a.number:
            # Zero at init (no word states a number yet); give every word a profile.
            # Its own generator, so the inputs below are those of the runs without it.
            words = torch.Generator().manual_seed(a.seed + 1)
            mod.num_word.weight[1:].copy_(torch.randn(vocab - 1, mod.num_word.weight.shape[1], generator=words))
        # The output projection starts at zero (nothing would be measured); give it weights.
        mod.out.weight.copy_(torch.randn(d, mod.out.in_features, generator=gen))
        mod.point_word.weight.copy_(torch.randn(vocab, 3, generator=gen))
    s = grid * grid
    lp = torch.randint(0, p + 1, (n,), generator=gen)
    lr = torch.randint(1, r + 1, (n,), generator=gen)
    pi = torch.randint(1, vocab, (n, p), generator=gen) * (torch.arange(p) < lp[:, None])
    ri = torch.randint(1, vocab, (n, r), generator=gen) * (torch.arange(r) < lr[:, None])
    prm, rsp = torch.randn(n, p, d, generator=gen), torch.randn(n, r, d, generator=gen)
    cells = torch.randn(n, m * s, d, generator=gen)
    bias = torch.randn(n, m * s, generator=gen)
    mask = torch.ones(n, m)
    mask[: n // 3, 1] = 0
    bias = bias + (1 - mask).repeat_interleave(s, 1) * -1e4
    # With count 'attributes' the module also reads each cell's colour, kind
    # and size softmaxes and the words that name them; they move with their cells.
    readings = torch.cat([torch.softmax(torch.randn(n, m * s, w, generator=gen) * 2, 2) for w in ATTRIBUTE_SPLITS], 2)
    table = torch.randn(sum(ATTRIBUTE_SPLITS), 2, d, generator=gen)  # each reading class's two words
    extra = (lambda rd: (rd, table)) if 'attributes' in (a.count, a.number) else (lambda rd: ())
    with torch.no_grad():
        base = mod(prm, rsp, pi, ri, cells, bias, mask, *extra(readings))
        # One permutation for every slot: the coordinate table is shared by the slots.
        one = torch.randperm(s, generator=gen)
        perm = torch.cat([one + k * s for k in range(m)])
        xy = mod.xy.clone()
        mod.xy = xy[one]
        cell_order = (mod(prm, rsp, pi, ri, cells[:, perm], bias[:, perm], mask, *extra(readings[:, perm])) - base).abs().max().item()
        mod.xy = xy
        coords_matter = (mod(prm, rsp, pi, ri, cells[:, perm], bias[:, perm], mask, *extra(readings[:, perm])) - base).abs().max(1).values.min().item()
        z = lambda ids, k: torch.cat([ids, torch.zeros(ids.shape[0], k, dtype=ids.dtype)], 1)
        noise = lambda x, k: torch.cat([x, torch.randn(x.shape[0], k, d, generator=gen)], 1)
        padding = (mod(noise(prm, 4), noise(rsp, 6), z(pi, 4), z(ri, 6), cells, bias, mask, *extra(readings)) - base).abs().max().item()
        other, other_readings = cells.clone(), readings.clone()
        other[: n // 3, s:] = torch.randn(n // 3, s, d, generator=gen) * 5
        other_readings[: n // 3, s:] = torch.rand(n // 3, s, sum(ATTRIBUTE_SPLITS), generator=gen)
        absent_slot = (mod(prm, rsp, pi, ri, other, bias, mask, *extra(other_readings)) - base).abs().max().item()
    counts = attribute_counts(a.seed) if 'attributes' in (a.count, a.number) else {}
    if a.number:
        counts['agreement'] = number_agreement(d, vocab, grid, m)
    print(json.dumps({**counts, 'cell_order': cell_order, 'coords_matter': coords_matter, 'padding': padding, 'absent_slot': absent_slot,
                      'init': init_difference(gen, a.lookup, a.count, a.number), 'rows': n, 'prompt_lengths': lp.tolist()}))


def attribute_counts(seed):
    """count 'attributes' on exact readings: an image with k green circles
    (k = 0..4) beside two red squares and a green square, and the words
    "green circle" (the count read at "circle"). Returns the count for k = 1
    and the largest distance of any k's count from k times it (a count, not
    a soft maximum)."""
    torch.manual_seed(seed)
    d, grid, m = 16, 4, 2
    s = grid * grid
    mod = RoleReadout(d, 40, 2, m, grid, lookup='signed', count='attributes').eval()
    table = torch.eye(sum(ATTRIBUTE_SPLITS), d)
    green, circle, red, square = 2, 8, 1, 9  # reading indices: colour 0-6, kind 7-10, size 11-13
    # Words are the value words themselves (cosine 1); the prompt is one padding token.
    value_words = table.unsqueeze(1).repeat(1, 2, 1)
    rsp = torch.stack([table[green], table[circle]]).unsqueeze(0)
    asked = mod.asked(torch.zeros(1, 1, d), rsp, torch.zeros(1, 1, dtype=torch.int64), torch.tensor([[3, 4]]), value_words)

    def cell(colour, kind, size):
        r = torch.zeros(sum(ATTRIBUTE_SPLITS))
        r[colour] = r[kind] = r[size] = 1.0
        return r
    empty = cell(0, 7, 11)
    out = []
    for k in range(5):
        cells = [cell(green, circle, 12)] * k + [cell(red, square, 13)] * 2 + [cell(green, square, 12)]
        img = torch.stack(cells + [empty] * (s - len(cells)))
        readings = torch.cat([img, torch.stack([empty] * s)]).unsqueeze(0)
        with torch.no_grad():
            out.append(mod.attribute_count(asked, readings, torch.tensor([[1.0, 0.0]]))[0, 2, 0].item())
    one = out[1]
    return {'count_of_one': one, 'count_nonlinearity': max(abs(c - k * one) for k, c in enumerate(out))}


def number_agreement(d, vocab, grid, m):
    """The agreement of hand-set counts with one word stating "three" (id 5)
    in the response at position 1: per token, what the module returns."""
    mod = RoleReadout(d, vocab, 2, m, grid, lookup='signed', count='sum', number=True).eval()
    with torch.no_grad():
        mod.num_word.weight.zero_()
        mod.num_word.weight[5, 3] = 1.0
        prompt = torch.tensor([[7, 5, 7, 0]])  # "three" in the prompt too (the next word counts 2), before a padded end
        response = torch.tensor([[7, 5, 7, 7, 7, 7, 0]])
        counts = torch.tensor([3.0, 3.0, 2.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0]).reshape(1, 11, 1).expand(1, 11, m)
        agree = mod.agreement(counts, prompt, response)[0, :, 0]
    return [round(v, 4) for v in agree.tolist()]


def init_difference(gen, lookup, count=None, number=False):
    cfg = {'size': 128, 'channels': [8, 8], 'strides': [4, 4], 'grid': 8, 'vocab_size': 50, 'max_images': 2, 'max_prompt': 9,
           'max_response': 7, 'd': 16, 'heads': 2, 'layers': 2, 'k': 3, 'fusion': 'cross', 'sink': True}
    if 'attributes' in (count, number):
        # Readings alone, tied to words (ids 1-13 name the values; "none" is learned).
        cfg = {**cfg, 'attributes': 'only', 'reading_words': [[] if i in (0, 7, 11) else [i] for i in range(sum(ATTRIBUTE_SPLITS))]}
    plain = RewardModel(cfg).eval()
    roles = RewardModel({**cfg, 'role_readout': 2, 'role_lookup': lookup, 'role_count': count, 'role_number': number}).eval()
    roles.load_state_dict(plain.state_dict(), strict=False)
    pi = torch.randint(1, 50, (8, 9), generator=gen)
    ri = torch.randint(1, 50, (8, 7), generator=gen)
    emb = torch.randn(8, 2, plain.vision.dv, generator=gen)
    mask = torch.ones(8, 2)
    with torch.no_grad():
        return (plain.rewards(emb, mask, pi, ri) - roles.rewards(emb, mask, pi, ri)).abs().max().item()


if __name__ == '__main__':
    main()
