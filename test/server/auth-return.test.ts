import { describe, expect, it } from 'vitest';
import { safeReturn } from '../../src/server/auth-routes.js';

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
    // mulberry32: a failing case is replayed from its seed
    let a = 20261205;
    const rand = () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = Math.imul(a ^ (a >>> 15), a | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    const pieces = ['/', '\\', '\t', '\n', ' ', ':', '.', '@', '?', '#', '%2f', '%5c', 'evil.example', 'x', '\u3002'];
    for (let i = 0; i < 5000; i++) {
      let s = '';
      for (let n = Math.floor(rand() * 8); n >= 0; n--) s += pieces[Math.floor(rand() * pieces.length)];
      expect(new URL(safeReturn(s), ORIGIN).origin, JSON.stringify(s)).toBe(ORIGIN);
    }
  });
});
