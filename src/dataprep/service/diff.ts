import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '../../core/errors.js';
import { ident, lit, type TableEngine } from '../tables/engine.js';
import { viewVersion, withStoreLock, withTable, type DataprepDeps } from './context.js';

export interface TableDiffOptions {
  /** Key columns that identify a row in both versions; inferred when absent (see docs/DATAPREP.md). */
  key?: string[];
  /** One file of each version, when a version holds several tables. */
  file?: string;
  /** How many rows of each kind to show (default 5). */
  samples?: number;
}

type Row = Record<string, unknown>;

export interface TableDiff {
  from: string;
  to: string;
  schema: {
    added: Array<{ name: string; type: string }>;
    removed: Array<{ name: string; type: string }>;
    retyped: Array<{ name: string; from: string; to: string }>;
  };
  /** `given` (--key), `inferred` (an id-like column unique in both), `row` (whole rows: no changed rows). */
  key: { columns: string[]; source: 'given' | 'inferred' | 'row' };
  rows: { from: number; to: number; added: number; removed: number; changed: number; unchanged: number };
  /** For changed rows: how many differ in each column that both versions have. */
  changedColumns: Record<string, number>;
  samples: {
    added: Row[];
    removed: Row[];
    changed: Array<{ key: Row; changes: Record<string, { from: unknown; to: unknown }> }>;
  };
}

/**
 * Row-level diff of two table versions: columns added, removed or retyped, and rows added,
 * removed and changed matched by key, with samples. Returns null when either version is not a
 * table. Reads only: the "from" table is copied to a temporary Parquet file (removed after) so
 * both sit in one engine.
 */
export async function diffTableVersions(
  deps: DataprepDeps,
  from: string,
  to: string,
  opts: TableDiffOptions = {},
): Promise<TableDiff | null> {
  return withStoreLock(deps, 'data diff', async () => {
    const va = await viewVersion(deps, from, opts.file);
    const vb = await viewVersion(deps, to, opts.file);
    if (!va.table || !vb.table) return null;
    const tmpDir = join(deps.cairnDir, 'tmp');
    mkdirSync(tmpDir, { recursive: true });
    const tmp = join(tmpDir, `diff-${process.pid}-${randomBytes(4).toString('hex')}.parquet`);
    try {
      await withTable(deps, va, {}, ({ engine, table }) =>
        engine.run(`COPY (SELECT * FROM ${ident(table.name)}) TO ${lit(tmp)} (FORMAT parquet)`),
      );
      return await withTable(deps, vb, {}, async ({ engine, table }) => {
        await engine.run(`CREATE OR REPLACE VIEW __cairn_diff_a AS SELECT * FROM read_parquet(${lit(tmp)})`);
        return diffLoaded(engine, '__cairn_diff_a', ident(table.name), {
          from: va.resolved.ref,
          to: vb.resolved.ref,
          ...opts,
        });
      });
    } finally {
      rmSync(tmp, { force: true });
    }
  });
}

async function columnsOf(engine: TableEngine, rel: string): Promise<Array<{ name: string; type: string }>> {
  const d = await engine.all<{ column_name: string; column_type: string }>(
    `SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM ${rel})`,
  );
  return d.map((x) => ({ name: x.column_name, type: x.column_type }));
}

