import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rejectsWith } from '../../../test-support/assert.js';
import { useTempDirs } from '../../../test-support/temp.js';
import { parseRecipe } from '../../spec-files/recipe.js';
import { lit, openEngine, type TableEngine } from '../engine.js';
import { loadTable, type LoadedTable } from '../load.js';
import { runRecipe } from './run-recipe.js';

const tempDir = useTempDirs();
const KEY = Buffer.from('0123456789abcdef0123456789abcdef', 'hex');

const CSV = [
  'id,species,bill_mm,mass_g',
  '1,Adelie,39.1,3750',
  '2,Adelie,39.5,3800',
  '3,Gentoo,46.1,4500',
  '4,Gentoo,,5000',
  '5,Chinstrap,46.5,3500',
].join('\n');

let engine: TableEngine;
beforeAll(async () => {
  engine = await openEngine({ tempDir: join(tempDir(), 'duck'), memoryLimit: '1GB' });
});
afterAll(() => engine.close());

async function penguins(): Promise<LoadedTable> {
  const file = join(tempDir(), 'penguins.csv');
  writeFileSync(file, `${CSV}\n`);
  return loadTable(engine, [file], 'csv', { name: 'penguins' });
}

async function clean(text: string) {
  const table = await penguins();
  const outFile = join(tempDir(), 'out', 'clean.parquet');
  const report = await runRecipe(engine, table, parseRecipe(text, 'r.yaml'), { hmacKey: KEY, outFile });
  const rows = await engine.all(`SELECT * FROM read_parquet(${lit(outFile)})`);
  return { report, rows, outFile };
}

describe('reshaping steps: rename, select, derive, sql', () => {
  it('rename, derive, select and sql run in order; later steps see the new names and types', async () => {
    const { report, rows } = await clean(`steps:
  - rename: { mass_g: mass }
  - derive: { mass_kg: "mass / 1000.0", bill_mm: "coalesce(bill_mm, 0)" }
  - select: [species, mass_kg, bill_mm]
  - sql: |
      SELECT species, count(*) AS n, round(avg(mass_kg), 3) AS mean_kg, max(bill_mm) AS max_bill
      FROM input GROUP BY species
  - filter: n > 1
`);
    expect(report.steps.map((s) => [s.kind, s.line, s.rowsIn, s.rowsOut])).toEqual([
      ['rename', 2, 5, 5],
      ['derive', 3, 5, 5],
      ['select', 4, 5, 5],
      ['sql', 5, 5, 3],
      ['filter', 8, 3, 2],
    ]);
    expect(report.steps[0]!.details).toEqual({ renamed: 1 });
    expect(report.steps[1]!.details).toEqual({ added: 1, replaced: 1 });
    expect(report.steps[2]!.details).toEqual({ dropped_columns: 2 });
    expect(report.columns.map((c) => c.name)).toEqual(['species', 'n', 'mean_kg', 'max_bill']);
    expect(rows).toEqual([
      { species: 'Adelie', n: 2, mean_kg: 3.775, max_bill: 39.5 },
      { species: 'Gentoo', n: 2, mean_kg: 4.75, max_bill: 46.1 },
    ]);
  });

  it('a sql step may use its own WITH clauses, joins and subqueries over input', async () => {
    const { rows } = await clean(`steps:
  - sql: >-
      WITH heavy AS (SELECT id FROM input WHERE mass_g >= 4500)
      SELECT i.id FROM input i JOIN heavy USING (id) WHERE i.id IN (SELECT id FROM input) ORDER BY i.id
`);
    expect(rows.map((r) => r.id).sort()).toEqual([3, 4]);
  });

  it('names the step and line of every mistake, before anything is written', async () => {
    const table = await penguins();
    const dir = tempDir();
    const outFile = join(dir, 'clean.parquet');
    const fails = async (text: string) => {
      const err = await rejectsWith(
        runRecipe(engine, table, parseRecipe(text, 'r.yaml'), { hmacKey: KEY, outFile }),
        'INVALID_INPUT',
      );
      expect(existsSync(outFile)).toBe(false);
      return err.message;
    };
    const head = 'steps:\n  - trim:\n';
    expect(await fails(`${head}  - rename: { weight: w }\n`)).toMatch(/step 2 \(rename, line 3\).*"weight"/);
    expect(await fails(`${head}  - rename: { id: species }\n`)).toMatch(/line 3.*two columns would be named "species"/);
    expect(await fails(`${head}  - select: [id, id]\n`)).toMatch(/line 3.*"id" twice/);
    expect(await fails(`${head}  - drop_columns: [mass_g]\n  - select: [mass_g]\n`)).toMatch(
      /step 3 \(select, line 4\).*"mass_g", which the table does not have at that step/,
    );
    expect(await fails(`${head}  - derive: { x: "nosuch * 2" }\n`)).toMatch(/line 3.*nosuch/);
    expect(await fails(`${head}  - derive: { x: "(SELECT 1)" }\n`)).toMatch(/line 3.*may not contain a subquery/);
    expect(await fails(`${head}  - derive: { x: "1 FROM input" }\n`)).toMatch(
      /line 3\): the expression .* is not a SQL expression/,
    );
    expect(await fails(`${head}  - sql: "SELECT * FROM read_csv('/etc/passwd')"\n`)).toMatch(
      /line 3.*table function read_csv/,
    );
    expect(await fails(`${head}  - sql: "SELECT * FROM '/etc/passwd'"\n`)).toMatch(/line 3.*reads "\/etc\/passwd"/);
    expect(await fails(`${head}  - sql: "SELECT * FROM main.input"\n`)).toMatch(/line 3.*reads "input"/);
    expect(await fails(`${head}  - sql: "SELECT 1; SELECT 2"\n`)).toMatch(/line 3.*one SELECT/);
    expect(await fails(`${head}  - sql: "COPY input TO 'x.csv'"\n`)).toMatch(/line 3.*not one SELECT/);
    expect(await fails(`${head}  - sql: "SELECT nosuch FROM input"\n`)).toMatch(/step 2 \(sql, line 3\).*nosuch/);
    expect(readdirSync(dir)).toEqual([]);
  });
});
