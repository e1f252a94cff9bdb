"""Pair accuracy by question type, from `mrm eval --rewards FILE` lines:

  python3 -m mrm_torch.by_type RW.jsonl [RW2.jsonl ...]   (--json: one JSON object per file)

`mrm eval` reports slices (grounded, paraphrase, t2i...); a learned model's
failures sit in question types that cut across them (count questions are in
every QA slice). The type comes from the prompt's wording in ShapesWorld's
templates (trainer/shapes/questions.ts); count pairs are also split by the
true count (the number in the chosen answer), and `lost` is each type's
share of all pairs answered wrong, in points of the overall accuracy."""
import json
import re
import sys
from collections import defaultdict

NUMBERS = {'no': 0, 'zero': 0, 'one': 1, 'a': 1, 'an': 1, 'two': 2, 'three': 3, 'four': 4, 'five': 5, 'six': 6}
_STATED = re.compile(r'\b(\d|zero|no|one|two|three|four|five|six|an?)\s+(?:\w+\s+)?(?:circle|square|triangle)', re.I)


def question_type(row):
    p = row['prompt']
    if row['slice'] == 't2i':
        return 't2i'
    if p.startswith(('How many', 'Count the')):
        return 'count'
    if 'color' in p or 'colour' in p:
        return 'color'
    if p.startswith(('Is there', 'Are there')):
        return 'existence'
    if p.startswith('Where') or any(w in p for w in (' left ', ' right ', ' above ', ' below ')):
        return 'position'
    return 'description'


def stated_count(text):
    """The last number stated before a kind word in an answer, or None."""
    found = _STATED.findall(text)
    if not found:
        return None
    w = found[-1].lower()
    return int(w) if w.isdigit() else NUMBERS[w]


def tally(rows):
    acc = defaultdict(lambda: [0, 0])
    for r in rows:
        ok = r['rewards']['chosen']['reward'] > r['rewards']['rejected']['reward']
        qt = question_type(r)
        keys = ['overall', qt]
        if qt == 'count':
            keys.append(f'count, true {stated_count(r["chosen"])}')
        for k in keys:
            acc[k][0] += ok
            acc[k][1] += 1
    return acc


def main(argv=None):
    args = list(argv if argv is not None else sys.argv[1:])
    as_json = '--json' in args
    paths = [a for a in args if a != '--json']
    if not paths:
        raise SystemExit('usage: python3 -m mrm_torch.by_type [--json] RW.jsonl [...]')
    for path in paths:
        with open(path, encoding='utf-8') as f:
            acc = tally(json.loads(line) for line in f if line.strip())
        total = acc['overall'][1]
        if as_json:
            print(json.dumps({'file': path, 'types': {k: {'pairs': n, 'right': right} for k, (right, n) in acc.items()}}))
            continue
        print(path)
        print(f'  {"type":18s} {"pairs":>6s} {"right":>7s} {"lost":>6s}')
        order = ['overall', 'count', 'color', 'existence', 'position', 'description', 't2i']
        for k in order + sorted(k for k in acc if k not in order):
            if k in acc:
                right, n = acc[k]
                print(f'  {k:18s} {n:6d} {100 * right / n:6.1f}% {100 * (n - right) / total:5.1f}')


if __name__ == '__main__':
    main()
