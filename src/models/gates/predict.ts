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

/** ONNX Runtime (CPU) over the model's .onnx file; batches of 4,096 rows. */
export async function onnxPredictor(modelDir: string, opts: { file?: string; input?: string; output?: string } = {}): Promise<Predictor> {
  const files = opts.file ? [join(modelDir, opts.file)] : findFiles(modelDir, '.onnx');
  if (files.length !== 1) throw new CairnError('INVALID_INPUT', files.length ? `the model has ${files.length} .onnx files; name one with predictor.onnx` : 'the model has no .onnx file; use a command predictor', { data: { files } });
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(files[0]!);
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
 * Any framework: the command reads JSON lines `{"features": [..]}` on stdin and writes one
 * line per row, `{"score": x}` (or a bare number), in order, on stdout. It runs in the model's
 * folder with CAIRN_MODEL_DIR set.
 */
export function commandPredictor(command: string, modelDir: string): Predictor {
  return {
    inputs: null,
    predict(features, rows, cols) {
      return new Promise((resolve, reject) => {
        const child = spawn('/bin/sh', ['-c', command], { cwd: modelDir, env: { ...process.env, CAIRN_MODEL_DIR: modelDir }, stdio: ['pipe', 'pipe', 'pipe'] });
        const out = new Float64Array(rows);
        let n = 0;
        let carry = '';
        let stderr = '';
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (d: string) => {
          const lines = (carry + d).split('\n');
          carry = lines.pop()!;
          for (const l of lines) {
            if (!l.trim()) continue;
            const v = JSON.parse(l) as { score?: number } | number;
            out[n++] = typeof v === 'number' ? v : Number(v.score);
          }
        });
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()).slice(-2000));
        child.on('error', reject);
        child.on('close', (code) => {
          if (code !== 0) return reject(new CairnError('INVALID_INPUT', `the predictor command exited with ${code}: ${stderr.trim().slice(-500)}`));
          if (n !== rows) return reject(new CairnError('INVALID_INPUT', `the predictor command answered ${n} of ${rows} rows`));
          resolve(out);
        });
        child.stdin.on('error', () => {});
        const chunks: string[] = [];
        for (let i = 0; i < rows; i++) chunks.push(`${JSON.stringify({ features: Array.from(features.subarray(i * cols, (i + 1) * cols)) })}\n`);
        child.stdin.end(chunks.join(''));
      });
    },
    async close() {},
  };
}
