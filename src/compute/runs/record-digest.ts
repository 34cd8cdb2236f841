import { metricsDigest, paramsDigest, type RecordedParam, type RecordedPoint } from '../../core/record-digest.js';
import type { ReadDb } from '../../meta/read-db.js';

// Pure, and in core/: `audit verify` checks a finished run's record against them too.
export { metricsDigest, paramsDigest, type RecordedParam, type RecordedPoint };

/** A run's metric points and parameters as stored. */
export async function runRecord(
  db: ReadDb,
  runId: string,
): Promise<{ metrics: RecordedPoint[]; params: RecordedParam[] }> {
  const metrics = (
    await db.selectFrom('run_metrics').select(['name', 'step', 'value', 'time']).where('run_id', '=', runId).execute()
  ).map((p) => ({ name: p.name, step: p.step === null ? null : Number(p.step), value: Number(p.value), time: p.time }));
  const params = await db.selectFrom('run_params').select(['name', 'value']).where('run_id', '=', runId).execute();
  return { metrics, params };
}

/** What the event that ends a run logs of its record: the digests of its metrics and parameters. */
export async function recordDigests(
  db: ReadDb,
  runId: string,
): Promise<{ metricsDigest: string; paramsDigest: string }> {
  const r = await runRecord(db, runId);
  return { metricsDigest: metricsDigest(r.metrics), paramsDigest: paramsDigest(r.params) };
}
