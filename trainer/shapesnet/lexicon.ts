/**
 * The default model's tokenizer vocabulary and its word "embeddings": each
 * vocabulary word maps to concept channels (a color, a kind, a number, a
 * direction, ...). A pretrained language model would have learned these; we
 * cannot download one, so the lexicon is written down instead. Words outside
 * it still get stable hashed ids (see src/model/text.ts) and carry style only.
 */
import { TOKENIZER_FORMAT, type TokenizerSpec } from '../../src/model/text.js';
import { COLOR_ORDER, KIND_ORDER } from './palette.js';

/** Concept channels, in the order of the lexicon table's columns. */
export const CH = {
  color: 0, // 6
  kind: 6, // 3
  size: 9, // 2: small, large
  num: 11, // 7: zero..six
  article: 18,
  yes: 19,
  no: 20,
  neg: 21,
  dir: 22, // 4: left, right, above, below
  image: 26,
  markdown: 27,
} as const;
export const NCH = 28;

const NUMBER_WORDS = ['zero', 'one', 'two', 'three', 'four', 'five', 'six'];
const DIRECTIONS: [string, number][] = [['left', 0], ['right', 1], ['above', 2], ['below', 3], ['top', 2], ['bottom', 3], ['under', 3], ['beneath', 3]];

/** Words with a concept, and the channels they light up. */
function conceptWords(): Map<string, number[]> {
  const m = new Map<string, number[]>();
  COLOR_ORDER.forEach((c, i) => m.set(c, [CH.color + i]));
  KIND_ORDER.forEach((k, i) => { m.set(k, [CH.kind + i]); m.set(`${k}s`, [CH.kind + i]); });
  for (const w of ['small', 'tiny', 'little']) m.set(w, [CH.size]);
  for (const w of ['large', 'big']) m.set(w, [CH.size + 1]);
  NUMBER_WORDS.forEach((w, i) => { m.set(w, [CH.num + i]); m.set(String(i), [CH.num + i]); });
  for (const w of ['a', 'an', 'single']) m.set(w, [CH.article]);
  for (const w of ['yes', 'yeah', 'indeed']) m.set(w, [CH.yes]);
  m.set('no', [CH.no]);
  for (const w of ['not', 'none', 'isn', 'aren', 'nothing', 'neither', 'nor']) m.set(w, [CH.neg]);
  for (const [w, d] of DIRECTIONS) m.set(w, [CH.dir + d]);
  m.set('image', [CH.image]);
  for (const w of ['*', '#', '-', '_', '`', '>']) m.set(w, [CH.markdown]);
  return m;
}

/** Common words of the domain's prompts and answers, so they get their own ids. */
const PLAIN_WORDS = `the there is are in of to and or what how many which where color colour shape shapes
object objects picture photo scene see you can i it this that these those with on at as by for from be
describe list count relative matches match better worse than text caption answer question looking carefully
closely confidently say certain clearly exactly total altogether overall so here we have has one's its
let me look based analysis great sure certainly definitely absolutely observe observation`.split(/\s+/);

const PUNCT = ['.', ',', ':', ';', '?', '!', '<', '(', ')', "'", '"', '/'];

export const OOV_BUCKETS = 256;

export function buildTokenizerSpec(): TokenizerSpec {
  const words = ['<pad>', ...conceptWords().keys(), ...PLAIN_WORDS, ...PUNCT];
  const vocab = [...new Set(words)];
  return {
    format: TOKENIZER_FORMAT,
    lowercase: true,
    pattern: "[a-z]+|[0-9]+|[^\\sa-z0-9]",
    vocab,
    oovBuckets: OOV_BUCKETS,
  };
}

/** The [V, NCH] concept table for a tokenizer built by buildTokenizerSpec. */
export function lexiconTable(spec: TokenizerSpec): Float32Array {
  const v = spec.vocab.length + spec.oovBuckets;
  const table = new Float32Array(v * NCH);
  const concepts = conceptWords();
  spec.vocab.forEach((w, id) => {
    for (const ch of concepts.get(w) ?? []) table[id * NCH + ch] = 1;
  });
  return table;
}
