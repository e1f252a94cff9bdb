/**
 * The default model's vision stage: a fixed (not learned) shape detector,
 * built as an ONNX graph. It stands where a VLM's vision tower would be,
 * because no pretrained tower can be downloaded here.
 *
 * pixels -> per-color soft masks (distance to the palette) -> matched filters
 * for each (kind, size) on each mask -> peaks (local maxima over space and
 * templates, above a threshold) -> per (color, kind, size) cell: the count of
 * detections and the sums of their x and y. The embedding is
 * [counts(36), sum x(36), sum y(36)]: everything a caption or an answer about
 * the scene can refer to, and nothing about background or noise.
 *
 * How it runs (the mathematics above is unchanged; only the evaluation order
 * and layout are chosen for onnxruntime's CPU kernels):
 * - The image is transposed first, so a mask is [x, y] and every linear pass
 *   is a GEMM with a constant banded matrix (see separable.ts): the 1 x K
 *   convolution of the separable bank did ~14 GFLOPS of useful work on one
 *   core, the GEMMs ~75 even counting the band's zeros.
 * - The templates are symmetric about their vertical axis, so the horizontal
 *   pass is folded about the image centre (even and odd parts of each row,
 *   foldedHorizontalMatrices): half the multiply-adds of the unfolded pass.
 *   Score maps are then laid out folded: x < S/2 ("p") and S-1-x ("q").
 * - The graph runs one image at a time (a Scan over the batch): one image's
 *   intermediates (~2 MB) stay in cache, where a batch of 32 streamed ~70 MB
 *   through memory and ran ~10% slower per image.
 */
import onnxProto from 'onnx-proto';
import type { ImagePreprocess } from '../../src/model/manifest.js';
import { GraphBuilder } from '../../src/model/onnx/graph.js';
import { contains } from '../shapes/geometry.js';
import { foldedHorizontalMatrices, horizontalAsymmetry, separate, verticalMatrix } from './separable.js';
import { COLOR_ORDER, KIND_ORDER, NC, NCELL, PALETTE, SIZE_ORDER, SIZE_UNIT } from './palette.js';

const { onnx } = onnxProto;

export const VISION_DV = 3 * NCELL;
const NT = KIND_ORDER.length * SIZE_ORDER.length;

export interface VisionParams {
  /** Color distance (0..255 RGB units) at which a pixel is half in a color's mask. */
  colorRadius: number;
  /** Softness of the mask edge, in the same units. */
  colorSoftness: number;
  /** Ring width around each template, in pixels: mass there counts against the match. */
  ringWidth: number;
  /** Weight of the ring relative to the inside. */
  ringWeight: number;
  /** Minimum template score for a detection. */
  threshold: number;
  /** Side of the spatial non-maximum-suppression window, in pixels. */
  nmsWindow: number;
  /** Rank of the separable template bank. */
  rank: number;
}

/**
 * Tuned on rendered ShapesWorld scenes at 56 px (scratch sweeps over 460
 * images, seeds 3 and 4): 98% of scenes get every (color, kind, size) count
 * right. A wider color radius keeps anti-aliased edges in the mask; a ring
 * of 1.5 px tolerates same-color neighbours; the 9-cell NMS window stops a
 * large triangle's tip from also firing the small-triangle template. Scoring
 * every second pixel quartered the cost but missed 1 shape in 10; a rank-12
 * separable bank costs a third and misses nothing more.
 */
export const DEFAULT_VISION: VisionParams = {
  colorRadius: 60,
  colorSoftness: 6,
  ringWidth: 1.5,
  ringWeight: 1,
  threshold: 0.5,
  nmsWindow: 9,
  rank: 12,
};

