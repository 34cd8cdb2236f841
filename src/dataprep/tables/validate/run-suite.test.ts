import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../../core/package-root.js';
import { rejectsWith } from '../../../test-support/assert.js';
import { useTempDirs } from '../../../test-support/temp.js';
import type { CheckResult } from '../../validation-report.js';
import { parseSuite } from '../../spec-files/suite.js';
import { openEngine, type TableEngine } from '../engine.js';
import { loadTable, type LoadedTable } from '../load.js';
import { runSuite } from './run-suite.js';
import { suiteSchema } from './suite-schema.js';

const FLIGHTS = join(packageRoot(), 'node_modules/vega-datasets/data/flights-3m.parquet');
const NOW = new Date('2024-05-12T00:00:00Z');

const ORDERS = `order_id,customer,email,amount,status,country,created,note
1,alice,alice@example.com,10.5,paid,NO,2024-05-01 10:00:00,
2,bob,bob@example,20,paid,SE,2024-05-02 11:00:00,call +47 912 34 567
3,carol,carol@example.org,-5,refunded,NO,2024-05-03 12:00:00,
3,dave,dave@example.net,30,shipped,DK,2024-05-04 13:00:00,card 4111 1111 1111 1111
5,,eve@example.com,1000000,paid,XX,2024-05-05 14:00:00,
6,frank,frank@example.com,40,unknown,NO,2024-05-06 15:00:00,IBAN GB82 WEST 1234 5698 7654 32
7,grace,not-an-email,50,paid,,2024-05-07 16:00:00,
8,heidi,heidi@example.com,,paid,SE,2024-05-08 17:00:00,
9,ivan,ivan@example.com,60,paid,NO,2024-05-09 18:00:00,
10,judy,judy@example.com,70,paid,NO,2024-05-10 19:00:00,
`;

const row = (
  order_id: number,
  customer: string | null,
  email: string,
  amount: number | null,
  status: string,
  country: string | null,
  day: number,
  note: string | null,
) => ({
  order_id,
  customer,
  email,
  amount,
  status,
  country,
  created: `2024-05-${String(day).padStart(2, '0')}T${9 + day}:00:00.000Z`,
  note,
});
const R1 = row(1, 'alice', 'alice@example.com', 10.5, 'paid', 'NO', 1, null);
const R2 = row(2, 'bob', 'bob@example', 20, 'paid', 'SE', 2, 'call +47 912 34 567');
const R3 = row(3, 'carol', 'carol@example.org', -5, 'refunded', 'NO', 3, null);
const R4 = row(3, 'dave', 'dave@example.net', 30, 'shipped', 'DK', 4, 'card 4111 1111 1111 1111');
const R5 = row(5, null, 'eve@example.com', 1000000, 'paid', 'XX', 5, null);
const R6 = row(6, 'frank', 'frank@example.com', 40, 'unknown', 'NO', 6, 'IBAN GB82 WEST 1234 5698 7654 32');
const R7 = row(7, 'grace', 'not-an-email', 50, 'paid', null, 7, null);
const R8 = row(8, 'heidi', 'heidi@example.com', null, 'paid', 'SE', 8, null);
const R9 = row(9, 'ivan', 'ivan@example.com', 60, 'paid', 'NO', 9, null);
const R10 = row(10, 'judy', 'judy@example.com', 70, 'paid', 'NO', 10, null);

