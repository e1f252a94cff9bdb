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
import torch.nn.functional as F
from torch import nn

from .scene import HEAD_SPLITS as ATTRIBUTE_SPLITS, occupancy
from .roles import RoleReadout
from .text_rnn import TextRNN


class Vision(nn.Module):
    """Convs with BatchNorm (exported as a plain BatchNormalization node in
    eval mode) and a per-layer stride, to a G x G grid of C-channel cells.
    The default strides (1,2,2,2,2) keep full resolution in the first
    layer and end on an 8x8 grid of 16 px cells: ShapesWorld's small shapes
    are about 10 px across, and the old 4 stride-2 convs to a 4x4 grid of 32
    px cells left a linear probe reading colour presence at the majority
    rate (README, "Measured")."""

    def __init__(self, size, channels=(16, 32, 48, 64, 64), grid=8, strides=(1, 2, 2, 2, 2), attributes='none'):
        super().__init__()
        if len(strides) != len(channels):
            raise ValueError(f'{len(channels)} conv channels but {len(strides)} strides')
        layers, c_in, s_out = [], 3, size
        for c, st in zip(channels, strides):
            layers += [nn.Conv2d(c_in, c, 3, stride=st, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU()]
            c_in, s_out = c, (s_out + st - 1) // st
        self.convs = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(grid) if s_out != grid else nn.Identity()
        # attributes: a 1x1 conv reading each cell's colour, kind and size
        # (the scene head vision pretraining trains, scene.py), whose softmaxed
        # readings are appended to the cell's features. Without them the
        # encoder had to find "red circle" in 64 unnamed channels through the
        # Bradley-Terry loss alone and stayed at chance (README, "Measured");
        # with them a cell says what it holds in the same terms as the text,
        # the way a VLM's pretrained vision encoder hands over features that
        # already separate the concepts the captions name.
        # 'only' hands over the readings alone: appended to 64 conv channels
        # they are 14 of 78 inputs of one projection, and the grounding stage
        # left colour questions at chance (README, "Measured").
        attributes = {True: 'append', False: 'none'}.get(attributes, attributes)
        if attributes not in ('none', 'append', 'only'):
            raise ValueError(f"attributes must be 'none', 'append' or 'only', got {attributes!r}")
        self.attributes = attributes
        self.attr = nn.Conv2d(c_in, sum(ATTRIBUTE_SPLITS), 1) if attributes != 'none' else None
        self.grid = grid
        self.cells = {'none': c_in, 'append': c_in + sum(ATTRIBUTE_SPLITS), 'only': sum(ATTRIBUTE_SPLITS)}[attributes]
        self.dv = grid * grid * self.cells

    @classmethod
    def from_cfg(cls, cfg):
        """The tower a model config (or a pretrained tower's, vision.pt) describes."""
        return cls(cfg['size'], tuple(cfg['channels']), cfg['grid'], tuple(cfg['strides']), cfg.get('attributes', 'none'))

    def cell_map(self, pixels):
        """[N, C, G, G]: the conv grid before the attribute readings (the scene loss reads it)."""
        return self.pool(self.convs(pixels))

    def attribute_logits(self, cell_map):
        """(colour, kind, size) logits, each [N, classes, G, G]; class 0 = no shape."""
        return torch.split(self.attr(cell_map), ATTRIBUTE_SPLITS, dim=1)

    def forward(self, pixels):
        x = self.cell_map(pixels)
        if self.attr is not None:
            readings = [torch.softmax(lg, dim=1) for lg in self.attribute_logits(x)]
            x = torch.cat(readings if self.attributes == 'only' else [x] + readings, dim=1)
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


def attend(q, k, v, bias, heads, scale, d):
    """Multi-head attention of q [B, T, D] over k, v [B, S, D] with an additive
    key mask bias [B, 1, 1, S]. D is passed as a Python int so the export
    keeps the features' width static (the manifest states it)."""
    b, t = q.shape[0], q.shape[1]
    s = k.shape[1]
    q = q.reshape(b, t, heads, d // heads).transpose(1, 2)
    k = k.reshape(b, s, heads, d // heads).transpose(1, 2)
    v = v.reshape(b, s, heads, d // heads).transpose(1, 2)
    att = torch.softmax((q @ k.transpose(-1, -2)) * scale + bias, dim=-1)
    return (att @ v).transpose(1, 2).reshape(b, t, d)


def position_code(grid, freqs=(1, 2, 4)):
    """[G*G, F]: a fixed code of each cell's place, row-major as the tower
    flattens its grid: normalized x and y in [-1, 1] and sin/cos of pi*f*x,
    pi*f*y for a few frequencies f. Fixed so that "left of" and "above" are
    a comparison of two numbers the encoder can read from the first step,
    rather than one learned 0.02-scale vector per cell that the grounding
    stage never made readable (position stayed at chance, README)."""
    c = (torch.arange(grid, dtype=torch.float32) + 0.5) / grid * 2 - 1
    y, x = torch.meshgrid(c, c, indexing='ij')
    x, y = x.reshape(-1, 1), y.reshape(-1, 1)
    parts = [x, y]
    for f in freqs:
        parts += [torch.sin(math.pi * f * x), torch.cos(math.pi * f * x), torch.sin(math.pi * f * y), torch.cos(math.pi * f * y)]
    return torch.cat(parts, dim=1)


def attend_sum(q, k, v, keep, heads, scale, d):
    """Unnormalized attention: each key's weight is its own sigmoid gate times
    keep [B, 1, 1, S] (a 0..1 per-key weight), and values are summed, not
    averaged, so the output grows with the number of matching cells (softmax
    attention returns the same average from one red circle as from three)."""
    b, t = q.shape[0], q.shape[1]
    s = k.shape[1]
    q = q.reshape(b, t, heads, d // heads).transpose(1, 2)
    k = k.reshape(b, s, heads, d // heads).transpose(1, 2)
    v = v.reshape(b, s, heads, d // heads).transpose(1, 2)
    gate = torch.sigmoid((q @ k.transpose(-1, -2)) * scale) * keep
    return (gate @ v).transpose(1, 2).reshape(b, t, d)


class CrossBlock(nn.Module):
    """Self-attention over the text, then cross-attention from the text to the
    image cells, then an MLP. The cells are keys and values only, so the
    cost grows with the text length (about 50 tokens) times the cells
    (128), not with the square of all 180 tokens as in Block: 3 layers of
    d 96 cost about 3 CPU s per 32 pairs as one self-attended sequence."""

    def __init__(self, d, heads, count_head=False):
        super().__init__()
        self.heads, self.scale, self.d = heads, 1.0 / math.sqrt(d // heads), d
        self.ln1, self.ln2, self.ln3 = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.qkv, self.out = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.q_x, self.kv_x, self.out_x = nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 2 * d), nn.GELU(), nn.Linear(2 * d, d))
        # count_head: a summed, sigmoid-gated cross-attention beside the
        # softmax one (attend_sum). The output projection starts at zero so
        # the block starts out computing what it computed without it.
        if count_head:
            self.ln_c, self.q_c, self.kv_c, self.out_c = nn.LayerNorm(d), nn.Linear(d, d), nn.Linear(d, 2 * d), nn.Linear(d, d)
            nn.init.zeros_(self.out_c.weight)
            nn.init.zeros_(self.out_c.bias)
        else:
            self.q_c = None

    def forward(self, x, bias, mem, mem_bias, mem_keep=None):
        # Projections through slices of the packed weights rather than
        # chunk(): the export folds the slices into constants, where a Split
        # node left the features' width unknown to the manifest check.
        h, d = self.ln1(x), self.d
        q, k, v = (F.linear(h, self.qkv.weight[i * d:(i + 1) * d], self.qkv.bias[i * d:(i + 1) * d]) for i in range(3))
        x = x + self.out(attend(q, k, v, bias, self.heads, self.scale, self.d))
        k, v = (F.linear(mem, self.kv_x.weight[i * d:(i + 1) * d], self.kv_x.bias[i * d:(i + 1) * d]) for i in range(2))
        x = x + self.out_x(attend(self.q_x(self.ln2(x)), k, v, mem_bias, self.heads, self.scale, self.d))
        if self.q_c is not None:
            k, v = (F.linear(mem, self.kv_c.weight[i * d:(i + 1) * d], self.kv_c.bias[i * d:(i + 1) * d]) for i in range(2))
            x = x + self.out_c(attend_sum(self.q_c(self.ln_c(x)), k, v, mem_keep, self.heads, self.scale, self.d))
        return x + self.mlp(self.ln3(x))


class Encoder(nn.Module):
    def __init__(self, vocab_size, vision, max_images, max_prompt, max_response, d=64, heads=4, layers=2, fusion='self', sink=False,
                 reading_words=None, attend_occupied=False, pos_code=False, count_head=False, slot_code=False, text_pos_std=0.02, text_rnn=None,
                 position_words=None, text_rnn_at=0, role_readout=0, role_lookup='pooled', role_count=False, role_number=False):
        super().__init__()
        # attend_occupied (readings alone as cells): each cell's attention
        # logit gets log P(the cell holds a shape), the tower's own reading.
        # About 3 cells in 64 hold a shape, so attention spread evenly at
        # init returned the empty background with a 5% trace of the shapes,
        # and the grounding stage did not move off the text priors in 200
        # steps (README). With the sink, an image with nothing matching
        # still has somewhere to put its weight.
        self.attend_occupied = attend_occupied
        self.cells, self.per_image = vision.cells, vision.grid * vision.grid
        self.max_images = max_images
        self.tok = nn.Embedding(vocab_size, d, padding_idx=0)
        self.img = nn.Linear(vision.cells, d)
        self.cls = nn.Parameter(torch.zeros(1, 1, d))
        self.img_pos = nn.Parameter(torch.randn(1, max_images * self.per_image, d) * 0.02)
        # text_pos_std: the text positions' init scale. 0.02 (the default,
        # as in BERT) is 50x below nn.Embedding's std-1 token vectors here, so
        # at init the text is nearly a bag of words, and the claims that only
        # word order tells apart ("Image 1 is better than Image 2" against
        # "Image 2 is better than Image 1"; which shape is the subject of
        # "left of") start out identical (README, round 4).
        self.prompt_pos = nn.Parameter(torch.randn(1, max_prompt, d) * text_pos_std)
        self.response_pos = nn.Parameter(torch.randn(1, max_response, d) * text_pos_std)
        self.segment = nn.Parameter(torch.randn(3, d) * 0.02)
        # text_rnn 'gru': word order read by a recurrent pass whose output
        # starts at zero (text_rnn.py); None keeps the bag-of-words start.
        if text_rnn not in (None, 'none', 'gru'):
            raise ValueError(f"text_rnn must be 'none' or 'gru', got {text_rnn!r}")
        self.text_rnn = TextRNN(d) if text_rnn == 'gru' else None
        # text_rnn_at k > 0 (cross fusion): the pass runs on the text states
        # after block k instead of on the embeddings, when each word has
        # already read its cells, so it can carry the subject's place along
        # the sentence to the relation word and the object (a comparison no
        # single token held in R4: README, round 5's probe).
        if text_rnn_at and (self.text_rnn is None or fusion != 'cross' or not 0 < text_rnn_at < layers):
            raise ValueError(f'text_rnn_at {text_rnn_at} needs text_rnn gru, fusion cross and 0 < k < layers ({layers})')
        self.text_rnn_at = text_rnn_at
        # pos_code: a fixed code of each cell's place (position_code), the
        # same for both image slots, through a learned projection whose init
        # gives it about the per-component scale of a token embedding (std 1,
        # nn.Embedding's init), which is what tied readings embed cells at.
        if pos_code:
            code = position_code(vision.grid).repeat(max_images, 1)
            self.register_buffer('pos_code', code, persistent=False)
            self.pos_proj = nn.Linear(code.shape[1], d, bias=False)
            nn.init.normal_(self.pos_proj.weight, std=1.0 / math.sqrt(float((code ** 2).sum(1).mean())))
        else:
            self.pos_proj = None
        # position_words (ids of 'left', 'right', 'above', 'below'): each cell
        # also carries its place in the words' own terms, x times half the
        # difference of the 'right' and 'left' embeddings plus y times half
        # that of 'below' and 'above' (x, y in [-1, 1], y down), tied to the
        # token table as the readings are. Why: with only a random projection
        # of the position code, position claims stayed at chance even with
        # word order available and every question a position question (README,
        # round 5: R2, loss flat at ln 2): nothing in the text was close to
        # anything in a cell's place at init, the foothold the tied readings
        # give colour. A cell at the left then reads like 'left'.
        if position_words is not None:
            if len(position_words) != 4:
                raise ValueError(f'position_words must be the ids of left, right, above, below, got {position_words!r}')
            self.position_words = [int(i) for i in position_words]
            self.register_buffer('pos_xy', position_code(vision.grid)[:, :2].repeat(max_images, 1), persistent=False)
        else:
            self.position_words = None
        self.count_head = count_head
        # slot_code: one vector per image slot at a token embedding's scale,
        # so "Image 1" and "Image 2" can be bound to their slot's cells (T2I);
        # the learned per-cell positions that otherwise tell them apart start
        # at 0.02 and the fixed position code is the same in both slots.
        self.slot_emb = nn.Parameter(torch.randn(max_images, d)) if slot_code else None
        # reading_words (with the tower's readings alone as cells): for each of
        # the 14 reading classes, the token ids of the words that name it (a
        # kind's singular and plural), or none for "no shape". A cell is then
        # embedded as its readings times those words' own embeddings, so "red"
        # in the text and a cell read as red start out as the same vector and
        # stay tied as both learn, instead of a random projection the pair
        # loss has to align with the words (which it did not, README).
        self.reading_words = [list(w) for w in reading_words] if reading_words else None
        if self.reading_words is not None:
            if vision.cells != len(self.reading_words):
                raise ValueError(f'{len(self.reading_words)} reading words for {vision.cells}-number cells')
            self.reading_null = nn.Parameter(torch.randn(sum(1 for w in self.reading_words if not w), d) * 0.02)
        if fusion not in ('self', 'cross'):
            raise ValueError(f"fusion must be 'self' or 'cross', got {fusion!r}")
        self.fusion = fusion
        if count_head and fusion != 'cross':
            raise ValueError('count_head needs fusion cross')
        self.blocks = nn.ModuleList(CrossBlock(d, heads, count_head) if fusion == 'cross' else Block(d, heads) for _ in range(layers))
        self.ln_mem = nn.LayerNorm(d) if fusion == 'cross' else None
        # sink: one learned memory slot every text token may attend to,
        # besides the cells. Softmax attention only averages, so without it
        # "how many red circles" reads the same from one matching cell as from
        # three; the weight left on the sink falls with the number of matches,
        # which makes counts readable. It also gives a pair with no image
        # somewhere definite to attend.
        self.sink = nn.Parameter(torch.randn(1, 1, d) * 0.02) if sink and fusion == 'cross' else None
        # role_readout R: the text's roles looked up in each image, their
        # places compared by the module itself (roles.py), added to the CLS
        # state through a projection that starts at zero.
        if role_readout and fusion != 'cross':
            raise ValueError('role_readout needs fusion cross')
        if 'attributes' in (role_count, role_number) and (reading_words is None or vision.attributes != 'only'):
            raise ValueError("role count or number 'attributes' needs the tower's readings alone, tied to their words (--attributes only --tie-readings)")
        self.roles = RoleReadout(d, vocab_size, role_readout, max_images, vision.grid, lookup=role_lookup,
                                 count=role_count, number=role_number) if role_readout else None
        self.ln = nn.LayerNorm(d)
        self.d = d

    def reading_table(self):
        """[14, D]: each reading class's embedding, the mean of its words' token embeddings (a learned vector for "none")."""
        rows, j = [], 0
        for ids in self.reading_words:
            if ids:
                rows.append(torch.stack([self.tok.weight[i] for i in ids]).mean(0, keepdim=True))
            else:
                rows.append(self.reading_null[j:j + 1])
                j += 1
        return torch.cat(rows)

    def value_words(self):
        """[14, 2, D]: each reading class's word embeddings (a kind's singular
        and plural; a one-word class twice; zeros for "none")."""
        rows = []
        for ids in self.reading_words:
            if ids:
                rows.append(torch.stack([self.tok.weight[ids[0]], self.tok.weight[ids[-1]]]))
            else:
                rows.append(torch.zeros(2, self.d))
        return torch.stack(rows)

    def forward(self, image_embeddings, image_mask, prompt_ids, response_ids):
        n = image_embeddings.shape[0]
        cells = image_embeddings.reshape(n, self.max_images * self.per_image, self.cells)
        table = self.reading_table() if self.reading_words is not None else None
        words_of_cells = cells @ table if table is not None else self.img(cells)
        img = words_of_cells + self.img_pos + self.segment[0]
        if self.pos_proj is not None:
            img = img + self.pos_proj(self.pos_code)
        if self.position_words is not None:
            left, right, above, below = (self.tok.weight[i] for i in self.position_words)
            img = img + self.pos_xy @ torch.stack([(right - left) / 2, (below - above) / 2])
        if self.slot_emb is not None:
            img = img + self.slot_emb.repeat_interleave(self.per_image, dim=0)
        # Positions sliced to the ids' width: training trims a batch's
        # all-padding columns (padding is masked, so the CLS state is the
        # same), the export always gives the manifest's full widths.
        prm_words, rsp_words = self.tok(prompt_ids), self.tok(response_ids)
        prm = prm_words + self.prompt_pos[:, :prompt_ids.shape[1]] + self.segment[1]
        rsp = rsp_words + self.response_pos[:, :response_ids.shape[1]] + self.segment[2]
        if self.text_rnn is not None and not self.text_rnn_at:
            prm, rsp = self.text_rnn(prm, rsp, prompt_ids, response_ids)
        img_keep = image_mask.unsqueeze(2).expand(n, self.max_images, self.per_image).reshape(n, self.max_images * self.per_image)
        if self.fusion == 'cross':
            x = torch.cat([self.cls.expand(n, 1, self.d), prm, rsp], dim=1)
            keep = torch.cat([torch.ones_like(image_mask[:, :1]), (prompt_ids != 0).float(), (response_ids != 0).float()], dim=1)
            bias = ((1.0 - keep) * -1e4).reshape(n, 1, 1, keep.shape[1])
            # No image at all: every cell is masked and attention spreads
            # evenly over them (finite, the same for both answers).
            mem_bias = ((1.0 - img_keep) * -1e4).reshape(n, 1, 1, img_keep.shape[1])
            if self.attend_occupied:
                # Reading 0 of a cell is P(no shape) of the colour head.
                occupied = occupancy(cells).clamp(min=1e-4)
                mem_bias = mem_bias + torch.log(occupied).reshape(n, 1, 1, occupied.shape[1])
            mem = self.ln_mem(img)
            role_bias = mem_bias.reshape(n, -1)
            # The summed head's per-cell weight: present, and (with
            # attend_occupied) P(shape) in the cell, so a sum over cells is a
            # sum over the shapes the tower reads.
            mem_keep = None
            if self.count_head:
                mem_keep = img_keep * (occupancy(cells) if self.attend_occupied else 1.0)
                mem_keep = mem_keep.reshape(n, 1, 1, img_keep.shape[1])
            if self.sink is not None:
                mem = torch.cat([self.sink.expand(n, 1, self.d), mem], dim=1)
                mem_bias = torch.cat([torch.zeros_like(mem_bias[..., :1]), mem_bias], dim=3)
                if mem_keep is not None:
                    # The sink is no shape: nothing for the summed head to count.
                    mem_keep = torch.cat([torch.zeros_like(mem_keep[..., :1]), mem_keep], dim=3)
            for j, blk in enumerate(self.blocks):
                if self.text_rnn_at and j == self.text_rnn_at:
                    p_w = prompt_ids.shape[1]
                    tp, tr = self.text_rnn(x[:, 1:1 + p_w], x[:, 1 + p_w:], prompt_ids, response_ids)
                    x = torch.cat([x[:, :1], tp, tr], dim=1)
                x = blk(x, bias, mem, mem_bias, mem_keep)
            cls = x[:, 0]
            if self.roles is not None:
                attrs = (cells, self.value_words()) if 'attributes' in (self.roles.count, self.roles.number) else (None, None)
                cls = cls + self.roles(prm_words, rsp_words, prompt_ids, response_ids, words_of_cells, role_bias, image_mask, *attrs)
            # The reshape to a constant width is a no-op that lets ONNX shape
            # inference state the features' width (the sliced positions above
            # leave it unknown, and loadBundle checks it against the manifest).
            return self.ln(cls).reshape(-1, self.d)
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
        self.vision = Vision.from_cfg(cfg)
        self.encoder = Encoder(cfg['vocab_size'], self.vision, cfg['max_images'], cfg['max_prompt'], cfg['max_response'],
                               cfg['d'], cfg['heads'], cfg['layers'], cfg.get('fusion', 'self'), cfg.get('sink', False),
                               cfg.get('reading_words'), cfg.get('attend_occupied', False), cfg.get('pos_code', False),
                               cfg.get('count_head', False), cfg.get('slot_code', False),
                               cfg.get('text_pos_std', 0.02), cfg.get('text_rnn'),
                               cfg.get('position_words'), cfg.get('text_rnn_at', 0), cfg.get('role_readout', 0), cfg.get('role_lookup', 'pooled'),
                               cfg.get('role_count', False), cfg.get('role_number', False))
        self.head = Head(cfg['d'], cfg['k'])

    def rewards(self, emb, mask, prompt_ids, response_ids):
        return self.head(self.encoder(emb, mask, prompt_ids, response_ids))
