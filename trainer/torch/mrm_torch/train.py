"""Training: the three stages end to end with the Bradley-Terry loss, K
bootstrap-weighted heads, seeded, resumable from checkpoints, then exported
into bundle v1. Progress goes to stdout as one JSON object per line (the
`mrm train --engine torch` side reads them); errors go to stderr with a
non-zero exit.

  python3 -m mrm_torch.train --data DIR --out BUNDLE_DIR [--epochs E] ..."""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from .data import dataset_digest
from .export import write_bundle
from .model import RewardModel
from .tensors import PairTensors, trim
from .text import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
# The project's tokenizer: the default bundle's, so both models read text the same way.
DEFAULT_TOKENIZER = os.path.normpath(os.path.join(HERE, '..', '..', '..', 'models', 'shapes-mrm', 'tokenizer.json'))

# 128 px is ShapesWorld's render size, so no resampling happens on either
# side (images.py); mean/std as the default model's. 64 prompt tokens hold a
# system prompt and the longest T2I question; 128 response tokens hold the
# longest verbose description (about 80).
DEFAULT_PREPROCESS = {
    'image': {'size': 128, 'channelOrder': 'rgb', 'mean': [0.5, 0.5, 0.5], 'std': [0.25, 0.25, 0.25], 'maxImages': 2, 'maxPixels': 16777216},
    'text': {'promptTemplate': '{system}\n{prompt}', 'responseTemplate': '{response}', 'maxPromptTokens': 64, 'maxResponseTokens': 128},
}


def blas_library():
    """The BLAS this process loaded. Debian's torch links the system
    libblas.so.3, and with only libblas3 (the reference BLAS) installed a
    matrix product runs at about 1.3 GFLOP/s against about 57 with OpenBLAS
    (libopenblas0-openmp, measured on this machine), which made a step of 32
    pairs take 12 s. Reported in the start event so a slow run says why."""
    try:
        with open('/proc/self/maps') as f:
            libs = {line.split()[-1] for line in f if 'blas' in line.lower() and '/' in line}
    except OSError:
        return 'unknown'
    return ','.join(sorted(libs)) or 'none'


def emit(event, **fields):
    print(json.dumps({'event': event, **fields}), flush=True)


def parse_args(argv):
    ap = argparse.ArgumentParser(prog='mrm_torch.train')
    ap.add_argument('--data', required=True, help='training data set (LLaMA-Factory ranking JSON or DT2IT JSONL + images)')
    ap.add_argument('--out', required=True, help='bundle directory to write')
    ap.add_argument('--checkpoints', help='checkpoint directory (default: OUT.ckpt)')
    ap.add_argument('--resume', action='store_true', help='continue from the last checkpoint if there is one')
    ap.add_argument('--eval-data', help='held-out data set for the manifest metrics (default: none)')
    ap.add_argument('--tokenizer', default=DEFAULT_TOKENIZER)
    ap.add_argument('--name', default='shapes-mrm-learned')
    ap.add_argument('--epochs', type=float, default=1.0, help='passes over the data (fractions allowed)')
    ap.add_argument('--max-steps', type=int, default=0, help='stop after this many steps (0 = no cap)')
    ap.add_argument('--batch', type=int, default=32, help='pairs per step')
    ap.add_argument('--lr', type=float, default=2e-3)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--k', type=int, default=5, help='value heads')
    ap.add_argument('--d', type=int, default=64)
    ap.add_argument('--layers', type=int, default=2)
    ap.add_argument('--heads', type=int, default=4)
    ap.add_argument('--channels', default='16,32,48,48')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--log-every', type=int, default=10)
    ap.add_argument('--checkpoint-every', type=int, default=50, help='steps between checkpoints')
    ap.add_argument('--opset', type=int, default=13)
    return ap.parse_args(argv)


def rewards_of(model, t, idx, side):
    emb, mask, prompt, chosen, rejected = t.batch(idx, model.vision)
    return model.rewards(emb, mask, prompt, chosen if side == 'chosen' else rejected)


