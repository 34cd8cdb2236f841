import { describe, expect, it } from 'vitest';
import { CairnError } from '../../core/errors.js';
import { checkTreeLinks } from './links.js';

function refusal(fn: () => unknown): CairnError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CairnError) return err;
    throw err;
  }
  throw new Error('accepted');
}

describe('checkTreeLinks', () => {
  it('accepts links that stay inside, through other links too', () => {
    checkTreeLinks([
      { path: 'a/b/same', target: '../b/file.txt' },
      { path: 'top', target: 'a' },
      { path: 'a/root', target: '..' },
      { path: 'via', target: 'top/b/same' },
      { path: 'deep/x', target: '../a/root/top/b' },
      // Dangling, but inside: the kernel would say ENOENT, nothing escapes.
      { path: 'dangling', target: 'nope/../a' },
    ]);
  });

  it('refuses a chain that stays inside lexically but climbs out through a link (d/up -> .., y -> d/up/../..)', () => {
    const e = refusal(() =>
      checkTreeLinks([
        { path: 'd/up', target: '..' },
        { path: 'y', target: 'd/up/../..' },
      ]),
    );
    expect(e.code).toBe('PATH_UNSAFE');
    expect(e.data).toEqual({ path: 'y', target: 'd/up/../..' });
    // One link deeper: each step alone looks harmless.
    const f = refusal(() =>
      checkTreeLinks([
        { path: 'a/b/up2', target: '../..' },
        { path: 'a/hop', target: 'b/up2' },
        { path: 'z', target: 'a/hop/..' },
      ]),
    );
    expect(f.data).toEqual({ path: 'z', target: 'a/hop/..' });
  });

  it('refuses links into .cairn and loops', () => {
    expect(refusal(() => checkTreeLinks([{ path: 'x', target: '.cairn/meta.db' }])).message).toContain('.cairn');
    expect(
      refusal(() =>
        checkTreeLinks([
          { path: 'up', target: '.' },
          { path: 'x', target: 'up/.cairn' },
        ]),
      ).code,
    ).toBe('PATH_UNSAFE');
    expect(
      refusal(() =>
        checkTreeLinks([
          { path: 'a', target: 'b' },
          { path: 'b', target: 'a' },
        ]),
      ).message,
    ).toContain('loop');
    expect(refusal(() => checkTreeLinks([{ path: 'a', target: '/etc' }])).code).toBe('PATH_UNSAFE');
  });
});
