"""Data sets in the project's formats (trainer/shapes/formats.ts): the
LLaMA-Factory ranking JSON (train.json) or DT2IT JSONL (train.jsonl) that
`mrm data gen` writes, with the image files beside them."""
import hashlib
import json
import os

IMAGE_TOKEN = '<image>'


class DatasetError(ValueError):
    pass


def _text(v, where):
    if not isinstance(v, str) or not v:
        raise DatasetError(f'{where}: a non-empty string')
    return v


def _from_llamafactory(r, where):
    turns = r.get('conversations')
    if not isinstance(turns, list) or len(turns) != 1:
        raise DatasetError(f'{where}.conversations: a single human turn')
    value = _text(turns[0].get('value'), f'{where}.conversations[0].value')
    images = r.get('images', [])
    if value.count(IMAGE_TOKEN) != len(images):
        raise DatasetError(f"{where}: {len(images)} '{IMAGE_TOKEN}' placeholder(s), one per image, got {value.count(IMAGE_TOKEN)}")
    # The same rule as formats.ts: placeholders only in front are dropped.
    lead = IMAGE_TOKEN * len(images)
    rest = value[len(lead):]
    prompt = rest if value.startswith(lead) and IMAGE_TOKEN not in rest and rest else value
    return {
        'images': images, 'system': r.get('system'), 'prompt': prompt,
        'chosen': _text(r.get('chosen', {}).get('value'), f'{where}.chosen.value'),
        'rejected': _text(r.get('rejected', {}).get('value'), f'{where}.rejected.value'),
    }


def _from_dt2it(r, where):
    ip = r.get('image_path')
    mrm = r.get('mrm') or {}
    return {
        'images': ip if isinstance(ip, list) else [ip], 'system': mrm.get('system'),
        'prompt': _text(r.get('question'), f'{where}.question'),
        'chosen': _text(r.get('chosen'), f'{where}.chosen'), 'rejected': _text(r.get('rejected'), f'{where}.rejected'),
    }


def read_records(directory):
    """Records in file order, each with id, images (paths), system, prompt, chosen, rejected, truth, slice."""
    lf, jl = os.path.join(directory, 'train.json'), os.path.join(directory, 'train.jsonl')
    if os.path.exists(lf):
        with open(lf, encoding='utf-8') as f:
            rows = json.load(f)
        conv, name = _from_llamafactory, 'train.json'
    elif os.path.exists(jl):
        with open(jl, encoding='utf-8') as f:
            rows = [json.loads(line) for line in f if line.strip()]
        conv, name = _from_dt2it, 'train.jsonl'
    else:
        raise DatasetError(f'{directory}: no train.json (LLaMA-Factory) or train.jsonl (DT2IT)')
    out = []
    for i, r in enumerate(rows):
        rec = conv(r, f'{name}[{i}]')
        mrm = r.get('mrm') or {}
        rec['id'] = mrm.get('id', f'train-{i}')
        rec['truth'] = mrm.get('truth')
        rec['slice'] = mrm.get('slice')
        rec['meta'] = mrm.get('meta')
        # A round's style/length balance (trainer/shapes/formats.ts `mrm.weight`); 1 when absent.
        w = mrm.get('weight', 1.0)
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not w > 0:
            raise DatasetError(f'{name}[{i}].mrm.weight: a positive number, got {w!r}')
        rec['weight'] = float(w)
        for p in rec['images']:
            if not isinstance(p, str) or p.startswith('/') or '..' in p.split('/'):
                raise DatasetError(f'{name}[{i}]: image path {p!r} outside the data set')
        out.append(rec)
    if not out:
        raise DatasetError(f'{directory}/{name}: no records')
    return out


def read_image_bytes(directory, records):
    """Distinct image files -> bytes, keyed by path."""
    cache = {}
    for r in records:
        for p in r['images']:
            if p not in cache:
                with open(os.path.join(directory, p), 'rb') as f:
                    cache[p] = f.read()
    return cache


def _js_json(value):
    # JSON.stringify of an array of strings: no spaces, non-ASCII kept.
    return json.dumps(value, ensure_ascii=False, separators=(',', ':'))


def dataset_digest(records, images):
    """The same digest as datasetDigest in trainer/data/labeled-pair.ts."""
    # contentRecord (src/model/digest.ts): the images by sha256, then the texts, as one JSON array per pair.
    h = hashlib.sha256()
    for r in records:
        shas = [hashlib.sha256(images[p]).hexdigest() for p in r['images']]
        h.update(_js_json([shas, r['id'], r['system'] or '', r['prompt'], r['chosen'], r['rejected']]).encode('utf-8'))
    return h.hexdigest()
