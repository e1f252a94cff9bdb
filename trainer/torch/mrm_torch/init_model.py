"""Starting a run from a whole exported model: a bundle's torch.pt (export.py).

A 'full' round fine-tunes the version it improves, tower included, and does
not know the flags that version was trained with; so the architecture and
the preprocessing come from the file, not from this run's flags, and every
weight is loaded (strictly: a file from another model class is an error, not
a partial start). --init-from is the other kind of start: encoder and heads
of this run's own config, the tower left to --vision-from or pretraining."""
import torch

from .export import TORCH_FORMAT

# Flags that would replace part of what --init-model loads.
CONFLICTS = ('vision_from', 'init_from', 'pretrain_epochs', 'ground_steps')


def load_init_model(path, args, tok):
    """The torch.pt at `path`, checked against this run: {'model', 'cfg', 'pre'}."""
    for name in CONFLICTS:
        if getattr(args, name):
            raise SystemExit(f"--init-model with --{name.replace('_', '-')}: the model comes whole from {path}")
    try:
        state = torch.load(path, map_location='cpu')
    except Exception as e:
        raise SystemExit(f'{path}: cannot be read as PyTorch weights ({type(e).__name__}: {e})')
    if not isinstance(state, dict) or state.get('format') != TORCH_FORMAT:
        raise SystemExit(f"{path}: not a bundle's torch.pt (format {TORCH_FORMAT})")
    if state['cfg']['vocab_size'] != tok.vocab_size:
        raise SystemExit(f"{path}: a model of vocabulary {state['cfg']['vocab_size']}, the tokenizer has {tok.vocab_size}")
    return state
