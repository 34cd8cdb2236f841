import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTempDirs } from '../../test-support/temp.js';
import { openEngine, type TableEngine } from '../tables/engine.js';
import { parseRatios } from './ratios.js';
import {
  doubleText,
  POSITION_SCALE,
  splitHashInt,
  splitHashIntSql,
  splitIndexOf,
  splitIndexSql,
  splitKeyText,
  splitPosition,
  splitPositionSql,
  sqlText,
} from './position.js';

const tempDir = useTempDirs();
let engine: TableEngine;
beforeAll(async () => {
  engine = await openEngine({ tempDir: join(tempDir(), 'duck'), memoryLimit: '1GB', threads: 2 });
});
afterAll(() => engine.close());

describe('the documented split hash', () => {
  it('matches vectors computed outside Cairn (printf … | sha256sum)', () => {
    // printf 'cairn-split-v1\x1f0\x1f1abc' | sha256sum → 21aad5fb53da5…
    expect(splitHashInt(0, splitKeyText(['abc']))).toBe(0x21aad5fb53da5);
    expect(splitPosition(0, '1abc')).toBe(0x21aad5fb53da5 / 2 ** 52);
    expect(splitPosition(0, '1abc')).toBe(0.13151299844671738);
    // printf 'cairn-split-v1\x1f42\x1f0\x1f1caf\xc3\xa9' | sha256sum → 59e1e32e3c16e…
    expect(splitKeyText([null, 'café'])).toBe('0\u001f1café');
    expect(splitHashInt(42, splitKeyText([null, 'café']))).toBe(0x59e1e32e3c16e);
  });

  it('an empty string and NULL are different keys', () => {
    expect(splitKeyText([''])).toBe('1');
    expect(splitKeyText([null])).toBe('0');
    expect(splitPosition(0, splitKeyText(['']))).not.toBe(splitPosition(0, splitKeyText([null])));
  });

  it('refuses seeds that are not exact integers', () => {
    expect(() => splitPosition(1.5, 'x')).toThrow(/whole number/);
    expect(() => splitHashIntSql(2 ** 60, ['a'])).toThrow(/whole number/);
  });

  it('SQL and JavaScript give identical positions and splits for 20,000 rows of mixed types with NULLs', async () => {
    await engine.run(`CREATE OR REPLACE TABLE mixed AS
      SELECT
        CASE WHEN i % 11 = 0 THEN NULL ELSE (i * 7919 - 50000000)::BIGINT * (CASE WHEN i % 3 = 0 THEN 1000003 ELSE 1 END) END AS id,
        CASE WHEN i % 13 = 0 THEN NULL
             WHEN i % 5 = 0 THEN (i - 10000)::DOUBLE
             WHEN i % 5 = 1 THEN (random() - 0.5) * pow(10, (i % 40) - 20)
             WHEN i % 5 = 2 THEN 1.0 / (i + 1)
             WHEN i % 5 = 3 THEN pow(10, (i % 30) - 10)::DOUBLE
             ELSE random() * 1e300 END AS x,
        CASE WHEN i % 17 = 0 THEN NULL ELSE DATE '1970-01-01' + INTERVAL (i * 37 % 40000 - 10000) DAY END::DATE AS d,
        CASE WHEN i % 19 = 0 THEN NULL ELSE TIMESTAMP '2001-01-01 00:00:00' + to_milliseconds(i * 7777 * (CASE WHEN i % 4 = 0 THEN 1000 ELSE 1 END)) END AS ts,
        CASE WHEN i % 23 = 0 THEN NULL ELSE i % 2 = 0 END AS b,
        CASE WHEN i % 29 = 0 THEN NULL WHEN i % 7 = 0 THEN '' ELSE 'k' || i::VARCHAR || ' café ☕ ' || chr(31) || ' ''q'' "d" ' || chr(10) END AS s
      FROM range(20000) t(i)`);
    const types = await engine.all<{ column_name: string; column_type: string }>(
      `SELECT column_name, column_type FROM (DESCRIBE mixed)`,
    );
    expect(types.map((t) => t.column_type)).toEqual(['BIGINT', 'DOUBLE', 'DATE', 'TIMESTAMP', 'BOOLEAN', 'VARCHAR']);
    const cols = types.map((t) => t.column_name);
    const ratios = parseRatios('train=0.7,val=0.2,test=0.1');
    for (const seed of [0, 7, 123456789]) {
      const rows = await engine.all<Record<string, unknown>>(
        `SELECT *, ${splitPositionSql(seed, cols)} AS __u, ${splitIndexSql(splitHashIntSql(seed, cols), ratios)} AS __s,
                ${splitPositionSql(seed, ['s'])} AS __us, ${splitPositionSql(seed, ['id', 'd'])} AS __uid FROM mixed`,
      );
      expect(rows).toHaveLength(20000);
      let mismatches = 0;
      for (const r of rows) {
        const text = splitKeyText(types.map((t) => sqlText(r[t.column_name], t.column_type)));
        const u = splitPosition(seed, text);
        if (u !== r.__u || splitIndexOf(u, ratios) !== r.__s) mismatches++;
        if (splitPosition(seed, splitKeyText([sqlText(r.s, 'VARCHAR')])) !== r.__us) mismatches++;
        if (splitPosition(seed, splitKeyText([sqlText(r.id, 'BIGINT'), sqlText(r.d, 'DATE')])) !== r.__uid)
          mismatches++;
      }
      expect(mismatches).toBe(0);
      // Every split is used, in roughly its share.
      const shares = [0, 1, 2].map((i) => rows.filter((r) => r.__s === i).length / rows.length);
      expect(shares.map((s) => Math.round(s * 10) / 10)).toEqual([0.7, 0.2, 0.1]);
    }
  });

  it('writes doubles exactly as DuckDB does', async () => {
    const rows = await engine.all<{ x: number; t: string }>(
      `SELECT x, CAST(x AS VARCHAR) AS t FROM (
         SELECT (random() - 0.5) * pow(10, (i % 640) - 320) AS x FROM range(5000) r(i)
         UNION ALL SELECT pow(10, i - 30)::DOUBLE FROM range(60) r(i)
         UNION ALL SELECT -pow(2, i)::DOUBLE FROM range(70) r(i)
         UNION ALL SELECT 1.0 / (i + 1) FROM range(100) r(i)
         UNION ALL SELECT x FROM (VALUES (0.1), (123456.789), (5e-324), (1.7976931348623157e308), (9007199254740993)) v(x)
       ) WHERE x <> 0 AND isfinite(x)`,
    );
    expect(rows.length).toBeGreaterThan(5000);
    const wrong = rows.filter((r) => doubleText(r.x) !== r.t);
    expect(wrong).toEqual([]);
    const specials = await engine.all<Record<string, string>>(
      `SELECT CAST('nan'::DOUBLE AS VARCHAR) a, CAST('-inf'::DOUBLE AS VARCHAR) b, CAST(-0.0::DOUBLE AS VARCHAR) c, CAST(0.0::DOUBLE AS VARCHAR) d`,
    );
    expect([doubleText(NaN), doubleText(-Infinity), doubleText(-0), doubleText(0)]).toEqual([
      specials[0]!.a,
      specials[0]!.b,
      specials[0]!.c,
      specials[0]!.d,
    ]);
  });

  it('places positions at the cumulative boundaries identically in SQL and JavaScript', async () => {
    const ratios = parseRatios('a=0.8,b=0.1,c=0.1');
    const edges = [0.8, 0.8 + 0.1].flatMap((c) => {
      const t = Math.ceil(c * POSITION_SCALE);
      return [t - 2, t - 1, t, t + 1];
    });
    const vs = [0, ...edges, POSITION_SCALE - 1];
    const rows = await engine.all<{ v: number; s: number }>(
      `SELECT v, ${splitIndexSql('v', ratios)} AS s FROM (VALUES ${vs.map((v) => `(${v}::BIGINT)`).join(', ')}) t(v) ORDER BY v`,
    );
    expect(rows.map((r) => r.s)).toEqual(vs.map((v) => splitIndexOf(v / POSITION_SCALE, ratios)));
    expect(rows.map((r) => r.s)).toEqual([0, 0, 0, 1, 1, 1, 1, 2, 2, 2]);
  });

  it('renders typed values as DuckDB casts them', () => {
    expect(sqlText(null, 'BIGINT')).toBeNull();
    expect(sqlText(-12, 'BIGINT')).toBe('-12');
    expect(sqlText(9007199254740993n, 'BIGINT')).toBe('9007199254740993');
    expect(sqlText(true, 'BOOLEAN')).toBe('true');
    expect(sqlText(1, 'DOUBLE')).toBe('1.0');
    expect(sqlText(1e16, 'DOUBLE')).toBe('1e+16');
    expect(sqlText(1.5e-7, 'DOUBLE')).toBe('1.5e-07');
    expect(sqlText('2020-01-02T00:00:00.000Z', 'DATE')).toBe('2020-01-02');
    expect(sqlText(new Date('2020-01-02T03:04:05.120Z'), 'TIMESTAMP')).toBe('2020-01-02 03:04:05.12');
    expect(sqlText(new Date('2020-01-02T03:04:05Z'), 'TIMESTAMP')).toBe('2020-01-02 03:04:05');
    expect(() => sqlText([1], 'INTEGER[]')).toThrow(/does not know/);
  });
});
