import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '../../core/errors.js';

/** Scores for rows of features (row-major), plus how long inference took. */
export interface Predictor {
  /** The model's input names (ONNX) or null when unknown (command). */
  inputs: string[] | null;
  predict(features: Float32Array, rows: number, cols: number): Promise<Float64Array>;
  close(): Promise<void>;
}

function findFiles(dir: string, ext: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d).sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith(ext)) out.push(p);
    }
  };
  walk(dir);
  return out;
}

type OnnxOptions = { file?: string; input?: string; output?: string };

/** The model's one .onnx file (or the one the suite names). */
function onnxFile(modelDir: string, opts: OnnxOptions): string {
  const files = opts.file ? [join(modelDir, opts.file)] : findFiles(modelDir, '.onnx');
  if (files.length !== 1)
    throw new CairnError(
      'INVALID_INPUT',
      files.length
        ? `the model has ${files.length} .onnx files; name one with predictor.onnx`
        : 'the model has no .onnx file; use a command predictor',
      { data: { files } },
    );
  return files[0]!;
}

/** ONNX Runtime (CPU) over the model's .onnx file; batches of 4,096 rows. */
export async function onnxPredictor(modelDir: string, opts: OnnxOptions = {}): Promise<Predictor> {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(onnxFile(modelDir, opts));
  const input = opts.input ?? session.inputNames[0]!;
  const output = opts.output ?? session.outputNames[0]!;
  return {
    inputs: [...session.inputNames],
    async predict(features, rows, cols) {
      const out = new Float64Array(rows);
      const B = 4096;
      for (let i = 0; i < rows; i += B) {
        const n = Math.min(B, rows - i);
        const t = new ort.Tensor('float32', features.subarray(i * cols, (i + n) * cols), [n, cols]);
        const r = await session.run({ [input]: t });
        const data = r[output]!.data as Float32Array;
        for (let j = 0; j < n; j++) out[i + j] = data[j]!;
      }
      return out;
    },
    async close() {
      await session.release();
    },
  };
}

/**
 * A multiclass ONNX model (task: multiclass): rows go in as read — text features as string
 * tensors, numbers as float32 — and the label output (string, integer or float) comes back as
 * class codes. `features` holds row indices, as for the label codec of a command predictor
 * (multiclass.ts). Inputs are matched to the suite's features by name, one [n, 1] tensor each
 * (how scikit-learn-onnx exports mixed columns; a model may use a subset); a model with one
 * input of another name gets every feature in one [n, k] tensor, which must then be all text
 * or all numbers.
 */
export async function onnxLabelPredictor(
  modelDir: string,
  opts: OnnxOptions,
  rows: { raw: readonly unknown[][]; features: readonly string[]; code(label: string): number },
): Promise<Predictor> {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(onnxFile(modelDir, opts));
  const inputs = opts.input ? [opts.input] : [...session.inputNames];
  const byName = inputs.every((n) => rows.features.includes(n));
  if (!byName && inputs.length !== 1)
    throw new CairnError(
      'INVALID_INPUT',
      `the model's inputs (${inputs.join(', ')}) are not among the suite's features (${rows.features.join(', ')})`,
      { hint: 'name the model inputs after the features, or give one input with predictor.input' },
    );
  const columns = byName ? inputs.map((n) => [rows.features.indexOf(n)]) : [rows.features.map((_, i) => i)];
  const output = opts.output ?? (session.outputNames.includes('label') ? 'label' : session.outputNames[0]!);
  const tensorOf = (index: ArrayLike<number>, from: number, n: number, cols: number[], input: string) => {
    const values: unknown[] = [];
    for (let i = 0; i < n; i++) {
      const row = rows.raw[index[from + i]!]!;
      for (const c of cols) values.push(row[c]);
    }
    if (values.every((v) => typeof v === 'number'))
      return new ort.Tensor('float32', Float32Array.from(values as number[]), [n, cols.length]);
    if (values.every((v) => typeof v === 'string'))
      return new ort.Tensor('string', values as string[], [n, cols.length]);
    const bad = values.findIndex((v) => typeof v !== 'string' && typeof v !== 'number');
    throw new CairnError(
      'INVALID_INPUT',
      bad >= 0
        ? `ONNX input ${input}: a row has ${JSON.stringify(values[bad])} where the model needs text or a number`
        : `ONNX input ${input} takes one tensor, but its features mix text and numbers`,
      { hint: 'fill missing values first (cairn data clean), or export one model input per feature' },
    );
  };
  return {
    inputs: [...session.inputNames],
    async predict(features, n) {
      const out = new Float64Array(n);
      const B = 4096;
      for (let i = 0; i < n; i += B) {
        const m = Math.min(B, n - i);
        const feeds = Object.fromEntries(inputs.map((name, k) => [name, tensorOf(features, i, m, columns[k]!, name)]));
        const r = await session.run(feeds);
        const got = r[output];
        if (!got) throw new CairnError('INVALID_INPUT', `the model has no output ${output}`);
        const data = got.data as ArrayLike<unknown>;
        if (data.length !== m)
          throw new CairnError(
            'INVALID_INPUT',
            `ONNX output ${output} gave ${data.length} values for ${m} rows; it must be one label per row`,
            { hint: 'name the label output with predictor.output' },
          );
        for (let j = 0; j < m; j++) out[i + j] = rows.code(String(data[j]));
      }
      return out;
    },
    async close() {
      await session.release();
    },
  };
}

