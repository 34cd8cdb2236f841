// The diff never lies: over random tables and random edits, its counts and samples match what
// was done to the rows, computed here independently in JavaScript.
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTempDirs } from '../../test-support/temp.js';
import { openEngine, type TableEngine } from '../tables/engine.js';
import { diffLoaded } from './diff.js';

const tempDir = useTempDirs();
let engine: TableEngine;
beforeAll(async () => {
  engine = await openEngine({ tempDir: join(tempDir(), 'duck'), memoryLimit: '1GB', threads: 2 });
});
afterAll(() => engine.close());

function rng(seed: number) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

type Row = { id: number; a: number | null; b: string | null };
const values = (rows: Row[]) =>
  rows.length
    ? rows.map((r) => `(${r.id}, ${r.a ?? 'NULL'}, ${r.b === null ? 'NULL' : `'${r.b}'`})`).join(', ')
    : '(0, 0, NULL) LIMIT 0';

describe('diffLoaded (property)', () => {
  it('counts added, removed, changed and unchanged rows and per-column changes exactly', async () => {
    for (let seed = 1; seed <= 25; seed++) {
      const r = rng(seed);
      const pick = <T>(xs: T[]) => xs[Math.floor(r() * xs.length)]!;
      const before: Row[] = [];
      for (let id = 0; id < 5 + Math.floor(r() * 40); id++)
        before.push({ id, a: r() < 0.2 ? null : Math.floor(r() * 5), b: r() < 0.2 ? null : pick(['x', 'y', 'z']) });
      const after: Row[] = [];
      let removed = 0;
      let changed = 0;
      const perColumn = { a: 0, b: 0 };
      for (const row of before) {
        const u = r();
        if (u < 0.15) {
          removed++;
          continue;
        }
        if (u < 0.45) {
          const next = { ...row, a: r() < 0.5 ? (row.a === null ? 1 : null) : row.a, b: r() < 0.5 ? 'w' : row.b };
          const da = next.a !== row.a;
          const db = next.b !== row.b;
          if (da) perColumn.a++;
          if (db) perColumn.b++;
          if (da || db) changed++;
          after.push(next);
        } else after.push(row);
      }
      const added = Math.floor(r() * 6);
      for (let i = 0; i < added; i++) after.push({ id: 1000 + i, a: i, b: null });
      await engine.run(`CREATE OR REPLACE TABLE pa AS SELECT * FROM (VALUES ${values(before)}) t(id, a, b)`);
      await engine.run(`CREATE OR REPLACE TABLE pb AS SELECT * FROM (VALUES ${values(after)}) t(id, a, b)`);
      const d = await diffLoaded(engine, 'pa', 'pb', { from: 'a', to: 'b', samples: 100 });
      const expected = { from: before.length, to: after.length, added, removed, changed };
      expect(d.rows, `seed ${seed}`).toEqual({ ...expected, unchanged: after.length - added - changed });
      expect(d.changedColumns, `seed ${seed}`).toEqual(
        Object.fromEntries(Object.entries(perColumn).filter(([, n]) => n > 0)),
      );
      expect(d.samples.changed.length).toBe(changed);
      expect(d.samples.removed.length).toBe(removed);
      expect(d.samples.added.map((x) => x.id)).toEqual(after.filter((x) => x.id >= 1000).map((x) => x.id));
    }
  });
});