/** The diff of two relations already in the engine. */
export async function diffLoaded(
  engine: TableEngine,
  a: string,
  b: string,
  opts: TableDiffOptions & { from: string; to: string },
): Promise<TableDiff> {
  const ca = await columnsOf(engine, a);
  const cb = await columnsOf(engine, b);
  const inA = new Map(ca.map((c) => [c.name, c.type]));
  const inB = new Map(cb.map((c) => [c.name, c.type]));
  const common = ca.filter((c) => inB.has(c.name)).map((c) => c.name);
  const schema: TableDiff['schema'] = {
    added: cb.filter((c) => !inA.has(c.name)),
    removed: ca.filter((c) => !inB.has(c.name)),
    retyped: common
      .filter((c) => inA.get(c) !== inB.get(c))
      .map((c) => ({ name: c, from: inA.get(c)!, to: inB.get(c)! })),
  };
  const key = await chooseKey(engine, a, b, common, opts.key);
  const n = opts.samples ?? 5;
  const [counts] = await engine.all<{ na: number; nb: number }>(
    `SELECT (SELECT count(*) FROM ${a}) AS na, (SELECT count(*) FROM ${b}) AS nb`,
  );
  const rows = { from: Number(counts!.na), to: Number(counts!.nb), added: 0, removed: 0, changed: 0, unchanged: 0 };
  const base = { from: opts.from, to: opts.to, schema, key };
  if (key.source === 'row') return { ...base, ...(await diffByRow(engine, a, b, common, rows, n)) };
  return {
    ...base,
    ...(await diffByKey(engine, a, b, { common, key: key.columns, retyped: schema.retyped }, rows, n)),
  };
}

const ID_LIKE = /^(id|key|uuid)$|_(id|key)$/i;

async function chooseKey(
  engine: TableEngine,
  a: string,
  b: string,
  common: string[],
  given: string[] | undefined,
): Promise<TableDiff['key']> {
  if (given?.length) {
    for (const k of given) {
      if (!common.includes(k)) {
        throw new CairnError('INVALID_INPUT', `--key ${k}: both versions must have the column ${JSON.stringify(k)}`, {
          hint: `columns both have: ${common.join(', ') || '(none)'}`,
          data: { key: given },
        });
      }
    }
    for (const [rel, side] of [
      [a, 'from'],
      [b, 'to'],
    ] as const) {
      const dups = await duplicateKeys(engine, rel, given);
      if (dups > 0) {
        throw new CairnError(
          'INVALID_INPUT',
          `--key ${given.join(',')} is not unique in the ${side} version (${dups} repeated key value${dups === 1 ? '' : 's'})`,
          {
            hint: 'choose columns that identify one row, or leave --key out to compare whole rows',
            data: { key: given },
          },
        );
      }
    }
    return { columns: [...given], source: 'given' };
  }
  for (const c of common.filter((x) => ID_LIKE.test(x))) {
    if ((await duplicateKeys(engine, a, [c])) === 0 && (await duplicateKeys(engine, b, [c])) === 0)
      return { columns: [c], source: 'inferred' };
  }
  return { columns: [], source: 'row' };
}

/** Rows beyond the first per key value; a NULL in a key column counts as a repeat (it identifies nothing). */
async function duplicateKeys(engine: TableEngine, rel: string, key: string[]): Promise<number> {
  const tuple = `{${key.map((k, i) => `'k${i}': ${ident(k)}`).join(', ')}}`;
  const [r] = await engine.all<{ d: number }>(
    `SELECT count(*) - count(DISTINCT ${tuple}) + count_if(${key.map((k) => `${ident(k)} IS NULL`).join(' OR ')}) AS d FROM ${rel}`,
  );
  return Number(r!.d);
}

async function diffByRow(
  engine: TableEngine,
  a: string,
  b: string,
  common: string[],
  rows: TableDiff['rows'],
  n: number,
): Promise<Pick<TableDiff, 'rows' | 'changedColumns' | 'samples'>> {
  const cols = common.map(ident).join(', ') || '1';
  const only = (x: string, y: string) => `(SELECT ${cols} FROM ${x} EXCEPT ALL SELECT ${cols} FROM ${y})`;
  const [c] = await engine.all<{ added: number; removed: number }>(
    `SELECT (SELECT count(*) FROM ${only(b, a)}) AS added, (SELECT count(*) FROM ${only(a, b)}) AS removed`,
  );
  const added = Number(c!.added);
  const removed = Number(c!.removed);
  return {
    rows: { ...rows, added, removed, unchanged: rows.to - added },
    changedColumns: {},
    samples: {
      added: await engine.all<Row>(`SELECT * FROM ${only(b, a)} ORDER BY ALL LIMIT ${n}`),
      removed: await engine.all<Row>(`SELECT * FROM ${only(a, b)} ORDER BY ALL LIMIT ${n}`),
      changed: [],
    },
  };
}

