#!/usr/bin/env node
// The DuckDB-only baseline of the `dataprep` benchmark: the least work that gives the same
// profile-and-split result, in one process, with the @duckdb/node-api Cairn itself uses and
// Cairn's engine settings (threads = cores, memory_limit = a quarter of RAM, spilling to a temp
// folder, preserve_insertion_order = false):
//
//   read     CSV: CREATE TABLE data AS SELECT * FROM read_csv(<file>, header = true,
//            sample_size = -1)   (auto-detection over the whole file, so the types match Cairn's)
//            Parquet: a view over read_parquet (as Cairn reads Parquet)
//   profile  SUMMARIZE data   (one aggregate pass: min, max, approx_unique, avg, std, q25/50/75, count, nulls)
//   split    the documented hash (splitPositionSql from dist/dataprep/split/position.js) computed
//            once into a temp table, then one COPY … TO '<split>.parquet' (FORMAT parquet) per split
//            (no ORDER BY, no leakage report, nothing stored) — no validation at all.
//
// usage: node bench/dataprep/duckdb_job.mjs --input F --format csv|parquet --out DIR
//                                           [--key a,b] [--ratios train=0.8,test=0.2] [--seed 0]
//                                           [--dialect given]   (pass delim/quote/escape, as Cairn does)
// Prints one JSON line: { seconds: {read, profile, split, total}, rows, split: {rows: {...}} }.

import { mkdirSync, statSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function args(argv) {
  const o = { format: 'csv', key: '', ratios: 'train=0.8,test=0.2', seed: 0 };
  for (let i = 0; i < argv.length; i += 2) o[argv[i].replace(/^--/, '')] = argv[i + 1];
  if (!o.input || !o.out) throw new Error('usage: duckdb_job.mjs --input F --format csv|parquet --out DIR [--key a,b]');
  return o;
}

const lit = (s) => `'${String(s).replace(/'/g, "''")}'`;
const ident = (s) => `"${String(s).replace(/"/g, '""')}"`;
const secs = (t0) => Number(process.hrtime.bigint() - t0) / 1e9;

async function main() {
  const o = args(process.argv.slice(2));
  const { splitPositionSql } = await import(pathToFileURL(path.join(REPO, 'dist/dataprep/split/position.js')).href);
  mkdirSync(o.out, { recursive: true });
  const t0 = process.hrtime.bigint();
  const inst = await DuckDBInstance.create(':memory:', {
    threads: String(availableParallelism()),
    memory_limit: `${Math.max(1, Math.floor(totalmem() / 4 / 1024 ** 3))}GB`,
    temp_directory: path.join(o.out, '.duckdb-tmp'),
    preserve_insertion_order: 'false',
  });
  const c = await inst.connect();
  const all = async (sql) => (await c.runAndReadAll(sql)).getRowObjectsJS();
  const seconds = {};

  let t = process.hrtime.bigint();
  if (o.format === 'parquet') await c.run(`CREATE VIEW data AS SELECT * FROM read_parquet(${lit(o.input)})`);
  else {
    // --dialect given: the delimiter, quote and escape are passed (as Cairn's loader does), so
    // DuckDB's sniffer only has to find the types; still from every row.
    const dialect = o.dialect === 'given' ? `, delim = ',', quote = '"', escape = '"'` : '';
    await c.run(
      `CREATE TABLE data AS SELECT * FROM read_csv(${lit(o.input)}, header = true, sample_size = -1${dialect})`,
    );
  }
  seconds.read = secs(t);

  t = process.hrtime.bigint();
  const summary = await all('SUMMARIZE data');
  seconds.profile = secs(t);

  t = process.hrtime.bigint();
  const columns = summary.map((r) => r.column_name);
  const key = o.key ? o.key.split(',') : columns;
  const ratios = o.ratios.split(',').map((x) => {
    const [name, r] = x.split('=');
    return { name, ratio: Number(r) };
  });
  let acc = 0;
  const cum = ratios.map((r) => (acc += r.ratio));
  const u = splitPositionSql(Number(o.seed), key);
  const arms = cum.slice(0, -1).map((x, i) => `WHEN __u < CAST(${lit(String(x))} AS DOUBLE) THEN ${i}`);
  await c.run(
    `CREATE TEMP TABLE s AS SELECT *, CASE ${arms.join(' ')} ELSE ${ratios.length - 1} END AS __split FROM (SELECT *, ${u} AS __u FROM data)`,
  );
  const rows = {};
  const bytes = {};
  for (const [i, r] of ratios.entries()) {
    const file = path.join(o.out, `${r.name}.parquet`);
    const res = await all(
      `COPY (SELECT ${columns.map(ident).join(', ')} FROM s WHERE __split = ${i}) TO ${lit(file)} (FORMAT parquet)`,
    );
    rows[r.name] = Number(Object.values(res[0] ?? {})[0] ?? 0);
    bytes[r.name] = statSync(file).size;
  }
  seconds.split = secs(t);
  seconds.total = secs(t0);
  const n = Number(summary[0]?.count ?? 0);
  c.closeSync();
  inst.closeSync();
  process.stdout.write(
    `${JSON.stringify({ seconds, rows: n, types: Object.fromEntries(summary.map((r) => [r.column_name, r.column_type])), split: { key, rows, bytes } })}\n`,
  );
}

main().catch((e) => {
  process.stderr.write(`${e?.stack ?? e}\n`);
  process.exit(1);
});
