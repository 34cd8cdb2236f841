import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../test-support/temp.js';
import { CairnError, errorCatalogue, ioError, isCairnError, type ErrorCode } from './errors.js';

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

describe('error catalogue', () => {
  it('uses exit status 2 exactly for bad command-line input and 1 for everything else', () => {
    const usage = Object.entries(errorCatalogue)
      .filter(([, v]) => v.exit === 2)
      .map(([k]) => k)
      .sort();
    expect(usage).toEqual(['INVALID_NAME', 'INVALID_REF', 'USAGE']);
    for (const [code, v] of Object.entries(errorCatalogue)) {
      expect([1, 2], code).toContain(v.exit);
      expect(v.http, code).toBeGreaterThanOrEqual(400);
      expect(v.http, code).toBeLessThan(600);
      expect(v.summary.length, code).toBeGreaterThan(10);
    }
  });

  it('maps the codes scripts rely on to fixed exit and HTTP statuses', () => {
    const fixed: Array<[ErrorCode, 1 | 2, number]> = [
      ['USAGE', 2, 400],
      ['INVALID_REF', 2, 400],
      ['NOT_FOUND', 1, 404],
      ['ALREADY_EXISTS', 1, 409],
      ['PATH_UNSAFE', 1, 422],
      ['LOCKED', 1, 423],
      ['PERMISSION_DENIED', 1, 403],
      ['UNSUPPORTED', 1, 501],
      ['INTERNAL', 1, 500],
    ];
    for (const [code, exit, http] of fixed) {
      const e = new CairnError(code, 'm');
      expect([e.exitCode, e.httpStatus], code).toEqual([exit, http]);
    }
  });
});

describe('CairnError', () => {
  it('carries code, data, hint and cause, and is an Error', () => {
    const cause = new Error('root');
    const e = new CairnError('NOT_FOUND', 'no dataset x', { data: { name: 'x' }, hint: 'run cairn data ls', cause });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('CairnError');
    expect(e.code).toBe('NOT_FOUND');
    expect(e.data).toEqual({ name: 'x' });
    expect(e.hint).toBe('run cairn data ls');
    expect(e.cause).toBe(cause);
    expect(e.message).toBe('no dataset x');
  });

  it('defaults data to {} and leaves cause unset', () => {
    const e = new CairnError('USAGE', 'bad');
    expect(e.data).toEqual({});
    expect(e.hint).toBeUndefined();
    expect('cause' in e).toBe(false);
  });

  it('serializes to code, message, hint (only when set) and data — never a stack', () => {
    expect(new CairnError('NOT_FOUND', 'gone', { data: { id: 1 }, hint: 'h' }).toJSON()).toEqual({
      code: 'NOT_FOUND',
      message: 'gone',
      hint: 'h',
      data: { id: 1 },
    });
    expect(JSON.parse(JSON.stringify(new CairnError('USAGE', 'bad')))).toEqual({
      code: 'USAGE',
      message: 'bad',
      data: {},
    });
  });

  it('isCairnError checks the family and, optionally, the code', () => {
    const e = new CairnError('LOCKED', 'busy');
    expect(isCairnError(e)).toBe(true);
    expect(isCairnError(e, 'LOCKED')).toBe(true);
    expect(isCairnError(e, 'USAGE')).toBe(false);
    expect(isCairnError(new Error('x'))).toBe(false);
    expect(isCairnError({ code: 'LOCKED' })).toBe(false);
    expect(isCairnError(null)).toBe(false);
  });
});

describe('ioError', () => {
  const tmp = useTempDirs();

  it('explains real file-system failures and keeps path, errno and cause', () => {
    const dir = tmp();
    const file = join(dir, 'f');
    writeFileSync(file, 'x');
    mkdirSync(join(dir, 'd'));
    const cases: Array<[() => unknown, string, string]> = [
      [() => readFileSync(join(dir, 'missing')), 'ENOENT', 'it does not exist'],
      [() => readFileSync(join(dir, 'd')), 'EISDIR', 'it is a directory'],
      [() => readFileSync(join(file, 'below')), 'ENOTDIR', 'a parent is not a directory'],
    ];
    for (const [fn, errno, why] of cases) {
      const sys = caught(fn);
      const e = ioError(sys, 'read', '/some/path');
      expect(e.code).toBe('IO_ERROR');
      expect(e.message).toBe(`cannot read /some/path: ${why}`);
      expect(e.data).toEqual({ path: '/some/path', errno });
      expect(e.cause).toBe(sys);
    }
  });

  it('words permission and disk-full errors (which cannot be provoked as root) the same way', () => {
    // Plain errno-shaped values: the mapping only looks at `code`.
    const make = (code: string) => Object.assign(new Error(`${code}: raw`), { code });
    expect(ioError(make('EACCES'), 'write', 'p').message).toBe('cannot write p: permission denied');
    expect(ioError(make('EPERM'), 'write', 'p').message).toBe('cannot write p: permission denied');
    expect(ioError(make('ENOSPC'), 'write', 'p').message).toBe('cannot write p: the disk is full');
    expect(ioError(make('EMFILE'), 'open', 'p').message).toBe('cannot open p: EMFILE: raw');
  });

  it('passes CairnErrors through and copes with values that are not errors', () => {
    const inner = new CairnError('CORRUPT_OBJECT', 'bad');
    expect(ioError(inner, 'read', 'p')).toBe(inner);
    const e = ioError('weird', 'read', 'p');
    expect(e.message).toBe('cannot read p: weird');
    expect(e.data).toEqual({ path: 'p', errno: null });
    expect(ioError(undefined, 'read', 'p').data).toEqual({ path: 'p', errno: null });
  });
});
