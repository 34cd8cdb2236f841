import type { DatasetDeps } from '../../datasets/deps.js';
import { resolveVersion } from '../../datasets/resolve.js';
import { readTable } from '../../sdk/table.js';
import { materializeShared } from '../../transfer/cluster-cache.js';
import { pairedBootstrapDelta } from '../evaluate/bootstrap.js';
import { getMetric } from '../evaluate/metrics.js';
import { resolveModel } from '../registry.js';
import { commandPredictor, onnxPredictor } from './predict.js';
import type { EvalSuite } from './suite.js';

/** Metrics of several versions on the same rows, with each one's delta to the first and its paired bootstrap CI. */
export async function compareModels(deps: DatasetDeps, refs: readonly string[], opts: { suite: EvalSuite; data: string; metrics: string[] }) {
  const metrics = opts.metrics.length ? opts.metrics : opts.suite.checks.flatMap((c) => (c.kind === 'metric' ? [c.metric] : []));
  for (const m of metrics) getMetric(m);
  const v = await resolveVersion(deps.meta.db, opts.data);
  const rows = await readTable(await materializeShared(deps, v.version.digest, deps.cacheDir));
  const cols = opts.suite.data.features.length;
  const x = new Float32Array(rows.length * cols);
  const y = new Float64Array(rows.length);
  rows.forEach((r, i) => {
    y[i] = Number(r[opts.suite.data.label]);
    opts.suite.data.features.forEach((f, j) => (x[i * cols + j] = Number(r[f])));
  });
  const scores: Float64Array[] = [];
  const names: string[] = [];
  for (const ref of refs) {
    const m = await resolveModel(deps, ref);
    const files = await deps.meta.db.selectFrom('dataset_versions').select('digest').where('id', '=', m.version.files_version_id).executeTakeFirstOrThrow();
    const dir = await materializeShared(deps, files.digest, deps.cacheDir);
    const p = opts.suite.predictor?.kind === 'command' ? commandPredictor(opts.suite.predictor.command, dir) : await onnxPredictor(dir, opts.suite.predictor?.kind === 'onnx' ? opts.suite.predictor : {});
    scores.push(await p.predict(x, rows.length, cols));
    await p.close();
    names.push(m.ref);
  }
  return {
    data: v.ref,
    count: rows.length,
    models: names,
    rows: metrics.map((metric) => ({
      metric,
      values: scores.map((s) => getMetric(metric).compute(y, s)),
      deltas: scores.map((s, i) => (i === 0 ? { value: 0, lo: 0, hi: 0 } : pairedBootstrapDelta(metric, y, s, scores[0]!, { resamples: 1000 }).delta)),
    })),
  };
}
