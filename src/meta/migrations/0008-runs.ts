import type { Kysely, Migration } from 'kysely';
import { humanRunName } from '../../core/run-names.js';

/**
 * Runs people can find (docs/RUNS.md): a human name (`brave-otter-07`, generated from the run id
 * when none is given), tags and a note, recorded in the run's audited submission. Runs recorded
 * before get their generated name here, so every run can be addressed by one.
 */
export const runs: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await db.schema.alterTable('runs').addColumn('human_name', 'text').execute();
    await db.schema
      .alterTable('runs')
      .addColumn('tags', 'text', (c) => c.notNull().defaultTo('{}'))
      .execute();
    await db.schema.alterTable('runs').addColumn('note', 'text').execute();
    const k = db as unknown as Kysely<{ runs: { id: string; human_name: string | null } }>;
    const ids = await k.selectFrom('runs').select('id').execute();
    for (const { id } of ids)
      await k
        .updateTable('runs')
        .set({ human_name: humanRunName(id) })
        .where('id', '=', id)
        .execute();
    await db.schema.createIndex('runs_human_name').on('runs').column('human_name').execute();
    // `run ls --filter 'params.lr < 0.01' --sort -metrics.acc` reads one param and one metric of
    // every run: with these, each is an index-only scan instead of a scan of every param/metric.
    await db.schema.createIndex('run_params_name').on('run_params').columns(['name', 'run_id', 'value']).execute();
    await db.schema
      .createIndex('run_metric_summaries_name')
      .on('run_metric_summaries')
      .columns(['name', 'run_id', 'last_value', 'min_value', 'max_value', 'points'])
      .execute();
    await db.schema.createIndex('runs_created').on('runs').columns(['created_at', 'id']).execute();
  },
};
