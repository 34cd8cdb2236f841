// Benchmark suite "predictor": evaluation throughput of a command predictor (issue 13, "Gates
// that fit real models": a persistent command predictor >= 10,000 rows/s on a trivial model).
//
//   a  persistent (`predictor: {command: …, persistent: true}`): one Python process for the whole
//      evaluation, 100,000 rows of 4 features in one batch                      target >= 10,000 rows/s
//   b  the same model and rows through the one-shot command predictor (one process per call)  info
//   c  single-row latency p50/p95 over 200 calls, persistent vs one-shot (what a latency check sees)
//
// The model is trivial on purpose (score = sum of the features, JSON in, JSON out, flushed per
// line), so the figures measure Cairn's side and the protocol, not a model. Drives the compiled
// modules in dist/ (`npm run build`). --scale X: round(100,000 × X) rows (at least 10,000).
import path from 'node:path';
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { median } from '../lib/measure.mjs';

const FULL_ROWS = 100_000;
const COLS = 4;
const TARGET = 10_000;
const MODEL = `import json, sys
for line in sys.stdin:
    print(json.dumps({"score": sum(json.loads(line)["features"])}), flush=True)
`;

export const suite = {
  name: 'predictor',
  description: 'command predictor throughput and single-row latency: persistent process vs one process per call',
  async run(ctx) {
    const dist = (f) => path.join(ctx.repoRoot, 'dist', 'models', 'evaluation', f);
    if (!existsSync(dist('persistent-predictor.js'))) {
      const msg = 'Cairn is not built (missing dist/models/evaluation/persistent-predictor.js): run `npm run build`';
      return {
        results: { error: msg },
        rows: [{ metric: 'persistent predictor rows/s', cairn: 'error', pass: 'error' }],
        notes: [msg],
      };
    }
    const { persistentCommandPredictor } = await import(pathToFileURL(dist('persistent-predictor.js')).href);
    const { commandPredictor } = await import(pathToFileURL(dist('predict.js')).href);
    const dir = path.join(ctx.workDir ?? path.join(ctx.repoRoot, 'bench', '.work'), 'predictor-model');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'predict.py'), MODEL);
    const rows = Math.max(10_000, Math.round(FULL_ROWS * ctx.scale));
    const x = Float32Array.from({ length: rows * COLS }, (_, i) => (i % 13) / 13);
    const one = Float32Array.from([0.1, 0.2, 0.3, 0.4]);

    const timeBatch = async (p) => {
      const t0 = performance.now();
      const s = await p.predict(x, rows, COLS);
      const dt = (performance.now() - t0) / 1000;
      if (s.length !== rows) throw new Error(`answered ${s.length} of ${rows}`);
      return dt;
    };
    const latencies = async (p, n) => {
      const out = [];
      for (let i = 0; i < n; i++) {
        const t0 = performance.now();
        await p.predict(one, 1, COLS);
        out.push(performance.now() - t0);
      }
      out.sort((a, b) => a - b);
      return { p50: out[Math.floor(0.5 * (n - 1))], p95: out[Math.floor(0.95 * (n - 1))] };
    };

    const persistentRuns = [];
    const oneShotRuns = [];
    let lat = null;
    let latOneShot = null;
    for (let r = 0; r < (ctx.warmup ?? 1) + ctx.repeat; r++) {
      const p = persistentCommandPredictor('python3 predict.py', dir);
      const dt = await timeBatch(p);
      if (r === 0) lat = await latencies(p, 200);
      await p.close();
      const q = commandPredictor('python3 predict.py', dir);
      const dq = await timeBatch(q);
      if (r === 0) latOneShot = await latencies(q, 50);
      if (r >= (ctx.warmup ?? 1)) {
        persistentRuns.push(dt);
        oneShotRuns.push(dq);
      }
      ctx.log(`predictor: persistent ${(rows / dt).toFixed(0)} rows/s, one-shot ${(rows / dq).toFixed(0)} rows/s`);
    }
    const rate = rows / median(persistentRuns);
    const rateOneShot = rows / median(oneShotRuns);
    return {
      results: {
        rows,
        cols: COLS,
        persistentS: persistentRuns,
        oneShotS: oneShotRuns,
        latency: lat,
        latencyOneShot: latOneShot,
      },
      rows: [
        {
          metric: `persistent command predictor, ${rows} rows (rows/s)`,
          cairn: Math.round(rate),
          peer: Math.round(rateOneShot),
          ratio: (rate / rateOneShot).toFixed(2),
          target: `>= ${TARGET}`,
          pass: rate >= TARGET ? 'pass' : 'FAIL',
        },
        {
          metric: 'single-row latency p50 / p95 (ms), persistent vs one process per row',
          cairn: `${lat.p50.toFixed(2)} / ${lat.p95.toFixed(2)}`,
          peer: `${latOneShot.p50.toFixed(1)} / ${latOneShot.p95.toFixed(1)}`,
          pass: 'info',
        },
      ],
      notes: ['peer = the one-shot command predictor (a process per call), same model and rows'],
    };
  },
};