describe('runSuite', () => {
  const tmp = useTempDirs();
  let engine: TableEngine | null = null;
  afterEach(() => {
    engine?.close();
    engine = null;
  });
  const open = async () => (engine = await openEngine({ tempDir: join(tmp(), 'duck'), threads: 2 }));
  /** A real engine that records the SQL it is given. */
  const spying = (e: TableEngine, log: string[]): TableEngine => ({
    ...e,
    all: (sql, p) => (log.push(sql), e.all(sql, p)),
  });

  async function orders(yaml: string) {
    const dir = tmp();
    writeFileSync(join(dir, 'orders.csv'), ORDERS);
    const suite = parseSuite(yaml, 'suite.yaml');
    const e = await open();
    const table = await loadTable(e, [join(dir, 'orders.csv')], 'csv', {
      schema: suiteSchema(suite),
      missingSchemaColumns: 'ignore',
    });
    return { e, suite, table };
  }

  const SUITE = `suite: orders
checks:
  - row_count: { min: 5, max: 100 }
  - row_count: { max: 5, name: too_many, severity: warn }
  - schema:
      columns: { order_id: BIGINT, customer: VARCHAR, amount: DOUBLE, missing_col: VARCHAR, created: TIMESTAMP }
      nullable: { customer: false }
  - not_null: [customer, country]
  - unique: order_id
  - unique: [status, country]
  - range: { column: amount, min: 0, max: 1000 }
  - allowed: { column: status, values: [paid, shipped, refunded] }
  - allowed: { column: country, values: [NO, SE, DK], mostly: 0.75 }
  - regex: { column: email, pattern: '[^@]+@[^@]+\\.[a-z]+' }
  - freshness: { column: created, max_age: 7d }
  - freshness: { column: created, max_age: 1d, name: fresh_today }
  - sql: amount < 100
  - pii: {}
`;

  it('evaluates every kind of check in one aggregate scan, with exact counts and ordered samples', async () => {
    const { e, suite, table } = await orders(SUITE);
    const log: string[] = [];
    const report = await runSuite(spying(e, log), table, suite, { target: 'orders@v2', now: NOW });
    const by = (name: string) => report.checks.find((c) => c.name === name)!;
    const brief = (c: CheckResult) => [c.status, c.evaluated, c.failed, c.percent];

    // One aggregate scan for every count, one grouping pass for both unique checks.
    expect(log.filter((q) => q.startsWith('SELECT count(*) AS "rows"'))).toHaveLength(1);
    expect(log.filter((q) => q.includes('GROUPING SETS'))).toHaveLength(1);
    // Samples only for checks that failed and can show rows (row_count and freshness cannot):
    // 7 by a LIMIT query; regex and PII, costly to re-evaluate, collected in the scan itself.
    expect(log.filter((q) => / LIMIT 10$/.test(q))).toHaveLength(7);
    expect(log[log.findIndex((q) => q.startsWith('SELECT count(*) AS "rows"'))]!.match(/min_by\(/g)).toHaveLength(2);

    expect(report).toMatchObject({
      format: 'cairn.validation/v1',
      suite: 'orders',
      target: 'orders@v2',
      kind: 'table',
      size: 10,
      ok: false,
      errors: 10,
      warnings: 1,
      startedAt: '2024-05-12T00:00:00.000Z',
    });
    expect(report.checks.map((c) => c.name)).toEqual([
      'row_count',
      'too_many',
      'schema',
      'not_null',
      'unique(order_id)',
      'unique',
      'range(amount)',
      'allowed(status)',
      'allowed(country)',
      'regex(email)',
      'freshness(created)',
      'fresh_today',
      'sql',
      'pii',
    ]);
    expect(report.checks.map((c) => c.line)).toEqual([3, 4, 5, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18]);

    expect(brief(by('row_count'))).toEqual(['passed', 1, 0, 0]);
    expect(by('too_many')).toMatchObject({
      status: 'failed',
      severity: 'warn',
      message: '10 rows; expected at most 5 rows',
    });

    expect(brief(by('schema'))).toEqual(['failed', 5, 2, 40]);
    expect(by('schema').details).toEqual({
      problems: [
        { column: 'missing_col', problem: 'missing' },
        { column: 'customer', problem: '1 NULL in a column that is not nullable' },
      ],
    });
    expect(by('schema').sample).toEqual([R5]);

    expect(brief(by('not_null'))).toEqual(['failed', 10, 2, 20]);
    expect(by('not_null').sample).toEqual([R5, R7]);
    expect(by('not_null').message).toBe('2 of 10 rows (20 %) have a NULL in customer, country');

    expect(brief(by('unique(order_id)'))).toEqual(['failed', 10, 2, 20]);
    expect(by('unique(order_id)').sample).toEqual([R3, R4]);
    // (paid, NO) × 3 and (paid, SE) × 2 are duplicates; the row with a NULL country is not evaluated.
    expect(brief(by('unique'))).toEqual(['failed', 9, 5, 55.5556]);
    expect(by('unique').sample).toEqual([R1, R9, R10, R2, R8]);

    expect(brief(by('range(amount)'))).toEqual(['failed', 9, 2, 22.2222]);
    expect(by('range(amount)').sample).toEqual([R3, R5]);
    expect(brief(by('allowed(status)'))).toEqual(['failed', 10, 1, 10]);
    expect(by('allowed(status)').sample).toEqual([R6]);
    // XX and NULL are not allowed, but mostly 0.75 tolerates 2 of 10; a passing check has no sample.
    expect(by('allowed(country)')).toMatchObject({
      status: 'passed',
      evaluated: 10,
      failed: 2,
      mostly: 0.75,
      sample: [],
    });
    expect(brief(by('regex(email)'))).toEqual(['failed', 10, 2, 20]);
    expect(by('regex(email)').sample).toEqual([R2, R7]);

    expect(by('freshness(created)')).toMatchObject({
      status: 'passed',
      evaluated: 1,
      failed: 0,
      details: { newest: '2024-05-10 19:00:00', ageMs: 29 * 3_600_000, maxAgeMs: 7 * 86_400_000 },
    });
    expect(by('fresh_today')).toMatchObject({
      status: 'failed',
      evaluated: 1,
      failed: 1,
      message:
        'the newest created is 2024-05-10 19:00:00, 1.2 days before 2024-05-12T00:00:00.000Z; at most 1 day allowed',
    });

    // NULL < 100 is not TRUE, so the row without an amount fails the predicate too.
    expect(brief(by('sql'))).toEqual(['failed', 10, 2, 20]);
    expect(by('sql').sample).toEqual([R5, R8]);

    const pii = by('pii');
    expect(brief(pii)).toEqual(['failed', 10, 9, 90]);
    expect(pii.details).toEqual({
      columns: ['customer', 'email', 'status', 'country', 'note'],
      kinds: {
        email: { rows: 8, matches: 8 },
        phone: { rows: 1, matches: 1 },
        card: { rows: 1, matches: 1 },
        iban: { rows: 1, matches: 1 },
      },
    });
    expect(pii.sample).toHaveLength(9);
    expect(pii.sample[0]).toEqual({
      customer: 'xxxxx',
      email: 'xxxxx@xxxxxxx.xxx',
      status: 'xxxx',
      country: 'xx',
      note: null,
    });
    expect(pii.sample).toContainEqual({
      customer: 'xxxx',
      email: 'xxxx@xxxxxxx.xxx',
      status: 'xxxxxxx',
      country: 'xx',
      note: 'xxxx 9999 9999 9999 9999',
    });
    expect(JSON.stringify(pii.sample)).not.toMatch(/example|4111|GB82|alice/);
  });

  it('reports a check it cannot evaluate as an error, never a crash and never a pass, and runs the rest', async () => {
    const { e, suite, table } = await orders(`suite: broken
checks:
  - not_null: [order_id]
  - range: { column: customer, min: 0, name: range_text }
  - not_null: { columns: [nope], name: nope_null }
  - unique: { columns: [order_id, nope], name: unique_nope }
  - regex: { column: email, pattern: '(?=a)b', name: lookahead }
  - sql: { predicate: nope > 1, name: sql_missing }
  - sql: { predicate: CAST(customer AS INTEGER) > 0, name: sql_runtime }
  - allowed: { column: amount, values: [1, abc], name: allowed_bad }
  - freshness: { column: amount, max_age: 1d, name: fresh_number }
  - drift: { reference: orders@v1 }
  - pii: { columns: [nope], name: pii_nope }
files:
  - duplicates:
`);
    const report = await runSuite(e, table, suite, { target: 'orders@v2', now: NOW });
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([
      ['not_null(order_id)', 'passed'],
      ['range_text', 'error'],
      ['nope_null', 'error'],
      ['unique_nope', 'error'],
      ['lookahead', 'error'],
      ['sql_missing', 'error'],
      ['sql_runtime', 'error'],
      ['allowed_bad', 'error'],
      ['fresh_number', 'error'],
      ['drift', 'error'],
      ['pii_nope', 'error'],
      ['duplicates', 'error'],
    ]);
    expect(report).toMatchObject({ ok: false, errors: 11, warnings: 0 });
    const msg = (name: string) => report.checks.find((c) => c.name === name)!.message;
    expect(msg('range_text')).toBe('range needs a numeric column; "customer" is VARCHAR');
    expect(msg('nope_null')).toBe(
      'the table has no column "nope" (it has "order_id", "customer", "email", "amount", "status", "country", "created", "note")',
    );
    expect(msg('lookahead')).toMatch(/^the pattern "\(\?=a\)b" is not valid for DuckDB's RE2 engine/);
    // The missing column is put back where the suite names it: file, line and column.
    expect(msg('sql_missing')).toMatch(
      /^suite\.yaml:8:23: the predicate "nope > 1" cannot run: it names column "nope", which the table does not have \(it has "order_id", "customer", /,
    );
    // Fails only when run over the data: the combined scan falls back to one query per check.
    expect(msg('sql_runtime')).toMatch(/^the check failed to run: Conversion Error: Could not convert string 'alice'/);
    expect(msg('sql_runtime')).not.toMatch(/LINE 1/);
    expect(msg('allowed_bad')).toBe('"abc" can never equal a value of the numeric column "amount"');
    expect(msg('fresh_number')).toBe('freshness needs a DATE or TIMESTAMP column; "amount" is DOUBLE');
    expect(msg('drift')).toBe('no profile of the reference "orders@v1" was given');
    expect(msg('duplicates')).toBe('duplicates is a check for file collections; orders@v2 is a table');
  });

  it('refuses a suite whose SQL predicate does not parse, naming the check and its line, and never runs a second statement', async () => {
    const { e, suite, table } = await orders(`suite: bad
checks:
  - not_null: [order_id]
  - sql: { predicate: 'amount > 3 AND', name: typo }
  - sql: { predicate: '1); DROP TABLE data; SELECT (1', name: sneaky }
  - sql: { predicate: 'amount < (SELECT max(amount) FROM read_csv(''/etc/passwd''))', name: reader }
  - sql: { predicate: 'true) FROM __cairn_probe ORDER BY (1', name: tail }
  - sql: { predicate: 'amount >= 0 -- refunds are negative', name: commented }
`);
    const err = await rejectsWith(runSuite(e, table, suite, { target: 't', now: NOW }), 'INVALID_INPUT');
    expect(err.message).toMatch(
      /^suite "bad" has SQL that does not parse:\n {2}check "typo" \(line 4\): the predicate "amount > 3 AND" is not valid SQL: syntax error at or near "\)"\n/,
    );
    expect(err.message).toContain(
      'check "sneaky" (line 5): the predicate "1); DROP TABLE data; SELECT (1" is not valid SQL: it is not one expression (it would end the query or start another statement)',
    );
    expect(err.message).toContain(
      'check "reader" (line 6): the predicate "amount < (SELECT max(amount) FROM read_csv(\'/etc/passwd\'))" is not valid SQL: it may not contain a subquery',
    );
    expect(err.message).toContain('check "tail" (line 7)');
    // A trailing comment is fine: it ends at the newline Cairn puts before the closing parenthesis.
    expect(err.message).not.toContain('commented');
    expect(err.data.problems).toHaveLength(4);
    expect(await e.all(`SELECT count(*) AS n FROM data`)).toEqual([{ n: 10 }]);
  });

  it('runs a predicate that ends in a comment', async () => {
    const { e, suite, table } = await orders(
      `checks:\n  - sql: 'amount >= 0 -- refunds are negative'\n  - not_null: [order_id]\n`,
    );
    const report = await runSuite(e, table, suite, { target: 't', now: NOW });
    expect(report.checks.map((c) => [c.name, c.status, c.failed])).toEqual([
      ['sql', 'failed', 2],
      ['not_null(order_id)', 'passed', 0],
    ]);
    expect(report.checks[0]!.sample).toEqual([R3, R8]);
  });

  it('reports values that do not parse as the declared type, and mismatched or extra columns', async () => {
    const dir = tmp();
    // A column named like an Object.prototype member must not pick that member up as its type.
    writeFileSync(
      join(dir, 'm.csv'),
      'id,amount,constructor,when\n1,2.5,a,2024-01-01\n2,abc,b,2024-01-02\nx,4,c,2024-01-03\n',
    );
    const suite = parseSuite(
      `checks:
  - schema:
      columns: { id: BIGINT, amount: NUMERIC, when: DATE }
      exact: true
  - schema:
      columns: { id: INT8, amount: DOUBLE, when: TIMESTAMP }
      name: schema_types
`,
      's.yaml',
    );
    const e = await open();
    const table = await loadTable(e, [join(dir, 'm.csv')], 'csv', { schema: { id: 'BIGINT', amount: 'DOUBLE' } });
    expect(table.columns).toEqual([
      { name: 'id', type: 'BIGINT', invalid: 1 },
      { name: 'amount', type: 'DOUBLE', invalid: 1 },
      { name: 'constructor', type: 'VARCHAR', invalid: 0 },
      { name: 'when', type: 'DATE', invalid: 0 },
    ]);
    const report = await runSuite(e, table, suite, { target: 'm@v1', now: NOW });
    const [exact, types] = report.checks;
    expect(exact!.details).toEqual({
      problems: [
        { column: 'id', problem: '1 value is not BIGINT (loaded as NULL)' },
        { column: 'amount', problem: 'is DOUBLE, not DECIMAL(18,3)' },
        { column: 'amount', problem: '1 value is not DOUBLE (loaded as NULL)' },
        { column: 'constructor', problem: 'not in the schema (exact: true)' },
      ],
    });
    expect([exact!.evaluated, exact!.failed]).toEqual([4, 3]);
    // INT8 is BIGINT by another name; a DATE is not a TIMESTAMP.
    expect(types!.details).toEqual({
      problems: [
        { column: 'id', problem: '1 value is not BIGINT (loaded as NULL)' },
        { column: 'amount', problem: '1 value is not DOUBLE (loaded as NULL)' },
        { column: 'when', problem: 'is DATE, not TIMESTAMP' },
      ],
    });
  });

  it('refuses a declared type that is not a type name before it reaches SQL', async () => {
    const dir = tmp();
    writeFileSync(join(dir, 'a.csv'), 'a\n1\n');
    const e = await open();
    await rejectsWith(
      loadTable(e, [join(dir, 'a.csv')], 'csv', { schema: { a: "INT); DROP TABLE x; SELECT ('" } }),
      'INVALID_INPUT',
    );
    await rejectsWith(loadTable(e, [join(dir, 'a.csv')], 'csv', { schema: { b: 'INT' } }), 'INVALID_INPUT');
    const t = await loadTable(e, [join(dir, 'a.csv')], 'csv', { schema: { b: 'INT' }, missingSchemaColumns: 'ignore' });
    const report = await runSuite(
      e,
      t,
      parseSuite(`checks:\n  - schema: { columns: { a: BIGINT, b: "INT; DROP TABLE data" } }\n`, 's.yaml'),
      { target: 't', now: NOW },
    );
    expect(report.checks[0]!.details).toEqual({
      problems: [
        { column: 'b', problem: '"INT; DROP TABLE data" is not a DuckDB type' },
        { column: 'b', problem: 'missing' },
      ],
    });
  });

  it('allowed sets compare numbers as numbers, booleans as booleans and dates as dates; NULL only when listed', async () => {
    const e = await open();
    await e.run(
      `CREATE TABLE v AS SELECT * FROM (VALUES (1, 1.0::DOUBLE, true, DATE '2024-01-01', 'a'), (2, 2.5, false, DATE '2024-01-02', '1'), (NULL, NULL, NULL, NULL, NULL)) t(i, d, b, day, s)`,
    );
    const table: LoadedTable = { name: 'v', columns: [], rows: 3, format: 'parquet' };
    const suite = parseSuite(
      `checks:
  - allowed: { column: i, values: [1, "2"] }
  - allowed: { column: d, values: [1, 2.5, null] }
  - allowed: { column: b, values: [true] }
  - allowed: { column: day, values: ['2024-01-02', null] }
  - allowed: { column: s, values: [a, 1, null] }
  - allowed: { column: day, values: ['not a date'], name: bad_day }
`,
      's.yaml',
    );
    const report = await runSuite(e, table, suite, { target: 'v', now: NOW });
    expect(report.checks.map((c) => [c.name, c.status, c.failed])).toEqual([
      ['allowed(i)', 'failed', 1],
      ['allowed(d)', 'passed', 0],
      ['allowed(b)', 'failed', 2],
      ['allowed(day)', 'failed', 1],
      ['allowed(s)', 'passed', 0],
      ['bad_day', 'error', 0],
    ]);
    expect(report.checks[5]!.message).toBe('"not a date" is not DATE');
  });

  it('validates 3,000,000 real flights in one scan', async () => {
    const e = await open();
    const table = await loadTable(e, [FLIGHTS], 'parquet');
    const suite = parseSuite(
      `suite: flights
checks:
  - row_count: { min: 2000000 }
  - schema: { columns: { date: TIMESTAMP, delay: BIGINT, distance: BIGINT, origin: VARCHAR, destination: VARCHAR }, exact: true }
  - not_null: [date, delay, distance, origin, destination]
  - range: { column: delay, min: -60, max: 600 }
  - range: { column: distance, min: 1 }
  - regex: { column: origin, pattern: '[A-Z]{3}' }
  - sql: { predicate: origin <> destination, name: not_circular }
  - allowed: { column: origin, values: [ORD, ATL], name: hubs, severity: warn }
  - freshness: { column: date, max_age: 30d }
`,
      'f.yaml',
    );
    const log: string[] = [];
    const report = await runSuite(spying(e, log), table, suite, {
      target: 'flights@v1',
      now: new Date('2001-07-15T00:00:00Z'),
    });
    expect(log.filter((q) => q.includes(' FROM "data"') && !q.includes('LIMIT')).length).toBe(1);
    const [truth] = await e.all<Record<string, number>>(
      `SELECT count(*) FILTER (WHERE delay < -60 OR delay > 600) AS delay, count(*) FILTER (WHERE origin NOT IN ('ORD', 'ATL')) AS hubs FROM data`,
    );
    expect(report.checks.map((c) => [c.name, c.status, c.failed])).toEqual([
      ['row_count', 'passed', 0],
      ['schema', 'passed', 0],
      ['not_null', 'passed', 0],
      ['range(delay)', 'failed', truth!.delay],
      ['range(distance)', 'passed', 0],
      ['regex(origin)', 'passed', 0],
      ['not_circular', 'passed', 0],
      ['hubs', 'failed', truth!.hubs],
      ['freshness(date)', 'passed', 0],
    ]);
    expect(report).toMatchObject({ ok: false, errors: 1, warnings: 1, size: 3_000_000 });
    const sample = report.checks[3]!.sample as Array<{ delay: number }>;
    expect(sample).toHaveLength(10);
    expect(sample.every((r) => r.delay < -60 || r.delay > 600)).toBe(true);
  });
});
