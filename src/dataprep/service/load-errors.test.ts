import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CairnError } from '../../core/errors.js';
import { useTempDirs } from '../../test-support/temp.js';
import { CSV_MAX_LINE_BYTES, diagnoseCsv, explainLoadError } from './load-errors.js';

describe('diagnoseCsv: the first problem a strict CSV reader refuses, by line', () => {
  const tmp = useTempDirs();
  const file = (content: string | Buffer, name = 'x.csv') => {
    const p = join(tmp(), name);
    writeFileSync(p, content);
    return p;
  };

  it('finds nothing wrong in well-formed files (quotes, escaped quotes, newlines in quotes, CRLF, blank lines)', () => {
    expect(diagnoseCsv(file('a,b\n1,2\n'), ',')).toBeNull();
    expect(diagnoseCsv(file('a,b\r\n1,"x, ""y""\r\nz"\r\n\r\n3,4'), ',')).toBeNull();
    expect(diagnoseCsv(file('a\tb\n1\t"2\t3"\n'), '\t')).toBeNull();
    expect(diagnoseCsv(file('a,b\n1,caf\u00e9 \u{1F600}\n'), ',')).toBeNull();
    expect(diagnoseCsv(file('a,b\n1,""\n'), ',')).toBeNull();
    expect(diagnoseCsv(file(''), ',')).toBeNull();
  });

  it('ragged rows: the line of the row and both field counts', () => {
    expect(diagnoseCsv(file('a,b,c\n1,2,3\n4,5\n'), ',')).toEqual({
      line: 3,
      problem: 'the row has 2 fields, but the header has 3 (a ragged row)',
    });
    expect(diagnoseCsv(file('a,b\n1,2\n3,4,5\n'), ',')).toEqual({
      line: 3,
      problem: 'the row has 3 fields, but the header has 2 (a ragged row)',
    });
    // Lines inside a quoted field count, and commas inside quotes are not separators.
    expect(diagnoseCsv(file('a,b\n"x\ny,z",1\n2\n'), ',')?.line).toBe(4);
    // A last row without a newline is checked too.
    expect(diagnoseCsv(file('a,b\n1,2\n3'), ',')).toEqual({
      line: 3,
      problem: 'the row has 1 field, but the header has 2 (a ragged row)',
    });
  });

  it('an unterminated quote: the line where it opened', () => {
    expect(diagnoseCsv(file('a,b\n1,"hello\n2,world\n3,x\n'), ',')).toEqual({
      line: 2,
      problem: 'a quoted field opened on this line is never closed (unterminated quote)',
    });
    expect(diagnoseCsv(file('a,b\n1,"ok ""quoted"" text'), ',')?.problem).toMatch(/unterminated quote/);
  });

  it('invalid UTF-8: the line of the first bad byte, also when a character straddles a read boundary', () => {
    expect(
      diagnoseCsv(
        file(Buffer.concat([Buffer.from('a,b\n1,x\n2,'), Buffer.from([0xc3, 0x28]), Buffer.from('\n')])),
        ',',
      ),
    ).toEqual({ line: 3, problem: 'invalid UTF-8 (byte 0xc3); the file must be UTF-8 encoded' });
    expect(diagnoseCsv(file(Buffer.from([0x61, 0x0a, 0xed, 0xa0, 0x80, 0x0a])), ',')?.problem).toMatch(/invalid UTF-8/); // a surrogate
    expect(diagnoseCsv(file(Buffer.from([0x61, 0x0a, 0xe2, 0x82])), ',')?.problem).toMatch(/invalid UTF-8/); // cut off at the end
    // Files are read 8 MiB at a time: a valid 3-byte character across the boundary is fine, an
    // invalid one is found, on its line. Header 'a', blank lines, then the character at 8 MiB - 1.
    const MiB8 = 8 * 1024 * 1024;
    const blank = (n: number) => Buffer.alloc(n, '\n');
    const ok = file(
      Buffer.concat([Buffer.from('a\n'), blank(MiB8 - 3), Buffer.from('\u20ac\n', 'utf8')]),
      'boundary.csv',
    );
    expect(diagnoseCsv(ok, ',')).toBeNull();
    const bad = file(
      Buffer.concat([Buffer.from('a\n'), blank(MiB8 - 3), Buffer.from([0xe2, 0x82, 0x41, 0x0a])]),
      'straddle.csv',
    );
    expect(diagnoseCsv(bad, ',')).toEqual({
      line: MiB8 - 1,
      problem: 'invalid UTF-8 (byte 0xe2); the file must be UTF-8 encoded',
    });
  });

  it('a line longer than the maximum line size, without reading it into memory', () => {
    const p = join(tmp(), 'long.csv');
    const fd = openSync(p, 'w');
    writeSync(fd, 'a,b\n1,2\n2,');
    writeSync(fd, Buffer.alloc(CSV_MAX_LINE_BYTES + 10, 'x'));
    writeSync(fd, '\n');
    closeSync(fd);
    expect(diagnoseCsv(p, ',')).toEqual({
      line: 3,
      problem: 'the line is longer than the maximum line size of 2,000,000 bytes',
    });
  });
});

describe('explainLoadError', () => {
  const tmp = useTempDirs();

  it('names the version file and line instead of the engine dump, keeping the engine message in data', () => {
    const dir = tmp();
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'r.csv'), 'a,b\n1\n');
    const engine = new CairnError(
      'INVALID_INPUT',
      `Invalid Input Error: Error when sniffing file "${dir}/sub/r.csv".\n${'x'.repeat(10_000)}`,
    );
    const e = explainLoadError(engine, {
      ref: 'ds@v2',
      dir,
      source: { format: 'csv', paths: ['sub/r.csv'] },
    }) as CairnError;
    expect(e.code).toBe('INVALID_INPUT');
    expect(e.message).toBe('ds@v2: sub/r.csv, line 2: the row has 1 field, but the header has 2 (a ragged row)');
    expect(e.data).toMatchObject({ file: 'sub/r.csv', line: 2 });
    expect(String(e.data.engine)).toContain('ds@v2: sub/r.csv');
    expect(String(e.data.engine)).not.toContain(dir);
    expect(String(e.data.engine).length).toBeLessThan(1000);
  });

  it('without a diagnosis, keeps the message with the cache path replaced; other errors pass through', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'e.csv'), '');
    const empty = new CairnError('INVALID_INPUT', `${dir}/e.csv is empty`, {
      hint: 'remove the empty file or add data to it',
    });
    const e = explainLoadError(empty, { ref: 'ds@v1', dir, source: { format: 'csv', paths: ['e.csv'] } }) as CairnError;
    expect(e.message).toBe('ds@v1: e.csv is empty');
    expect(e.hint).toBe('remove the empty file or add data to it');
    const other = new CairnError('IO_ERROR', 'disk');
    expect(explainLoadError(other, { ref: 'ds@v1', dir, source: { format: 'csv', paths: ['e.csv'] } })).toBe(other);
    const plain = new Error('boom');
    expect(explainLoadError(plain, { ref: 'ds@v1', dir, source: { format: 'csv', paths: ['e.csv'] } })).toBe(plain);
  });
});
