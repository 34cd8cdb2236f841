import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { dropSchema, freshPgUrl, PG_BASE_URL, postgresAvailable } from '../../test-support/services.js';
import { migrate, openMetaStore, type MetaStore } from '../open.js';

// Awaited at the top so an unreachable server skips loudly (or fails with CAIRN_REQUIRE_SERVICES=1).
const available = await postgresAvailable();

/**
 * Several workspaces (and every test file) share one database, each in its own schema, and drop
 * their schemas when done. Opening a workspace must not depend on the other schemas: Kysely's
 * migrator looked for its tables with a catalogue read of every schema's columns that names each
 * schema by name (`has_schema_privilege(nspname, …)`, `pg_get_serial_sequence(…)`); a schema
 * dropped by another session between the scan and that lookup failed the open with `schema
 * "cairn_test_…" does not exist` (seen once in a full test run, from a parallel worker: the scan
 * of a database holding many test schemas is big enough for a parallel plan).
 */
describe.skipIf(!available)('migrating on PostgreSQL while other schemas come and go', () => {
  let store: MetaStore;
  let schema: string;
  let url: string;
  beforeAll(async () => {
    ({ url, schema } = freshPgUrl());
    store = await openMetaStore(url);
  });
  afterAll(async () => {
    await store?.close();
    await dropSchema(schema);
  });

  it('never fails because another schema was dropped meanwhile', async () => {
    const churn = new pg.Client({ connectionString: PG_BASE_URL });
    await churn.connect();
    const other = `${schema}_churn`;
    let stop = false;
    let rounds = 0;
    // Another workspace's life, over and over: a schema with a few tables, created and dropped.
    const churning = (async () => {
      while (!stop) {
        await churn.query(
          `create schema ${other}; ` +
            Array.from(
              { length: 8 },
              (_, i) => `create table ${other}.t${i} (id serial primary key, a text, b int);`,
            ).join(' '),
        );
        await churn.query(`drop schema ${other} cascade`);
        rounds++;
      }
    })();
    const errors: string[] = [];
    try {
      for (let i = 0; i < 60 && errors.length === 0; i++) {
        await migrate(store.db, schema).catch((e: Error) => errors.push(e.message));
      }
    } finally {
      stop = true;
      await churning.catch(() => {});
      await churn.query(`drop schema if exists ${other} cascade`).catch(() => {});
      await churn.end();
    }
    expect(rounds).toBeGreaterThan(0);
    expect(errors).toEqual([]);
  });
});
