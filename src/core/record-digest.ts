import { canonicalJson } from './canonical-json.js';
import { sha256Hex } from './digest.js';

/** One metric point as a run's record keeps it (`run_metrics` without the run id). */
export interface RecordedPoint {
  name: string;
  step: number | null;
  value: number;
  time: string;
}

/** One parameter as a run's record keeps it: the value as stored (JSON text). */
export interface RecordedParam {
  name: string;
  value: string;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * `sha256:<hex>` of a run's metric points, in an order of their own (name, step, time, value) so
 * the digest does not depend on the order a database returns them in. The event that ends a run
 * logs it (docs/RUNS.md "What the log vouches for"), so a run's metrics can travel by push and be
 * checked where they arrive. Pure.
 */
export function metricsDigest(points: readonly RecordedPoint[]): string {
  const rows = points
    .map((p) => [p.name, p.step, Number(p.value), p.time] as const)
    .sort(
      (a, b) =>
        cmp(a[0], b[0]) || (a[1] ?? -1) - (b[1] ?? -1) || cmp(a[3], b[3]) || (a[2] < b[2] ? -1 : a[2] > b[2] ? 1 : 0),
    );
  return `sha256:${sha256Hex(canonicalJson(rows))}`;
}

/** `sha256:<hex>` of a run's parameters (those of its spec and those the job logged), by name. Pure. */
export function paramsDigest(params: readonly RecordedParam[]): string {
  const rows = params.map((p) => [p.name, p.value] as const).sort((a, b) => cmp(a[0], b[0]));
  return `sha256:${sha256Hex(canonicalJson(rows))}`;
}