/** Matched filter of one (kind, size): +1/area inside, -w/area in the ring around it. */
function template(kind: (typeof KIND_ORDER)[number], r: number, ksize: number, p: VisionParams): Float32Array {
  const ss = 4;
  const inner = new Float32Array(ksize * ksize);
  const ring = new Float32Array(ksize * ksize);
  const c = (ksize - 1) / 2;
  for (let y = 0; y < ksize; y++) {
    for (let x = 0; x < ksize; x++) {
      let a = 0;
      let b = 0;
      for (let sy = 0; sy < ss; sy++) {
        for (let sx = 0; sx < ss; sx++) {
          const dx = x - c + (sx + 0.5) / ss - 0.5;
          const dy = y - c + (sy + 0.5) / ss - 0.5;
          if (contains(kind, r, dx, dy)) a++;
          else if (contains(kind, r + p.ringWidth, dx, dy)) b++;
        }
      }
      inner[y * ksize + x] = a / (ss * ss);
      ring[y * ksize + x] = b / (ss * ss);
    }
  }
  const sa = inner.reduce((s, v) => s + v, 0);
  const sb = ring.reduce((s, v) => s + v, 0);
  return inner.map((v, i) => v / sa - (p.ringWeight * ring[i]!) / sb);
}

export function buildVisionOnnx(image: ImagePreprocess, p: VisionParams = DEFAULT_VISION): Uint8Array {
  return oneImageAtATime(buildBatchGraph(image, p), image.size);
}

