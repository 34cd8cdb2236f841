import { join } from 'node:path';
import { CairnError } from '../../core/errors.js';
import type { DatasetDeps } from '../../datasets/index.js';
import { materializedVersion } from '../../datasets/index.js';
import { resolveVersion, type ResolvedVersion } from '../../datasets/index.js';
import { treeLoader } from '../../datasets/index.js';
import { listFlat, type FlatListing } from '../../storage/tree/list.js';
import { fileChunks } from '../../storage/tree/node.js';
import { installPiiMacros } from '../pii/sql.js';
import { openEngine, type TableEngine } from '../tables/engine.js';
import type { LoadedTable } from '../tables/load.js';
import { loadTableCached } from '../tables/table-cache.js';
import { isJsonPath, looksLikeJsonArray, tabularFormatOf, tableSourceOf, type TableSource } from '../tables/source.js';
import { acquireShared } from '../../storage/locks/locks.js';
import { explainLoadError } from './load-errors.js';

/** What the data-preparation services need beyond the dataset ports. */
export interface DataprepDeps extends DatasetDeps {
  cairnDir: string;
  /** The keyed-pseudonymization secret (stays in the workspace). */
  pseudonymKey(): Buffer;
}

export interface VersionView {
  resolved: ResolvedVersion;
  listing: FlatListing;
  /** Tabular files of the version, or null for a file collection. */
  table: TableSource | null;
}

export async function viewVersion(deps: DataprepDeps, ref: string, file?: string): Promise<VersionView> {
  const resolved = await resolveVersion(deps.meta.db, ref);
  const listing = await listFlat(resolved.version.digest, treeLoader(deps));
  const paths = listing.files.map((f) => f.path);
  const table = tableSourceOf(paths, file, await jsonArraysOf(deps, listing, file));
  return { resolved, listing, table };
}

/**
 * The `.json` files that hold an array of records, sniffed from their first chunk. Only looked
 * at when they could be the table (no CSV, TSV, JSON Lines or Parquet beside them, or chosen
 * with --file); the first one decides for a folder of JSON documents, so a collection of
 * 100,000 annotation objects costs one chunk read.
 */
async function jsonArraysOf(deps: DataprepDeps, listing: FlatListing, file?: string): Promise<Set<string>> {
  const candidates = listing.files.filter((f) => isJsonPath(f.path) && (!file || f.path === file));
  if (candidates.length === 0 || (!file && listing.files.some((f) => tabularFormatOf(f.path)))) return new Set();
  const found = new Set<string>();
  for (const f of candidates) {
    const first = fileChunks(f.entry)[0];
    if (first === undefined) break;
    const loc = (await deps.index.locate([first])).get(first);
    if (!loc || !looksLikeJsonArray(await deps.reader.read(loc))) break;
    found.add(f.path);
  }
  return found.size === candidates.length ? found : new Set();
}

/**
 * The same version read as a file collection. A folder of files with a labels manifest holds
 * a CSV or JSON Lines file, which makes it tabular by default; a suite with only `files:`
 * checks, a recipe with only `files:` steps, or a split given `--labels`/`--manifest` means
 * the files (the manifest is then one of them).
 */
export function asFileCollection(view: VersionView, wantsFiles: boolean, file?: string): VersionView {
  return view.table && wantsFiles && !file ? { ...view, table: null } : view;
}

export interface TableContext {
  engine: TableEngine;
  table: LoadedTable;
  view: VersionView;
}

/**
 * Opens DuckDB on a version's table, typed from the whole file once per version and kept in the
 * table cache (tables/table-cache.ts); the version is materialized read-only (cached by digest)
 * only when its files must be read. The engine closes afterwards.
 */
export async function withTable<T>(
  deps: DataprepDeps,
  view: VersionView,
  opts: { schema?: Record<string, string>; missingSchemaColumns?: 'error' | 'ignore' },
  fn: (ctx: TableContext) => Promise<T>,
): Promise<T> {
  if (!view.table) {
    throw new CairnError(
      'INVALID_INPUT',
      `${view.resolved.ref} holds no CSV, TSV, JSON Lines, JSON array or Parquet files`,
      {
        hint: 'file collections are checked with a suite `files:` section',
      },
    );
  }
  const engine = await openEngine({ tempDir: join(deps.cairnDir, 'tmp', 'duckdb') });
  try {
    await installPiiMacros(engine);
    const source = view.table;
    let dir: string | undefined;
    const table = await loadTableCached(
      engine,
      { versionDigest: view.resolved.version.digest, source },
      {
        cacheDir: join(deps.cacheDir, 'tables'),
        // Only a cache miss (or Parquet, read in place) needs the version's files on disk.
        files: async () => (dir = await materializedVersion(deps, view.resolved.version.digest)),
        ...(opts.schema ? { schema: opts.schema } : {}),
        ...(opts.missingSchemaColumns ? { missingSchemaColumns: opts.missingSchemaColumns } : {}),
      },
    ).catch((err: unknown) => {
      // Without `dir` the files were never read (a cached table): nothing in them to point at.
      throw dir ? explainLoadError(err, { ref: view.resolved.ref, dir, source }) : err;
    });
    return await fn({ engine, table, view });
  } finally {
    engine.close();
  }
}

/** The files of a version with a reader straight from the store (each chunk re-hashed). */
export function filesOf(deps: DataprepDeps, view: VersionView) {
  const entries = new Map(view.listing.files.map((f) => [f.path, f.entry]));
  const files = view.listing.files.map((f) => ({ path: f.path, size: f.entry.size, digest: f.entry.digest }));
  const read = async (path: string): Promise<Buffer> => {
    const e = entries.get(path);
    if (!e) throw new CairnError('NOT_FOUND', `${view.resolved.ref} has no file ${path}`);
    const chunks = fileChunks(e);
    const locs = await deps.index.locate(chunks);
    const parts: Buffer[] = [];
    for (const id of chunks) {
      const loc = locs.get(id);
      if (!loc)
        throw new CairnError('MISSING_OBJECT', `chunk ${id} of ${path} is not in the store`, { data: { blob: id } });
      parts.push(await deps.reader.read(loc));
    }
    return Buffer.concat(parts);
  };
  return { files, read, entries };
}

/**
 * Data preparation reads materialized copies and writes packs, so it holds the store's shared
 * lock: `gc`, which deletes packs and caches, waits for it (or it for gc).
 */
export async function withStoreLock<T>(deps: DataprepDeps, command: string, fn: () => Promise<T>): Promise<T> {
  const lock = acquireShared(deps.locksDir, command);
  try {
    return await fn();
  } finally {
    lock.release();
  }
}
