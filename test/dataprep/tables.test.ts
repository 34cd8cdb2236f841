// Tables end to end through the real CLI: profile, suite inference, validation (with JUnit and
// HTML reports), cleaning recipes (pseudonyms checked against an HMAC computed here), splits in
// every mode against the documented hash, lineage, stored reports and audit events.
import { createHash, createHmac } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkout,
  datasets,
  events,
  expectUnchanged,
  fails,
  initWs,
  lastEvent,
  makeTemp,
  ok,
  parseCsv,
  query,
  rmTemp,
  run,
  SEATTLE,
  snapshot,
  splitPosition,
  keyText,
  sqlLit,
  storeFiles,
  tmpFiles,
  wellFormedXml,
  type SplitOut,
} from './support.js';

const sha = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

interface ColumnProfile {
  name: string;
  type: string;
  kind: string;
  count: number;
  nulls: number;
  distinct: number;
  distinctExact: boolean;
  min?: number | string;
  max?: number | string;
  mean?: number;
  stddev?: number;
  quantiles?: Record<string, number | string>;
  top?: Array<{ value: unknown; count: number }>;
  histogram?: { edges: number[]; counts: number[] };
  frequencies?: Array<{ value: string; count: number }>;
}
interface ProfileOut {
  ref: string;
  digest: string;
  kind: string;
  reportDigest: string;
  profile: { format: string; rows: number; columns: ColumnProfile[] };
}
interface CheckOut {
  name: string;
  kind: string;
  severity: string;
  line: number;
  status: string;
  evaluated: number;
  failed: number;
  percent: number;
  sample: unknown[];
  details?: Record<string, unknown>;
}
interface ValidationOut {
  format: string;
  ok: boolean;
  errors: number;
  warnings: number;
  size: number;
  checks: CheckOut[];
}

/** A deterministic generator (LCG), so the data never depends on Math.random. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** id,user,label,ts,amount,note — labels 60/30/10 %, 97 users, two rows per hour, every 17th amount missing. */
function eventsCsv(from: number, to: number): string {
  const lines: string[] = [];
  for (let id = from; id <= to; id++) {
    const r = lcg(id * 7919);
    const label = r() < 0.6 ? 'a' : r() < 0.75 ? 'b' : 'c';
    const user = `u${Math.floor(r() * 97)}`;
    const ts = new Date(Date.UTC(2024, 0, 1) + Math.floor(id / 2) * 3600e3)
      .toISOString()
      .replace('T', ' ')
      .slice(0, 19);
    const amount = id % 17 === 0 ? '' : (r() * 1000).toFixed(2);
    lines.push(`${id},${user},${label},${ts},${amount},note ${id}`);
  }
  return lines.join('\n') + '\n';
}
const EVENTS_HEADER = 'id,user,label,ts,amount,note\n';

