import { describe, expect, it } from 'vitest';
import { CairnError, isCairnError } from './errors.js';
import { formatRef, parseRef } from './refs.js';

function refusal(ref: string): CairnError {
  try {
    parseRef(ref);
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error(`parseRef accepted ${JSON.stringify(ref)}`);
}

describe('parseRef', () => {
  it('reads a bare name and name@latest as the latest version', () => {
    expect(parseRef('flights')).toEqual({ dataset: 'flights', selector: { kind: 'latest' } });
    expect(parseRef('flights@latest')).toEqual({ dataset: 'flights', selector: { kind: 'latest' } });
  });

  it('reads version numbers, keeping nested dataset names whole', () => {
    expect(parseRef('flights@v3')).toEqual({ dataset: 'flights', selector: { kind: 'number', number: 3 } });
    expect(parseRef('flights/train@v12')).toEqual({
      dataset: 'flights/train',
      selector: { kind: 'number', number: 12 },
    });
    // Leading zeros are harmless; nine digits is the most a version number may have.
    expect(parseRef('d@v007')).toEqual({ dataset: 'd', selector: { kind: 'number', number: 7 } });
    expect(parseRef('d@v999999999')).toEqual({ dataset: 'd', selector: { kind: 'number', number: 999999999 } });
  });

  it('reads tags, which are anything tag-shaped that is not reserved', () => {
    expect(parseRef('flights/train@stable')).toEqual({
      dataset: 'flights/train',
      selector: { kind: 'tag', tag: 'stable' },
    });
    expect(parseRef('d@v1.0-rc_2')).toEqual({ dataset: 'd', selector: { kind: 'tag', tag: 'v1.0-rc_2' } });
    // Only v<digits> is reserved: a lone v or v-1 is an ordinary tag.
    expect(parseRef('d@v')).toEqual({ dataset: 'd', selector: { kind: 'tag', tag: 'v' } });
    expect(parseRef('d@v-1')).toEqual({ dataset: 'd', selector: { kind: 'tag', tag: 'v-1' } });
  });

  it('reads digest prefixes of 4 to 64 hex characters, lower-casing them', () => {
    expect(parseRef('d@sha256:abcd')).toEqual({ dataset: 'd', selector: { kind: 'digest', prefix: 'abcd' } });
    expect(parseRef('d@sha256:ABCDEF01')).toEqual({ dataset: 'd', selector: { kind: 'digest', prefix: 'abcdef01' } });
    const full = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
    expect(parseRef(`d@sha256:${full}`)).toEqual({ dataset: 'd', selector: { kind: 'digest', prefix: full } });
  });

  it('refuses malformed refs with INVALID_REF, exit status 2, and the ref in data', () => {
    const bad = [
      '',
      '@v1',
      'd@',
      'd@v1234567890', // ten digits: not a number, and v<digits> is reserved for tags
      'd@sha256:abc', // three hex characters are too few to be a useful prefix
      'd@sha256:' + 'a'.repeat(65),
      'd@sha256:xyz1',
      'd@sha256:',
      'd@sha256abcd', // sha256… is reserved even without the colon
      'd@a@b',
      'd@tag/with/slash',
      'd@-tag',
      '/d@v1',
      'd/@v1',
      'a b@v1',
      '../x@v1',
      'd@v1 ',
    ];
    for (const ref of bad) {
      const err = refusal(ref);
      expect(err.code, ref).toBe('INVALID_REF');
      expect(err.exitCode, ref).toBe(2);
      expect(err.data, ref).toEqual({ ref });
      expect(err.hint, ref).toContain('name@v3');
    }
  });

  it('maps a bad dataset name to INVALID_REF, not INVALID_NAME', () => {
    expect(isCairnError(refusal('bad name'), 'INVALID_REF')).toBe(true);
  });
});

describe('formatRef', () => {
  it('writes name@vN and parses back', () => {
    expect(formatRef('flights/train', 4)).toBe('flights/train@v4');
    expect(parseRef(formatRef('flights/train', 4))).toEqual({
      dataset: 'flights/train',
      selector: { kind: 'number', number: 4 },
    });
  });
});
