"""A role-query readout (`--role-readout R`): the text names R things, each is
looked up in each image, and what comes back is the looked-up cells' raw
coordinates, so "is the subject left of the object" is a difference of two
numbers the module computes itself rather than a comparison the transformer
has to learn to build.

Why: position and T2I claims stayed at chance through rounds 3-5 with word
order (a GRU), a position code tied to "left"/"right", and a curriculum; the
probe showed each noun fetching roughly its own shape's place after block 1
but no token holding both places together, and the training loss on
position claims alone stayed at ln 2 (README, round 5). Softmax attention
averages values; nothing in the encoder makes "compare the coordinates of
two attended things" easy. Here the comparison is built in and the roles
are learned, end to end, from the claims:

- pointers: a bidirectional GRU over [prompt, response] (the packing of
  text_rnn.py: no direction reads padding) gives each token a state; R + 1
  learned scores per token (from the state, plus a learned per-word bias so
  content words can win from the first steps) make R + 1 softmaxes over the
  real tokens. Roles 1..R pool the tokens' *word embeddings*, so a role's
  query lives in the words' own space, where the tied readings put a cell
  (a red-circle cell is the mean of "red" and "circle"'s vectors, model.py
  reading_table): "red circle" finds a red circle from the first step, the
  foothold colour claims had. The last pointer pools the GRU states: the
  question's summary (which relation word, which image the answer names).
- lookup: per image slot, each role attends over that slot's cells (a query
  map starting at the identity, the cells' occupancy logit added as the
  encoder's attend_occupied does), and returns the attended cells' (x, y) in
  [-1, 1] (the tower's grid; y down) and the soft maximum of its logits (how
  well anything in that image matches).
- relation: per slot, role 1 minus role 2's place (dx, dy) and every role's
  match; for two images also slot 1's minus slot 2's (T2I asks which image
  fits). A bilinear layer of those numbers with the summary (so "left" times
  dx is one product), GELU, and a projection added to the CLS state.

That projection starts at zero, so a fresh model with the module scores
exactly as the same weights without it (roles_check.py tests it).

Measured (README, round 6): only lookup 'signed' (below) moved position
claims (to 100% held out); 'tokens' moved T2I but not position, 'pooled'
neither."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from .scene import HEAD_SPLITS as ATTRIBUTE_SPLITS, occupancy
from .text_rnn import TextRNN


# ShapesWorld's counts are 0..6 (trainer/shapes/grammar.ts NUMBER_WORDS); a
# number precedes its noun by at most a size and a colour word.
NUMBER_BINS = 7
NUMBER_BEFORE = 3
# The soft one-hot's width: a count of exactly k reads 1 in bin k and
# exp(-2) = 0.14 in its neighbours.
NUMBER_SIGMA = 0.5
# "two large red circles": the noun sees its size and colour words.
ASK_BEFORE = 2


def _shift(x, j):
    """x [N, T, ...] moved j tokens later: token t holds token t - j's (zero before the start)."""
    return torch.cat([torch.zeros_like(x[:, :j]), x[:, :-j]], 1)


def _before(x, k):
    """x [N, T, D] summed over each token's k (>= 1) predecessors."""
    out = _shift(x, 1)
    for j in range(2, k + 1):
        out = out + _shift(x, j)
    return out


def _phrase(x):
    """x [N, T, D] plus its left and right neighbours (zero past the ends)."""
    zero = torch.zeros_like(x[:, :1])
    return x + torch.cat([zero, x[:, :-1]], 1) + torch.cat([x[:, 1:], zero], 1)


