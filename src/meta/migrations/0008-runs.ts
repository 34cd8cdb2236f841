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
    await db.schema.createIndex('runs_created').on('runs').column('created_at').execute();
  },
};
