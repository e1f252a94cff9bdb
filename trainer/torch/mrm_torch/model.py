"""The three stages, each exported to its own ONNX file with the contract's
tensor names (src/model/manifest.ts CONTRACT_IO):

- vision: a small CNN, pixels [N, 3, S, S] -> embedding [N, G*G*C], a G x G
  grid of C-channel cells kept flat because the contract wants one vector per
  image; the encoder unflattens it into G*G image tokens, so where a shape is
  survives into the text stage (position questions need it).
- encoder: a small pre-LN transformer over [CLS, image tokens, prompt tokens,
  response tokens] with padding masked out; features = the CLS state [N, D].
- head: K linear value heads [N, D] -> [N, K], bootstrap-weighted in training
  so their spread means something.
Attention is written out (matmul + softmax) rather than nn.MultiheadAttention
so the export is plain ONNX ops at any opset from 13 on."""
import math

import torch
from torch import nn


class Vision(nn.Module):
    """Convs with BatchNorm (exported as a plain BatchNormalization node in
    eval mode) and a per-layer stride, to a G x G grid of C-channel cells.
    The default strides (1,2,2,2,2) keep full resolution in the first
    layer and end on an 8x8 grid of 16 px cells: ShapesWorld's small shapes
    are about 10 px across, and the old 4 stride-2 convs to a 4x4 grid of 32
    px cells left a linear probe reading colour presence at the majority
    rate (README, "Measured")."""

    def __init__(self, size, channels=(16, 32, 48, 64, 64), grid=8, strides=(1, 2, 2, 2, 2)):
        super().__init__()
        if len(strides) != len(channels):
            raise ValueError(f'{len(channels)} conv channels but {len(strides)} strides')
        layers, c_in, s_out = [], 3, size
        for c, st in zip(channels, strides):
            layers += [nn.Conv2d(c_in, c, 3, stride=st, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            c_in, s_out = c, (s_out + st - 1) // st
        self.convs = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(grid) if s_out != grid else nn.Identity()
        self.grid, self.cells = grid, c_in
        self.dv = grid * grid * c_in

    def cell_map(self, pixels):
        """[N, C, G, G]: the grid before flattening (the scene loss reads it)."""
        return self.pool(self.convs(pixels))

    def forward(self, pixels):
        x = self.cell_map(pixels)
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], self.dv)


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.scale = 1.0 / math.sqrt(d // heads)
        self.ln1, self.ln2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))

    def forward(self, x, bias):
        b, t, d = x.shape[0], x.shape[1], self.qkv.in_features
        h = self.heads
        q, k, v = self.qkv(self.ln1(x)).reshape(b, t, 3, h, d // h).permute(2, 0, 3, 1, 4).unbind(0)
        att = torch.softmax((q @ k.transpose(-1, -2)) * self.scale + bias, dim=-1)
        x = x + self.out((att @ v).transpose(1, 2).reshape(b, t, d))
        return x + self.mlp(self.ln2(x))


class Encoder(nn.Module):
    def __init__(self, vocab_size, vision, max_images, max_prompt, max_response, d=64, heads=4, layers=2):
        super().__init__()
        self.cells, self.per_image = vision.cells, vision.grid * vision.grid
        self.max_images = max_images
        self.tok = nn.Embedding(vocab_size, d, padding_idx=0)
        self.img = nn.Linear(vision.cells, d)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.img_pos = nn.Parameter(torch.randn(1, max_images * self.per_image, d) * 0.02)
        self.prompt_pos = nn.Parameter(torch.randn(1, max_prompt, d) * 0.02)
        self.response_pos = nn.Parameter(torch.randn(1, max_response, d) * 0.02)
        self.segment = nn.Parameter(torch.randn(3, d) * 0.02)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.d = d

    def forward(self, image_embeddings, image_mask, prompt_ids, response_ids):
        n = image_embeddings.shape[0]
        cells = image_embeddings.reshape(n, self.max_images * self.per_image, self.cells)
        img = self.img(cells) + self.img_pos + self.segment[0]
        # Positions sliced to the ids' width: training trims a batch's
        # all-padding columns (padding is masked, so the CLS state is the
        # same), the export always gives the manifest's full widths.
        prm = self.tok(prompt_ids) + self.prompt_pos[:, :prompt_ids.shape[1]] + self.segment[1]
        rsp = self.tok(response_ids) + self.response_pos[:, :response_ids.shape[1]] + self.segment[2]
        x = torch.cat([self.cls.expand(n, 1, self.d), img, prm, rsp], dim=1)
        img_keep = image_mask.unsqueeze(2).expand(n, self.max_images, self.per_image).reshape(n, self.max_images * self.per_image)
        keep = torch.cat([torch.ones_like(image_mask[:, :1]), img_keep, (prompt_ids != 0).float(), (response_ids != 0).float()], dim=1)
        # An additive mask: padded keys get -1e4, which softmax turns into 0
        # without the NaNs -inf gives; CLS is always kept so no row is empty.
        bias = ((1.0 - keep) * -1e4).reshape(n, 1, 1, keep.shape[1])
        for blk in self.blocks:
            x = blk(x, bias)
        return self.ln(x[:, 0])


class Head(nn.Module):
    def __init__(self, d, k):
        super().__init__()
        self.linear = nn.Linear(d, k)

    def forward(self, features):
        return self.linear(features)


class RewardModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.vision = Vision(cfg['size'], tuple(cfg['channels']), cfg['grid'], tuple(cfg['strides']))
        self.encoder = Encoder(cfg['vocab_size'], self.vision, cfg['max_images'], cfg['max_prompt'], cfg['max_response'],
                               cfg['d'], cfg['heads'], cfg['layers'])
        self.head = Head(cfg['d'], cfg['k'])

    def rewards(self, emb, mask, prompt_ids, response_ids):
        return self.head(self.encoder(emb, mask, prompt_ids, response_ids))
