import { randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson } from '../../core/canonical-json.js';
import { sha256Hex } from '../../core/digest.js';
import { CairnError } from '../../core/errors.js';
import {
  hashFileSync,
  printPath,
  readPrint,
  samePrint,
  statPrint,
  writePrint,
} from '../../storage/cache/fingerprint.js';
import { ident, lit, type TableEngine } from './engine.js';
import {
  checkTypeName,
  countInvalid,
  describeLoaded,
  loadTable,
  readerSql,
  strictCastsSql,
  refuseEmpty,
  type LoadedTable,
  type LoadOptions,
} from './load.js';
import type { TableSource } from './source.js';

/**
 * Bump when what a cached table holds changes (the reader's options, the typing rules): old
 * entries then simply stop matching.
 */
const TABLE_CACHE_FORMAT = 1;
const CACHE_CATALOG = '__cairn_table_cache';

export interface CachedTableKey {
  /** The version's root digest: versions are immutable, so the typed table never goes stale. */
  versionDigest: string;
  source: TableSource;
}

export interface CachedLoadOptions extends LoadOptions {
  /** Where typed tables are kept (`.cairn/cache/tables`). */
  cacheDir: string;
  /** Called on a miss for the folder holding the version's files (materialized on demand). */
  files(): Promise<string>;
}

/**
 * Loads a version's CSV / TSV / JSON Lines table through a cache of typed tables: the first
 * command that needs it parses the text once (typed from every row, as loadTable does) into a
 * DuckDB database file named by the version digest, the engine's version and the source; later
 * commands attach that file read-only instead of parsing text again, and do not need the
 * version's files at all. Parquet is already typed and is read in place.
 *
 * A declared schema is applied on top: a column whose inferred type already is the declared
 * one is used as is; a column inferred as text is cast strictly and its unparsable values
 * counted, exactly as loadTable does. Any other mismatch (e.g. inferred BIGINT, declared
 * VARCHAR: the original text is gone) reloads from the files.
 */
export async function loadTableCached(
  engine: TableEngine,
  key: CachedTableKey,
  opts: CachedLoadOptions,
): Promise<LoadedTable> {
  const name = opts.name ?? 'data';
  const { format, paths } = key.source;
  const strictOpts: LoadOptions = {
    ...(opts.schema ? { schema: opts.schema } : {}),
    ...(opts.missingSchemaColumns ? { missingSchemaColumns: opts.missingSchemaColumns } : {}),
    name,
  };
  const fromFiles = async () => {
    const dir = await opts.files();
    return loadTable(
      engine,
      paths.map((p) => join(dir, p)),
      format,
      strictOpts,
    );
  };
  if (format === 'parquet') return fromFiles();
  await attachEntry(engine, key, opts, format);
  const cached = `${ident(CACHE_CATALOG)}.main.data`;
  const desc = await engine.all<{ column_name: string; column_type: string }>(
    `SELECT column_name, column_type FROM (DESCRIBE ${cached})`,
  );
  // As loadTable does, JSON Lines keep the types JSON gave them; the schema check judges them.
  const declared = new Map(format === 'jsonl' || format === 'json' ? [] : Object.entries(opts.schema ?? {}));
  const casts = planCasts(declared, new Map(desc.map((d) => [d.column_name, d.column_type])), opts);
  if (casts === 'reload') {
    await engine.run(`DETACH ${ident(CACHE_CATALOG)}`);
    return fromFiles();
  }
  let invalid = new Map<string, number>();
  if (casts.length > 0) {
    invalid = await countInvalid(engine, cached, casts);
    // Materialized once: every check scans the typed values, never the casts again.
    await engine.run(
      `CREATE OR REPLACE TABLE ${ident(name)} AS SELECT * REPLACE (${strictCastsSql(casts)}) FROM ${cached}`,
    );
  } else {
    await engine.run(`CREATE OR REPLACE VIEW ${ident(name)} AS SELECT * FROM ${cached}`);
  }
  return describeLoaded(engine, name, cached, desc, declared, invalid, format);
}

