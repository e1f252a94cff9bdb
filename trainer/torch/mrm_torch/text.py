"""Text preprocessing of the bundle contract, the same as src/model/text.ts:
the word-hash tokenizer (mrm-wordhash/v1), the manifest's prompt and response
templates, prompts cut to their last tokens and responses to their first."""
import json
import re

TOKENIZER_FORMAT = 'mrm-wordhash/v1'
PAD_ID = 0
_FIELD = re.compile(r'\{(system|prompt|response|reference)\}')


def fnv1a_utf16(word):
    """FNV-1a over UTF-16 code units, as text.ts hashes JavaScript strings."""
    h = 0x811C9DC5
    b = word.encode('utf-16-le', 'surrogatepass')
    for i in range(0, len(b), 2):
        h ^= b[i] | (b[i + 1] << 8)
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


class Tokenizer:
    def __init__(self, spec):
        if spec.get('format') != TOKENIZER_FORMAT:
            raise ValueError(f"tokenizer format must be '{TOKENIZER_FORMAT}', got {spec.get('format')!r}")
        self.spec = spec
        self.lowercase = bool(spec['lowercase'])
        # JavaScript's 'u' regexes and Python's str regexes both match code
        # points, and the patterns the project writes use only ASCII classes
        # and \s, which agree on every character the data sets contain.
        self.pattern = re.compile(spec['pattern'])
        self.vocab = list(spec['vocab'])
        self.ids = {w: i for i, w in enumerate(self.vocab)}
        self.oov_buckets = int(spec['oovBuckets'])
        self.vocab_size = len(self.vocab) + self.oov_buckets

    @staticmethod
    def load(path):
        with open(path, encoding='utf-8') as f:
            return Tokenizer(json.load(f))

    def words(self, text):
        return self.pattern.findall(text.lower() if self.lowercase else text)

    def id(self, word):
        known = self.ids.get(word)
        if known is not None:
            return known
        return len(self.vocab) + fnv1a_utf16(word) % self.oov_buckets

    def encode(self, text):
        return [self.id(w) for w in self.words(text)]


def fill(template, values):
    return _FIELD.sub(lambda m: values.get(m.group(1), ''), template)


def encode_text(tok, spec, system, prompt, response, reference=None):
    """(prompt_ids, response_ids, truncated), as encodeText in text.ts."""
    values = {'system': system or '', 'prompt': prompt, 'response': response, 'reference': reference or ''}
    p = tok.encode(fill(spec['promptTemplate'], values))
    r = tok.encode(fill(spec['responseTemplate'], values))
    if not r:
        raise ValueError('response has no tokens')
    mp, mr = spec['maxPromptTokens'], spec['maxResponseTokens']
    truncated = len(p) > mp or len(r) > mr
    return (p[len(p) - mp:] if len(p) > mp else p), r[:mr], truncated


def pack(rows, width):
    """Token id lists -> a padded [n, width] list of lists (PAD_ID after the ids)."""
    return [(ids + [PAD_ID] * width)[:width] for ids in rows]
