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
from .scene import COLORS, KINDS, SIZES
from .ground import ground
from .init_model import load_init_model
from .proc import blas_library, exit_with_parent
from .model import RewardModel
from .pretrain import pretrain_vision
from .tensors import PairTensors, embed_all, trim
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


# What a pretrained tower must share with a run that starts from it.
TOWER_KEYS = ('size', 'channels', 'strides', 'grid')


def reading_words(tok):
    """Token ids naming each reading class, in the scene head's order (scene.py):
    [] for each "no shape" class, a kind's singular and plural."""
    def ids(words):
        missing = [w for w in words if w not in tok.ids]
        if missing:
            raise SystemExit(f'--tie-readings: the tokenizer has no id of its own for {missing}')
        return [tok.ids[w] for w in words]
    return ([[]] + [ids([c]) for c in COLORS] + [[]] + [ids([k, k + 's']) for k in KINDS]
            + [[]] + [ids([z]) for z in SIZES])


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
    ap.add_argument('--channels', default='16,32,48,64,64', help='conv channels of the vision tower')
    ap.add_argument('--strides', default='1,2,2,2,2', help='conv strides, one per channel entry')
    ap.add_argument('--grid', type=int, default=8, help='image tokens per side')
    ap.add_argument('--pretrain-epochs', type=float, default=0.0,
                    help='vision pretraining on the images\' scene records (scene.py) before pair training; 0 = none')
    ap.add_argument('--pretrain-lr', type=float, default=3e-3)
    ap.add_argument('--pretrain-occupied-weight', type=float, default=8.0,
                    help='weight of a cell holding a shape centre in the pretraining loss (empty cells 1)')
    ap.add_argument('--pretrain-batch', type=int, default=64, help='images per pretraining step')
    ap.add_argument('--pretrain-flip', action='store_true',
                    help='mirror a random half of each pretraining batch left to right (pretrain.py mirror_half)')
    ap.add_argument('--vision-from', help="a pretrained tower to start from (a run's OUT.ckpt/vision.pt) instead of pretraining")
    ap.add_argument('--freeze-vision', action='store_true',
                    help='pair training leaves the tower as pretrained (its embeddings are computed once)')
    ap.add_argument('--eval-every', type=int, default=0, help='held-out accuracy (--eval-data) every this many steps; 0 = at the end only')
    ap.add_argument('--fusion', choices=['cross', 'self'], default='cross',
                    help='text attends to image cells (cross) or one self-attended sequence of both (self, 3x the CPU)')
    ap.add_argument('--attributes', nargs='?', const='append', default='none', choices=['none', 'append', 'only'],
                    help="each cell's colour/kind/size readings (the tower's pretrained scene head) appended to its conv features, or alone")
    ap.add_argument('--tie-readings', action='store_true',
                    help="with --attributes only: a cell's embedding is its readings times the embeddings of the words naming them")
    ap.add_argument('--attend-occupied', action='store_true',
                    help='with --attributes only: cross-attention weighs each cell by the P(shape) the tower reads in it')
    ap.add_argument('--pos-code', action='store_true',
                    help="a fixed code of each cell's x and y (and sin/cos of them) added to the cells, so relations can be read")
    ap.add_argument('--slot-code', action='store_true',
                    help='a vector per image slot at token scale added to its cells, so "Image 1"/"Image 2" can find their image (T2I)')
    ap.add_argument('--text-pos-std', type=float, default=0.02,
                    help="init std of the learned text positions (token embeddings start at std 1)")
    ap.add_argument('--text-rnn', choices=['none', 'gru'], default='none',
                    help='word order for the text: a GRU pass over [prompt, response] added to the tokens through a zero-initialised projection')
    ap.add_argument('--text-rnn-at', type=int, default=0,
                    help='with --text-rnn: run the pass on the text states after this block (0 = on the embeddings)')
    ap.add_argument('--tie-position', action='store_true',
                    help="each cell carries x*(left->right) + y*(above->below) in the token embeddings of those words")
    ap.add_argument('--role-readout', type=int, default=0, metavar='R',
                    help='R text roles looked up in each image, their places compared by a built-in difference, added to the CLS '
                         'state (roles.py; needs --fusion cross); 0 = off')
    ap.add_argument('--role-lookup', choices=['pooled', 'tokens', 'signed'], default='pooled',
                    help="with --role-readout: a role pools words then looks them up (pooled), pools what each token's phrase found "
                         "(tokens), or sums it with signed per-token weights (signed)")
    ap.add_argument('--role-count', choices=['none', 'sum', 'attributes'], default='none',
                    help='with --role-lookup tokens or signed: each role also counts the cells it finds, by a sum of sigmoids of '
                         'its lookup logits or by the product of the cells\' readings of the colour, kind and size it asks for (roles.py)')
    ap.add_argument('--role-number', choices=['none', 'lookup', 'attributes'], default='none',
                    help="each token's count compared with the number the words before it state, through a learned 0..6 profile "
                         "per word: the role count's (lookup, pooled by the roles too) or an attributes count's, summed over the "
                         'tokens (roles.py)')
    ap.add_argument('--bt-min-ground-position', type=float, default=0.0, metavar='P',
                    help='skip Bradley-Terry (and the held-out evaluation) when the grounding stage left held-out position '
                         'claims below P; the bundle is still written, its metrics say why (build:learned reruns such a stage)')
    ap.add_argument('--role-lr-scale', type=float, default=1.0,
                    help="the grounding stage's learning rate for the role readout, as a multiple of --ground-lr")
    ap.add_argument('--count-head', action='store_true',
                    help='with --fusion cross: a summed, sigmoid-gated cross-attention beside the softmax one, so counts can be read')
    ap.add_argument('--init-model', help="start from a whole exported model, a bundle's torch.pt: every weight, "
                    "its architecture and preprocessing (this run's architecture flags are ignored; a 'full' round's fine-tune)")
    ap.add_argument('--init-from', help="start the encoder and heads from a run's OUT.ckpt/grounded.pt or final.pt (same config)")
    ap.add_argument('--sink', action='store_true', help='a learned memory slot beside the image cells in cross-attention (counts become readable)')
    ap.add_argument('--ground-steps', type=int, default=0,
                    help='grounding stage (ground.py): steps of claims about the training images, true or false, before the pairs; 0 = none')
    ap.add_argument('--ground-batch', type=int, default=64, help='questions per grounding step (each with a true and a false claim)')
    ap.add_argument('--ground-lr', type=float, default=2e-3)
    ap.add_argument('--ground-position', type=float, default=0.0,
                    help='share of single-image grounding questions drawn as position questions (besides the uniform draw); 0 = none')
    ap.add_argument('--ground-count', type=float, default=0.0,
                    help='share of the non-position single-image grounding questions that count a group the image holds, '
                         'false claim one off (claims.py _count_present)')
    ap.add_argument('--ground-t2i', type=float, default=0.0,
                    help='share of grounding questions that are two-image T2I questions (t2i_claims.py); 0 = none')
    ap.add_argument('--ground-t2i-mirror', type=float, default=0.0,
                    help="share of the T2I questions that set a two-shape image's relation caption against the image flipped: "
                         "the two shapes' places swapped (t2i_claims.py)")
    ap.add_argument('--ground-position-shapes', type=int, default=0,
                    help='position questions of the grounding stage only from images with at most this many shapes; 0 = any')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--exit-with-parent', type=int, metavar='PID',
                    help='exit once process PID is no longer the parent (engine.ts passes its own pid: nobody else would read the result)')
    ap.add_argument('--log-every', type=int, default=10)
    ap.add_argument('--checkpoint-every', type=int, default=50, help='steps between checkpoints')
    ap.add_argument('--opset', type=int, default=13)
    return ap.parse_args(argv)


