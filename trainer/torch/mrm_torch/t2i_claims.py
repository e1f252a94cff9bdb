"""Text-to-image questions for the grounding stage: two images, one caption,
which image it fits. The T2I slice sat at chance after grounding on
single-image claims (README, round 3): nothing had taught the encoder to
compare what it reads in image 1 with what it reads in image 2.

A caption here describes a training image's whole scene the way
trainer/shapes/t2i.ts writes captions (captionText: every shape as groups,
sizes or not, in a random group order; or, for a two-shape scene with a
clear relation, the relation caption), and the other image is a training
image the caption does not fit: half the time the closest of a few drawn
candidates (the most shared groups, so the two differ in one or two facts,
like the generator's near misses), otherwise any. Which image comes first is
drawn, and the true and false claims are the data set's two DT2IT answers.

A mirror question (mirror_draw) pairs a relation caption with its own
image flipped (Flip): the same two shapes with their places swapped, the
generator's 'relation' near miss, which a drawn candidate almost never is.
Left-right flips swap 'left' and 'right'; top-bottom flips swap 'above' and
'below' and are used only without triangles, which point up. Why: the
fresh builds' T2I relation pairs read 65% on seed 99 against 93-100% for
the colour, kind and size near misses (README, round 9): Bradley-Terry's
few hundred such pairs were all that taught places compared across two
images."""
from collections import Counter
from dataclasses import dataclass

from .claims import article, cap, kind_word, num, relation_between, RELATION_PHRASES

PROMPT = 'Image 1: <image> Image 2: <image> Which image matches the text caption better? Text Caption: {}'
ANSWERS = ('Image 1 is better than Image 2.', 'Image 2 is better than Image 1.')
CANDIDATES = 12


def _phrase(n, size, color, kind, numerals):
    words = [w for w in (size, color, kind_word(kind, n)) if w]
    return f"{article(words[0]) if n == 1 else num(n, numerals)} {' '.join(words)}"


def _key(s, with_sizes):
    return (s['size'] if with_sizes else None, s['color'], s['kind'])


def spec_of(scene, rng):
    """A caption spec that fits the scene: ('relation', subject, object, rel) or ('groups', with_sizes, [(n, size, colour, kind)])."""
    shapes = scene['shapes']
    if len(shapes) == 2 and rng.random() < 0.5 and (shapes[0]['kind'], shapes[0]['color']) != (shapes[1]['kind'], shapes[1]['color']):
        s, o = rng.sample(shapes, 2)
        rel, clear = relation_between(s, o)
        if clear:
            return ('relation', s, o, rel)
    with_sizes = rng.random() < 0.5
    groups = [(n, *k) for k, n in Counter(_key(s, with_sizes) for s in shapes).items()]
    rng.shuffle(groups)
    return ('groups', with_sizes, groups)


def caption(spec, numerals):
    if spec[0] == 'relation':
        _, s, o, rel = spec
        one = lambda x: _phrase(1, x['size'], x['color'], x['kind'], numerals)
        return cap(f'{one(s)} {RELATION_PHRASES[rel]} {one(o)}.')
    parts = [_phrase(*g, numerals) for g in spec[2]]
    return cap((parts[0] if len(parts) == 1 else ', '.join(parts[:-1]) + ' and ' + parts[-1]) + '.')


def fits(spec, scene):
    """t2i.ts sceneMatchesCaption."""
    shapes = scene['shapes']
    if spec[0] == 'relation':
        _, s, o, rel = spec
        find = lambda x: [y for y in shapes if (y['kind'], y['color'], y['size']) == (x['kind'], x['color'], x['size'])]
        fs, fo = find(s), find(o)
        if len(shapes) != 2 or len(fs) != 1 or len(fo) != 1:
            return False
        r, clear = relation_between(fs[0], fo[0])
        return clear and r == rel
    want = Counter()
    for n, *k in spec[2]:
        want[tuple(k)] += n
    return Counter(_key(s, spec[1]) for s in shapes) == want


@dataclass(frozen=True)
class Flip:
    """An image slot holding image `row` flipped along `axis` ('x': left-right, 'y': top-bottom)."""
    row: int
    axis: str


