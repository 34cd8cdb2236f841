import pg from 'pg';
import { randomBytes } from 'node:crypto';

export const PG_BASE_URL = process.env.CAIRN_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let reachable: Promise<boolean> | null = null;

/**
 * Whether PostgreSQL answers. When it does not, tests that need it skip with a loud message,
 * unless CAIRN_REQUIRE_SERVICES=1 (set by .ci/run), which turns the skip into a failure.
 */
export function postgresAvailable(): Promise<boolean> {
  reachable ??= (async () => {
    const client = new pg.Client({ connectionString: PG_BASE_URL, connectionTimeoutMillis: 3000 });
    try {
      await client.connect();
      await client.query('select 1');
      return true;
    } catch (err) {
      if (process.env.CAIRN_REQUIRE_SERVICES === '1') {
        throw new Error(
          `PostgreSQL is required (CAIRN_REQUIRE_SERVICES=1) but ${PG_BASE_URL} is unreachable: ${(err as Error).message}`,
        );
      }
      process.stderr.write(
        `\n!!! SKIPPING PostgreSQL tests: ${PG_BASE_URL} is unreachable (${(err as Error).message}). Set CAIRN_REQUIRE_SERVICES=1 to fail instead.\n\n`,
      );
      return false;
    } finally {
      await client.end().catch(() => {});
    }
  })();
  return reachable;
}

/** A URL selecting a fresh, uniquely named schema; drop it with dropSchema(). */
export function freshPgUrl(): { url: string; schema: string } {
  const schema = `cairn_test_${randomBytes(6).toString('hex')}`;
  const u = new URL(PG_BASE_URL);
  u.searchParams.set('schema', schema);
  return { url: u.toString(), schema };
}

export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: PG_BASE_URL });
  await client.connect();
  try {
    await client.query(`drop schema if exists ${schema} cascade`);
  } finally {
    await client.end();
  }
}