def score_pairs(model, t, batch=64, rows=None, cache=None):
    """Raw head outputs [n, K] of chosen and rejected, for all pairs or the
    given rows; `cache` as PairTensors.batch (a frozen tower's embeddings)."""
    model.eval()
    rows = np.arange(len(t)) if rows is None else np.asarray(rows)
    rc, rr = [], []
    with torch.no_grad():
        for s in range(0, len(rows), batch):
            idx = rows[s:s + batch]
            emb, mask, prompt, chosen, rejected = t.batch(idx, model.vision, cache)
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
    if a.exit_with_parent:
        exit_with_parent(a.exit_with_parent)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    ckdir = a.checkpoints or a.out.rstrip('/') + '.ckpt'
    os.makedirs(ckdir, exist_ok=True)
    tok_bytes = open(a.tokenizer, 'rb').read()
    tok = Tokenizer(json.loads(tok_bytes))
    init = load_init_model(a.init_model, a, tok) if a.init_model else None
    pre = init['pre'] if init else DEFAULT_PREPROCESS
    t0 = time.time()
    data = PairTensors(a.data, tok, pre)
    digest = dataset_digest(data.records, data.image_bytes)
    n = len(data)
    steps_per_epoch = math.ceil(n / a.batch)
    total = math.ceil(a.epochs * steps_per_epoch)
    if a.max_steps:
        total = min(total, a.max_steps)
    cfg = {'size': pre['image']['size'], 'channels': [int(c) for c in a.channels.split(',')],
           'strides': [int(c) for c in a.strides.split(',')], 'grid': a.grid,
           'vocab_size': tok.vocab_size, 'max_images': pre['image']['maxImages'], 'max_prompt': pre['text']['maxPromptTokens'],
           'max_response': pre['text']['maxResponseTokens'], 'd': a.d, 'heads': a.heads, 'layers': a.layers, 'k': a.k, 'fusion': a.fusion,
           'attributes': a.attributes, 'sink': a.sink, 'reading_words': reading_words(tok) if a.tie_readings else None,
           'attend_occupied': a.attend_occupied, 'pos_code': a.pos_code, 'count_head': a.count_head, 'slot_code': a.slot_code, 'text_pos_std': a.text_pos_std}
    if a.tie_position:
        missing = [w for w in ('left', 'right', 'above', 'below') if w not in tok.ids]
        if missing:
            raise SystemExit(f'--tie-position: the tokenizer has no id of its own for {missing}')
        cfg['position_words'] = [tok.ids[w] for w in ('left', 'right', 'above', 'below')]
    if a.text_rnn != 'none':
        # Only when set, so checkpoints from before the flag still --resume.
        cfg['text_rnn'] = a.text_rnn
        if a.text_rnn_at:
            cfg['text_rnn_at'] = a.text_rnn_at
    if a.role_readout:
        # Only when set, so checkpoints from before the flag still --resume.
        cfg['role_readout'] = a.role_readout
        if a.role_lookup != 'pooled':
            cfg['role_lookup'] = a.role_lookup
        if a.role_count != 'none':
            cfg['role_count'] = a.role_count
        if a.role_number != 'none':
            cfg['role_number'] = a.role_number
    if (a.tie_readings or a.attend_occupied) and a.attributes != 'only':
        raise SystemExit('--tie-readings and --attend-occupied need --attributes only')
    if init:
        cfg = init['cfg']
    model = RewardModel(cfg)
    if init:
        model.load_state_dict(init['model'])
    emit('start', pairs=n, images=len(data.pixels_u8), steps=total, steps_per_epoch=steps_per_epoch, batch=a.batch,
         params=sum(p.numel() for p in model.parameters()), load_seconds=round(time.time() - t0, 2), digest=digest,
         blas=blas_library(), threads=torch.get_num_threads())
    if init:
        emit('init_model', source=a.init_model, params=sum(p.numel() for p in model.parameters()))
    ev = PairTensors(a.eval_data, tok, pre) if a.eval_data else None
    metrics = {}
    pretrained = False
    vck = os.path.join(ckdir, 'vision.pt')
    if a.vision_from:
        state = torch.load(a.vision_from)
        # The attribute conv is the same whether its readings are appended or alone.
        has_attr = lambda c: c.get('attributes', 'none') not in ('none', False)
        if {k: state['cfg'][k] for k in TOWER_KEYS} != {k: cfg[k] for k in TOWER_KEYS} or has_attr(state['cfg']) != has_attr(cfg):
            raise SystemExit(f'{a.vision_from}: a tower of another shape ({", ".join(TOWER_KEYS)}) than this run\'s')
        model.vision.load_state_dict(state['vision'])
        metrics.update(state['metrics'])
        emit('pretrained', source=a.vision_from, **metrics)
        pretrained = True
    elif a.pretrain_epochs > 0:
        if a.resume and os.path.exists(vck):
            state = torch.load(vck)
            if state['cfg'] != cfg or state['digest'] != digest:
                raise SystemExit(f'{vck}: pretrained tower is for another model config or data set; remove it or drop --resume')
            model.vision.load_state_dict(state['vision'])
            metrics.update(state['metrics'])
            emit('resume_pretrain', checkpoint=vck)
        else:
            metrics.update(pretrain_vision(model.vision, data, epochs=a.pretrain_epochs, batch=a.pretrain_batch, lr=a.pretrain_lr,
                                           seed=a.seed, emit=emit, log_every=a.log_every,
                                           occupied_weight=a.pretrain_occupied_weight, flip=a.pretrain_flip))
            torch.save({'vision': model.vision.state_dict(), 'cfg': cfg, 'digest': digest, 'metrics': metrics}, vck + '.tmp')
            os.replace(vck + '.tmp', vck)
        emit('pretrained', **metrics)
        pretrained = True
    if a.init_from:
        state = torch.load(a.init_from)
        # Encoder and heads only: the tower is --vision-from's or pretraining's.
        # A module this run adds (a flag the earlier run did not have, e.g.
        # --pos-code) starts fresh; every weight both have must match in shape.
        own = {**{'encoder.' + k: v for k, v in model.encoder.state_dict().items()}, **{'head.' + k: v for k, v in model.head.state_dict().items()}}
        theirs = {k: v for k, v in state['model'].items() if k in own}
        bad = [k for k, v in theirs.items() if v.shape != own[k].shape]
        extra = [k for k in state['model'] if k.startswith(('encoder.', 'head.')) and k not in own]
        if bad or extra:
            raise SystemExit(f'{a.init_from}: weights of another model config than this run\'s ({", ".join((bad + extra)[:4])})')
        model.load_state_dict(theirs, strict=False)
        emit('init_from', source=a.init_from, loaded=len(theirs), fresh=sorted(set(own) - set(theirs)))
    if a.freeze_vision:
        for p in model.vision.parameters():
            p.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=a.lr, weight_decay=0.01)
    # Bootstrap: each head sees each pair Poisson(1) times, fixed per run.
    boot = torch.from_numpy(np.random.RandomState(a.seed).poisson(1.0, (n, a.k)).astype(np.float32))
    # Times each pair's own weight (mrm.weight, a round's style/length balance; 1 when absent).
    boot = boot * torch.tensor([r['weight'] for r in data.records], dtype=torch.float32)[:, None]
    step = 0
    ck = os.path.join(ckdir, 'last.pt')
    if a.resume and os.path.exists(ck):
        state = torch.load(ck)
        if state['cfg'] != cfg or state['digest'] != digest:
            raise SystemExit(f'{ck}: checkpoint is for another model config or data set; remove it or drop --resume')
        model.load_state_dict(state['model'])
        opt.load_state_dict(state['opt'])
        step = state['step']
        metrics.update(state.get('ground_metrics', {}))
        emit('resume', step=step, checkpoint=ck)
        grounded = state.get('grounded', False)
    else:
        grounded = False
    # A frozen tower's embeddings once, after any resume so they are the weights the run continues with.
    cache = embed_all(model.vision, data) if a.freeze_vision else None
    ev_cache = embed_all(model.vision, ev) if a.freeze_vision and ev is not None and a.eval_every else None

    def lr_at(s):
        # Linear warm-up over 5% of the run, then cosine to 10%.
        warm = max(1, total // 20)
        if s < warm:
            return a.lr * (s + 1) / warm
        return a.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (s - warm) / max(1, total - warm))))

    ground_metrics = {k: v for k, v in metrics.items() if k.startswith('ground.')}

    def save(path):
        tmp = path + '.tmp'
        torch.save({'model': model.state_dict(), 'opt': opt.state_dict(), 'step': step, 'cfg': cfg, 'digest': digest,
                    'grounded': grounded, 'ground_metrics': ground_metrics}, tmp)
        os.replace(tmp, path)

    if a.ground_steps and not grounded:
        # System prompts as the pair data uses them (the first one it has), so
        # grounding sees prompts of both shapes.
        system = next((r['system'] for r in data.records if r['system']), None)
        ground_metrics = ground(model, data, tok, pre, cache, steps=a.ground_steps, batch=a.ground_batch, lr=a.ground_lr,
                                seed=a.seed, emit=emit, log_every=a.log_every, eval_every=a.eval_every, system=system, t2i=a.ground_t2i,
                                position=a.ground_position, position_max_shapes=a.ground_position_shapes, role_lr_scale=a.role_lr_scale,
                                count=a.ground_count, t2i_mirror=a.ground_t2i_mirror)
        metrics.update(ground_metrics)
        grounded = True
        save(ck)
        # The grounded weights kept apart from last.pt (which Bradley-Terry
        # overwrites), so a later run can continue grounding from them (--init-from).
        save(os.path.join(ckdir, 'grounded.pt'))
        emit('grounded', **{k: round(v, 4) for k, v in ground_metrics.items()})
        if ev is not None and a.eval_every:
            rows = np.arange(min(len(ev), 600))
            emit('eval', step=step, **{k: round(v, 4) for k, v in slice_metrics([ev.records[i] for i in rows], *score_pairs(model, ev, rows=rows, cache=ev_cache)).items()})

    # A role stage whose readout never left its saddle is rerun by its caller
    # with another seed; Bradley-Terry on it would cost minutes for nothing.
    position = ground_metrics.get('ground.accuracy.position')
    if a.bt_min_ground_position and position is not None and position < a.bt_min_ground_position:
        emit('bt_skipped', reason='ground.accuracy.position', value=round(position, 4), minimum=a.bt_min_ground_position)
        total, ev = step, None

    def train_mode():
        model.train()
        # BatchNorm keeps the statistics of pretraining (or none: identity at
        # init): pair batches hold a few dozen images of one kind of question,
        # a worse sample of image statistics than pretraining's.
        model.vision.eval()

    train_mode()
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
        emb, mask, prompt, chosen, rejected = data.batch(idx, model.vision, cache)
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
        if ev is not None and a.eval_every and step % a.eval_every == 0 and step < total:
            rows = np.arange(min(len(ev), 600))
            emit('eval', step=step, **{k: round(v, 4) for k, v in slice_metrics([ev.records[i] for i in rows], *score_pairs(model, ev, rows=rows, cache=ev_cache)).items()})
            train_mode()
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
    metrics.update({f'train.{k}': v for k, v in slice_metrics([data.records[i] for i in rows], hc, hr).items()})
    if ev is not None:
        metrics.update(slice_metrics(ev.records, *score_pairs(model, ev)))
    emit('metrics', **metrics)
    notes = (f'learned MRM (trainer/torch): CNN vision {cfg["channels"]} strides {cfg["strides"]} -> {cfg["grid"]}x{cfg["grid"]} grid'
             f'{" pretrained on scene records" if pretrained else ""}{" (frozen)" if a.freeze_vision else ""}, '
             f'transformer encoder ({cfg["fusion"]}-attention to the image) d={cfg["d"]} x{cfg["layers"]}, K={cfg["k"]} bootstrap heads; Bradley-Terry, '
             f'{step} steps of {a.batch} pairs, seed {a.seed}'
             f'{f", fine-tuned from {a.init_model}" if init else ""}')
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
