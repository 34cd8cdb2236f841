/**
 * Small real ONNX models with text in or out, written as protobuf by hand (no ONNX library;
 * field numbers from onnx/onnx.proto), for tests of multiclass evaluation through ONNX Runtime:
 *
 * - `labelEncoderOnnx`: ai.onnx.ml LabelEncoder, a string input mapped to a string label
 *   (a lookup table: text feature in, text class out);
 * - `linearClassifierOnnx`: ai.onnx.ml LinearClassifier, float features in, the label with the
 *   highest score out as a string (and the scores as a second output).
 */
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
const bytes = (field: number, b: number[]) => [...key(field, 2), ...varint(b.length), ...b];
const str = (field: number, s: string) => bytes(field, [...Buffer.from(s, 'utf8')]);
const float = (field: number, f: number) => {
  const b = Buffer.alloc(4);
  b.writeFloatLE(f);
  return [...key(field, 5), ...b];
};

const FLOAT = 1;
const STRING = 8;

// AttributeProto: name 1, f 2, i 3, s 4, floats 7, ints 8, strings 9, type 20.
const attrStrings = (name: string, values: string[]) => [
  ...str(1, name),
  ...values.flatMap((v) => str(9, v)),
  ...int(20, 8),
];
const attrString = (name: string, value: string) => [...str(1, name), ...str(4, value), ...int(20, 3)];
const attrFloats = (name: string, values: number[]) => [
  ...str(1, name),
  ...values.flatMap((v) => float(7, v)),
  ...int(20, 6),
];
const attrInt = (name: string, value: number) => [...str(1, name), ...int(3, value), ...int(20, 2)];

function node(op: string, inputs: string[], outputs: string[], attributes: number[][]): number[] {
  return [
    ...inputs.flatMap((i) => str(1, i)),
    ...outputs.flatMap((o) => str(2, o)),
    ...str(3, op.toLowerCase()),
    ...str(4, op),
    ...attributes.flatMap((a) => bytes(5, a)),
    ...str(7, 'ai.onnx.ml'),
  ];
}

function valueInfo(name: string, elemType: number, dims: Array<number | string>): number[] {
  const dimProtos = dims.flatMap((d) => bytes(1, typeof d === 'number' ? int(1, d) : str(2, d)));
  return [...str(1, name), ...bytes(2, bytes(1, [...int(1, elemType), ...bytes(2, dimProtos)]))];
}

function model(n: number[], inputs: number[][], outputs: number[][]): Buffer {
  const graph = [
    ...bytes(1, n),
    ...str(2, 'cairn-test'),
    ...inputs.flatMap((i) => bytes(11, i)),
    ...outputs.flatMap((o) => bytes(12, o)),
  ];
  return Buffer.from([
    ...int(1, 8),
    ...str(2, 'cairn-test'),
    ...bytes(7, graph),
    ...bytes(8, [...str(1, ''), ...int(2, 13)]),
    ...bytes(8, [...str(1, 'ai.onnx.ml'), ...int(2, 2)]),
  ]);
}

/** input (string [n, 1]) → label (string [n, 1]) through a lookup; unknown keys give `fallback`. */
export function labelEncoderOnnx(input: string, map: Record<string, string>, fallback: string): Buffer {
  const n = node(
    'LabelEncoder',
    [input],
    ['label'],
    [
      attrStrings('keys_strings', Object.keys(map)),
      attrStrings('values_strings', Object.values(map)),
      attrString('default_string', fallback),
    ],
  );
  return model(n, [valueInfo(input, STRING, ['n', 1])], [valueInfo('label', STRING, ['n', 1])]);
}

/**
 * input (float [n, k]) → label (string [n]), the class with the highest score
 * coefficients[c]·x + intercepts[c], and scores (float [n, classes]).
 */
export function linearClassifierOnnx(
  input: string,
  classes: string[],
  coefficients: number[][],
  intercepts: number[],
): Buffer {
  const k = coefficients[0]!.length;
  const n = node(
    'LinearClassifier',
    [input],
    ['label', 'scores'],
    [
      attrStrings('classlabels_strings', classes),
      attrFloats('coefficients', coefficients.flat()),
      attrFloats('intercepts', intercepts),
      attrInt('multi_class', 0),
      attrString('post_transform', 'NONE'),
    ],
  );
  return model(
    n,
    [valueInfo(input, FLOAT, ['n', k])],
    [valueInfo('label', STRING, ['n']), valueInfo('scores', FLOAT, ['n', classes.length])],
  );
}
