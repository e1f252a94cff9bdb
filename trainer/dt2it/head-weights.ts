/**
 * A version's head as HeadWeights, read back from its head.onnx (as
 * src/model/onnx/heads.ts writes it), so the round's steps can score pairs
 * with the active version's heads in plain TypeScript, like the heads they
 * fit themselves.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { HeadWeights } from '../../src/model/onnx/heads.js';

const { onnx } = onnxProto;

export class HeadFormatError extends Error {
  override readonly name = 'HeadFormatError';
  readonly kind = 'head-format';
}

export function parseHeadOnnx(bytes: Uint8Array): HeadWeights {
  const model = onnx.ModelProto.decode(bytes);
  const inits = new Map<string, { dims: number[]; data: Float32Array }>();
  for (const t of model.graph?.initializer ?? []) {
    const hint = (t.name ?? '').replace(/_\d+$/, '');
    const raw = t.rawData ?? new Uint8Array();
    // A copy: rawData may be a view into the decode buffer (Buffer.slice shares memory).
    const data = raw.byteLength ? new Float32Array(new Uint8Array(raw).buffer) : Float32Array.from(t.floatData ?? []);
    // protobufjs gives int64 dims as Long objects.
    inits.set(hint, { dims: (t.dims ?? []).map((x) => (typeof x === 'number' ? x : x.toNumber())), data });
  }
  const get = (name: string) => {
    const v = inits.get(name);
    if (!v) throw new HeadFormatError(`head.onnx has no '${name}' initializer (not written by buildHeadOnnx?)`);
    return v;
  };
  if (inits.has('w1')) {
    const w1 = get('w1');
    const w2 = get('w2');
    const [d, kh] = w1.dims as [number, number];
    const k = w2.dims[1]!;
    const h = kh / k;
    // w2 was written as a block-diagonal [K*H, K] matrix; take the diagonal blocks back.
    const w2flat = new Float32Array(k * h);
    for (let j = 0; j < k; j++) for (let u = 0; u < h; u++) w2flat[j * h + u] = w2.data[(j * h + u) * k + j]!;
    return { kind: 'mlp', d, h, k, w1: w1.data, b1: get('b1').data, w2: w2flat, b2: get('b2').data };
  }
  if (inits.has('w')) {
    const w = get('w');
    const [d, k] = w.dims as [number, number];
    return { kind: 'linear', d, k, w: w.data, b: get('b').data };
  }
  return exportedGemm(model, inits);
}

/**
 * A linear head exported by another framework (trainer/torch: torch.onnx
 * writes nn.Linear as one Gemm with its weight [K, D] and transB=1), so
 * rounds can score and curate with a learned bundle's heads too.
 */
function exportedGemm(model: InstanceType<typeof onnx.ModelProto>, inits: Map<string, { dims: number[]; data: Float32Array }>): HeadWeights {
  const nodes = model.graph?.node ?? [];
  const gemm = nodes.length === 1 && nodes[0]!.opType === 'Gemm' ? nodes[0]! : null;
  const param = (i: number) => inits.get((gemm?.input?.[i] ?? '').replace(/_\d+$/, ''));
  const [wt, bt] = [param(1), param(2)];
  if (!gemm || !wt || !bt || wt.dims.length !== 2) {
    throw new HeadFormatError(`head.onnx is neither a head buildHeadOnnx writes nor one Gemm over initializers (nodes: ${nodes.map((n) => n.opType).join(', ') || 'none'})`);
  }
  const attr = (name: string, dflt: number) => {
    const a = gemm.attribute?.find((x) => x.name === name);
    return a ? (name.startsWith('trans') ? Number(a.i) : (a.f ?? dflt)) : dflt;
  };
  if (attr('transA', 0) !== 0) throw new HeadFormatError('head.onnx: a Gemm with transA=1 is not a head over features [N, D]');
  const transB = attr('transB', 0) === 1;
  const [alpha, beta] = [attr('alpha', 1), attr('beta', 1)];
  const [d, k] = (transB ? [wt.dims[1], wt.dims[0]] : wt.dims) as [number, number];
  if (bt.data.length !== k) throw new HeadFormatError(`head.onnx: Gemm bias of ${bt.data.length} values for ${k} heads`);
  // To the [D, K] row-major layout of LinearHeadWeights, with alpha and beta folded in.
  const w = new Float32Array(d * k);
  for (let i = 0; i < d; i++) for (let j = 0; j < k; j++) w[i * k + j] = alpha * wt.data[transB ? j * d + i : i * k + j]!;
  return { kind: 'linear', d, k, w, b: bt.data.map((x) => beta * x) };
}

/** The head of the bundle in `dir` (its manifest names head.onnx by path). */
export async function readBundleHead(dir: string, file = 'head.onnx'): Promise<HeadWeights> {
  return parseHeadOnnx(new Uint8Array(await readFile(join(dir, file))));
}
