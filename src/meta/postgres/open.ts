import pg from 'pg';
import { Kysely, PostgresDialect, sql, type Dialect } from 'kysely';
import { CairnError } from '../../core/errors.js';
import type { Database as Schema } from '../schema.js';
import { SchemaIntrospector } from './introspector.js';
import { preparable, PREPARED_PER_CONNECTION } from './prepared.js';
import {
  describedOnce,
  PipelinedPostgresDialect,
  PipelinedReads,
  pipelineableText,
  type DescribedStatements,
} from './pipelined.js';
import { registerDirectReads } from '../direct-reads.js';

const INT8_OID = 20;

export interface PostgresHandle {
  db: Kysely<Schema>;
  pool: pg.Pool;
  schema: string;
}

/**
 * `postgres://user@host:port/db?schema=name`: the optional `schema` parameter selects (and
 * creates) a PostgreSQL schema, so several workspaces or test runs can share one database;
 * `prepare=off` runs statements unprepared (see prepareStatements), `pipeline=off` without
 * PipelinedReads.
 */
export async function openPostgres(url: string): Promise<PostgresHandle> {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema') ?? 'public';
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(schema)) {
    throw new CairnError('CONFIG_INVALID', `invalid PostgreSQL schema name ${JSON.stringify(schema)}`);
  }
  parsed.searchParams.delete('schema');
  // `prepare=off`: for a connection pooler that cannot keep protocol-level prepared statements
  // (PgBouncer in transaction mode before 1.21, or without max_prepared_statements).
  const prepare = parsed.searchParams.get('prepare') ?? 'on';
  if (prepare !== 'on' && prepare !== 'off')
    throw new CairnError('CONFIG_INVALID', `prepare=${JSON.stringify(prepare)} in the PostgreSQL URL: use on or off`);
  parsed.searchParams.delete('prepare');
  // int8 columns hold byte counts and audit indexes that stay far below 2^53, so plain numbers
  // are exact; a per-pool parser avoids changing the process-wide pg defaults.
  const types = {
    getTypeParser: (oid: number, format?: 'text' | 'binary') =>
      oid === INT8_OID ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text'),
  };
  // PipelinedReads unless `pipeline=off` (then every statement takes a pool connection of its own).
  // On by default since the one failure seen with it (a migration's catalogue read, "schema … does
  // not exist") was found to be Kysely's introspector racing another session's drop schema, on any
  // connection (SchemaIntrospector); on a loaded machine it halves the writes to PostgreSQL per
  // read and cut the CPU per read (docs/BENCHMARKS.md, "Fewer statements per read").
  const pipeline = parsed.searchParams.get('pipeline') ?? 'on';
  if (pipeline !== 'on' && pipeline !== 'off')
    throw new CairnError('CONFIG_INVALID', `pipeline=${JSON.stringify(pipeline)} in the PostgreSQL URL: use on or off`);
  parsed.searchParams.delete('pipeline');
  const config = {
    connectionString: parsed.toString(),
    types,
    options: `-c search_path=${schema}`,
    connectionTimeoutMillis: 10_000,
  };
  const pool = new pg.Pool({ ...config, max: 4 });
  // An idle connection the database closes (a restart, a failover, an admin's terminate) is an
  // 'error' event on the pool; unhandled it would end the process. The pool drops that client and
  // the next query opens a new connection, so there is nothing else to do here.
  pool.on('error', () => {});
  // The same for a connection checked out between two queries of a transaction: its query
  // fails (the transaction rolls back) and the pool discards it on release.
  pool.on('connect', (client) => {
    client.on('error', () => {});
    if (prepare === 'on') prepareStatements(client);
  });
  // Two pipelined connections: the reads of one turn share a write, and one slow statement does
  // not hold up every other read.
  const reads = pipeline === 'on' ? new PipelinedReads(config, { connections: 2, prepare: prepare === 'on' }) : null;
  const engine = reads ? new PipelinedPostgresDialect({ pool }, reads) : new PostgresDialect({ pool });
  // Introspection (the migrator's "do my tables exist") sees this schema only: see SchemaIntrospector.
  const dialect: Dialect = {
    createAdapter: () => engine.createAdapter(),
    createDriver: () => engine.createDriver(),
    createQueryCompiler: () => engine.createQueryCompiler(),
    createIntrospector: (k) => new SchemaIntrospector(k, schema),
  };
  const db = new Kysely<Schema>({ dialect });
  // The compiled listings (compiledRead) skip Kysely's connection chain; no plugin transforms this instance's results.
  if (reads)
    registerDirectReads(db, async (text, parameters) =>
      pipelineableText(text) ? (await reads.query(text, parameters))?.rows : undefined,
    );
  try {
    await sql`create schema if not exists ${sql.id(schema)}`.execute(db);
  } catch (err) {
    await db.destroy();
    throw new CairnError('DB_ERROR', `cannot reach PostgreSQL at ${redact(url)}: ${(err as Error).message}`, {
      cause: err,
      hint: 'check that the server runs and the URL (user, host, port, database) is right',
    });
  }
  return { db, pool, schema };
}

/**
 * Runs each parameterized statement as a named prepared statement of its connection: the first
 * execution parses and plans it, later ones only bind and execute (a team server runs the same
 * few dozen statements thousands of times a second). Statement texts are fixed by the code (values
 * travel as parameters), so the set is small (see preparable); it is capped all the same, and texts that are very
 * long (bulk inserts of many rows) are not kept. Prepared statements outlive a rolled-back
 * transaction and are dropped with their connection. A statement's later executions are not
 * described again either (describedOnce).
 */
function prepareStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  const names = new Map<string, string>();
  // Each statement described once on this connection too (describedOnce, pipelined.ts).
  const described: DescribedStatements = new Map();
  (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const [text, values] = args;
    if (args.length === 2 && typeof text === 'string' && Array.isArray(values) && preparable(text, values)) {
      let name = names.get(text);
      if (!name && names.size < PREPARED_PER_CONNECTION) {
        name = `cairn_${names.size}`;
        names.set(text, name);
      }
      if (name)
        return new Promise((resolve, reject) => {
          query(describedOnce(described, { name, text, values }, (err, r) => (err ? reject(err) : resolve(r))));
        });
    }
    return query(...args);
  };
}

export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '<invalid url>';
  }
}
