import { join } from 'node:path';
import { MetricsTailer } from '../metrics/ingest.js';
import type { RunDeps } from './deps.js';
import type { RunRow } from './store.js';

/**
 * Catches up on a run's metrics file from the offset last ingested. The offset is saved in
 * the same transaction as the rows it covers, so a crash between the two can neither lose
 * nor double a point. `final` also takes a last line the job left without a newline.
 */
export async function ingestRunMetrics(
  deps: Pick<RunDeps, 'meta' | 'bookkeeping'>,
  run: RunRow,
  opts: { final?: boolean } = {},
): Promise<{ metrics: number; params: number; badCount: number }> {
  const current = await deps.meta.db
    .selectFrom('runs')
    .select('metrics_offset')
    .where('id', '=', run.id)
    .executeTakeFirst();
  const tailer = new MetricsTailer({
    db: deps.bookkeeping,
    runId: run.id,
    file: join(run.dir, 'metrics.jsonl'),
    offset: Number(current?.metrics_offset ?? 0),
    saveOffset: async (trx, offset) => {
      await trx.updateTable('runs').set({ metrics_offset: offset }).where('id', '=', run.id).execute();
    },
  });
  const r = await tailer.ingestOnce(opts.final ? { final: true } : {});
  return { metrics: r.metrics, params: r.params, badCount: r.badCount };
}
