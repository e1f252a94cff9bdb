/**
 * The default model's encoder: a fixed grounding network, built as an ONNX
 * graph, standing where a VLM's language model would be. It reads the token
 * ids through the lexicon's concept table, groups each noun phrase (number?
 * size? color? kind) into a referent, measures every referent against the
 * detected objects of each image, and emits agreement features: does a
 * claimed count, existence, color, direction hold in the image? Style
 * features (length, markdown, a hashed bag of words) ride along, so a head
 * fitted on style-biased labels can learn the bias, as real MRMs do.
 *
 * Only the head on top of these features is fitted; see trainer/fit/.
 */
import type { ImagePreprocess, TextPreprocess } from '../../src/model/manifest.js';
import { GraphBuilder } from '../../src/model/onnx/graph.js';
import type { TokenizerSpec } from '../../src/model/text.js';
import { CH, lexiconTable, NCH } from './lexicon.js';
import { NC, NCELL, NK, NS } from './palette.js';
import { VISION_DV } from './vision.js';

/** Referent slots per text side: a description lists at most six groups. */
const R = 6;
const NNUM = 7;
/** Buckets of the hashed bag of response words. */
export const STYLE_BUCKETS = 32;

/** Names of the feature columns, in order; the head and reports use them. */
export const FEATURE_NAMES: string[] = [
  // Response referents against the image.
  'resp.num_right', 'resp.num_wrong', 'resp.a_present', 'resp.a_absent', 'resp.no_absent', 'resp.no_present',
  'resp.bare_present', 'resp.bare_absent', 'resp.referents',
  'resp.rel_agree', 'resp.rel_disagree',
  // Whole-image coverage, when the prompt names no object (descriptions).
  'cover.total_right', 'cover.total_off',
  // Prompt referents (the question's subject) against the response's words.
  'q.count_right', 'q.count_wrong', 'q.yes_present', 'q.yes_absent', 'q.no_present', 'q.no_absent',
  'q.color_right', 'q.color_wrong', 'q.dir_right', 'q.dir_wrong',
  // Two images: the caption's agreement with image 1 minus image 2, signed by the response's pick.
  't2i.num_right', 't2i.num_wrong', 't2i.a_present', 't2i.a_absent', 't2i.bare_present', 't2i.bare_absent',
  't2i.rel_agree', 't2i.rel_disagree', 't2i.picks',
  // Style.
  'style.length', 'style.log_length', 'style.markdown',
  ...Array.from({ length: STYLE_BUCKETS }, (_, i) => `style.bag${i}`),
];
export const ENCODER_D = FEATURE_NAMES.length;

class Enc {
  constructor(readonly g: GraphBuilder) {}
  /** x[..., a:b] along the last axis. */
  ch(x: string, a: number, b = a + 1): string {
    return this.g.op('Slice', [x, this.g.i64([a]), this.g.i64([b]), this.g.i64([-1])]);
  }
  sumLast(x: string, keep = true): string { return this.g.reduceSum(x, [-1], keep); }
  clip01(x: string): string { return this.g.op('Clip', [x, this.g.scalar(0), this.g.scalar(1)]); }
  oneMinus(x: string): string { return this.g.sub(this.g.scalar(1), x); }
  unsq(x: string, axes: number[]): string { return this.g.op('Unsqueeze', [x, this.g.i64(axes)]); }
  sq(x: string, axes: number[]): string { return this.g.op('Squeeze', [x, this.g.i64(axes)]); }
}