class RoleReadout(nn.Module):
    def __init__(self, d, vocab_size, roles, max_images, grid, hidden=64, lookup='pooled', count=False, number=False):
        super().__init__()
        # lookup 'pooled': a role pools words, then looks its query up.
        # 'tokens': every token looks up its own phrase (itself and its two
        # neighbours' word vectors, so "green square" asks for a green square
        # from the first step), and a role pools the places and matches the
        # tokens found: a diffuse pointer still averages meaningful places,
        # so the gradient that sharpens it says which tokens' places matter
        # (with 'pooled', a diffuse pointer asks for the average of every
        # word and finds every shape: dx near 0 for both roles).
        # 'signed': as 'tokens', but a role is a signed weight per token (no
        # softmax), so role 1 minus role 2 is any signed sum of the tokens'
        # places. A softmax pointer starts uniform, both roles equal, dx = 0,
        # and the relation layer and the pointers each wait for the other to
        # move (a saddle); signed weights start as random, non-zero sums of
        # the places the tokens found.
        if lookup not in ('pooled', 'tokens', 'signed'):
            raise ValueError(f"role lookup must be 'pooled', 'tokens' or 'signed', got {lookup!r}")
        self.lookup = lookup
        if roles < 2:
            raise ValueError(f'role_readout needs at least 2 roles (a relation is between two things), got {roles}')
        self.roles, self.max_images, self.per_image, self.d = roles, max_images, grid * grid, d
        self.rnn = TextRNN(d)
        # R role pointers and one summary pointer; the per-word bias starts
        # at zero (every token equal) and learns which words name things.
        self.point = nn.Linear(d, roles + 1)
        self.point_word = nn.Embedding(vocab_size, roles + 1)
        nn.init.zeros_(self.point_word.weight)
        # Starts at the identity: a role's pooled words are its query as they
        # are, in the space the tied cells live in.
        self.query = nn.Linear(d, d, bias=False)
        with torch.no_grad():
            self.query.weight.copy_(torch.eye(d))
        self.scale = 1.0 / math.sqrt(d)
        c = (torch.arange(grid, dtype=torch.float32) + 0.5) / grid * 2 - 1
        y, x = torch.meshgrid(c, c, indexing='ij')
        # Row-major, as the tower flattens its grid; the same in every slot.
        self.register_buffer('xy', torch.stack([x.reshape(-1), y.reshape(-1)], 1), persistent=False)
        # Per slot: role 1 minus role 2's place and each role's match; with
        # signed roles every role's own (signed) place sum, since the
        # difference is then one of the sums the weights can learn.
        per_slot = 3 * roles if lookup == 'signed' else 2 + roles
        # count: each role also says how many cells it finds, a sum of
        # sigmoids over the cells' logits (occupancy included) rather than a
        # softmax, which only averages: the soft maximum of the match tells
        # "some" from "none" but 5 green circles from 6 only by a log-ratio
        # (README, round 7: count pairs 59% where colour and existence pairs
        # read 97-98%). The threshold starts where a cell counts once its
        # logit is positive. Signed and token lookups only: a count per token,
        # summed with the role's weights like the match.
        # count 'attributes' (needs the tower's readings, model.py passes
        # them): a token asks for a colour, kind and size when it or one of
        # its ASK_BEFORE predecessors is a word naming one (cosine with the
        # value's words over a learned threshold, else "any"), a cell matches
        # by the product of its own readings of those values, times P(shape),
        # and a token's count is the sum over the slot's cells. A sum of
        # sigmoids of the lookup's logits ('sum') left count pairs at 60%: a
        # logit mixes how well a cell matches with how sure the tower is, and
        # the threshold between "counts" and "does not" had to be learned
        # from few count questions. Round 7 asked by the phrase's dot product
        # with the value words instead: "6 circles" put 0.6 of its colour on
        # one colour and six red triangles counted about five (README, round 8).
        # True is how the first 'sum' configs said it (the shipped bundle's torch.pt).
        count = {True: 'sum', False: None}.get(count, count)
        if count not in (None, 'sum', 'attributes'):
            raise ValueError(f"role count must be 'sum' or 'attributes', got {count!r}")
        if count and lookup == 'pooled':
            raise ValueError("role count needs lookup 'tokens' or 'signed'")
        self.count = count
        # number: see below; 'attributes' counts for the agreement alone.
        number = {True: 'lookup', False: None}.get(number, number)
        if number not in (None, 'lookup', 'attributes'):
            raise ValueError(f"role number must be 'lookup' or 'attributes', got {number!r}")
        self.number = number
        if count == 'sum':
            self.count_bias = nn.Parameter(torch.zeros(()))
        if 'attributes' in (count, number):
            # A value's logit against "any" (0) is scale * (cosine - threshold),
            # per attribute. A word's cosine with itself is 1; after grounding
            # no other word of the vocabulary comes within 0.45 of a value word
            # (round 8's build), so 0.7 and 20 put a named value at +6 and the
            # nearest other word at -5.
            self.ask_threshold = nn.Parameter(torch.full((3,), 0.7))
            self.ask_scale = nn.Parameter(torch.full((3,), 20.0))
        if count:
            per_slot += roles
        # number: whether each token's count agrees with the number the text
        # states just before it ("There are 3 red circles": "red", "circles"
        # and "." each have "3" among their NUMBER_BEFORE predecessors). A
        # token's stated number is a learned 0..6 profile per word, summed
        # over those predecessors (zero for words that name no number, once
        # learned); its count becomes a soft one-hot over 0..6; the agreement
        # is their dot product. Why: with the count alone as one more number
        # in the relation layer, count pairs stayed at 60-66% although the
        # tower counts the asked group right in 94% of held-out count
        # questions: the layer has to compare "three" with a scalar by a bump
        # it builds from GELUs, for each of seven numbers (README, round 8).
        # Here "this many are there" is one product, as 'left' times dx is
        # for places.
        # 'lookup': the agreement of the role count's own per-token count,
        # pooled by the roles and summed over the tokens. 'attributes': of
        # the attributes count (below), summed over the tokens only. The
        # roles' signed pointers are what position claims need; pooling an
        # exact count with them kept every such run in the position saddle
        # (six runs of six, README, rounds 7-8), so here the roles never see it.
        if number == 'lookup' and not count:
            raise ValueError("role number 'lookup' needs a role count")
        if self.number:
            self.num_word = nn.Embedding(vocab_size, NUMBER_BINS, padding_idx=0)
            nn.init.zeros_(self.num_word.weight)
            self.register_buffer('bins', torch.arange(NUMBER_BINS, dtype=torch.float32), persistent=False)
            per_slot += roles + 1 if number == 'lookup' else 1
        self.n_rel = per_slot * max_images + (per_slot if max_images > 1 else 0)
        self.u = nn.Linear(d, hidden)
        self.g = nn.Linear(self.n_rel, hidden)
        self.ug = nn.Linear(d, hidden)
        self.out = nn.Linear(hidden, d)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def asked(self, prm, rsp, prompt_ids, response_ids, value_words):
        """[N, T, 14]: per token and reading class, the best cosine of the
        token or its ASK_BEFORE predecessors (within its part) with a word
        naming the class. value_words [14, W, D]: each class's words."""
        vw = F.normalize(value_words, dim=2)

        def part(x, ids):
            cos = torch.einsum('ntd,cwd->ntcw', F.normalize(x, dim=2), vw).amax(3) * (ids != 0).unsqueeze(2)
            best = cos
            for j in range(1, ASK_BEFORE + 1):
                best = torch.maximum(best, _shift(cos, j))
            return best
        return torch.cat([part(prm, prompt_ids), part(rsp, response_ids)], 1)

    def attribute_count(self, asked, readings, image_mask):
        """[N, T, M]: how many cells of each slot hold what each token asks
        for. asked [N, T, 14] (self.asked); readings [N, M*S, 14] (colour,
        kind, size softmaxes, class 0 = no shape)."""
        n, t = asked.shape[0], asked.shape[1]
        match, start, none_named = None, 0, None
        for a, width in enumerate(ATTRIBUTE_SPLITS):
            # Values 1.. of this attribute; class 0 ("no shape") is the occupancy below.
            lg = (asked[:, :, start + 1:start + width] - self.ask_threshold[a]) * self.ask_scale[a]
            q = torch.softmax(torch.cat([torch.zeros_like(lg[:, :, :1]), lg], 2), dim=2)
            cell_p = readings[:, :, start + 1:start + width]
            m = q[:, :, :1] + q[:, :, 1:] @ cell_p.transpose(1, 2)  # [N, T, M*S]
            match = m if match is None else match * m
            none_named = q[:, :, 0] if none_named is None else none_named * q[:, :, 0]
            start += width
        # expand + reshape rather than repeat_interleave, which the opset-13 export does not take with a dynamic N.
        keep = image_mask.unsqueeze(2).expand(n, self.max_images, self.per_image).reshape(n, self.max_images * self.per_image)
        occupied = occupancy(readings) * keep
        # A token that names no value counts nothing, rather than every shape:
        # "the" and "is" counted the whole image, and with the roles' signed
        # weights summing 40 such counts the readout never found places
        # (README, round 8).
        named = (1.0 - none_named).unsqueeze(2)
        return (match * occupied.unsqueeze(1)).reshape(n, t, self.max_images, self.per_image).sum(3) * named

    def agreement(self, tok_count, prompt_ids, response_ids):
        """[N, T, M]: for each token and slot, how well the token's count
        (tok_count [N, T, M]) agrees with the number its predecessors state,
        within the prompt or within the response; zero on padding."""
        stated = torch.cat([_before(self.num_word(prompt_ids), NUMBER_BEFORE),
                            _before(self.num_word(response_ids), NUMBER_BEFORE)], 1)  # [N, T, BINS]
        onehot = torch.exp(-((tok_count.unsqueeze(3) - self.bins) ** 2) / (2 * NUMBER_SIGMA ** 2))  # [N, T, M, BINS]
        real = (torch.cat([prompt_ids, response_ids], 1) != 0).float().unsqueeze(2)
        return (onehot * stated.unsqueeze(2)).sum(3) * real

    def forward(self, prm, rsp, prompt_ids, response_ids, cells, cell_bias, image_mask, readings=None, value_words=None):
        """prm [N, P, D], rsp [N, R, D]: the token embeddings (no positions);
        cells [N, M*G*G, D]: each cell in the words' space; cell_bias
        [N, M*G*G]: an additive logit per cell (log P(shape), or 0);
        image_mask [N, M]; with an 'attributes' count or number, the tower's readings
        [N, M*G*G, 14] and each reading class's words [14, W, D]. Returns
        [N, D], to add to the CLS state."""
        n = prm.shape[0]
        ids = torch.cat([prompt_ids, response_ids], 1)
        words = torch.cat([prm, rsp], 1)
        h = self.rnn.states(prm, rsp, prompt_ids, response_ids)
        logits = self.point(h) + self.point_word(ids)
        logits = logits + ((ids == 0).float() * -1e4).unsqueeze(2)
        att = torch.softmax(logits, dim=1)
        if self.lookup == 'signed':
            # Padding weighs exactly zero (its logit is -1e4 above).
            att = torch.cat([logits[:, :, :self.roles] * (ids != 0).unsqueeze(2), att[:, :, self.roles:]], 2)
        summary = (att[:, :, self.roles:].transpose(1, 2) @ h).reshape(n, self.d)
        m, s = self.max_images, self.per_image
        if self.lookup == 'pooled':
            q = self.query(att[:, :, :self.roles].transpose(1, 2) @ words)
            # [N, R, M, S]: each role's logit for each cell of each slot.
            lg = ((q @ cells.transpose(1, 2)) * self.scale + cell_bias.unsqueeze(1)).reshape(n, self.roles, m, s)
            a = torch.softmax(lg, dim=3)
            place = a @ self.xy
            match = torch.logsumexp(lg, dim=3)
        else:
            # A token's phrase: itself and its neighbours, within the prompt
            # or within the response (never across: how much padding lies
            # between them depends on the batch). Padding's word vectors are
            # masked to zero, so a phrase at a part's end reads nothing past it.
            t = words.shape[1]
            phrase = torch.cat([_phrase(prm * (prompt_ids != 0).unsqueeze(2)), _phrase(rsp * (response_ids != 0).unsqueeze(2))], 1)
            lg = ((self.query(phrase) @ cells.transpose(1, 2)) * self.scale + cell_bias.unsqueeze(1)).reshape(n, t, m, s)
            tok_place = (torch.softmax(lg, dim=3) @ self.xy).reshape(n, t, m * 2)
            tok_match = torch.logsumexp(lg, dim=3)
            ra = att[:, :, :self.roles].transpose(1, 2)
            place = (ra @ tok_place).reshape(n, self.roles, m, 2)
            match = ra @ tok_match
            attr_count = None
            if 'attributes' in (self.count, self.number):
                attr_count = self.attribute_count(self.asked(prm, rsp, prompt_ids, response_ids, value_words), readings, image_mask)
            if self.count == 'sum':
                # [N, T, M]: a masked slot's cells carry -1e4 in cell_bias, so they count 0.
                tok_count = torch.sigmoid(lg + self.count_bias).sum(3)
            elif self.count == 'attributes':
                tok_count = attr_count
            if self.count:
                counted = ra @ tok_count
            if self.number == 'lookup':
                agree = self.agreement(tok_count, prompt_ids, response_ids)
                numbered = torch.cat([ra @ agree, agree.sum(1, keepdim=True)], 1)
            elif self.number == 'attributes':
                numbered = self.agreement(attr_count, prompt_ids, response_ids).sum(1, keepdim=True)
        keep = image_mask.unsqueeze(1)
        # An absent slot's numbers are zero, not an average over nothing.
        if self.lookup == 'signed':
            dxy = place.transpose(1, 2).reshape(n, m, 2 * self.roles) * image_mask.unsqueeze(2)
        else:
            dxy = (place[:, 0] - place[:, 1]) * image_mask.unsqueeze(2)
        match = match * keep
        per = torch.cat([dxy, match.transpose(1, 2)] + ([(counted * keep).transpose(1, 2)] if self.count else [])
                        + ([(numbered * keep).transpose(1, 2)] if self.number else []), 2)
        feats = [per.reshape(n, -1)]
        if m > 1:
            both = image_mask[:, :1] * image_mask[:, 1:2]
            feats.append((per[:, 0] - per[:, 1]) * both)
        g = torch.cat(feats, 1)
        z = torch.nn.functional.gelu(self.u(summary) * self.g(g) + self.ug(summary))
        return self.out(z)