def score_pairs(model, t, batch=64, rows=None):
    """Raw head outputs [n, K] of chosen and rejected, for all pairs or the given rows."""
    model.eval()
    rows = np.arange(len(t)) if rows is None else np.asarray(rows)
    rc, rr = [], []
    with torch.no_grad():
        for s in range(0, len(rows), batch):
            idx = rows[s:s + batch]
            emb, mask, prompt, chosen, rejected = t.batch(idx, model.vision)
            feats = model.encoder(torch.cat([emb, emb]), torch.cat([mask, mask]), trim(torch.cat([prompt, prompt])), trim(torch.cat([chosen, rejected])))
            heads = model.head(feats)
            rc.append(heads[:len(idx)])
            rr.append(heads[len(idx):])
    return torch.cat(rc), torch.cat(rr)


def slice_metrics(records, hc, hr):
    """accuracy.* against the truth (a wrong label counts the other way), as trainer/eval/metrics.ts."""
    t_records = records
    better_is_chosen = np.array([r['truth'] != 'rejected' for r in t_records])
    margin = (hc.mean(1) - hr.mean(1)).numpy()
    margin = np.where(better_is_chosen, margin, -margin)
    score = np.where(margin > 0, 1.0, np.where(margin == 0, 0.5, 0.0))
    out = {'accuracy.overall': float(score.mean())}
    for s in sorted({r['slice'] for r in t_records if r['slice']}):
        sel = np.array([r['slice'] == s for r in t_records])
        out[f'accuracy.{s}'] = float(score[sel].mean())
    return out