/**
 * Any framework: the command reads JSON lines `{"features": [..]}` on stdin and writes one
 * line per row, `{"score": x}` (or a bare number), in order, on stdout. It runs in the model's
 * folder with CAIRN_MODEL_DIR set.
 */
export function commandPredictor(command: string, modelDir: string, codec: LineCodec = SCORES): Predictor {
  return {
    inputs: null,
    predict: (features, rows, cols) => runPredictorCommand(command, modelDir, features, rows, cols, codec),
    async close() {},
  };
}

/**
 * How rows become the command's input lines and its output lines become numbers: scores (the
 * default: numeric features in, `{"score": x}` out) or class labels (multiclass.ts).
 */
export interface LineCodec {
  lines(features: Float32Array, rows: number, cols: number): string;
  /** The number an output line stands for, or null when the line is not an answer. */
  parse(line: string): number | null;
  /** What an answer is, for messages: "score", "label". */
  noun: string;
}

export const SCORES: LineCodec = { lines: featureLines, parse: parseScore, noun: 'score' };

function runPredictorCommand(
  command: string,
  modelDir: string,
  features: Float32Array,
  rows: number,
  cols: number,
  codec: LineCodec,
): Promise<Float64Array> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], {
      cwd: modelDir,
      env: { ...process.env, CAIRN_MODEL_DIR: modelDir },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const scores = scoreReader(command, rows, codec);
    let carry = '';
    let stderr = '';
    let settled = false;
    // A predictor that prints something else than scores is a bad input, said in words:
    // the line, what it held, and what was expected. It is stopped at once.
    const refuse = (err: CairnError) => {
      if (settled) return;
      settled = true;
      child.kill('SIGKILL');
      reject(err);
    };
    const take = (l: string) => {
      const err = scores.take(l, settled);
      if (err) refuse(err);
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      const lines = (carry + d).split('\n');
      carry = lines.pop()!;
      for (const l of lines) take(l);
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString()).slice(-2000);
    });
    child.on('error', (err) =>
      refuse(
        new CairnError(
          'INVALID_INPUT',
          `the predictor command ${JSON.stringify(command)} could not start: ${err.message}`,
          { cause: err },
        ),
      ),
    );
    child.on('close', (code) => {
      if (carry) take(carry);
      if (settled) return;
      settled = true;
      const err = exitError(code, stderr, scores.count(), rows);
      if (err) reject(err);
      else resolve(scores.out);
    });
    child.stdin.on('error', () => {});
    child.stdin.end(codec.lines(features, rows, cols));
  });
}

/** Reads the command's output line by line into scores; returns the error that stops it, if any. */
function scoreReader(command: string, rows: number, codec: LineCodec) {
  const out = new Float64Array(rows);
  let n = 0;
  let lineNo = 0;
  const take = (l: string, ignore: boolean): CairnError | null => {
    lineNo++;
    if (!l.trim() || ignore) return null;
    const score = codec.parse(l);
    if (score === null) {
      const shown = l.length > 200 ? `${l.slice(0, 200)}… (${l.length - 200} more characters)` : l;
      return new CairnError(
        'INVALID_INPUT',
        `the predictor command ${JSON.stringify(command)} printed a line that is not a ${codec.noun} (line ${lineNo} of its output): ${JSON.stringify(shown)}`,
        {
          hint: 'the command must print one line per row on stdout, {"score": <number>} or a bare number, and send anything else (logs, progress) to stderr',
          data: { line: lineNo, output: shown },
        },
      );
    }
    if (n >= rows)
      return new CairnError(
        'INVALID_INPUT',
        `the predictor command ${JSON.stringify(command)} printed more scores than the ${rows} rows it was given (line ${lineNo} of its output)`,
        { data: { line: lineNo, rows } },
      );
    out[n++] = score;
    return null;
  };
  return { out, take, count: () => n };
}

function exitError(code: number | null, stderr: string, answered: number, rows: number): CairnError | null {
  if (code !== 0)
    return new CairnError('INVALID_INPUT', `the predictor command exited with ${code}: ${stderr.trim().slice(-500)}`);
  if (answered !== rows)
    return new CairnError('INVALID_INPUT', `the predictor command answered ${answered} of ${rows} rows`);
  return null;
}

function featureLines(features: Float32Array, rows: number, cols: number): string {
  const chunks: string[] = [];
  for (let i = 0; i < rows; i++)
    chunks.push(`${JSON.stringify({ features: Array.from(features.subarray(i * cols, (i + 1) * cols)) })}\n`);
  return chunks.join('');
}

/** `{"score": x}` or a bare number, finite; null for anything else. */
export function parseScore(line: string): number | null {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return null;
  }
  const score =
    typeof v === 'number'
      ? v
      : v && typeof v === 'object' && !Array.isArray(v)
        ? (v as { score?: unknown }).score
        : undefined;
  return typeof score === 'number' && Number.isFinite(score) ? score : null;
}
