import { describe, expect, it } from 'vitest';
import { safeReturn } from '../../src/server/auth-routes.js';
import { mulberry32 } from '../../src/test-support/prng.js';

const ORIGIN = 'https://cairn.example';

describe('safeReturn: where the browser goes after signing in', () => {
  it('keeps paths on this server', () => {
    for (const p of ['/', '/runs', '/runs/compare?ids=a,b#x', '/models/churn%20v2', '/a//b'])
      expect(safeReturn(p)).toBe(p);
  });

  it('refuses every way out that browsers accept', () => {
    for (const p of [
      undefined,
      '',
      'https://evil.example/',
      '//evil.example',
      '/\\evil.example',
      '\\\\evil.example',
      '/\t/evil.example',
      '/\n/evil.example',
      '/\r\n/evil.example',
      '/ /evil.example',
      '/\u0000/evil.example',
      'javascript:alert(1)',
      '/' + 'a'.repeat(5000),
    ])
      expect(safeReturn(p)).toBe('/');
  });

  it('whatever it is given, the browser lands on this origin (as the WHATWG URL parser reads it)', () => {
    const rand = mulberry32(20261205);
    const pieces = ['/', '\\', '\t', '\n', ' ', ':', '.', '@', '?', '#', '%2f', '%5c', 'evil.example', 'x', '\u3002'];
    for (let i = 0; i < 5000; i++) {
      let s = '';
      for (let n = Math.floor(rand() * 8); n >= 0; n--) s += pieces[Math.floor(rand() * pieces.length)];
      expect(new URL(safeReturn(s), ORIGIN).origin, JSON.stringify(s)).toBe(ORIGIN);
    }
  });
});
