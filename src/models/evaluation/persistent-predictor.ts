import { spawn, type ChildProcess } from 'node:child_process';
import { CairnError } from '../../core/errors.js';
import { SCORES, type LineCodec, type Predictor } from './predict.js';

/**
 * A command predictor started once and kept running for the whole evaluation: every batch is
 * written to its stdin as JSON lines (`{"features": [..]}`) and answered on stdout with one
 * line per row, in order, flushed after each line. No process start per batch, so latency
 * checks measure the model, not the interpreter's start-up. A line that is not a score, more
 * answers than rows, an exit or no answer for `stallMs` fail the evaluation, said in words.
 */
export function persistentCommandPredictor(
  command: string,
  modelDir: string,
  stallMs = 60_000,
  codec: LineCodec = SCORES,
): Predictor {
  const p = new PersistentProcess(command, modelDir, stallMs, codec);
  return { inputs: null, predict: (f, rows, cols) => p.predict(f, rows, cols), close: () => p.close() };
}

interface Pending {
  out: Float64Array;
  n: number;
  resolve: (s: Float64Array) => void;
  reject: (e: CairnError) => void;
  timer: NodeJS.Timeout;
}

class PersistentProcess {
  private child: ChildProcess | null = null;
  private stderr = '';
  private carry = '';
  private failure: CairnError | null = null;
  private pending: Pending | null = null;
  private lineNo = 0;

  constructor(
    private readonly command: string,
    private readonly modelDir: string,
    private readonly stallMs: number,
    private readonly codec: LineCodec,
  ) {}

  predict(features: Float32Array, rows: number, cols: number): Promise<Float64Array> {
    if (this.failure) return Promise.reject(this.failure);
    if (rows === 0) return Promise.resolve(new Float64Array(0));
    this.child ??= this.start();
    return new Promise<Float64Array>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.fail(
            new CairnError(
              'INVALID_INPUT',
              `the persistent predictor command gave no answer for ${this.stallMs / 1000} s`,
              {
                hint: 'it must flush stdout after every line (Python: print(..., flush=True)); or drop persistent: true',
              },
            ),
          ),
        this.stallMs,
      );
      this.pending = { out: new Float64Array(rows), n: 0, resolve, reject, timer };
      this.child!.stdin!.write(this.codec.lines(features, rows, cols));
    });
  }

  async close(): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => c.kill('SIGKILL'), 5_000);
      c.once('close', () => (clearTimeout(t), resolve()));
      c.stdin!.end();
    });
  }

  private start(): ChildProcess {
    const c = spawn('/bin/sh', ['-c', this.command], {
      cwd: this.modelDir,
      env: { ...process.env, CAIRN_MODEL_DIR: this.modelDir, CAIRN_PREDICTOR: 'persistent' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    c.stdout!.setEncoding('utf8').on('data', (d: string) => {
      const lines = (this.carry + d).split('\n');
      this.carry = lines.pop()!;
      for (const l of lines) this.take(l);
    });
    c.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-2000)));
    c.stdin!.on('error', () => {});
    c.on('error', (err) =>
      this.fail(
        new CairnError(
          'INVALID_INPUT',
          `the predictor command ${JSON.stringify(this.command)} could not start: ${err.message}`,
        ),
      ),
    );
    c.on('close', (code) => {
      const p = this.pending;
      if (p || code !== 0)
        this.fail(
          new CairnError(
            'INVALID_INPUT',
            `the persistent predictor command ${JSON.stringify(this.command)} exited with ${code}${p ? ` after ${p.n} of ${p.out.length} rows` : ''}: ${this.stderr.trim().slice(-500)}`,
          ),
        );
    });
    return c;
  }

  private fail(err: CairnError): void {
    this.failure ??= err;
    const p = this.pending;
    this.pending = null;
    if (p) {
      clearTimeout(p.timer);
      p.reject(this.failure);
    }
    this.child?.kill('SIGKILL');
  }

  private take(l: string): void {
    this.lineNo++;
    if (!l.trim()) return;
    const score = this.codec.parse(l);
    const p = this.pending;
    if (score === null || !p) {
      const shown = l.length > 200 ? `${l.slice(0, 200)}…` : l;
      const what =
        score === null
          ? `printed a line that is not a ${this.codec.noun} (line ${this.lineNo} of its output): ${JSON.stringify(shown)}`
          : `printed more scores than the rows it was given (line ${this.lineNo} of its output)`;
      this.fail(
        new CairnError('INVALID_INPUT', `the predictor command ${JSON.stringify(this.command)} ${what}`, {
          hint: 'a persistent predictor prints exactly one line per input line on stdout ({"score": x} or a number), flushed, and sends logs to stderr',
          data: { line: this.lineNo, output: shown },
        }),
      );
      return;
    }
    p.out[p.n++] = score;
    p.timer.refresh();
    if (p.n === p.out.length) {
      this.pending = null;
      clearTimeout(p.timer);
      p.resolve(p.out);
    }
  }
}
