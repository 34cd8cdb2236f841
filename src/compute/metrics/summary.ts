import { sql } from 'kysely';
import type { RunMetricSummariesTable } from '../../meta/schema.js';
import type { BookkeepingDb } from '../../meta/read-db.js';

/** One metric point as ingestion writes it. */
export interface Point {
  name: string;
  step: number | null;
  value: number;
  /** UTC, RFC 3339 with milliseconds: its text order is its time order. */
  time: string;
}

export type Summary = Omit<RunMetricSummariesTable, 'run_id'>;

/** Whether point b comes after point a: higher step (none ranks lowest), then later time; a tie goes to b, the later ingested. */
export function isLater(a: { step: number | null; time: string }, b: { step: number | null; time: string }): boolean {
  const sa = a.step ?? -1;
  const sb = b.step ?? -1;
  return sb > sa || (sb === sa && b.time >= a.time);
}

/** Per-metric summaries of a batch of points, in one pass (no spreading: millions of points are fine). */
export function summarize(points: Iterable<Point>): Map<string, Summary> {
  const out = new Map<string, Summary>();
  for (const p of points) {
    const s = out.get(p.name);
    if (!s) {
      out.set(p.name, {
        name: p.name,
        points: 1,
        min_value: p.value,
        max_value: p.value,
        first_step: p.step,
        first_time: p.time,
        last_value: p.value,
        last_step: p.step,
        last_time: p.time,
      });
      continue;
    }
    s.points++;
    if (p.value < s.min_value) s.min_value = p.value;
    if (p.value > s.max_value) s.max_value = p.value;
    if (p.step !== null && (s.first_step === null || p.step < s.first_step)) s.first_step = p.step;
    if (p.time < s.first_time) s.first_time = p.time;
    if (isLater({ step: s.last_step, time: s.last_time }, p)) {
      s.last_value = p.value;
      s.last_step = p.step;
      s.last_time = p.time;
    }
  }
  return out;
}

/**
 * Folds a batch's summaries into the stored ones, in the batch's transaction. The database
 * does the merge (one upsert), so two writers never lose each other's points.
 */
export async function upsertSummaries(
  db: BookkeepingDb,
  runId: string,
  batch: ReadonlyMap<string, Summary>,
): Promise<void> {
  if (!batch.size) return;
  const cur = (c: string) => sql.ref(`run_metric_summaries.${c}`);
  const exc = (c: string) => sql.ref(`excluded.${c}`);
  const later = sql`(coalesce(${exc('last_step')}, -1) > coalesce(${cur('last_step')}, -1) or (coalesce(${exc('last_step')}, -1) = coalesce(${cur('last_step')}, -1) and ${exc('last_time')} >= ${cur('last_time')}))`;
  await db
    .insertInto('run_metric_summaries')
    .values([...batch.values()].map((s) => ({ run_id: runId, ...s })))
    .onConflict((oc) =>
      oc.columns(['run_id', 'name']).doUpdateSet({
        points: sql`${cur('points')} + ${exc('points')}`,
        min_value: sql`case when ${exc('min_value')} < ${cur('min_value')} then ${exc('min_value')} else ${cur('min_value')} end`,
        max_value: sql`case when ${exc('max_value')} > ${cur('max_value')} then ${exc('max_value')} else ${cur('max_value')} end`,
        first_step: sql`case when ${cur('first_step')} is null or ${exc('first_step')} < ${cur('first_step')} then ${exc('first_step')} else ${cur('first_step')} end`,
        first_time: sql`case when ${exc('first_time')} < ${cur('first_time')} then ${exc('first_time')} else ${cur('first_time')} end`,
        last_value: sql`case when ${later} then ${exc('last_value')} else ${cur('last_value')} end`,
        last_step: sql`case when ${later} then ${exc('last_step')} else ${cur('last_step')} end`,
        last_time: sql`case when ${later} then ${exc('last_time')} else ${cur('last_time')} end`,
      }),
    )
    .execute();
}
