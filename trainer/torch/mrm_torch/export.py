"""Export to bundle v1: three ONNX files (and the PyTorch weights, torch.pt) with the contract's tensor names and
a dynamic batch dimension N, the tokenizer, and a manifest in the layout of
src/model/write.ts (which src/model/bundle.ts loadBundle checks)."""
import datetime
import hashlib
import json
import os

import torch

FILES = {'vision': 'vision.onnx', 'encoder': 'encoder.onnx', 'head': 'head.onnx', 'tokenizer': 'tokenizer.json', 'torch': 'torch.pt'}
# What torch.pt holds: the weights the ONNX files were exported from, the
# model config and the preprocessing, so a later run (a 'full' round's
# fine-tune, train.py --init-model) can start from exactly this version.
# Inside the bundle, named in files with its sha256, rather than kept by the
# registry beside the version: it then travels with the bundle through
# `mrm models import` and registration, its integrity is checked
# like every other file's, and a bundle v1 loader that knows only the four
# served files ignores the extra key (serving never reads it).
TORCH_FORMAT = 'mrm-torch/v1'


def _sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def contract_io(pre, dv, d, k):
    s, m = pre['image']['size'], pre['image']['maxImages']
    t = pre['text']
    f32 = lambda name, shape: {'name': name, 'dtype': 'float32', 'shape': shape}
    i64 = lambda name, shape: {'name': name, 'dtype': 'int64', 'shape': shape}
    return {
        'vision': {'inputs': [f32('pixels', ['N', 3, s, s])], 'outputs': [f32('embedding', ['N', dv])]},
        'encoder': {
            'inputs': [f32('image_embeddings', ['N', m, dv]), f32('image_mask', ['N', m]),
                       i64('prompt_ids', ['N', t['maxPromptTokens']]), i64('response_ids', ['N', t['maxResponseTokens']])],
            'outputs': [f32('features', ['N', d])],
        },
        'head': {'inputs': [f32('features', ['N', d])], 'outputs': [f32('rewards', ['N', k])]},
    }


def export_onnx(model, out, opset=13):
    cfg = model.cfg
    s, m = cfg['size'], cfg['max_images']
    model.eval()
    n = 2
    pixels = torch.zeros(n, 3, s, s)
    emb = torch.zeros(n, m, model.vision.dv)
    mask = torch.ones(n, m)
    prompt = torch.ones(n, cfg['max_prompt'], dtype=torch.int64)
    response = torch.ones(n, cfg['max_response'], dtype=torch.int64)
    feats = torch.zeros(n, cfg['d'])
    jobs = [
        ('vision', model.vision, (pixels,), ['pixels'], ['embedding']),
        ('encoder', model.encoder, (emb, mask, prompt, response), ['image_embeddings', 'image_mask', 'prompt_ids', 'response_ids'], ['features']),
        ('head', model.head, (feats,), ['features'], ['rewards']),
    ]
    with torch.no_grad():
        for stage, mod, args, ins, outs in jobs:
            torch.onnx.export(mod, args, os.path.join(out, FILES[stage]), input_names=ins, output_names=outs,
                              dynamic_axes={name: {0: 'N'} for name in ins + outs}, opset_version=opset, do_constant_folding=True)


def write_bundle(out, model, pre, tokenizer_bytes, *, name, version, calibration, metrics, dataset_digest, notes, opset=13):
    os.makedirs(out, exist_ok=True)
    export_onnx(model, out, opset)
    with open(os.path.join(out, FILES['tokenizer']), 'wb') as f:
        f.write(tokenizer_bytes)
    torch.save({'format': TORCH_FORMAT, 'model': model.state_dict(), 'cfg': model.cfg, 'pre': pre}, os.path.join(out, FILES['torch']))
    manifest = {
        'format': 'mrm-bundle/v1',
        'name': name,
        'version': version,
        'parent': None,
        'createdAt': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='milliseconds').replace('+00:00', 'Z'),
        'files': {key: {'path': fn, 'sha256': _sha(os.path.join(out, fn))} for key, fn in FILES.items()},
        'io': contract_io(pre, model.vision.dv, model.cfg['d'], model.cfg['k']),
        'preprocess': pre,
        'calibration': calibration,
        'metrics': metrics,
        'lineage': {'roundId': None, 'datasetDigest': dataset_digest},
        'notes': notes,
    }
    with open(os.path.join(out, 'manifest.json'), 'w') as f:
        f.write(json.dumps(manifest, indent=2) + '\n')
    return manifest
