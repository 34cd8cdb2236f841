import { describe, expect, it } from 'vitest';
import { CairnError } from './errors.js';
import { checkDatasetName, checkTagName } from './names.js';

function refusal(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('checkDatasetName', () => {
  it('accepts plain and nested names and returns them unchanged', () => {
    for (const name of [
      'flights',
      'flights/train',
      'a/b/c',
      'A1',
      '0',
      'x.y_z-w',
      'v1',
      'latest',
      'a.b/c-d_e',
      'x'.repeat(200),
    ]) {
      expect(checkDatasetName(name), name).toBe(name);
    }
  });

  it('refuses names that could be mistaken for paths, refs or options, with INVALID_NAME (exit 2)', () => {
    const bad = [
      '',
      '/flights',
      'flights/',
      'flights//train',
      '.hidden',
      'flights/.train',
      '-flag',
      '_x',
      'a..b', // '..' anywhere could read as a parent reference
      'flights/..',
      'a.', // a trailing dot is invisible in many shells and file systems
      'a/b.',
      'has space',
      'at@sign',
      'colon:x',
      'back\\slash',
      'é',
      'x'.repeat(201),
    ];
    for (const name of bad) {
      const err = refusal(() => checkDatasetName(name));
      expect(err.code, name).toBe('INVALID_NAME');
      expect(err.exitCode, name).toBe(2);
      expect(err.data, name).toEqual({ name });
    }
  });
});

describe('checkTagName', () => {
  it('accepts ordinary tags', () => {
    for (const tag of ['stable', 'v1.0', 'v2-rc1', 'V1', 'Latest', 'prod_2026', 'x'.repeat(128)]) {
      expect(checkTagName(tag), tag).toBe(tag);
    }
  });

  it('refuses the names refs reserve (latest, v<number>, sha256…) and malformed tags', () => {
    const bad = [
      'latest',
      'v1',
      'v0',
      'v42',
      'sha256',
      'sha256:abcd',
      'sha256-x',
      '',
      '-x',
      '.x',
      'a/b',
      'a b',
      'a@b',
      'x'.repeat(129),
    ];
    for (const tag of bad) {
      const err = refusal(() => checkTagName(tag));
      expect(err.code, tag).toBe('INVALID_NAME');
      expect(err.data, tag).toEqual({ tag });
    }
  });
});
