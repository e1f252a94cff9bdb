"""Rewards of a data set's pairs computed by PyTorch from a checkpoint, with
the preprocessing of an exported bundle's manifest: one JSON line per pair
{id, chosen, rejected} (the mean over heads, as the server's `reward`), to
compare with what a server serving that bundle returns.

  python3 -m mrm_torch.score --bundle DIR --checkpoint OUT.ckpt/final.pt --data DIR

With --rewards FILE it also writes the lines `mrm eval --rewards` writes
(texts, images by sha256, model, and per side the reward, the calibrated
reward and the heads' spread), the input of examples/python/check_rewards.py,
which sends them to a server and compares."""
import argparse
import hashlib
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
    ap.add_argument('--rewards', help="also write mrm eval's --rewards lines to this file")
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
    if a.rewards:
        write_rewards(a.rewards, manifest, data, hc, hr)


def write_rewards(path, manifest, data, hc, hr):
    cal = manifest['calibration']

    def side(heads):
        # As summarizeHeads in src/model/runtime.ts: the mean over heads, the
        # population std as the spread, z-scored against the calibration.
        reward = float(heads.mean())
        return {'reward': reward, 'normalized': (reward - cal['mean']) / cal['std'], 'spread': float(heads.std(unbiased=False))}

    with open(path, 'w', encoding='utf-8') as f:
        for i, r in enumerate(data.records):
            row = {'id': r['id'], 'slice': r['slice'],
                   'images': [hashlib.sha256(data.image_bytes[p]).hexdigest() for p in r['images']],
                   **({'system': r['system']} if r['system'] is not None else {}),
                   'prompt': r['prompt'], 'chosen': r['chosen'], 'rejected': r['rejected'],
                   'model': {'name': manifest['name'], 'version': manifest['version']},
                   'rewards': {'chosen': side(hc[i]), 'rejected': side(hr[i])}}
            f.write(json.dumps(row, ensure_ascii=False) + '\n')


if __name__ == '__main__':
    main()
