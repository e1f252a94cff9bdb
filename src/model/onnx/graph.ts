/**
 * A small builder for ONNX graphs, so the project writes its own models (the
 * ShapesWorld vision and encoder stages, the heads the trainer fits) from
 * TypeScript with onnx-proto. Tensors are referred to by name; every op gets a
 * fresh output name, so graphs read like straight-line code.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** IR 8 / opset 17: what onnx-proto 8 encodes and onnxruntime 1.30 runs. */
export const IR_VERSION = 8;
export const OPSET = 17;

export type ElemType = 'float32' | 'int64' | 'bool';
export type Shape = (number | string)[];

const ELEM: Record<ElemType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  int64: onnx.TensorProto.DataType.INT64,
  bool: onnx.TensorProto.DataType.BOOL,
};

/** Attribute values; a bare number is an INT, wrap floats as {f}. */
export type Attr = number | number[] | string | { f: number } | { floats: number[] };

function encodeAttr(name: string, v: Attr): onnxProto.onnx.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new TypeError(`attribute ${name}: integer expected; wrap floats as {f}`);
    return { name, type: T.INT, i: v };
  }
  if (typeof v === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: T.INTS, ints: v };
  if ('f' in v) return { name, type: T.FLOAT, f: v.f };
  return { name, type: T.FLOATS, floats: v.floats };
}

function valueInfo(name: string, elem: ElemType, shape: Shape): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: ELEM[elem],
        shape: { dim: shape.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  };
}

export class GraphBuilder {
  private readonly nodes: onnxProto.onnx.INodeProto[] = [];
  private readonly inits: onnxProto.onnx.ITensorProto[] = [];
  private readonly inputs: onnxProto.onnx.IValueInfoProto[] = [];
  private readonly outputs: onnxProto.onnx.IValueInfoProto[] = [];
  private counter = 0;

  constructor(readonly name: string) {}

  private fresh(hint: string): string {
    return `${hint}_${this.counter++}`;
  }

  input(name: string, elem: ElemType, shape: Shape): string {
    this.inputs.push(valueInfo(name, elem, shape));
    return name;
  }

  /** Marks `tensor` as a graph output named `name` (through an Identity). */
  output(tensor: string, name: string, elem: ElemType, shape: Shape): void {
    this.nodes.push({ opType: 'Identity', input: [tensor], output: [name], name: this.fresh('out') });
    this.outputs.push(valueInfo(name, elem, shape));
  }

  f32(data: Float32Array | number[], dims: number[], hint = 'c'): string {
    const arr = data instanceof Float32Array ? data : Float32Array.from(data);
    const want = dims.reduce((a, b) => a * b, 1);
    if (arr.length !== want) throw new RangeError(`constant ${hint}: ${arr.length} values for dims [${dims}]`);
    const name = this.fresh(hint);
    this.inits.push({
      name,
      dims,
      dataType: ELEM.float32,
      rawData: new Uint8Array(arr.buffer, arr.byteOffset, arr.byteLength),
    });
    return name;
  }

  i64(data: number[], dims: number[] = [data.length], hint = 'c'): string {
    const name = this.fresh(hint);
    const arr = BigInt64Array.from(data.map((x) => BigInt(x)));
    this.inits.push({ name, dims, dataType: ELEM.int64, rawData: new Uint8Array(arr.buffer) });
    return name;
  }

  scalar(v: number, hint = 's'): string {
    return this.f32([v], [], hint);
  }

  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}): string {
    return this.opN(opType, inputs, 1, attrs)[0]!;
  }

  opN(opType: string, inputs: string[], nOut: number, attrs: Record<string, Attr> = {}): string[] {
    const output = Array.from({ length: nOut }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({
      opType,
      input: inputs,
      output,
      name: this.fresh(`n_${opType}`),
      attribute: Object.entries(attrs).map(([k, v]) => encodeAttr(k, v)),
    });
    return output;
  }

  // Shorthands for the ops the project's models use most.
  add(a: string, b: string): string { return this.op('Add', [a, b]); }
  sub(a: string, b: string): string { return this.op('Sub', [a, b]); }
  mul(a: string, b: string): string { return this.op('Mul', [a, b]); }
  div(a: string, b: string): string { return this.op('Div', [a, b]); }
  matmul(a: string, b: string): string { return this.op('MatMul', [a, b]); }
  relu(a: string): string { return this.op('Relu', [a]); }
  sigmoid(a: string): string { return this.op('Sigmoid', [a]); }
  reshape(a: string, shape: number[]): string { return this.op('Reshape', [a, this.i64(shape)]); }
  reduceSum(a: string, axes: number[], keepdims = false): string {
    // Opset >= 13 takes axes as an input; without it ReduceSum reduces every dim.
    return this.op('ReduceSum', [a, this.i64(axes)], { keepdims: keepdims ? 1 : 0 });
  }
  reduceMax(a: string, axes: number[], keepdims = false): string {
    return this.op('ReduceMax', [a], { axes, keepdims: keepdims ? 1 : 0 });
  }
  concat(xs: string[], axis: number): string { return this.op('Concat', xs, { axis }); }
  cast(a: string, to: ElemType): string { return this.op('Cast', [a], { to: ELEM[to] }); }

  toBytes(docString = ''): Uint8Array {
    const model: onnxProto.onnx.IModelProto = {
      irVersion: IR_VERSION,
      producerName: 'mrm-serve',
      opsetImport: [{ domain: '', version: OPSET }],
      docString,
      graph: {
        name: this.name,
        node: this.nodes,
        initializer: this.inits,
        input: this.inputs,
        output: this.outputs,
      },
    };
    return onnx.ModelProto.encode(onnx.ModelProto.create(model)).finish();
  }
}