async function diffByKey(
  engine: TableEngine,
  a: string,
  b: string,
  k: { common: string[]; key: string[]; retyped: TableDiff['schema']['retyped'] },
  rows: TableDiff['rows'],
  n: number,
): Promise<Pick<TableDiff, 'rows' | 'changedColumns' | 'samples'>> {
  const on = k.key.map((c) => `x.${ident(c)} IS NOT DISTINCT FROM y.${ident(c)}`).join(' AND ');
  const order = k.key.map((c) => `${ident(c)} NULLS LAST`).join(', ');
  const anti = (x: string, y: string) => `(SELECT x.* FROM ${x} x ANTI JOIN ${y} y ON ${on})`;
  // A column retyped between numbers is compared as numbers (1 and 1.0 are equal); any other
  // retyped column by its text.
  const NUM = /^(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|U\w*INT|FLOAT|DOUBLE|REAL|DECIMAL.*)$/;
  const retyped = new Set(k.retyped.filter((r) => !(NUM.test(r.from) && NUM.test(r.to))).map((r) => r.name));
  const val = (side: 'x' | 'y', c: string) =>
    retyped.has(c) ? `CAST(${side}.${ident(c)} AS VARCHAR)` : `${side}.${ident(c)}`;
  const others = k.common.filter((c) => !k.key.includes(c));
  const differs = (c: string) => `${val('x', c)} IS DISTINCT FROM ${val('y', c)}`;
  const anyDiff = others.map(differs).join(' OR ') || 'FALSE';
  const [c] = await engine.all<Record<string, number>>(
    `SELECT (SELECT count(*) FROM ${anti(b, a)}) AS added, (SELECT count(*) FROM ${anti(a, b)}) AS removed, m.* FROM ` +
      `(SELECT count(*) AS matched, count_if(${anyDiff}) AS changed${others.map((col, i) => `, count_if(${differs(col)}) AS c${i}`).join('')} ` +
      `FROM ${a} x JOIN ${b} y ON ${on}) m`,
  );
  const changedColumns: Record<string, number> = {};
  others.forEach((col, i) => {
    const v = Number(c![`c${i}`] ?? 0);
    if (v > 0) changedColumns[col] = v;
  });
  const changedRows = await engine.all<Row>(
    `SELECT ${[...k.key.map((col) => `x.${ident(col)} AS ${ident(`k:${col}`)}`), ...others.flatMap((col) => [`${val('x', col)} AS ${ident(`a:${col}`)}`, `${val('y', col)} AS ${ident(`b:${col}`)}`])].join(', ')} ` +
      `FROM ${a} x JOIN ${b} y ON ${on} WHERE ${anyDiff} ORDER BY ${k.key.map((col) => `x.${ident(col)} NULLS LAST`).join(', ')} LIMIT ${n}`,
  );
  const changed = changedRows.map((r) => {
    const key: Row = {};
    for (const col of k.key) key[col] = r[`k:${col}`];
    const changes: Record<string, { from: unknown; to: unknown }> = {};
    for (const col of others) {
      const x = r[`a:${col}`];
      const y = r[`b:${col}`];
      if (JSON.stringify(x) !== JSON.stringify(y)) changes[col] = { from: x, to: y };
    }
    return { key, changes };
  });
  const changedCount = Number(c!.changed);
  return {
    rows: {
      ...rows,
      added: Number(c!.added),
      removed: Number(c!.removed),
      changed: changedCount,
      unchanged: Number(c!.matched) - changedCount,
    },
    changedColumns,
    samples: {
      added: await engine.all<Row>(`SELECT * FROM ${anti(b, a)} ORDER BY ${order} LIMIT ${n}`),
      removed: await engine.all<Row>(`SELECT * FROM ${anti(a, b)} ORDER BY ${order} LIMIT ${n}`),
      changed,
    },
  };
}