describe('tables end to end (CLI)', () => {
  let cwd = '';
  let weatherText = '';
  let weather: Array<Record<string, string>> = [];
  let weatherDigest = '';

  let added = 0;
  const addDir = (name: string, files: Record<string, string>) => {
    const dir = join(cwd, 'src', `${name}-${++added}`);
    mkdirSync(dir, { recursive: true });
    for (const [p, t] of Object.entries(files)) writeFileSync(join(dir, p), t);
    return ok<{ ref: string; digest: string; version: number }>(cwd, ['data', 'add', dir, '--name', name]);
  };

  /** Rows of a (single-Parquet) version, through a checkout. */
  const rowsOf = async <T = Record<string, unknown>>(ref: string, select = '*', order = 'ALL') => {
    const dir = checkout(cwd, ref);
    expect(readdirSync(dir)).toEqual(['data.parquet']);
    return query<T>(`SELECT ${select} FROM read_parquet(${sqlLit(join(dir, 'data.parquet'))}) ORDER BY ${order}`);
  };

  beforeAll(() => {
    cwd = makeTemp('tables');
    initWs(cwd);
    weatherText = readFileSync(SEATTLE, 'utf8');
    weather = parseCsv(weatherText);
    mkdirSync(join(cwd, 'src', 'weather'), { recursive: true });
    copyFileSync(SEATTLE, join(cwd, 'src', 'weather', 'seattle-weather.csv'));
    weatherDigest = ok<{ digest: string }>(cwd, [
      'data',
      'add',
      join(cwd, 'src', 'weather'),
      '--name',
      'weather',
    ]).digest;
  });
  afterAll(() => rmTemp(cwd));

  it('profile: every column described from the whole file, stored with the version and audited', () => {
    const p = ok<ProfileOut>(cwd, ['data', 'profile', 'weather']);
    expect(p.ref).toBe('weather@v1');
    expect(p.digest).toBe(weatherDigest);
    expect(p.kind).toBe('table');
    expect(p.profile.format).toBe('cairn.profile/v1');
    expect(p.profile.rows).toBe(1461);
    expect(weather.length).toBe(1461);
    expect(p.profile.columns.map((c) => [c.name, c.type, c.kind])).toEqual([
      ['date', 'DATE', 'temporal'],
      ['precipitation', 'DOUBLE', 'numeric'],
      ['temp_max', 'DOUBLE', 'numeric'],
      ['temp_min', 'DOUBLE', 'numeric'],
      ['wind', 'DOUBLE', 'numeric'],
      ['weather', 'VARCHAR', 'text'],
    ]);
    const col = (n: string) => p.profile.columns.find((c) => c.name === n)!;
    for (const c of p.profile.columns) {
      expect(c.count + c.nulls, c.name).toBe(1461);
      expect(c.nulls, c.name).toBe(0);
    }
    // Independent figures from the CSV itself.
    const nums = (k: string) => weather.map((r) => Number(r[k]));
    const tmax = nums('temp_max');
    expect(col('temp_max').min).toBe(Math.min(...tmax));
    expect(col('temp_max').max).toBe(Math.max(...tmax));
    const mean = tmax.reduce((a, b) => a + b, 0) / tmax.length;
    const sd = Math.sqrt(tmax.reduce((a, b) => a + (b - mean) ** 2, 0) / (tmax.length - 1));
    expect(col('temp_max').mean).toBeCloseTo(mean, 9);
    expect(col('temp_max').stddev).toBeCloseTo(sd, 9);
    expect(Object.keys(col('temp_max').quantiles!)).toEqual(['p01', 'p05', 'p25', 'p50', 'p75', 'p95', 'p99']);
    const hist = col('temp_max').histogram!;
    expect(hist.counts.reduce((a, b) => a + b, 0)).toBe(1461);
    expect(hist.edges[0]).toBe(Math.min(...tmax));
    expect(hist.edges[hist.edges.length - 1]).toBe(Math.max(...tmax));
    expect(col('date').min).toBe('2012-01-01');
    expect(col('date').max).toBe('2015-12-31');
    expect(col('date').distinct).toBe(1461);
    expect(col('date').distinctExact).toBe(true);
    const counts = new Map<string, number>();
    for (const r of weather) counts.set(r.weather!, (counts.get(r.weather!) ?? 0) + 1);
    expect(col('weather').distinct).toBe(5);
    expect(col('weather').distinctExact).toBe(true);
    expect(Object.fromEntries(col('weather').frequencies!.map((f) => [f.value, f.count]))).toEqual(
      Object.fromEntries(counts),
    );
    expect(col('weather').top![0]).toEqual({ value: 'rain', count: 641 });

    // Stored with the version: the report command returns the same profile, `show` lists it.
    const stored = ok<{ ref: string; kind: string; digest: string; body: unknown }>(cwd, [
      'data',
      'report',
      'weather',
      '--kind',
      'profile',
    ]);
    expect(stored.kind).toBe('profile');
    expect(stored.digest).toBe(p.reportDigest);
    expect(stored.body).toEqual(p.profile);
    const shown = ok<{ reports: Array<{ kind: string; digest: string; summary: unknown }> }>(cwd, [
      'data',
      'show',
      'weather',
    ]);
    expect(shown.reports).toContainEqual(
      expect.objectContaining({
        kind: 'profile',
        digest: p.reportDigest,
        summary: { kind: 'table', rows: 1461, columns: 6 },
      }),
    );

    const ev = lastEvent(cwd, 'dataset.profile');
    expect(ev.outcome).toBe('ok');
    expect(ev.target).toEqual({ type: 'dataset', name: 'weather', version: 1, digest: weatherDigest });
    expect(ev.inputs).toEqual([weatherDigest]);
    expect(ev.params).toMatchObject({ kind: 'table', rows: 1461, columns: 6, report: p.reportDigest });
  });

  it('profile of a generated CSV counts NULLs and types every column', () => {
    const v = addDir('events', { 'events.csv': EVENTS_HEADER + eventsCsv(1, 2000) });
    const p = ok<ProfileOut>(cwd, ['data', 'profile', v.ref]);
    expect(p.profile.rows).toBe(2000);
    const by = Object.fromEntries(p.profile.columns.map((c) => [c.name, c]));
    expect(Object.fromEntries(p.profile.columns.map((c) => [c.name, c.type]))).toEqual({
      id: 'BIGINT',
      user: 'VARCHAR',
      label: 'VARCHAR',
      ts: 'TIMESTAMP',
      amount: 'DOUBLE',
      note: 'VARCHAR',
    });
    expect(by.amount!.nulls).toBe(Math.floor(2000 / 17));
    expect(by.amount!.count).toBe(2000 - Math.floor(2000 / 17));
    expect(by.id!).toMatchObject({ min: 1, max: 2000, distinct: 2000, distinctExact: true, mean: 1000.5 });
    expect(by.ts!.min).toBe('2024-01-01 00:00:00');
    expect(by.ts!.distinct).toBe(1001);
  });

  it('suite infer writes a suite the same data passes; validate stores the report and audits ok', () => {
    const suite = join(cwd, 'weather-suite.yaml');
    const inf = ok<{ ref: string; digest: string; out: string; suite: string }>(cwd, [
      'data',
      'suite',
      'infer',
      'weather',
      '-o',
      suite,
    ]);
    const text = readFileSync(suite, 'utf8');
    expect(inf.out).toBe(suite);
    expect(inf.suite).toBe(text);
    expect(inf.digest).toBe(`sha256:${sha(text)}`);
    expect(text).toMatch(/^suite: weather-suite$/m);
    const infEv = lastEvent(cwd, 'dataset.suite.infer');
    expect(infEv).toMatchObject({
      outcome: 'ok',
      target: { type: 'dataset', name: 'weather', version: 1, digest: weatherDigest },
      inputs: [weatherDigest],
      params: { suiteDigest: inf.digest, written: true },
    });

    const rep = ok<ValidationOut>(cwd, ['data', 'validate', 'weather', '--suite', suite]);
    expect(rep.format).toBe('cairn.validation/v1');
    expect(rep.ok).toBe(true);
    expect(rep.errors).toBe(0);
    expect(rep.size).toBe(1461);
    expect(rep.checks.map((c) => c.kind)).toEqual([
      'row_count',
      'schema',
      'not_null',
      'unique',
      'range',
      'range',
      'range',
      'range',
      'allowed',
    ]);
    for (const c of rep.checks) expect(c.status, c.name).toBe('passed');

    const stored = ok<{ digest: string; body: ValidationOut }>(cwd, [
      'data',
      'report',
      'weather',
      '--kind',
      'validation',
    ]);
    expect(stored.body.ok).toBe(true);
    const ev = lastEvent(cwd, 'dataset.validate');
    expect(ev.outcome).toBe('ok');
    expect(ev.target).toEqual({ type: 'dataset', name: 'weather', version: 1, digest: weatherDigest });
    expect(ev.inputs).toEqual([weatherDigest]);
    expect(ev.params).toMatchObject({
      suite: 'weather-suite',
      suiteDigest: inf.digest,
      ok: true,
      errors: 0,
      report: stored.digest,
    });
  });

  it('validate with failing checks: exit 1 CHECK_FAILED, exact counts, stored report, JUnit and HTML, audited as failed', () => {
    const suite = join(cwd, 'strict.yaml');
    writeFileSync(
      suite,
      [
        'suite: strict-weather',
        'checks:',
        '  - row_count: { min: 1, max: 1000 }',
        '  - range: { column: temp_max, max: 30 }',
        '  - allowed: { column: weather, values: [rain, sun] }',
        '  - not_null: [date]',
        '  - unique: [date]',
        '  - regex: { column: weather, pattern: "[a-z]+" }',
        '  - sql: { predicate: "temp_min <= temp_max + 100", severity: warn }',
        '  - range: { column: wind, max: 5, severity: warn }',
        '  - range: { column: nope, min: 0 }',
        '',
      ].join('\n'),
    );
    const junit = join(cwd, 'strict.junit.xml');
    const html = join(cwd, 'strict.html');
    const err = fails(
      cwd,
      ['data', 'validate', 'weather', '--suite', suite, '--junit', junit, '--html', html],
      'CHECK_FAILED',
    );
    const rep = (err.data as { report: ValidationOut }).report;
    const hot = weather.filter((r) => Number(r.temp_max) > 30).length;
    const other = weather.filter((r) => r.weather !== 'rain' && r.weather !== 'sun').length;
    const windy = weather.filter((r) => Number(r.wind) > 5).length;
    expect([hot, other]).toEqual([53, 180]);
    const byName = Object.fromEntries(rep.checks.map((c) => [c.name, c]));
    expect(byName.row_count).toMatchObject({ status: 'failed', evaluated: 1, failed: 1, line: 3 });
    expect(byName['range(temp_max)']).toMatchObject({ status: 'failed', evaluated: 1461, failed: hot, line: 4 });
    expect(byName['range(temp_max)']!.percent).toBeCloseTo((100 * hot) / 1461, 3);
    expect(byName['range(temp_max)']!.sample.length).toBe(10);
    expect(byName['allowed(weather)']).toMatchObject({ status: 'failed', evaluated: 1461, failed: other, line: 5 });
    expect(byName['not_null(date)']).toMatchObject({ status: 'passed', failed: 0 });
    expect(byName['unique(date)']).toMatchObject({ status: 'passed', failed: 0 });
    expect(byName['regex(weather)']).toMatchObject({ status: 'passed', failed: 0 });
    expect(byName.sql).toMatchObject({ status: 'passed', severity: 'warn' });
    expect(byName['range(wind)']).toMatchObject({ status: 'failed', severity: 'warn', failed: windy });
    expect(byName['range(nope)']).toMatchObject({ status: 'error', line: 11 });
    expect(rep.ok).toBe(false);
    expect(rep.errors).toBe(4); // row_count, range(temp_max), allowed(weather), range(nope)
    expect(rep.warnings).toBe(1);

    // Stored with the version, even though it failed.
    const stored = ok<{ digest: string; body: ValidationOut }>(cwd, [
      'data',
      'report',
      'weather',
      '--kind',
      'validation',
    ]);
    expect(stored.body).toEqual(rep);

    // JUnit: well-formed, one testcase per check; failures for failed errors, <error> for the
    // check that could not run, <skipped> for the warning.
    const xml = readFileSync(junit, 'utf8');
    const elements = wellFormedXml(xml);
    expect(elements.filter((e) => e === 'testcase').length).toBe(9);
    expect(elements.filter((e) => e === 'failure').length).toBe(3);
    expect(elements.filter((e) => e === 'error').length).toBe(1);
    expect(elements.filter((e) => e === 'skipped').length).toBe(1);
    expect(xml).toContain('failures="3" errors="1" skipped="1"');
    // HTML: one self-contained page naming every check, no scripts.
    const page = readFileSync(html, 'utf8');
    expect(page).toMatch(/^<!DOCTYPE html>/i);
    expect(page).not.toMatch(/<script|<link|src="http/i);
    for (const c of rep.checks) expect(page).toContain(c.name);

    const ev = lastEvent(cwd, 'dataset.validate');
    expect(ev.outcome).toBe('failed');
    expect(ev.reason).toMatch(/^CHECK_FAILED/);
    expect(ev.params).toMatchObject({
      suite: 'strict-weather',
      suiteDigest: `sha256:${sha(readFileSync(suite))}`,
      ok: false,
      errors: 4,
      warnings: 1,
      report: stored.digest,
    });
  });

  it('clean: exact rows, HMAC pseudonyms under the workspace key (which leaks nowhere), lineage via the recipe digest', async () => {
    const csv = [
      'id,name,email,age,city,note',
      '1,Alice, alice@example.com ,34,  Paris ,call +44 20 7946 0958 now',
      '2,Bob,bob@example.org,x,Berlin,none',
      '3,Carol,carol@example.net,,Rome,card 4111 1111 1111 1111',
      '3,Carol,carol@example.net,,Rome,card 4111 1111 1111 1111',
      '4,Dan,dan@example.com,51,,mail dan@example.com',
      '5,Eve,eve@example.com,17,Oslo,ok',
      '6,Frank,frank@example.com,29,Madrid,iban GB82 WEST 1234 5698 7654 32',
      '',
    ].join('\n');
    const input = addDir('people', { 'people.csv': csv });
    const recipeText = [
      'recipe: people-clean',
      'steps:',
      '  - drop_duplicates: {}',
      '  - filter: "id <> 5"',
      '  - cast: { columns: { age: BIGINT } }',
      '  - fill_null: { values: { city: unknown } }',
      '  - trim: [ email, city ]',
      '  - pseudonymize: [ email ]',
      '  - redact_pii: { columns: [ note ] }',
      '',
    ].join('\n');
    const recipe = join(cwd, 'people-recipe.yaml');
    writeFileSync(recipe, recipeText);
    const outputs: string[] = [];
    const r = run(cwd, ['data', 'clean', input.ref, '--recipe', recipe, '--name', 'people-clean', '--json']);
    outputs.push(r.stdout, r.stderr);
    const res = r.json as {
      ref: string;
      digest: string;
      from: string;
      recipe: string;
      recipeDigest: string;
      report: {
        rowsIn: number;
        rowsOut: number;
        steps: Array<{ line: number; kind: string; rowsIn: number; rowsOut: number; details: Record<string, number> }>;
      };
    };
    const recipeDigest = `sha256:${sha(recipeText)}`;
    expect(res).toMatchObject({ ref: 'people-clean@v1', from: input.ref, recipe: 'people-clean', recipeDigest });
    expect(res.report.rowsIn).toBe(7);
    expect(res.report.rowsOut).toBe(5);
    expect(res.report.steps.map((s) => [s.line, s.kind, s.rowsIn, s.rowsOut])).toEqual([
      [3, 'drop_duplicates', 7, 6],
      [4, 'filter', 6, 5],
      [5, 'cast', 5, 5],
      [6, 'fill_null', 5, 5],
      [7, 'trim', 5, 5],
      [8, 'pseudonymize', 5, 5],
      [9, 'redact_pii', 5, 5],
    ]);
    expect(res.report.steps[2]!.details).toEqual({ 'invalid:age': 1, 'blank:age': 0 });
    expect(res.report.steps[3]!.details).toEqual({ 'filled:city': 1 });
    expect(res.report.steps[4]!.details).toEqual({ 'changed:email': 1, 'changed:city': 1 });
    expect(res.report.steps[6]!.details).toMatchObject({
      'changed:note': 4,
      'matches:email': 1,
      'matches:phone': 1,
      'matches:card': 1,
      'matches:iban': 1,
    });

    const keyHex = readFileSync(join(cwd, '.cairn', 'keys', 'pseudonym.key'), 'utf8').trim();
    expect(keyHex).toMatch(/^[0-9a-f]{64}$/);
    const hmac = (v: string) => createHmac('sha256', Buffer.from(keyHex, 'hex')).update(v, 'utf8').digest('hex');
    const rows = await rowsOf<Record<string, unknown>>(res.ref, '*', 'id');
    expect(rows).toEqual([
      { id: 1, name: 'Alice', email: hmac('alice@example.com'), age: 34, city: 'Paris', note: 'call [PHONE] now' },
      { id: 2, name: 'Bob', email: hmac('bob@example.org'), age: null, city: 'Berlin', note: 'none' },
      { id: 3, name: 'Carol', email: hmac('carol@example.net'), age: null, city: 'Rome', note: 'card [CARD]' },
      { id: 4, name: 'Dan', email: hmac('dan@example.com'), age: 51, city: 'unknown', note: 'mail [EMAIL]' },
      { id: 6, name: 'Frank', email: hmac('frank@example.com'), age: 29, city: 'Madrid', note: 'iban [IBAN]' },
    ]);
    const types = await query<{ column_name: string; column_type: string }>(
      `DESCRIBE SELECT * FROM read_parquet(${sqlLit(join(checkout(cwd, res.ref), 'data.parquet'))})`,
    );
    expect(types.map((t) => `${t.column_name}:${t.column_type}`)).toEqual([
      'id:BIGINT',
      'name:VARCHAR',
      'email:VARCHAR',
      'age:BIGINT',
      'city:VARCHAR',
      'note:VARCHAR',
    ]);

    // Lineage: an edge from the input, via the recipe's digest; the recipe text is stored.
    const lin = ok<{
      nodes: Array<{ key: string; ref?: string }>;
      edges: Array<{ from: string; to: string; relation: string; via: string }>;
    }>(cwd, ['lineage', res.ref, '--up']);
    const refOf = (k: string) => lin.nodes.find((n) => n.key === k)?.ref;
    expect(lin.edges.map((e) => ({ from: refOf(e.from), to: refOf(e.to), relation: e.relation, via: e.via }))).toEqual([
      { from: input.ref, to: res.ref, relation: 'cleaned_from', via: `recipe:${sha(recipeText)}` },
    ]);
    const db = new Database(join(cwd, '.cairn', 'meta.db'), { readonly: true, fileMustExist: true });
    try {
      const doc = db.prepare('SELECT kind, name, body FROM documents WHERE digest = ?').get(sha(recipeText));
      expect(doc).toEqual({ kind: 'recipe', name: 'people-recipe.yaml', body: recipeText });
    } finally {
      db.close();
    }

    // The clean report is stored with the new version; the event names input, output and recipe.
    const stored = ok<{ body: { rowsOut: number } }>(cwd, ['data', 'report', res.ref, '--kind', 'clean']);
    expect(stored.body.rowsOut).toBe(5);
    const ev = lastEvent(cwd, 'dataset.clean');
    expect(ev).toMatchObject({
      outcome: 'ok',
      target: { type: 'dataset', name: 'people-clean', version: 1, digest: res.digest },
      inputs: [input.digest],
      outputs: [res.digest],
      params: { recipe: 'people-clean', recipeDigest, from: input.ref },
    });

    // The key is nowhere: not in outputs, the audit log, reports, the metadata or the data.
    for (const args of [
      ['audit', 'log', '--json'],
      ['data', 'report', res.ref, '--json'],
      ['data', 'show', res.ref, '--json'],
      ['lineage', res.ref, '--json'],
    ])
      outputs.push(run(cwd, args).stdout);
    const keyBytes = Buffer.from(keyHex, 'hex');
    for (const o of outputs) {
      expect(o.toLowerCase()).not.toContain(keyHex);
      expect(o).not.toContain(keyBytes.toString('base64'));
    }
    const dataFiles = [
      join(cwd, '.cairn', 'meta.db'),
      join(cwd, '.cairn', 'meta.db-wal'),
      join(checkout(cwd, res.ref), 'data.parquet'),
    ].filter(existsSync);
    for (const f of dataFiles) {
      const bytes = readFileSync(f);
      expect(bytes.includes(Buffer.from(keyHex)), f).toBe(false);
      expect(bytes.includes(Buffer.from(keyHex.toUpperCase())), f).toBe(false);
      expect(bytes.includes(keyBytes), f).toBe(false);
    }
  });

  it('split (hash, --key): the documented hash decides every row; deterministic; a superset moves no row', async () => {
    const total = 1461;
    const a = ok<SplitOut>(cwd, [
      'data',
      'split',
      'weather@v1',
      '--name',
      'wk-a',
      '--ratios',
      'train=0.8,test=0.2',
      '--key',
      'date',
    ]);
    expect(a.splits.map((s) => s.ref)).toEqual(['wk-a/train@v1', 'wk-a/test@v1']);
    expect(a.splits[0]!.size + a.splits[1]!.size).toBe(total);
    // Two days of real Seattle weather coincide in every value: a warning, not a refusal.
    expect(a.leakage).toEqual({
      ok: true,
      checked: ['exact-duplicate', 'content-duplicate', 'key-overlap'],
      findings: [
        {
          kind: 'content-duplicate',
          severity: 'warn',
          count: 1,
          sample: [
            {
              row: { precipitation: 0, temp_max: 9.4, temp_min: 0.6, wind: 2.2, weather: 'sun' },
              splits: ['train', 'test'],
              rows: 2,
            },
          ],
          message: '1 distinct row (2 rows in all) appears in more than one split (compared without the key date)',
          details: { rows: 2 },
        },
      ],
    });
    // Every row where the documented hash of its key puts it.
    const train = (await rowsOf<{ date: string }>('wk-a/train', 'CAST(date AS VARCHAR) AS date')).map((r) => r.date);
    const test = (await rowsOf<{ date: string }>('wk-a/test', 'CAST(date AS VARCHAR) AS date')).map((r) => r.date);
    const expectedTrain = weather
      .map((r) => r.date!)
      .filter((d) => splitPosition(keyText(d)) < 0.8)
      .sort();
    expect(train).toEqual(expectedTrain);
    expect(test).toEqual(
      weather
        .map((r) => r.date!)
        .filter((d) => splitPosition(keyText(d)) >= 0.8)
        .sort(),
    );
    // Another name, same inputs: bit-identical versions.
    const b = ok<SplitOut>(cwd, [
      'data',
      'split',
      'weather@v1',
      '--name',
      'wk-b',
      '--ratios',
      'train=0.8,test=0.2',
      '--key',
      'date',
    ]);
    expect(b.splits.map((s) => s.digest)).toEqual(a.splits.map((s) => s.digest));
    // A different seed gives a different split.
    const c = ok<SplitOut>(cwd, [
      'data',
      'split',
      'weather@v1',
      '--name',
      'wk-c',
      '--ratios',
      'train=0.8,test=0.2',
      '--key',
      'date',
      '--seed',
      '7',
    ]);
    expect(c.splits[0]!.digest).not.toBe(a.splits[0]!.digest);

    // Plain (every column is the key) is deterministic too.
    const p1 = ok<SplitOut>(cwd, ['data', 'split', 'weather@v1', '--name', 'wp-a', '--ratios', 'train=0.8,test=0.2']);
    const p2 = ok<SplitOut>(cwd, ['data', 'split', 'weather@v1', '--name', 'wp-b', '--ratios', 'train=0.8,test=0.2']);
    expect(p2.splits.map((s) => s.digest)).toEqual(p1.splits.map((s) => s.digest));
    expect(p1.splits[0]!.size + p1.splits[1]!.size).toBe(total);

    // Superset: 2016 added as a new version of the same dataset; re-split with the same options.
    const extra = weather
      .filter((r) => r.date!.startsWith('2015-'))
      .map((r): Record<string, string> => ({ ...r, date: r.date!.replace('2015-', '2016-') }))
      .filter((r) => r.date !== '2016-02-29');
    const lines = weatherText.trimEnd().split('\n');
    const superset =
      [
        ...lines,
        ...extra.map((r) => [r.date, r.precipitation, r.temp_max, r.temp_min, r.wind, r.weather].join(',')),
      ].join('\n') + '\n';
    const v2 = addDir('weather', { 'seattle-weather.csv': superset });
    expect(v2.ref).toBe('weather@v2');
    for (const [name, opts, first] of [
      ['wk-a', ['--key', 'date'], a],
      ['wp-a', [], p1],
    ] as const) {
      const again = ok<SplitOut>(cwd, [
        'data',
        'split',
        'weather@v2',
        '--name',
        name,
        '--ratios',
        'train=0.8,test=0.2',
        ...opts,
      ]);
      expect(again.splits.map((s) => s.ref)).toEqual([`${name}/train@v2`, `${name}/test@v2`]);
      expect(again.splits[0]!.size + again.splits[1]!.size).toBe(total + extra.length);
      for (const [i, split] of ['train', 'test'].entries()) {
        const before = new Set(
          (await rowsOf<{ date: string }>(`${name}/${split}@v1`, 'CAST(date AS VARCHAR) AS date')).map((r) => r.date),
        );
        const after = new Set(
          (await rowsOf<{ date: string }>(`${name}/${split}@v2`, 'CAST(date AS VARCHAR) AS date')).map((r) => r.date),
        );
        expect(before.size, `${name}/${split}`).toBe(first.splits[i]!.size);
        for (const d of before) expect(after.has(d), `${name}: ${d} left ${split}`).toBe(true);
        // What was added is all that is new.
        for (const d of after)
          if (!before.has(d)) expect(d.startsWith('2016-'), `${name}: ${d} moved into ${split}`).toBe(true);
      }
    }
  });

  it('split --stratify: every class within 1 percentage point of its overall share in every split', async () => {
    const s = ok<SplitOut>(cwd, [
      'data',
      'split',
      'weather@v1',
      '--name',
      'wstrat',
      '--ratios',
      'train=0.7,valid=0.1,test=0.2',
      '--stratify',
      'weather',
    ]);
    expect(s.splits.map((x) => x.name)).toEqual(['train', 'valid', 'test']);
    expect(s.splits.reduce((n, x) => n + x.size, 0)).toBe(1461);
    const overall = new Map<string, number>();
    for (const r of weather) overall.set(r.weather!, (overall.get(r.weather!) ?? 0) + 1 / 1461);
    for (const x of s.splits) {
      const dir = checkout(cwd, x.ref);
      const byClass = await query<{ weather: string; n: number }>(
        `SELECT weather, count(*)::INTEGER AS n FROM read_parquet(${sqlLit(join(dir, 'data.parquet'))}) GROUP BY weather`,
      );
      const size = byClass.reduce((n, c) => n + c.n, 0);
      expect(size).toBe(x.size);
      for (const [cls, share] of overall) {
        const got = (byClass.find((c) => c.weather === cls)?.n ?? 0) / size;
        expect(Math.abs(got - share) * 100, `${x.name} ${cls}`).toBeLessThan(1);
      }
    }
    const report = ok<{ body: { mode: string; classes: { maxDeviationPoints: number } } }>(cwd, [
      'data',
      'report',
      'wstrat/test',
      '--kind',
      'leakage',
    ]);
    expect(report.body.mode).toBe('stratified');
    expect(report.body.classes.maxDeviationPoints).toBeLessThan(1);
  });

  it('split --group never splits a group; --time puts every test row after every train row', async () => {
    const v = addDir('events-g', { 'events.csv': EVENTS_HEADER + eventsCsv(1, 2000) });
    const g = ok<SplitOut>(cwd, [
      'data',
      'split',
      v.ref,
      '--name',
      'eg',
      '--ratios',
      'train=0.8,test=0.2',
      '--group',
      'user',
    ]);
    expect(g.splits[0]!.size + g.splits[1]!.size).toBe(2000);
    expect(g.leakage.checked).toContain('group-overlap');
    const users = async (ref: string) =>
      new Set((await rowsOf<{ user: string }>(ref, 'DISTINCT "user"', '1')).map((r) => r.user));
    const trainUsers = await users('eg/train');
    const testUsers = await users('eg/test');
    expect(trainUsers.size + testUsers.size).toBe(97);
    for (const u of testUsers) expect(trainUsers.has(u), u).toBe(false);
    // Each group lies where the documented hash of the group value puts it.
    for (const u of trainUsers) expect(splitPosition(keyText(u)), u).toBeLessThan(0.8);

    const t = ok<SplitOut>(cwd, [
      'data',
      'split',
      v.ref,
      '--name',
      'et',
      '--ratios',
      'train=0.8,test=0.2',
      '--time',
      'ts',
    ]);
    expect(t.splits[0]!.size + t.splits[1]!.size).toBe(2000);
    expect(t.splits[0]!.size).toBeGreaterThanOrEqual(1600);
    const range = async (ref: string) =>
      (
        await rowsOf<{ lo: string; hi: string }>(
          ref,
          'CAST(min(ts) AS VARCHAR) AS lo, CAST(max(ts) AS VARCHAR) AS hi',
          '1',
        )
      )[0]!;
    const tr = await range('et/train');
    const te = await range('et/test');
    expect(tr.hi < te.lo, `${tr.hi} < ${te.lo}`).toBe(true);
    expect(tr.lo).toBe('2024-01-01 00:00:00');
    const rep = ok<{ body: { mode: string; cutoffs: unknown[] } }>(cwd, [
      'data',
      'report',
      'et/train',
      '--kind',
      'leakage',
    ]);
    expect(rep.body.mode).toBe('time');
    expect(rep.body.cutoffs).toEqual([tr.hi]);

    // A fixed --cutoff makes the time split stable when rows are added.
    const cut = ['--ratios', 'train=0.8,test=0.2', '--time', 'ts', '--cutoff', '2024-02-10 12:00:00'];
    const c1 = ok<SplitOut>(cwd, ['data', 'split', v.ref, '--name', 'ec', ...cut]);
    const v2 = addDir('events-g', { 'events.csv': EVENTS_HEADER + eventsCsv(1, 2500) });
    const c2 = ok<SplitOut>(cwd, ['data', 'split', v2.ref, '--name', 'ec', ...cut]);
    expect(c2.splits[0]!.size).toBe(c1.splits[0]!.size); // every added row is later than the cut-off
    expect(c2.splits[0]!.digest).toBe(c1.splits[0]!.digest);
    expect(c2.splits[1]!.size).toBe(c1.splits[1]!.size + 500);
    const ids = async (ref: string) => (await rowsOf<{ id: number }>(ref, 'id', 'id')).map((r) => r.id);
    const test1 = await ids('ec/test@v1');
    const test2 = new Set(await ids('ec/test@v2'));
    for (const id of test1) expect(test2.has(id), String(id)).toBe(true);

    // Near-duplicate texts across splits are a warning: reported, not refused.
    const nd = ok<SplitOut>(cwd, [
      'data',
      'split',
      'weather@v1',
      '--name',
      'wnd',
      '--ratios',
      'train=0.8,test=0.2',
      '--text',
      'weather',
    ]);
    expect(nd.leakage.ok).toBe(true);
    expect(nd.leakage.findings.map((f) => [f.kind, f.severity])).toEqual([['near-duplicate', 'warn']]);
  });

  it('a split that would leak is refused (CHECK_FAILED, no version) unless --allow-leakage, which the audit log records', () => {
    // Stratified by label with a key shared across labels: class quotas put some ids in both splits.
    const rows = [
      'id,text,label',
      ...Array.from({ length: 50 }, (_, i) => `${i},a${i},x`),
      ...Array.from({ length: 80 }, (_, i) => `${i},b${i},y`),
    ];
    const v = addDir('shared-ids', { 'd.csv': rows.join('\n') + '\n' });
    const before = snapshot(cwd);
    const args = [
      'data',
      'split',
      v.ref,
      '--name',
      'leaky',
      '--ratios',
      'train=0.5,test=0.5',
      '--key',
      'id',
      '--stratify',
      'label',
    ];
    const err = fails(cwd, args, 'CHECK_FAILED');
    expect(err.message).toMatch(
      /would leak data between splits: \d+ values? of key id appears? in more than one split/,
    );
    const findings = (err.data.leakage as SplitOut['leakage']).findings;
    expect(findings.map((f) => [f.kind, f.severity])).toEqual([['key-overlap', 'error']]);
    expectUnchanged(cwd, before);
    expect(datasets(cwd).some((d) => d.name.startsWith('leaky/'))).toBe(false);
    const refused = lastEvent(cwd, 'dataset.split');
    expect(refused).toMatchObject({
      outcome: 'failed',
      target: { type: 'dataset', name: 'leaky' },
      inputs: [v.digest],
      params: { allowLeakage: false },
    });
    expect(refused.reason).toMatch(/^CHECK_FAILED/);
    expect(refused.outputs ?? []).toEqual([]);

    const allowed = ok<SplitOut>(cwd, [...args, '--allow-leakage']);
    expect(allowed.allowedLeakage).toBe(true);
    expect(allowed.leakage.ok).toBe(false);
    expect(allowed.splits.map((s) => s.ref)).toEqual(['leaky/train@v1', 'leaky/test@v1']);
    expect(allowed.splits[0]!.size + allowed.splits[1]!.size).toBe(130);
    const ev = lastEvent(cwd, 'dataset.split');
    expect(ev).toMatchObject({
      outcome: 'ok',
      target: { type: 'dataset', name: 'leaky' },
      inputs: [v.digest],
      outputs: allowed.splits.map((s) => s.digest),
      params: { allowLeakage: true, leakageOk: false, splits: ['leaky/train@v1', 'leaky/test@v1'] },
    });
    const stored = ok<{ body: { leakage: SplitOut['leakage'] } }>(cwd, [
      'data',
      'report',
      'leaky/test',
      '--kind',
      'leakage',
    ]);
    expect(stored.body.leakage.findings[0]!.kind).toBe('key-overlap');
  });

  // The same example twice under two ids. Whole-row comparison cannot see it (the ids differ),
  // so with --key the rows are also compared without their key columns. Equal content under
  // different keys is reported as a warning, not refused: real tables hold genuinely distinct
  // records that coincide (two flights with the same route, day and delay).
  it('duplicate rows under distinct ids (--key id) are reported as content-duplicate warnings', () => {
    const body = Array.from({ length: 200 }, (_, i) => `${i + 1},same text ${i % 20},${i % 2}`);
    const v = addDir('dup-content', { 'd.csv': ['id,text,label', ...body].join('\n') + '\n' });
    const out = ok<SplitOut>(cwd, [
      'data',
      'split',
      v.ref,
      '--name',
      'dupkey',
      '--ratios',
      'train=0.5,test=0.5',
      '--key',
      'id',
    ]);
    expect(out.leakage.ok).toBe(true);
    expect(out.leakage.checked).toEqual(['exact-duplicate', 'content-duplicate', 'key-overlap']);
    const dup = out.leakage.findings.find((f) => f.kind === 'content-duplicate')!;
    expect(dup).toMatchObject({ severity: 'warn', count: 20, details: { rows: 200 } });
    expect(dup.message).toMatch(/compared without the key id/);
    expect(Object.keys((dup.sample[0] as { row: Record<string, unknown> }).row).sort()).toEqual(['label', 'text']);
    expect(out.leakage.findings.some((f) => f.kind === 'exact-duplicate')).toBe(false);
  });

  it('every step is on the audit record with its targets, and the log verifies', () => {
    const all = events(cwd);
    const actions = new Set(all.map((e) => e.action));
    for (const a of ['dataset.profile', 'dataset.suite.infer', 'dataset.validate', 'dataset.clean', 'dataset.split'])
      expect(actions.has(a), a).toBe(true);
    // Splits record one output per split and their input.
    for (const e of all.filter((x) => x.action === 'dataset.split' && x.outcome === 'ok')) {
      expect(e.inputs).toHaveLength(1);
      expect((e.outputs ?? []).length).toBe((e.params!.splits as string[]).length);
    }
    const v = ok<{ ok: boolean; problems: unknown[] }>(cwd, ['audit', 'verify', '--artifacts']);
    expect(v.ok).toBe(true);
    expect(v.problems).toEqual([]);
    expect(tmpFiles(cwd)).toEqual([]);
    expect(storeFiles(cwd).length).toBeGreaterThan(0);
  });
});
