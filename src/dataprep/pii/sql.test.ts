import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../../test-support/temp.js';
import { prng } from '../../test-support/workspace.js';
import { lit, openEngine } from '../tables/engine.js';
import { PII_PATTERNS, type PiiKind } from './patterns.js';
import { installPiiMacros, piiCountSql } from './sql.js';

const temp = useTempDirs();
const KINDS: PiiKind[] = ['email', 'phone', 'card', 'iban'];

/** Values of glued PII, near misses (several `@`, digit runs, short texts) and plain words. */
function values(seed: number, n: number): Array<string | null> {
  const parts = [
    'ann@example.org',
    'a@b.cc',
    'x@@y.org',
    '@',
    '@@',
    'bob@ex-ample.co.uk',
    '+44 20 7946 0958',
    '(212) 555-0100',
    '4111 1111 1111 1111',
    '4111111111111112',
    'DE89 3704 0044 0532 0130 00',
    'GB82WEST12345698765432',
    '234 567 8901 234560',
    'word',
    'electronics',
    'US',
    '12',
    ' ',
    '-',
    '.',
  ];
  const bytes = prng(seed, 4 * n * 9);
  return Array.from({ length: n }, (_, t) => {
    const len = bytes.readUInt32LE(t * 36) % 9;
    if (len === 8) return null;
    return Array.from({ length: len }, (_, i) => parts[bytes.readUInt32LE(t * 36 + 4 + i * 4) % parts.length]).join('');
  });
}

/** The definition the guarded count must equal: every match of the pattern, checksum-confirmed. */
function plainCount(col: string, kind: PiiKind): string {
  const p = PII_PATTERNS.find((x) => x.kind === kind)!;
  const all = `regexp_extract_all(CAST(${col} AS VARCHAR), ${lit(p.source)})`;
  const confirmed =
    p.checksum === 'luhn'
      ? `list_filter(${all}, lambda x: cairn_luhn(x))`
      : p.checksum === 'iban-mod97'
        ? `list_filter(${all}, lambda x: cairn_iban_ok(x))`
        : all;
  return `coalesce(len(${confirmed}), 0)`;
}

describe('piiCountSql', () => {
  it('counts exactly the confirmed matches of regexp_extract_all, whatever kinds it is scanned alongside', async () => {
    const engine = await openEngine({ tempDir: join(temp(), 'duck'), threads: 1 });
    try {
      await installPiiMacros(engine);
      const vs = values(16, 3000);
      const table = `(VALUES ${vs.map((v) => `(${v === null ? 'NULL' : lit(v)})`).join(', ')}) AS x(t)`;
      const together: PiiKind[][] = [KINDS, ['phone', 'card'], ['email', 'iban'], ['card']];
      let found = 0;
      for (const alongside of together) {
        const cols = alongside.flatMap((k, i) => [
          `${piiCountSql('t', k, alongside)} AS g${i}`,
          `${plainCount('t', k)} AS p${i}`,
        ]);
        const rows = await engine.all<Record<string, unknown>>(`SELECT t, ${cols.join(', ')} FROM ${table}`);
        expect(rows.length).toBe(vs.length);
        for (const row of rows)
          alongside.forEach((k, i) => {
            expect({ t: row.t, kind: k, n: row[`g${i}`] }).toEqual({ t: row.t, kind: k, n: row[`p${i}`] });
            found += Number(row[`p${i}`]);
          });
      }
      // The data holds matches of every kind, several per value included (or the test proves little).
      expect(found).toBeGreaterThan(1000);
    } finally {
      engine.close();
    }
  });

  it('counts several e-mail addresses in one value, and none in text with an @ but no address', async () => {
    const engine = await openEngine({ tempDir: join(temp(), 'duck'), threads: 1 });
    try {
      await installPiiMacros(engine);
      const rows = await engine.all<{ n: number }>(
        `SELECT ${piiCountSql('t', 'email', KINDS)} AS n FROM (VALUES ('a@b.cc, c@d.ee and e@f.gg'), ('x@y'), ('me@home'), (NULL)) AS x(t)`,
      );
      expect(rows.map((r) => r.n)).toEqual([3, 0, 0, 0]);
    } finally {
      engine.close();
    }
  });
});
