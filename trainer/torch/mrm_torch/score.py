"""Rewards of a data set's pairs computed by PyTorch from a checkpoint, with
the preprocessing of an exported bundle's manifest: one JSON line per pair
{id, chosen, rejected} (the mean over heads, as the server's `reward`), to
compare with what a server serving that bundle returns.

  python3 -m mrm_torch.score --bundle DIR --checkpoint OUT.ckpt/final.pt --data DIR"""
import argparse
import json
import os

import torch

from .model import RewardModel
from .tensors import PairTensors
from .text import Tokenizer
from .train import score_pairs


def main(argv=None):
    ap = argparse.ArgumentParser(prog='mrm_torch.score')
    ap.add_argument('--bundle', required=True)
    ap.add_argument('--checkpoint', required=True)
    ap.add_argument('--data', required=True)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    manifest = json.load(open(os.path.join(a.bundle, 'manifest.json')))
    tok = Tokenizer.load(os.path.join(a.bundle, manifest['files']['tokenizer']['path']))
    state = torch.load(a.checkpoint)
    model = RewardModel(state['cfg'])
    model.load_state_dict(state['model'])
    data = PairTensors(a.data, tok, manifest['preprocess'])
    hc, hr = score_pairs(model, data)
    for r, c, j in zip(data.records, hc.mean(1).tolist(), hr.mean(1).tolist()):
        print(json.dumps({'id': r['id'], 'chosen': c, 'rejected': j}))


if __name__ == '__main__':
    main()
