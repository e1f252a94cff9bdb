"""Where position claims fail: can a token's state say where its shape is?

python3 -m mrm_torch.probe_position CHECKPOINT DATA_DIR: for template-0
position claims ("The red circle is to the left of the blue square.") about
DATA_DIR's images (up to 500, one claim each), ridge probes (lambda 1, fit on
two thirds, R^2 on the last third) of the subject's x from the state at the
subject's kind word, the object's x from the object's, and sign(x_s - x_o)
from both, on the response tokens as they enter the first block and after
each block. Prints one JSON line (README, round 5)."""
import json
import os
import random
import sys

import numpy as np
import torch

from mrm_torch.model import RewardModel
from mrm_torch.text import Tokenizer
from mrm_torch.tensors import PairTensors
from mrm_torch.train import DEFAULT_PREPROCESS
from mrm_torch.ground import scenes_of, Batcher
from mrm_torch.claims import claim_pair
def r2(X, y):
    """Ridge fit on the first two thirds, R^2 on the rest."""
    k = len(y) * 2 // 3; X = np.c_[X, np.ones(len(X))]
    w = np.linalg.solve(X[:k].T @ X[:k] + 1.0 * np.eye(X.shape[1]), X[:k].T @ y[:k])
    res = y[k:] - X[k:] @ w; return 1 - res.var() / y[k:].var()

def main():
    torch.set_num_threads(1)
    tok = Tokenizer.load(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'models', 'shapes-mrm', 'tokenizer.json'))
    data = PairTensors(sys.argv[2], tok, DEFAULT_PREPROCESS)
    s = torch.load(sys.argv[1]); m = RewardModel(s['cfg']); m.load_state_dict(s['model']); m.eval()
    scenes = scenes_of(data); rng = random.Random(5)
    ex, xs = [], []
    kinds = {tok.ids[k] for k in ('circle', 'square', 'triangle')}
    for i, sc in enumerate(scenes):
        if sc is None or len(sc['shapes']) < 2: continue
        for _ in range(3):
            c = claim_pair(sc, rng, 'position', template=0)
            if c is None: continue
            q, true = c[1], c[2]
            words = true.lower().split()
            subj = [sh for sh in sc['shapes'] if sh['color'] == words[1] and true.lower().startswith(f"the {sh['color']} {sh['kind']}")]
            obj = [sh for sh in sc['shapes'] if true.lower().rstrip('.').endswith(f"the {sh['color']} {sh['kind']}")]
            if len(subj) != 1 or len(obj) != 1: continue
            ex.append((i, 'position', q, true, c[3])); xs.append((subj[0]['x'], obj[0]['x'], subj[0]['y'], obj[0]['y']))
            break
        if len(ex) >= 500: break
    b = Batcher(data, tok, DEFAULT_PREPROCESS, m.vision, None)
    states = {}
    hooks = [blk.register_forward_hook(lambda mod, inp, out, j=j: states.__setitem__(j, out)) for j, blk in enumerate(m.encoder.blocks)]
    feats = {}
    with torch.no_grad():
        for st in range(0, len(ex), 100):
            chunk = ex[st:st + 100]
            emb, mask, p, r = b(chunk, [None] * len(chunk))
            n = len(chunk); emb, mask, p, r = emb[:n], mask[:n], p[:n], r[:n]
            m.encoder(emb, mask, p, r)
            e = m.encoder
            x0 = e.tok(r) + e.response_pos[:, :r.shape[1]] + e.segment[2]
            if e.text_rnn is not None and not e.text_rnn_at:
                prm = e.tok(p) + e.prompt_pos[:, :p.shape[1]] + e.segment[1]
                x0 = e.text_rnn(prm, x0, p, r)[1]
            for row in range(n):
                ids = r[row].tolist(); ks = [k for k, t in enumerate(ids) if t in kinds][:2]
                for name, h in [('input', x0[row:row + 1])] + [(f'block{j}', states[j][row:row + 1, 1 + p.shape[1]:]) for j in range(len(e.blocks))]:
                    feats.setdefault(name, []).append(torch.cat([h[0, ks[0]], h[0, ks[1]]]).numpy())
    xs = np.array(xs[:len(feats['input'])])
    d = m.encoder.d
    out = {}
    for name, F in feats.items():
        F = np.array(F)
        out[name] = {'x_subject@subject': round(r2(F[:, :d], xs[:, 0]), 3), 'x_object@object': round(r2(F[:, d:], xs[:, 1]), 3),
                     'sign(xs-xo)@both': round(r2(F, np.sign(xs[:, 0] - xs[:, 1])), 3)}
    print(json.dumps({'checkpoint': sys.argv[1], 'examples': len(xs), **out}))


if __name__ == '__main__':
    main()