def flip_axis(spec, scene):
    """The flip that makes a relation caption's scene its 'relation' near miss, or None."""
    if spec[0] != 'relation':
        return None
    if spec[3] in ('left', 'right'):
        return 'x'
    return None if any(s['kind'] == 'triangle' for s in scene['shapes']) else 'y'


def _overlap(a, b):
    ca, cb = Counter(_key(s, True) for s in a['shapes']), Counter(_key(s, True) for s in b['shapes'])
    return sum((ca & cb).values()) - abs(len(a['shapes']) - len(b['shapes']))


def mirror_draw(scenes, rows, rng, tries=20):
    """(better row, Flip of it, relation spec, numerals) from two-shape `rows`, or None when no try gave a relation caption."""
    for _ in range(tries):
        a = rows[rng.randrange(len(rows))]
        spec = spec_of(scenes[a], rng)
        axis = flip_axis(spec, scenes[a])
        if axis:
            return a, Flip(a, axis), spec, rng.choice(['digits', 'words'])
    return None


def t2i_draw(scenes, rows, rng):
    """(better row, worse row, spec, numerals), or None when no drawn candidate is a non-match."""
    a = rows[rng.randrange(len(rows))]
    spec = spec_of(scenes[a], rng)
    others = [r for r in (rows[rng.randrange(len(rows))] for _ in range(CANDIDATES)) if r != a and not fits(spec, scenes[r])]
    if not others:
        return None
    b = max(others, key=lambda r: _overlap(scenes[a], scenes[r])) if rng.random() < 0.5 else others[0]
    return a, b, spec, rng.choice(['digits', 'words'])


def t2i_example(scenes, rows, rng, mirror_rows=None):
    """((image row 1, image row 2), 't2i', prompt, true answer, false answer), or None.
    With `mirror_rows` (two-shape rows) a relation caption against its own
    image flipped, qtype 't2i_mirror'."""
    d = mirror_draw(scenes, mirror_rows, rng) if mirror_rows else t2i_draw(scenes, rows, rng)
    if d is None:
        return None
    a, b, spec, numerals = d
    first = rng.random() < 0.5
    text = PROMPT.format(caption(spec, numerals))
    qtype = 't2i_mirror' if isinstance(b, Flip) else 't2i'
    return ((a, b) if first else (b, a)), qtype, text, ANSWERS[0 if first else 1], ANSWERS[1 if first else 0]


def ts_spec(spec):
    """The spec as t2i.ts's CaptionSpec (for the TypeScript test)."""
    attrs = lambda x: {'kind': x['kind'], 'color': x['color'], 'size': x['size']}
    if spec[0] == 'relation':
        return {'type': 'relation', 'subject': attrs(spec[1]), 'object': attrs(spec[2]), 'relation': spec[3]}
    return {'type': 'groups', 'groups': [{'count': n, **({'size': z} if spec[1] else {}), 'color': c, 'kind': k} for n, z, c, k in spec[2]]}


def main(argv=None):
    """python3 -m mrm_torch.t2i_claims SCENES.json N [mirror]: N draws over the
    scenes (a JSON array), one JSON array [better, worse, spec, numerals,
    caption] per line, worse as {"row", "axis"} when it is a Flip;
    test/trainer/torch/claims.test.ts checks them with t2i.ts."""
    import json
    import random
    import sys
    args = sys.argv[1:] if argv is None else argv
    with open(args[0], encoding='utf-8') as f:
        scenes = json.load(f)
    rng, rows = random.Random(0), [i for i, sc in enumerate(scenes) if sc['shapes']]
    # MIRROR: every draw a mirror question, from the two-shape scenes.
    mirror = len(args) > 2 and args[2] == 'mirror'
    two = [i for i in rows if len(scenes[i]['shapes']) == 2]
    for _ in range(int(args[1])):
        d = mirror_draw(scenes, two, rng) if mirror else t2i_draw(scenes, rows, rng)
        if d is not None:
            a, b, spec, numerals = d
            b = {'row': b.row, 'axis': b.axis} if isinstance(b, Flip) else b
            print(json.dumps([a, b, ts_spec(spec), numerals, caption(spec, numerals)]))


if __name__ == '__main__':
    main()