def main(argv=None):
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    ckdir = a.checkpoints or a.out.rstrip('/') + '.ckpt'
    os.makedirs(ckdir, exist_ok=True)
    tok_bytes = open(a.tokenizer, 'rb').read()
    tok = Tokenizer(json.loads(tok_bytes))
    pre = DEFAULT_PREPROCESS
    t0 = time.time()
    data = PairTensors(a.data, tok, pre)
    digest = dataset_digest(data.records, data.image_bytes)
    n = len(data)
    steps_per_epoch = math.ceil(n / a.batch)
    total = math.ceil(a.epochs * steps_per_epoch)
    if a.max_steps:
        total = min(total, a.max_steps)
    cfg = {'size': pre['image']['size'], 'channels': [int(c) for c in a.channels.split(',')], 'grid': 4,
           'vocab_size': tok.vocab_size, 'max_images': pre['image']['maxImages'], 'max_prompt': pre['text']['maxPromptTokens'],
           'max_response': pre['text']['maxResponseTokens'], 'd': a.d, 'heads': a.heads, 'layers': a.layers, 'k': a.k}
    model = RewardModel(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    # Bootstrap: each head sees each pair Poisson(1) times, fixed per run.
    boot = torch.from_numpy(np.random.RandomState(a.seed).poisson(1.0, (n, a.k)).astype(np.float32))
    step = 0
    ck = os.path.join(ckdir, 'last.pt')
    if a.resume and os.path.exists(ck):
        state = torch.load(ck)
        if state['cfg'] != cfg or state['digest'] != digest:
            raise SystemExit(f'{ck}: checkpoint is for another model config or data set; remove it or drop --resume')
        model.load_state_dict(state['model'])
        opt.load_state_dict(state['opt'])
        step = state['step']
        emit('resume', step=step, checkpoint=ck)
    emit('start', pairs=n, images=len(data.pixels_u8), steps=total, steps_per_epoch=steps_per_epoch, batch=a.batch,
         params=sum(p.numel() for p in model.parameters()), load_seconds=round(time.time() - t0, 2), digest=digest,
         blas=blas_library(), threads=torch.get_num_threads())

    def lr_at(s):
        # Linear warm-up over 5% of the run, then cosine to 10%.
        warm = max(1, total // 20)
        if s < warm:
            return a.lr * (s + 1) / warm
        return a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, total - warm))))

    def save(path):
        tmp = path + '.tmp'
        torch.save({'model': model.state_dict(), 'opt': opt.state_dict(), 'step': step, 'cfg': cfg, 'digest': digest}, tmp)
        os.replace(tmp, path)

    model.train()
    # CPU seconds beside wall seconds: on a shared machine wall time says
    # little about what a run costs.
    t_run, c_run, loss_avg, first = time.time(), time.process_time(), None, step
    while step < total:
        epoch, within = divmod(step, steps_per_epoch)
        # The order of an epoch depends only on (seed, epoch): a resumed run
        # skips to the same batch it would have taken.
        order = np.random.RandomState((a.seed * 1000003 + epoch) % 2**32).permutation(n)
        idx = order[within * a.batch:(within + 1) * a.batch]
        for g in opt.param_groups:
            g['lr'] = lr_at(step)
        emb, mask, prompt, chosen, rejected = data.batch(idx, model.vision)
        b = len(idx)
        heads = model.rewards(torch.cat([emb, emb]), torch.cat([mask, mask]), trim(torch.cat([prompt, prompt])), trim(torch.cat([chosen, rejected])))
        w = boot[torch.as_tensor(idx)]
        loss = (w * F.softplus(-(heads[:b] - heads[b:]))).sum() / w.sum().clamp(min=1.0)
        if not torch.isfinite(loss):
            raise SystemExit(f'step {step}: loss is {loss.item()}')
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        loss_avg = loss.item() if loss_avg is None else 0.9 * loss_avg + 0.1 * loss.item()
        if step % a.log_every == 0 or step == total:
            el = time.time() - t_run
            emit('step', step=step, steps=total, epoch=round(step / steps_per_epoch, 3), loss=round(loss_avg, 5),
                 lr=round(lr_at(step - 1), 6), seconds=round(el, 1), cpu_seconds=round(time.process_time() - c_run, 1), pairs_per_second=round((step - first) * a.batch / max(el, 1e-9), 1))
        if step % a.checkpoint_every == 0 or step == total:
            save(ck)
            emit('checkpoint', step=step, path=ck)

    torch.save({'model': model.state_dict(), 'cfg': cfg, 'digest': digest}, os.path.join(ckdir, 'final.pt'))
    model.eval()
    # Calibration: mean and std of the served reward (mean over heads) on
    # training responses, as the head-only fit does on its reference set. A
    # seeded sample of at most 1000 pairs: scoring all of a large set costs
    # about a third of an epoch, and 2000 rewards pin mean and std well.
    rows = np.sort(np.random.RandomState(a.seed).permutation(n)[:1000])
    hc, hr = score_pairs(model, data, rows=rows)
    both = torch.cat([hc.mean(1), hr.mean(1)])
    calibration = {'mean': float(both.mean()), 'std': float(max(both.std(unbiased=False).item(), 1e-6)),
                   'referenceSet': f'training data {digest[:12]} ({len(rows)} of {n} pairs)', 'n': int(both.numel())}
    metrics = {f'train.{k}': v for k, v in slice_metrics([data.records[i] for i in rows], hc, hr).items()}
    if a.eval_data:
        ev = PairTensors(a.eval_data, tok, pre)
        metrics.update(slice_metrics(ev.records, *score_pairs(model, ev)))
    emit('metrics', **metrics)
    notes = (f'learned MRM (trainer/torch): CNN vision {cfg["channels"]} -> {cfg["grid"]}x{cfg["grid"]} grid, '
             f'transformer encoder d={cfg["d"]} x{cfg["layers"]}, K={cfg["k"]} bootstrap heads; Bradley-Terry, '
             f'{step} steps of {a.batch} pairs, seed {a.seed}')
    manifest = write_bundle(a.out, model, pre, tok_bytes, name=a.name, version=1, calibration=calibration,
                            metrics=metrics, dataset_digest=digest, notes=notes, opset=a.opset)
    emit('done', out=a.out, steps=step, seconds=round(time.time() - t0, 1), files={k: v['sha256'][:12] for k, v in manifest['files'].items()})


if __name__ == '__main__':
    try:
        main()
    except SystemExit:
        raise
    except Exception as e:  # one clear line for the TypeScript side, the traceback after it
        import traceback
        print(f'mrm_torch.train: {type(e).__name__}: {e}', file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
