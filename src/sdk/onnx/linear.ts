/**
 * Writes a linear model as an ONNX file (ModelProto, opset 13) with no ONNX library: y = X·W + b,
 * followed by a sigmoid for a classifier. Enough for exporting the logistic and linear
 * regressions the examples train, so they can be served and evaluated by ONNX Runtime.
 * Protobuf wire format by hand: varints, length-delimited fields (docs: onnx/onnx.proto).
 */
export interface LinearModel {
  /** weights[i] multiplies feature i. */
  weights: ArrayLike<number>;
  bias: number;
  /** 'probability' adds a sigmoid (binary classifier); 'value' is a regression. */
  output: 'probability' | 'value';
  inputName?: string;
  outputName?: string;
}

function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}
const key = (field: number, wire: number) => varint((field << 3) | wire);
const int = (field: number, n: number | bigint) => [...key(field, 0), ...varint(n)];
const bytes = (field: number, b: Uint8Array | number[]) => [...key(field, 2), ...varint(b.length), ...b];
const str = (field: number, s: string) => bytes(field, [...Buffer.from(s, 'utf8')]);

function tensor(name: string, dims: number[], values: ArrayLike<number>): number[] {
  const raw = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) raw.writeFloatLE(values[i]!, i * 4);
  return [...dims.flatMap((d) => int(1, d)), ...int(2, 1 /* FLOAT */), ...str(8, name), ...bytes(9, [...raw])];
}

function valueInfo(name: string, dims: Array<number | string>): number[] {
  const dimProtos = dims.flatMap((d) => bytes(1, typeof d === 'number' ? int(1, d) : str(2, d)));
  const tensorType = [...int(1, 1 /* FLOAT */), ...bytes(2, dimProtos)];
  return [...str(1, name), ...bytes(2, bytes(1, tensorType))];
}

function node(op: string, inputs: string[], outputs: string[], name: string): number[] {
  return [...inputs.flatMap((i) => str(1, i)), ...outputs.flatMap((o) => str(2, o)), ...str(3, name), ...str(4, op)];
}

export function linearOnnx(m: LinearModel): Buffer {
  const f = m.weights.length;
  const input = m.inputName ?? 'features';
  const output = m.outputName ?? (m.output === 'probability' ? 'probability' : 'value');
  const nodes = [
    node('MatMul', [input, 'W'], ['xw'], 'matmul'),
    node('Add', ['xw', 'B'], [m.output === 'probability' ? 'logit' : output], 'add'),
  ];
  if (m.output === 'probability') nodes.push(node('Sigmoid', ['logit'], [output], 'sigmoid'));
  const graph = [
    ...nodes.flatMap((n) => bytes(1, n)),
    ...str(2, 'cairn-linear'),
    ...bytes(5, tensor('W', [f, 1], m.weights)),
    ...bytes(5, tensor('B', [1], [m.bias])),
    ...bytes(11, valueInfo(input, ['batch', f])),
    ...bytes(12, valueInfo(output, ['batch', 1])),
  ];
  const model = [
    ...int(1, 8 /* IR version */),
    ...str(2, 'cairn'),
    ...bytes(7, graph),
    ...bytes(8, [...str(1, ''), ...int(2, 13)]),
  ];
  return Buffer.from(model);
}