/** Attaches the version's cache entry as CACHE_CATALOG, building it first when missing or changed. */
async function attachEntry(
  engine: TableEngine,
  key: CachedTableKey,
  opts: CachedLoadOptions,
  format: Exclude<TableSource['format'], 'parquet'>,
): Promise<void> {
  const { paths } = key.source;
  const [{ v }] = (await engine.all<{ v: string }>('SELECT version() AS v')) as [{ v: string }];
  const file = join(
    opts.cacheDir,
    `${sha256Hex(canonicalJson({ cache: TABLE_CACHE_FORMAT, duckdb: v, version: key.versionDigest, format, paths }))}.duckdb`,
  );
  // An entry somebody changed is rebuilt, never attached (checkTableEntry removes it).
  if (checkTableEntry(file, { repair: true }) !== 'ok')
    await buildCache(
      engine,
      file,
      opts.cacheDir,
      async () => {
        const dir = await opts.files();
        return paths.map((p) => join(dir, p));
      },
      format,
    );
  await engine.run(`ATTACH IF NOT EXISTS ${lit(file)} AS ${ident(CACHE_CATALOG)} (READ_ONLY)`);
}

/**
 * The declared columns to cast from the cached text, or 'reload' when one was typed otherwise
 * and only the file still has its text. Problems are thrown column by column, in schema order.
 */
function planCasts(
  declared: ReadonlyMap<string, string>,
  inferred: ReadonlyMap<string, string>,
  opts: LoadOptions,
): Array<[string, string]> | 'reload' {
  const casts: Array<[string, string]> = [];
  for (const [c, t] of declared) {
    checkTypeName(c, t);
    const got = inferred.get(c);
    if (got === undefined) {
      if (opts.missingSchemaColumns !== 'ignore')
        throw new CairnError(
          'INVALID_INPUT',
          `the schema names column ${JSON.stringify(c)}, which the file does not have`,
          { data: { column: c, columns: [...inferred.keys()] } },
        );
      continue;
    }
    if (got === t.toUpperCase()) continue;
    // The text is only still there for columns inferred as text; anything else needs the file.
    if (got !== 'VARCHAR') return 'reload';
    casts.push([c, t]);
  }
  return casts;
}

/**
 * Parses the text into a new database file under a temporary name and renames it into place,
 * so a reader never sees half a table, and two commands building the same entry at once both
 * end with a complete one. A crash leaves only a temporary file, which `gc` removes.
 */
async function buildCache(
  engine: TableEngine,
  file: string,
  cacheDir: string,
  files: () => Promise<string[]>,
  format: Exclude<TableSource['format'], 'parquet'>,
): Promise<void> {
  mkdirSync(cacheDir, { recursive: true });
  const absPaths = await files();
  refuseEmpty(absPaths);
  const tmp = join(cacheDir, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}.duckdb`);
  const build = '__cairn_table_build';
  let attached = false;
  try {
    await engine.run(`ATTACH ${lit(tmp)} AS ${ident(build)}`);
    attached = true;
    await engine.run(`CREATE TABLE ${ident(build)}.main.data AS SELECT * FROM ${readerSql(absPaths, format)}`);
    await engine.run(`CHECKPOINT ${ident(build)}`);
    await engine.run(`DETACH ${ident(build)}`);
    attached = false;
    // Read-only, and its stat and SHA-256 recorded: a later use attaches it only if it is
    // still the file built here.
    chmodSync(tmp, 0o444);
    const sha256 = hashFileSync(tmp);
    renameSync(tmp, file);
    writePrint(file, statPrint(lstatSync(file)), { sha256 });
  } catch (err) {
    if (attached) await engine.run(`DETACH ${ident(build)}`).catch(() => {});
    rmSync(tmp, { force: true });
    rmSync(`${tmp}.wal`, { force: true });
    throw err;
  }
}

export type TableEntryState = 'ok' | 'missing' | 'poisoned';

/**
 * Whether a typed-table file may be attached: its stat matches the one recorded when it was
 * built, or (when the stat moved) its SHA-256 still does. A changed or unrecorded file is
 * poisoned: with `repair` it is removed (the caller builds it again), without (fsck) only
 * reported. A matching re-hash renews the record.
 */
export function checkTableEntry(file: string, opts: { repair: boolean }): TableEntryState {
  let st;
  try {
    st = lstatSync(file);
  } catch {
    return 'missing';
  }
  const rec = readPrint(file);
  if (rec && st.isFile() && samePrint(rec, statPrint(st)) && (st.mode & 0o222) === 0) return 'ok';
  if (rec && st.isFile() && typeof rec.sha256 === 'string' && hashFileSync(file) === rec.sha256) {
    if (opts.repair) {
      chmodSync(file, 0o444);
      writePrint(file, statPrint(lstatSync(file)), { sha256: rec.sha256 });
    }
    return 'ok';
  }
  if (opts.repair) {
    rmSync(file, { force: true });
    rmSync(printPath(file), { force: true });
    rmSync(`${file}.wal`, { force: true });
  }
  return 'poisoned';
}
