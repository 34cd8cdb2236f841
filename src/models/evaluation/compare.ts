import type { DatasetDeps } from '../../datasets/index.js';
import { pairedBootstrapDelta } from './metrics/bootstrap.js';
import { getMetric } from './metrics/metrics.js';
import { resolveModel } from '../registry.js';
import { loadData, predictorFor } from './evaluate.js';
import type { EvalSuite } from './suite.js';

/** Metrics of several versions on the same rows, with each one's delta to the first and its paired bootstrap CI. */
export async function compareModels(
  deps: DatasetDeps,
  refs: readonly string[],
  opts: { suite: EvalSuite; data: string; metrics: string[] },
) {
  const metrics = opts.metrics.length
    ? opts.metrics
    : opts.suite.checks.flatMap((c) => (c.kind === 'metric' ? [c.metric] : []));
  for (const m of metrics) getMetric(m);
  const { ref: dataRef, data } = await loadData(deps, opts.data, opts.suite);
  const scores: Float64Array[] = [];
  const names: string[] = [];
  for (const ref of refs) {
    const m = await resolveModel(deps, ref);
    const { p } = await predictorFor(deps, m.version, opts.suite, data.multiclass);
    scores.push(await p.predict(data.x, data.rows, data.cols));
    await p.close();
    names.push(m.ref);
  }
  return {
    data: dataRef,
    count: data.rows,
    models: names,
    rows: metrics.map((metric) => ({
      metric,
      values: scores.map((s) => getMetric(metric).compute(data.y, s)),
      deltas: scores.map((s, i) =>
        i === 0
          ? { value: 0, lo: 0, hi: 0 }
          : pairedBootstrapDelta(metric, data.y, s, scores[0]!, { resamples: 1000 }).delta,
      ),
    })),
  };
}