/** The detector on a batch [N, 3, S, S] -> [N, VISION_DV] (N >= 1). */
function buildBatchGraph(image: ImagePreprocess, p: VisionParams): Uint8Array {
  const S = image.size;
  if (S % 2 !== 0) throw new RangeError(`vision: the folded bank needs an even image size, got ${S}`);
  const H = S / 2;
  const g = new GraphBuilder('shapesnet_vision');
  // Transposed image: [N, 3, x, y].
  const x = g.op('Transpose', [g.input('pixels', 'float32', ['N', 3, S, S])], { perm: [0, 1, 3, 2] });

  // Undo the manifest's normalization: the detector works in 0..255 RGB.
  const order = image.channelOrder === 'rgb' ? [0, 1, 2] : [2, 1, 0];
  const std = g.f32(image.std.map((s) => s * 255), [1, 3, 1, 1], 'std');
  const mean = g.f32(image.mean.map((m) => m * 255), [1, 3, 1, 1], 'mean');
  const rgb = g.add(g.mul(x, std), mean);

  // Squared distance to each palette color as one 1x1 conv: |p|^2 - 2 p.c + |c|^2.
  const w = new Float32Array(NC * 3);
  const b = new Float32Array(NC);
  COLOR_ORDER.forEach((name, ci) => {
    const col = PALETTE[name];
    order.forEach((src, ch) => { w[ci * 3 + ch] = -2 * col[src]!; });
    b[ci] = col[0] ** 2 + col[1] ** 2 + col[2] ** 2;
  });
  const sq = g.reduceSum(g.mul(rgb, rgb), [1], true);
  const d2 = g.add(g.op('Conv', [rgb, g.f32(w, [NC, 3, 1, 1], 'pal'), g.f32(b, [NC], 'palb')]), sq);
  const dist = g.op('Sqrt', [g.relu(d2)]);
  const mask = g.sigmoid(g.div(g.sub(g.scalar(p.colorRadius), dist), g.scalar(p.colorSoftness))); // [N, C, x, y]

  // Every (kind, size) template on every color mask, as a low-rank separable
  // bank (see separable.ts): a vertical pass into the shared basis, then a
  // horizontal pass out to the six templates, both as banded-matrix GEMMs.
  const ksize = 2 * Math.ceil(SIZE_UNIT.large * S * 1.15 + p.ringWidth + 1) + 1;
  const filters = KIND_ORDER.flatMap((kind) => SIZE_ORDER.map((size) => template(kind, SIZE_UNIT[size] * S, ksize, p)));
  const bank = separate(filters, ksize, p.rank);
  const asym = horizontalAsymmetry(bank);
  if (asym > 1e-6 * bank.w.reduce((m, v) => Math.max(m, Math.abs(v)), 0)) {
    throw new Error(`vision: templates must be symmetric about their vertical axis to fold the bank (asymmetry ${asym})`);
  }
  // Fold the rows x of each mask about the centre: rows 0..H-1 are E[x] = m[x] + m[S-1-x], rows H..S-1 are O[x] = m[x] - m[S-1-x].
  const fold = new Float32Array(S * S);
  for (let i = 0; i < H; i++) {
    fold[i * S + i] = 1;
    fold[i * S + S - 1 - i] = 1;
    fold[(H + i) * S + i] = 1;
    fold[(H + i) * S + S - 1 - i] = -1;
  }
  const folded = g.matmul(g.f32(fold, [S, S], 'fold'), mask); // [N, C, (e/o, x'), y']
  // Vertical pass: [.., y'] x [y', (b, y)] -> [N * C, e/o, (x', b), y].
  const vertical = g.reshape(g.matmul(folded, g.f32(verticalMatrix(bank, S), [S, p.rank * S], 'basis')), [-1, 2, H * p.rank, S]);
  // Horizontal pass, folded: S E and A O -> [N * C, 2, (t, x < H), y].
  const sa = g.matmul(g.f32(foldedHorizontalMatrices(bank, S), [2, NT * H, H * p.rank], 'bank'), vertical);
  // p = S E + A O (columns x < H), q = S E - A O (columns S-1-x), as one MatMul over the pair axis.
  const pq = g.matmul(g.f32([1, 1, 1, -1], [2, 2], 'pq'), g.reshape(sa, [-1, 2, NT * H * S]));
  // Scores [N, C, p/q, T, x < H, y]; t in (kind, size) order, the cell order.
  let score = g.reshape(pq, [-1, NC, 2, NT, H, S]);
  const G = S; // score map side
  /** A per-pixel constant in the folded layout [p/q, x < H, y], `cols` values per pixel. */
  const folds = (f: (x: number, y: number) => number[]) => {
    const cols = f(0, 0).length;
    const arr = new Float32Array(2 * H * G * cols);
    for (let q = 0; q < 2; q++) for (let i = 0; i < H; i++) for (let y = 0; y < G; y++) {
      arr.set(f(q ? G - 1 - i : i, y), ((q * H + i) * G + y) * cols);
    }
    return arr;
  };
  // A tiny fixed ramp breaks exact ties so a flat plateau yields one peak, not several.
  const ramp = folds((xx, y) => [(((y * G + xx) * 7919) % 997) * 1e-7]);
  score = g.add(score, g.f32(ramp, [1, 1, 2, 1, H, G], 'tie'));

  const best = g.reduceMax(score, [3], true); // [N, C, 2, 1, H, G]
  // Folded <-> natural column order (the same permutation both ways), for the NMS window.
  const unfold = g.i64(Array.from({ length: G }, (_, i) => (i < H ? i : G + H - 1 - i)));
  const best4 = g.op('Gather', [g.reshape(best, [-1, NC, G, G]), unfold], { axis: 2 }); // [N, C, x, y]
  const half = (p.nmsWindow - 1) / 2;
  const pooled = g.op('MaxPool', [best4], { kernel_shape: [p.nmsWindow, p.nmsWindow], pads: [half, half, half, half], strides: [1, 1] });
  const isPeak = g.op('And', [g.op('Equal', [best4, pooled]), g.op('Greater', [best4, g.scalar(p.threshold)])]);
  const peak = g.reshape(g.op('Gather', [isPeak, unfold], { axis: 2 }), [-1, NC, 2, 1, H, G]);
  const det = g.cast(g.op('And', [g.op('Equal', [score, best]), peak]), 'float32'); // [N, C, 2, T, H, G]

  // Per (color, template): count, sum x, sum y of the detections, as one MatMul over the pixels.
  const readout = folds((xx, y) => [1, (xx + 0.5) / S, (y + 0.5) / S]);
  const sums = g.matmul(g.reshape(det, [-1, NC, 2, NT, H * G]), g.f32(readout, [2, H * G, 3], 'readout')); // [N, C, 2, T, 3]
  const emb = g.op('Transpose', [g.reduceSum(sums, [2])], { perm: [0, 3, 1, 2] }); // [N, 3, C, T]
  g.output(g.reshape(emb, [-1, VISION_DV]), 'embedding', 'float32', ['N', VISION_DV]);
  return g.toBytes('ShapesNet vision: palette masks, matched filters, peak counting');
}