export function buildEncoderOnnx(image: ImagePreprocess, text: TextPreprocess, tok: TokenizerSpec): Uint8Array {
  const g = new GraphBuilder('shapesnet_encoder');
  const e = new Enc(g);
  const M = image.maxImages;
  const emb = g.input('image_embeddings', 'float32', ['N', M, VISION_DV]);
  const imask = g.input('image_mask', 'float32', ['N', M]);
  const pIds = g.input('prompt_ids', 'int64', ['N', text.maxPromptTokens]);
  const rIds = g.input('response_ids', 'int64', ['N', text.maxResponseTokens]);
  const vocab = tok.vocab.length + tok.oovBuckets;
  const lex = g.f32(lexiconTable(tok), [vocab, NCH], 'lexicon');

  // Detected objects per image: [N, M, 36] counts and coordinate sums.
  const cnt = e.ch(emb, 0, NCELL);
  const sumX = e.ch(emb, NCELL, 2 * NCELL);
  const sumY = e.ch(emb, 2 * NCELL, 3 * NCELL);
  const T = (x: string) => g.op('Transpose', [x], { perm: [0, 2, 1] });
  const cntT = T(cnt);
  const sumXT = T(sumX);
  const sumYT = T(sumY);

  /** Parse one side's token ids into referents and word bags. */
  const parse = (ids: string) => {
    const L = g.op('Gather', [lex, ids]); // [N, T, NCH]
    // A number right after the word "image" names an image ("Image 2"), not a count.
    const img = e.ch(L, CH.image); // [N, T, 1]
    const prevImg = g.op('Slice', [g.op('Pad', [img, g.i64([0, 1, 0, 0, 0, 0])]), g.i64([0]), g.i64([-1]), g.i64([1])]);
    const numAll = e.ch(L, CH.num, CH.num + NNUM);
    const num = g.mul(numAll, e.oneMinus(prevImg));
    const imageIdx = g.mul(numAll, prevImg); // [N, T, 7]
    // Modifiers bind to the next kind word: referent index = kinds seen before + 1.
    const kd = e.sumLast(e.ch(L, CH.kind, CH.kind + NK), false); // [N, T]
    const bind = g.add(g.op('CumSum', [kd, g.i64([1], [])], { exclusive: 1 }), g.scalar(1));
    const slots = g.f32(Array.from({ length: R }, (_, i) => i + 1), [1, 1, R], 'slots');
    const B = g.cast(g.op('Equal', [e.unsq(bind, [2]), slots]), 'float32'); // [N, T, R]
    const concepts = g.concat([e.ch(L, 0, CH.num), num, e.ch(L, CH.article, NCH)], 2);
    const A = g.matmul(T(B), concepts); // [N, R, NCH]
    const bag = e.clip01(g.reduceSum(concepts, [1])); // [N, NCH]
    return { A, bag, imageIdx, L };
  };

  /** Referents of one side measured against every image. */
  const ground = (A: string) => {
    const sel = (a: number, n: number) => {
      const x = e.clip01(e.ch(A, a, a + n));
      const has = e.clip01(e.sumLast(x));
      return { x: g.add(x, e.oneMinus(has)), has }; // none mentioned = any matches
    };
    const col = sel(CH.color, NC);
    const kind = sel(CH.kind, NK);
    const size = sel(CH.size, NS);
    const r5 = (x: string, shape: number[]) => g.reshape(x, [-1, R, ...shape]);
    const cellSel = g.reshape(
      g.mul(g.mul(r5(col.x, [NC, 1, 1]), r5(kind.x, [1, NK, 1])), r5(size.x, [1, 1, NS])),
      [-1, R, NCELL],
    );
    const n = g.matmul(cellSel, cntT); // [N, R, M]
    const safe = g.op('Max', [n, g.scalar(1e-3)]);
    const cx = g.div(g.matmul(cellSel, sumXT), safe);
    const cy = g.div(g.matmul(cellSel, sumYT), safe);
    const valid = e.clip01(g.add(kind.has, col.has)); // [N, R, 1]
    const numc = e.clip01(e.ch(A, CH.num, CH.num + NNUM)); // [N, R, 7]
    const hasNum = e.clip01(e.sumLast(numc));
    // Soft one-hot of the detected count: [N, R, M, 7].
    const js = g.f32(Array.from({ length: NNUM }, (_, j) => j), [1, 1, 1, NNUM], 'js');
    const ohn = g.relu(e.oneMinus(g.op('Abs', [g.sub(e.unsq(n, [3]), js)])));
    const eqNum = e.sq(g.matmul(ohn, e.unsq(numc, [3])), [3]); // [N, R, M]
    const present = e.clip01(n);
    const absent = e.oneMinus(present);
    const art = e.clip01(e.ch(A, CH.article));
    const neg = e.clip01(g.add(e.ch(A, CH.no), e.ch(A, CH.neg)));
    const bare = g.mul(g.mul(e.oneMinus(hasNum), e.oneMinus(art)), e.oneMinus(neg));
    // Colors of the objects that match the referent's kind and size, ignoring its color.
    const kindSizeSel = g.reshape(g.mul(r5(kind.x, [1, NK, 1]), r5(size.x, [1, 1, NS])), [-1, R, 1, NK * NS]);
    const claimed = g.add(g.reduceSum(g.mul(numc, g.f32(Array.from({ length: NNUM }, (_, j) => j), [1, 1, NNUM], 'jv')), [2], true), art);
    return { n, cx, cy, valid, hasNum, eqNum, present, absent, art, neg, bare, kindSizeSel, claimed };
  };

  /** Per-image agreement of a side's referents: [N, M] each. */
  const agreement = (gr: ReturnType<typeof ground>) => {
    const sumR = (x: string) => g.reduceSum(g.mul(x, gr.valid), [1]); // over referents -> [N, M]
    return [
      sumR(g.mul(gr.hasNum, gr.eqNum)), sumR(g.mul(gr.hasNum, e.oneMinus(gr.eqNum))),
      sumR(g.mul(gr.art, gr.present)), sumR(g.mul(gr.art, gr.absent)),
      sumR(g.mul(gr.neg, gr.absent)), sumR(g.mul(gr.neg, gr.present)),
      sumR(g.mul(gr.bare, gr.present)), sumR(g.mul(gr.bare, gr.absent)),
    ];
  };

  /** Direction of referent 1 from referent 2 in each image, soft one-hot [N, M, 4]. */
  const direction = (gr: ReturnType<typeof ground>) => {
    const at = (x: string, r: number) => e.sq(g.op('Slice', [x, g.i64([r]), g.i64([r + 1]), g.i64([1])]), [1]); // [N, M]
    const dx = g.sub(at(gr.cx, 0), at(gr.cx, 1));
    const dy = g.sub(at(gr.cy, 0), at(gr.cy, 1));
    const both = g.mul(g.mul(e.clip01(at(gr.n, 0)), e.clip01(at(gr.n, 1))), g.mul(at(gr.valid, 0), at(gr.valid, 1)));
    const k = g.scalar(40);
    const ax = g.op('Abs', [dx]);
    const ay = g.op('Abs', [dy]);
    const soft = (x: string) => g.mul(g.sigmoid(g.mul(x, k)), both);
    const dirs = [soft(g.sub(g.op('Neg', [dx]), ay)), soft(g.sub(dx, ay)), soft(g.sub(g.op('Neg', [dy]), ax)), soft(g.sub(dy, ax))];
    return g.concat(dirs.map((d) => e.unsq(d, [2])), 2); // [N, M, 4]
  };

  /** agree = sum of dir . words, disagree = words mentioned that do not hold: [N, M] each. */
  const dirAgreement = (dir: string, words: string /* [N, 4] */) => {
    const w = e.unsq(words, [2]); // [N, 4, 1]
    const agree = e.sq(g.matmul(dir, w), [2]);
    const total = g.reduceSum(words, [1], true); // [N, 1]
    return [agree, g.mul(g.sub(total, agree), e.clip01(g.reduceSum(dir, [2])))];
  };

  const P = parse(pIds);
  const Rs = parse(rIds);
  const gp = ground(P.A);
  const gr = ground(Rs.A);
  const first = (x: string) => g.op('Slice', [x, g.i64([0]), g.i64([1]), g.i64([1])]); // [N, M] -> [N, 1]
  const single = e.oneMinus(first(g.op('Slice', [imask, g.i64([1]), g.i64([2]), g.i64([1])])));
  const twoImages = e.oneMinus(single);

  // Response referents against image 1.
  const respDir = dirAgreement(direction(gr), e.ch(Rs.bag, CH.dir, CH.dir + 4));
  const respRefs = g.reduceSum(gr.valid, [1]); // [N, 1]
  const resp = [...agreement(gr), ...respDir].map(first);
  resp.splice(8, 0, respRefs);

  // Coverage: with no object named in the prompt, the claimed total should be the image's total.
  const promptNamesNothing = e.oneMinus(e.clip01(g.reduceSum(gp.valid, [1])));
  const claimedTotal = g.reduceSum(g.mul(gr.claimed, gr.valid), [1]); // [N, 1]
  const imageTotal = first(g.reduceSum(cnt, [2])); // [N, 1]
  const off = g.op('Abs', [g.sub(claimedTotal, imageTotal)]);
  const cover = [g.mul(g.relu(e.oneMinus(off)), promptNamesNothing), g.mul(e.clip01(off), promptNamesNothing)];

  // The question's subject (prompt referent 1) against the response's words, image 1.
  const subj = (x: string) => first(e.sq(g.op('Slice', [x, g.i64([0]), g.i64([1]), g.i64([1])]), [1])); // [N, R, M] -> [N, 1]
  const rNum = e.ch(Rs.bag, CH.num, CH.num + NNUM); // [N, 7]
  const subjCount = g.relu(e.oneMinus(g.op('Abs', [g.sub(subj(gp.n), g.f32(Array.from({ length: NNUM }, (_, j) => j), [1, NNUM], 'jn'))])));
  const countRight = g.mul(e.sumLast(g.mul(subjCount, rNum)), subj(gp.valid));
  const countWrong = g.mul(g.sub(e.sumLast(rNum), countRight), subj(gp.valid));
  const yes = e.ch(Rs.bag, CH.yes);
  const no = e.clip01(g.add(e.ch(Rs.bag, CH.no), e.ch(Rs.bag, CH.neg)));
  const sp = g.mul(subj(gp.present), subj(gp.valid));
  const sa = g.mul(subj(gp.absent), subj(gp.valid));
  // Colors present among objects of the subject's kind and size, image 1: [N, 6].
  const cells = g.reshape(first(cnt), [-1, 1, NC, NK * NS]);
  const subjSel = g.op('Slice', [gp.kindSizeSel, g.i64([0]), g.i64([1]), g.i64([1])]); // [N, 1, 1, 6]
  const colorsPresent = e.clip01(g.reshape(g.reduceSum(g.mul(cells, subjSel), [3]), [-1, NC]));
  const rCol = e.ch(Rs.bag, CH.color, CH.color + NC);
  const colorRight = g.mul(e.sumLast(g.mul(colorsPresent, rCol)), subj(gp.valid));
  const colorWrong = g.mul(g.sub(e.sumLast(rCol), colorRight), subj(gp.valid));
  const qDir = dirAgreement(direction(gp), e.ch(Rs.bag, CH.dir, CH.dir + 4)).map(first);
  const question = [countRight, countWrong, g.mul(yes, sp), g.mul(yes, sa), g.mul(no, sp), g.mul(no, sa), colorRight, colorWrong, ...qDir];

  // Two images: the caption's agreement with each, and which one the response picks.
  const captionDir = dirAgreement(direction(gp), e.ch(P.bag, CH.dir, CH.dir + 4));
  const captionAgree = agreement(gp);
  const perImage = [...captionAgree.slice(0, 4), ...captionAgree.slice(6, 8), ...captionDir]; // [N, M] each
  const idx1 = e.sumLast(e.ch(Rs.imageIdx, 1, 2), false); // [N, T]
  const idx2 = e.sumLast(e.ch(Rs.imageIdx, 2, 3), false);
  const seen = g.op('CumSum', [g.add(idx1, idx2), g.i64([1], [])], { exclusive: 1 });
  const isFirst = g.cast(g.op('Equal', [seen, g.scalar(0)]), 'float32');
  const pick = g.reduceSum(g.mul(isFirst, g.sub(idx1, idx2)), [1], true); // +1 image 1, -1 image 2
  const diff12 = (x: string) => g.sub(first(x), g.op('Slice', [x, g.i64([1]), g.i64([2]), g.i64([1])]));
  const t2i = [...perImage.map((x) => g.mul(g.mul(diff12(x), pick), twoImages)), g.mul(g.op('Abs', [pick]), twoImages)];

  // Style: length, markdown, hashed bag of words.
  const rValid = g.cast(g.op('Greater', [rIds, g.i64([0], [])]), 'float32'); // [N, T]
  const len = g.reduceSum(rValid, [1], true);
  const hashTable = new Float32Array(vocab * STYLE_BUCKETS);
  for (let id = 1; id < vocab; id++) hashTable[id * STYLE_BUCKETS + ((id * 2654435761) >>> 0) % STYLE_BUCKETS] = 1;
  const bagCounts = g.reduceSum(g.op('Gather', [g.f32(hashTable, [vocab, STYLE_BUCKETS], 'hash'), rIds]), [1]);
  const style = [
    g.div(len, g.scalar(32)),
    g.op('Log', [g.add(len, g.scalar(1))]),
    g.div(g.reduceSum(e.ch(Rs.L, CH.markdown), [1]), g.scalar(8)),
    g.div(bagCounts, g.op('Max', [len, g.scalar(1)])),
  ];

  const gate = (xs: string[]) => xs.map((x) => g.mul(x, single));
  const features = g.concat([...gate(resp), ...gate(cover), ...gate(question), ...t2i, ...style], 1);
  g.output(features, 'features', 'float32', ['N', ENCODER_D]);
  return g.toBytes('ShapesNet encoder: lexicon, referent grounding, agreement and style features');
}
