"""An order signal for the text encoder that starts silent (`--text-rnn gru`).

Why: the claims that only word order tells apart ("Image 1 is better than
Image 2." against "Image 2 is better than Image 1."; which shape is the
subject of "is to the left of") stayed at chance through grounding, and the
encoder starts as a bag of words (learned text positions at std 0.02
against std-1 token vectors). Adding position vectors at the tokens' scale
gave it order but broke the colour binding the tied readings give (README,
round 4: LF, LG). Here a recurrent pass reads the words in order and its
output reaches the token embeddings through a projection that starts at
zero, so at init the model computes exactly what it computed without it
and order enters only as far as the gradient asks for it.

Layout: the encoder's text is [prompt (padded), response (padded)], with
padding in the middle. Both directions should read prompt then response
as one sentence and never read padding, so the two are first packed into
one sequence per row (the response moved up against the prompt's last
token), the forward GRU runs over it, the backward GRU over each row
reversed by its own length (a gather, not a flip of the padded width, so
trailing padding is never read before real words), and the outputs are
unpacked back to the prompt and response slots. Padded slots get zero.
All of it is gathers and elementwise arithmetic on the lengths, plus two
ONNX GRU nodes, so it exports at opset 13 with a dynamic batch; and a
row's output does not depend on how much padding follows it, which is
what lets training trim all-padding columns (test_text_rnn.py checks it)."""
import torch
from torch import nn


def _take(x, index):
    """x [N, T, D] gathered along T by index [N, T]."""
    return torch.gather(x, 1, index.unsqueeze(2).expand(-1, -1, x.shape[2]))


class TextRNN(nn.Module):
    def __init__(self, d):
        super().__init__()
        if d % 2:
            raise ValueError(f'--text-rnn needs an even width d, got {d}')
        # Two unidirectional GRUs rather than one bidirectional: nn.GRU's
        # reverse direction reads a row from its padded end, so the backward
        # pass runs the forward op over the length-reversed rows instead.
        self.fwd = nn.GRU(d, d // 2, batch_first=True)
        self.bwd = nn.GRU(d, d // 2, batch_first=True)
        self.out = nn.Linear(d, d)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def _packed(self, prm, rsp, prompt_ids, response_ids):
        """The two directions' states over the packed rows, and the gathers
        that take them back to the prompt and response slots."""
        p, r = prompt_ids.shape[1], response_ids.shape[1]
        t_all = p + r
        lp = (prompt_ids != 0).long().sum(1, keepdim=True)
        lr = (response_ids != 0).long().sum(1, keepdim=True)
        total = lp + lr
        t = torch.arange(t_all, device=prompt_ids.device).unsqueeze(0)
        # Packed slot t holds prompt token t (t < lp) or response token t - lp;
        # slots past the row's length read something (clamped), never used.
        pack_idx = torch.where(t < lp, t, t - lp + p).clamp(max=t_all - 1)
        x = _take(torch.cat([prm, rsp], dim=1), pack_idx)
        # Reversal by each row's own length (an involution, so it also undoes itself).
        rev = torch.where(t < total, total - 1 - t, t)
        f, _ = self.fwd(x)
        b, _ = self.bwd(_take(x, rev))
        h = torch.cat([f, _take(b, rev)], dim=2)
        # Back to the slots: prompt slot i is packed slot i, response slot j is lp + j.
        tp = torch.arange(p, device=prompt_ids.device).unsqueeze(0).expand(prompt_ids.shape[0], p)
        tr = (torch.arange(r, device=prompt_ids.device).unsqueeze(0) + lp).clamp(max=t_all - 1)
        return h, tp, tr

    def states(self, prm, rsp, prompt_ids, response_ids):
        """The two directions' states [N, P + R, D] in the slot layout
        [prompt slots, response slots], before the projection; padded slots
        hold whatever the clamped gather read (mask them with the ids)."""
        h, tp, tr = self._packed(prm, rsp, prompt_ids, response_ids)
        return torch.cat([_take(h, tp), _take(h, tr)], dim=1)

    def forward(self, prm, rsp, prompt_ids, response_ids):
        """(prompt [N, P, D], response [N, R, D]) embeddings -> the same plus
        the order signal, zero on padded slots. Padding is id 0 and trails
        each part (text.pack)."""
        h, tp, tr = self._packed(prm, rsp, prompt_ids, response_ids)
        o = self.out(h)
        keep_p = (prompt_ids != 0).to(prm.dtype).unsqueeze(2)
        keep_r = (response_ids != 0).to(rsp.dtype).unsqueeze(2)
        return prm + _take(o, tp) * keep_p, rsp + _take(o, tr) * keep_r
