"""Measures TextRNN's padding and init behaviour on random rows and prints one
JSON object (test/trainer/torch/text-rnn.test.ts asserts on it):

- padding: the largest change of any real token's output when every row gets
  more trailing padding (with random vectors in the padded slots, so a slot
  that leaked would show);
- reference: the largest difference from running each row alone, packed by
  hand (its real prompt tokens then its real response tokens, no padding),
  through the two GRUs and the projection;
- padded_slots: the largest |change| the module makes to a padded slot;
- init: the largest difference between the rewards of a model with
  --text-rnn gru as initialised (on the embeddings, and after block 1 with
  --text-rnn-at 1) and the same weights without it."""
import argparse
import json

import torch

from .model import RewardModel
from .text_rnn import TextRNN


def random_rows(gen, n, p, r, vocab):
    lp = torch.randint(0, p + 1, (n,), generator=gen)
    lr = torch.randint(1, r + 1, (n,), generator=gen)
    pi = torch.randint(1, vocab, (n, p), generator=gen) * (torch.arange(p) < lp[:, None])
    ri = torch.randint(1, vocab, (n, r), generator=gen) * (torch.arange(r) < lr[:, None])
    return pi, ri, lp, lr


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument('--seed', type=int, default=3)
    ap.add_argument('--rows', type=int, default=16)
    a = ap.parse_args(argv)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    d, p, r, extra = 16, 9, 7, 5
    m = TextRNN(d)
    # The projection starts at zero (nothing would be measured); give it weights.
    with torch.no_grad():
        m.out.weight.copy_(torch.randn(d, d, generator=gen))
        m.out.bias.copy_(torch.randn(d, generator=gen))
    pi, ri, lp, lr = random_rows(gen, a.rows, p, r, 50)
    prm, rsp = torch.randn(a.rows, p, d, generator=gen), torch.randn(a.rows, r, d, generator=gen)
    with torch.no_grad():
        op, orr = m(prm, rsp, pi, ri)
        z = lambda ids, k: torch.cat([ids, torch.zeros(ids.shape[0], k, dtype=ids.dtype)], 1)
        noise = lambda x, k: torch.cat([x, torch.randn(x.shape[0], k, d, generator=gen)], 1)
        op2, orr2 = m(noise(prm, extra), noise(rsp, extra + 2), z(pi, extra), z(ri, extra + 2))
        kp, kr = (pi != 0).unsqueeze(2), (ri != 0).unsqueeze(2)
        padding = max(((op - op2[:, :p]) * kp).abs().max().item(), ((orr - orr2[:, :r]) * kr).abs().max().item())
        padded_slots = max(((op - prm) * ~kp).abs().max().item(), ((orr - rsp) * ~kr).abs().max().item())
        reference = 0.0
        for i in range(a.rows):
            x = torch.cat([prm[i, :lp[i]], rsp[i, :lr[i]]]).unsqueeze(0)
            f, _ = m.fwd(x)
            b, _ = m.bwd(x.flip(1))
            o = m.out(torch.cat([f, b.flip(1)], 2))[0]
            want = torch.cat([prm[i, :lp[i]], rsp[i, :lr[i]]]) + o
            got = torch.cat([op[i, :lp[i]], orr[i, :lr[i]]])
            reference = max(reference, (want - got).abs().max().item())
        init = init_difference(gen)
    print(json.dumps({'padding': padding, 'reference': reference, 'padded_slots': padded_slots, 'init': init,
                      'rows': a.rows, 'prompt_lengths': lp.tolist(), 'response_lengths': lr.tolist()}))


def init_difference(gen):
    cfg = {'size': 128, 'channels': [8, 8], 'strides': [4, 4], 'grid': 8, 'vocab_size': 50, 'max_images': 2, 'max_prompt': 9,
           'max_response': 7, 'd': 16, 'heads': 2, 'layers': 2, 'k': 3, 'fusion': 'cross', 'sink': True}
    plain = RewardModel(cfg).eval()
    pi, ri, _, _ = random_rows(gen, 8, 9, 7, 50)
    emb = torch.randn(8, 2, plain.vision.dv, generator=gen)
    mask = torch.ones(8, 2)
    worst = 0.0
    for extra in ({'text_rnn': 'gru'}, {'text_rnn': 'gru', 'text_rnn_at': 1}):
        rnn = RewardModel({**cfg, **extra}).eval()
        rnn.load_state_dict(plain.state_dict(), strict=False)
        worst = max(worst, (plain.rewards(emb, mask, pi, ri) - rnn.rewards(emb, mask, pi, ri)).abs().max().item())
    return worst


if __name__ == '__main__':
    main()
