import { describe, expect, it } from 'vitest';
import { isCairnError } from '../core/errors.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../test-support/services.js';
import { metaConformance } from './conformance.case.js';
import { openMetaStore, type MetaStore } from './open.js';

// Awaited at the top so an unreachable server skips loudly, or, with CAIRN_REQUIRE_SERVICES=1,
// fails this file (postgresAvailable throws) instead of skipping.
const available = await postgresAvailable();

describe.skipIf(!available)('PostgreSQL', () => {
  metaConformance('PostgreSQL', async () => {
    const { url, schema } = freshPgUrl();
    const handles: MetaStore[] = [];
    const first = await openMetaStore(url);
    handles.push(first);
    return {
      db: first.db,
      dialect: first.dialect,
      close: () => first.close(),
      reopen: async () => {
        const s = await openMetaStore(url);
        handles.push(s);
        return s;
      },
      destroy: async () => {
        // Pool.end() twice throws, so each handle closes once however the test ended.
        for (const h of handles.splice(0)) await h.close().catch(() => {});
        await dropSchema(schema);
      },
    };
  });

  describe('PostgreSQL specifics', () => {
    it('opens into the requested schema and redacts the password from its location', async () => {
      const { url, schema } = freshPgUrl();
      const u = new URL(url);
      u.password = 'hunter2';
      const s = await openMetaStore(u.toString()).catch(() => null);
      // Trust auth ignores the password, so the open succeeds and shows where it went.
      try {
        expect(s).not.toBeNull();
        expect(s!.dialect).toBe('postgres');
        expect(s!.location).not.toContain('hunter2');
        expect(s!.location).toContain('***');
        const { rows } = await (await import('kysely')).sql<{ s: string }>`select current_schema() as s`.execute(s!.db);
        expect(rows[0]!.s).toBe(schema);
      } finally {
        await s?.close();
        await dropSchema(schema);
      }
    });

    it('keeps parameterized statements prepared per connection, and not with prepare=off; refuses another value', async () => {
      const { sql } = await import('kysely');
      const prepared = async (url: string) => {
        const store = await openMetaStore(url);
        try {
          // One transaction: the same connection runs the statements and answers for its own sessions' statements.
          return await store.db.transaction().execute(async (trx) => {
            for (let i = 0; i < 3; i++) await sql`select ${i}::int as n`.execute(trx);
            const { rows } = await sql<{ name: string; statement: string }>`
              select name, statement from pg_prepared_statements where name like 'cairn_%'
            `.execute(trx);
            return rows.filter((r) => r.statement.includes('::int as n'));
          });
        } finally {
          await store.close();
        }
      };
      const { url, schema } = freshPgUrl();
      try {
        expect(await prepared(url)).toHaveLength(1);
        const off = new URL(url);
        off.searchParams.set('prepare', 'off');
        expect(await prepared(off.toString())).toEqual([]);
        off.searchParams.set('prepare', 'maybe');
        await expect(openMetaStore(off.toString())).rejects.toSatisfy((e) => isCairnError(e, 'CONFIG_INVALID'));
      } finally {
        await dropSchema(schema);
      }
    });

    it('keeps a read without parameters prepared too (data ls has none), but not several statements in one text', async () => {
      const { sql } = await import('kysely');
      const { url, schema } = freshPgUrl();
      const store = await openMetaStore(url);
      try {
        const rows = await store.db.transaction().execute(async (trx) => {
          for (let i = 0; i < 3; i++) await sql`select 7 as seven_n`.execute(trx);
          await sql`savepoint one_a; release savepoint one_a`.execute(trx);
          return (
            await sql<{ statement: string }>`
              select statement from pg_prepared_statements where name like 'cairn_%'
            `.execute(trx)
          ).rows;
        });
        expect(rows.filter((r) => r.statement.includes('seven_n'))).toHaveLength(1);
        expect(rows.filter((r) => r.statement.includes('one_a'))).toEqual([]);
      } finally {
        await store.close();
        await dropSchema(schema);
      }
    });

    it('refuses a schema name that is not a plain identifier', async () => {
      const u = new URL(freshPgUrl().url);
      u.searchParams.set('schema', 'x; drop table y');
      await expect(openMetaStore(u.toString())).rejects.toSatisfy((e) => isCairnError(e, 'CONFIG_INVALID'));
    });
  });
});

describe('PostgreSQL unreachable', () => {
  it('is a DB_ERROR that names the server without its password', async () => {
    // Port 1 on loopback refuses at once; no server is needed for this case.
    const err = await openMetaStore('postgres://postgres:s3cret@127.0.0.1:1/test').catch((e: unknown) => e);
    expect(isCairnError(err, 'DB_ERROR')).toBe(true);
    expect((err as Error).message).toContain('127.0.0.1:1');
    expect((err as Error).message).not.toContain('s3cret');
  });
});
