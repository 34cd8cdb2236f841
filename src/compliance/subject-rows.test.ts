// Finding a subject inside files (issue 14): the rules, the byte-exact row filter of text tables
// (with a property test over random tables), and Parquet through DuckDB.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isCairnError } from '../core/errors.js';
import { lit, openEngine } from '../dataprep/index.js';
import { useTempDirs } from '../test-support/temp.js';
import { contentRules, fields, filterTextTable, searchFile } from './subject-rows.js';

function refused(fn: () => unknown): boolean {
  try {
    fn();
  } catch (err) {
    return isCairnError(err, 'INVALID_INPUT');
  }
  return false;
}

describe('the content rules (--scan, --column)', () => {
  it('takes a subject the scanner recognizes as one value, and refuses anything else', () => {
    expect(contentRules('Alice@Example.com', { scan: true })).toEqual([
      { kind: 'pii', pii: 'email', normalized: 'alice@example.com' },
    ]);
    expect(contentRules('DE89 3704 0044 0532 0130 00', { scan: true })[0]).toMatchObject({
      pii: 'iban',
      normalized: 'DE89370400440532013000',
    });
    // Not PII, two values, a value inside other text: the scanner would find something else.
    for (const s of ['u4711', 'a@b.cc c@d.ee', 'mail me: alice@example.com', ''])
      expect(
        refused(() => contentRules(s, { scan: true })),
        s,
      ).toBe(true);
    expect(refused(() => contentRules('u1', { column: '' }))).toBe(true);
    expect(refused(() => contentRules('u\n1', { column: 'id' }))).toBe(true);
    expect(contentRules(' u1 ', { column: 'id' })).toEqual([{ kind: 'column', column: 'id', value: 'u1' }]);
  });
});