/**
 * Wraps a batch graph (pixels [N, 3, S, S] -> embedding [N, VISION_DV]) so
 * onnxruntime runs it one image at a time: a Scan over the batch, under an If
 * that returns [0, VISION_DV] for an empty batch (Scan cannot slice one).
 */
function oneImageAtATime(batchGraph: Uint8Array, S: number): Uint8Array {
  const model = onnx.ModelProto.decode(batchGraph);
  const body = model.graph!;
  const FLOAT = onnx.TensorProto.DataType.FLOAT;
  const INT64 = onnx.TensorProto.DataType.INT64;
  const { GRAPH, INT, TENSOR } = onnx.AttributeProto.AttributeType;
  const info = (name: string, dims: (number | string)[], elemType = FLOAT): onnxProto.onnx.IValueInfoProto => ({
    name,
    type: { tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
  });
  const i64 = (name: string, values: number[], dims = [values.length]): onnxProto.onnx.ITensorProto =>
    ({ name, dims, dataType: INT64, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });

  // Body: one image [3, S, S] -> [VISION_DV]; names must not shadow the outer graph's.
  const rename = (n: string) => (n === 'pixels' ? 'scan.pixels' : n === 'embedding' ? 'scan.embedding' : n);
  for (const node of body.node!) {
    node.input = node.input!.map(rename);
    node.output = node.output!.map(rename);
  }
  body.node!.unshift({ opType: 'Reshape', input: ['scan.image', 'scan.batch1'], output: ['scan.pixels'], name: 'scan.in' });
  body.node!.push({ opType: 'Reshape', input: ['scan.embedding', 'scan.flat'], output: ['scan.out'], name: 'scan.out' });
  body.initializer!.push(i64('scan.batch1', [1, 3, S, S]), i64('scan.flat', [VISION_DV]));
  body.input = [info('scan.image', [3, S, S])];
  body.output = [info('scan.out', [VISION_DV])];

  const scan: onnxProto.onnx.IGraphProto = {
    name: 'each_image',
    node: [{
      opType: 'Scan', input: ['pixels'], output: ['scanned'], name: 'scan',
      attribute: [{ name: 'body', type: GRAPH, g: body }, { name: 'num_scan_inputs', type: INT, i: 1 }],
    }],
    output: [info('scanned', ['N', VISION_DV])],
  };
  const empty: onnxProto.onnx.IGraphProto = {
    name: 'empty_batch',
    node: [{
      opType: 'Constant', input: [], output: ['no_images'], name: 'none',
      attribute: [{ name: 'value', type: TENSOR, t: { dims: [0, VISION_DV], dataType: FLOAT, rawData: new Uint8Array(0) } }],
    }],
    output: [info('no_images', [0, VISION_DV])],
  };
  model.graph = {
    name: body.name,
    node: [
      { opType: 'Shape', input: ['pixels'], output: ['batch_shape'], name: 'batch_shape' },
      { opType: 'Gather', input: ['batch_shape', 'zero'], output: ['batch'], name: 'batch', attribute: [{ name: 'axis', type: INT, i: 0 }] },
      { opType: 'Equal', input: ['batch', 'zero'], output: ['is_empty'], name: 'is_empty' },
      {
        opType: 'If', input: ['is_empty'], output: ['embedding'], name: 'by_image',
        attribute: [{ name: 'then_branch', type: GRAPH, g: empty }, { name: 'else_branch', type: GRAPH, g: scan }],
      },
    ],
    initializer: [i64('zero', [0], [])],
    input: [info('pixels', ['N', 3, S, S])],
    output: [info('embedding', ['N', VISION_DV])],
  };
  return onnx.ModelProto.encode(model).finish();
}
