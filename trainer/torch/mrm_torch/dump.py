"""Writes this package's preprocessing of a few records as JSON, for the
parity test against src/model (test/trainer/torch/preprocess-parity.test.ts):
  python3 -m mrm_torch.dump --data DIR --preprocess JSON --tokenizer FILE --limit N"""
import argparse
import base64
import json
import os
import sys

from . import images as imgs
from .data import read_image_bytes, read_records
from .text import Tokenizer, encode_text


def main(argv=None):
    ap = argparse.ArgumentParser(prog='mrm_torch.dump')
    ap.add_argument('--data', required=True)
    ap.add_argument('--preprocess', required=True, help="a manifest's preprocess object, as JSON text or a file")
    ap.add_argument('--tokenizer', required=True)
    ap.add_argument('--limit', type=int, default=4)
    a = ap.parse_args(argv)
    pre = json.load(open(a.preprocess)) if os.path.exists(a.preprocess) else json.loads(a.preprocess)
    tok = Tokenizer.load(a.tokenizer)
    records = read_records(a.data)[:a.limit]
    data = read_image_bytes(a.data, records)
    out = []
    for r in records:
        enc = [encode_text(tok, pre['text'], r['system'], r['prompt'], x) for x in (r['chosen'], r['rejected'])]
        out.append({
            'id': r['id'],
            'images': [base64.b64encode(imgs.preprocess(data[p], pre['image'], p).tobytes()).decode() for p in r['images']],
            'prompt_ids': enc[0][0], 'chosen_ids': enc[0][1], 'rejected_ids': enc[1][1],
        })
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main()