describe('tables without the subject’s rows', () => {
  const email = contentRules('alice@example.com', { scan: true });
  const byId = contentRules('u1', { column: 'id' });

  it('removes exactly the rows holding the value, keeping every other byte (quotes, CRLF, blank lines)', () => {
    const csv = Buffer.from(
      'id,name,note\r\n' +
        'u1,"Alice","mail ALICE@example.com, or call"\r\n' +
        'u2,Bob,"bob@example.com\nand a line break"\r\n' +
        '\r\n' +
        'u3,"Carol ""C""",xalice@example.com\r\n' +
        'u1,Al,none',
    );
    const r = filterTextTable(csv, 'csv', email);
    expect(r.rows).toEqual([1]);
    expect(r.total).toBe(4);
    expect(r.bytes.toString()).toBe(
      'id,name,note\r\nu2,Bob,"bob@example.com\nand a line break"\r\n\r\nu3,"Carol ""C""",xalice@example.com\r\nu1,Al,none',
    );
    const byCol = filterTextTable(csv, 'csv', byId);
    expect(byCol.rows).toEqual([1, 4]);
    expect(byCol.bytes.toString()).toBe(
      'id,name,note\r\nu2,Bob,"bob@example.com\nand a line break"\r\n\r\nu3,"Carol ""C""",xalice@example.com\r\n',
    );
    // A column of that name in another place, or a value only inside a cell, is not the column.
    expect(filterTextTable(Buffer.from('name,id\nu1,u2\nx,u1 \n'), 'csv', byId).rows).toEqual([2]);
    expect(filterTextTable(Buffer.from('id\nu10\n"u1"\n'), 'csv', byId).rows).toEqual([2]);
    // Nothing found: the very same buffer comes back.
    const none = Buffer.from('id\nu2\n');
    expect(filterTextTable(none, 'csv', byId).bytes).toBe(none);
  });

  it('reads JSON lines by field, nested values for the scanner, and raw text when a line is not JSON', () => {
    const jl = Buffer.from(
      [
        '{"id":"u1","n":1}',
        '{"id":"u2","contact":{"emails":["Alice@example.com"]}}',
        '{"id":"u3","mail":"alice\\u0040example.com"}',
        'not json alice@example.com',
        '{"id":"u4"}',
        '',
      ].join('\n'),
    );
    expect(filterTextTable(jl, 'jsonl', email).rows).toEqual([2, 3, 4]);
    const r = filterTextTable(jl, 'jsonl', byId);
    expect(r.rows).toEqual([1]);
    expect(r.bytes.toString()).toBe(jl.toString().split('\n').slice(1).join('\n'));
  });

  it('property: kept rows + removed rows are the table, byte for byte, and no kept row holds the subject', () => {
    const pool = [
      'u1',
      'u2',
      ' u1',
      'alice@example.com',
      'ALICE@EXAMPLE.COM',
      'bob@example.com',
      'x,y',
      'a"b',
      'l1\nl2',
      '',
    ];
    for (let seed = 1; seed <= 300; seed++) {
      let x = seed * 7919;
      const rnd = (n: number) => {
        x = (x * 1103515245 + 12345) % 2147483648;
        return x % n;
      };
      const cell = () =>
        rnd(4) === 0
          ? String.fromCharCode(...Array.from({ length: rnd(6) }, () => 32 + rnd(95)))
          : pool[rnd(pool.length)]!;
      const rows = Array.from({ length: rnd(25) }, () => [cell(), cell()] as const);
      const eol = rnd(2) ? '\n' : '\r\n';
      const q = (s: string) => (/[",\n]/.test(s) || s === '' ? `"${s.replace(/"/g, '""')}"` : s);
      const lines = ['id,mail', ...rows.map(([a, b]) => `${q(a)},${q(b)}`)];
      const buf = Buffer.from(lines.map((l) => l + eol).join(''));
      for (const rules of [email, byId]) {
        const r = filterTextTable(buf, 'csv', rules);
        const expected = rows
          .map(([a, b], i) => ({ i: i + 1, a, b }))
          .filter(({ a, b }) =>
            rules[0]!.kind === 'column'
              ? a.trim() === 'u1'
              : [a, b].some((c) => /(^|[^A-Za-z0-9._%+-])alice@example\.com($|[^A-Za-z0-9-.])/i.test(c)),
          )
          .map((v) => v.i);
        expect(r.rows, `seed ${seed}`).toEqual(expected);
        expect(r.total).toBe(rows.length);
        const kept = lines.filter((_, i) => i === 0 || !expected.includes(i));
        expect(r.bytes.toString(), `seed ${seed}`).toBe(kept.map((l) => l + eol).join(''));
      }
    }
  });

  it('splits CSV fields as RFC 4180 says', () => {
    expect(fields('a,"b,c","d""e",\r\n', ',')).toEqual(['a', 'b,c', 'd"e', '']);
    expect(fields('a\t"b\tc"', '\t')).toEqual(['a', 'b\tc']);
  });
});

describe('searching files', () => {
  const tmp = useTempDirs();

  it('rewrites Parquet without the rows, same columns and types, rows in order, the same bytes twice', async () => {
    const dir = tmp();
    mkdirSync(dir, { recursive: true });
    const file = join(dir, 't.parquet');
    const engine = await openEngine({ tempDir: join(dir, 'spill'), threads: 1 });
    try {
      await engine.run(
        `COPY (SELECT * FROM (VALUES (1, 'u1', 'alice@example.com', DATE '2024-01-02'), (2, 'u2', 'bob@example.com', NULL), (3, 'u3', 'Mail: Alice@Example.com!', DATE '2024-03-04'), (4, 'u1', 'xalice@example.com', NULL)) t(n, id, mail, day)) TO ${lit(file)} (FORMAT parquet)`,
      );
    } finally {
      engine.close();
    }
    const bytes = readFileSync(file);
    const scan = await searchFile('a/t.parquet', bytes, contentRules('alice@example.com', { scan: true }), dir);
    expect(scan.columns).toEqual(['n', 'id', 'mail', 'day']);
    if (scan.hit.type !== 'rows') throw new Error('expected rows');
    expect(scan.hit.rows).toEqual([1, 3]);
    expect(scan.hit.total).toBe(4);
    const again = await searchFile('a/t.parquet', bytes, contentRules('alice@example.com', { scan: true }), dir);
    expect(again.hit.type === 'rows' && again.hit.bytes.equals(scan.hit.bytes)).toBe(true);
    const out = join(dir, 'out.parquet');
    writeFileSync(out, scan.hit.bytes);
    const check = await openEngine({ tempDir: join(dir, 'spill2'), threads: 1 });
    try {
      const rows = await check.all(`SELECT * FROM read_parquet(${lit(out)})`);
      expect(rows).toEqual([
        { n: 2, id: 'u2', mail: 'bob@example.com', day: null },
        { n: 4, id: 'u1', mail: 'xalice@example.com', day: null },
      ]);
      const types = await check.all<{ column_type: string }>(
        `SELECT column_type FROM (DESCRIBE SELECT * FROM read_parquet(${lit(out)}))`,
      );
      expect(types.map((t) => t.column_type)).toEqual(['INTEGER', 'VARCHAR', 'VARCHAR', 'DATE']);
    } finally {
      check.close();
    }
    const col = await searchFile('t.parquet', bytes, contentRules('u1', { column: 'id' }), dir);
    expect(col.hit.type === 'rows' && col.hit.rows).toEqual([1, 4]);
  });

  it('removes whole texts the scanner finds the subject in, never binaries or files by a column', async () => {
    const dir = tmp();
    const rules = contentRules('alice@example.com', { scan: true });
    expect((await searchFile('n.txt', Buffer.from('write to Alice@example.com'), rules, dir)).hit.type).toBe('file');
    expect((await searchFile('n.txt', Buffer.from('write to alice@example.community'), rules, dir)).hit.type).toBe(
      'none',
    );
    const bin = Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from('alice@example.com')]);
    expect((await searchFile('x.bin', bin, rules, dir)).hit.type).toBe('none');
    expect((await searchFile('n.txt', Buffer.from('u1'), contentRules('u1', { column: 'id' }), dir)).hit.type).toBe(
      'none',
    );
  });
});
