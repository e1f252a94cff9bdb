"""A data set turned into the arrays training needs, with the contract's
preprocessing (text.py, images.py): images once each as uint8 (normalized
per batch through the same lookup tables), token ids padded to the
manifest's widths, image slots per pair (-1 = empty)."""
import numpy as np
import torch

from . import images as imgs
from .data import read_image_bytes, read_records
from .text import encode_text, pack


class PairTensors:
    def __init__(self, directory, tok, pre):
        self.records = read_records(directory)
        self.image_bytes = read_image_bytes(directory, self.records)
        self.pre = pre
        ispec, tspec = pre['image'], pre['text']
        paths = sorted(self.image_bytes)
        index = {p: i for i, p in enumerate(paths)}
        self.pixels_u8 = np.stack([imgs.check_size(imgs.decode_png(self.image_bytes[p], p), ispec, p) for p in paths])
        m = ispec['maxImages']
        self.slots = np.full((len(self.records), m), -1, dtype=np.int64)
        prompts, chosen, rejected = [], [], []
        for i, r in enumerate(self.records):
            if len(r['images']) > m:
                raise ValueError(f"record {r['id']}: {len(r['images'])} images, the manifest allows {m}")
            for j, p in enumerate(r['images']):
                self.slots[i, j] = index[p]
            pc, rc, _ = encode_text(tok, tspec, r['system'], r['prompt'], r['chosen'])
            _, rr, _ = encode_text(tok, tspec, r['system'], r['prompt'], r['rejected'])
            prompts.append(pc)
            chosen.append(rc)
            rejected.append(rr)
        self.prompt = torch.tensor(pack(prompts, tspec['maxPromptTokens']), dtype=torch.int64)
        self.chosen = torch.tensor(pack(chosen, tspec['maxResponseTokens']), dtype=torch.int64)
        self.rejected = torch.tensor(pack(rejected, tspec['maxResponseTokens']), dtype=torch.int64)
        self.luts = torch.from_numpy(np.stack(imgs.luts(ispec)))  # [3, 256]
        self.channel_src = [c if ispec['channelOrder'] == 'rgb' else 2 - c for c in range(3)]

    def __len__(self):
        return len(self.records)

    def pixels(self, image_ids):
        """Normalized [n, 3, S, S] float32 for the given image indices."""
        u8 = torch.from_numpy(self.pixels_u8[image_ids]).long()  # [n, S, S, 3]
        return torch.stack([self.luts[c][u8[..., self.channel_src[c]]] for c in range(3)], dim=1)

    def batch(self, idx, vision, cache=None):
        """Image embeddings [B, M, Dv], mask [B, M], prompt, chosen, rejected ids
        for pair indices idx. With `cache` ([n_images, Dv], a frozen tower's
        embeddings of every image) the tower is not run."""
        slots = self.slots[idx]
        used = np.unique(slots[slots >= 0])
        if not len(used):
            emb_used = None
        elif cache is not None:
            emb_used = cache[torch.from_numpy(used)].float()
        else:
            emb_used = vision(self.pixels(used))
        b, m = slots.shape
        flat = slots.reshape(-1)
        keep = torch.from_numpy((flat >= 0).astype(np.float32))
        if emb_used is None:
            emb = torch.zeros(b, m, vision.dv)
        else:
            # np.unique sorts, so searchsorted maps each slot to its row in emb_used.
            rows = torch.from_numpy(np.searchsorted(used, np.maximum(flat, 0)).clip(0, len(used) - 1))
            emb = (emb_used[rows] * keep.unsqueeze(1)).reshape(b, m, vision.dv)
        idx_t = torch.as_tensor(idx)
        return emb, keep.reshape(b, m), self.prompt[idx_t], self.chosen[idx_t], self.rejected[idx_t]


def trim(ids):
    """Drops the all-padding columns at the end of [n, width] ids (at least one
    column kept). Padding is masked in the encoder, so its output is the same;
    most responses use a fifth of the 128 slots, and attention's cost grows
    with the square of the sequence."""
    width = int((ids != 0).sum(1).max()) if ids.numel() else 0
    return ids[:, :max(width, 1)]


def embed_all(vision, data, batch=128):
    """A frozen tower's embedding of every image, float16 [n_images, Dv]
    (half the memory; the encoder sees them as float32 and the ~1e-3
    relative rounding is far below what training resolves)."""
    vision.eval()
    n = len(data.pixels_u8)
    out = torch.empty(n, vision.dv, dtype=torch.float16)
    with torch.no_grad():
        for s in range(0, n, batch):
            out[s:s + batch] = vision(data.pixels(np.arange(s, min(n, s + batch)))).half()
    return out
