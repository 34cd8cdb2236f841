import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { packageRoot } from '../../core/package-root.js';
import { useTempDirs } from '../../test-support/temp.js';
import { parseSuite } from '../spec-files/suite.js';
import { openEngine, type TableEngine } from './engine.js';
import { inferSuite } from './infer-suite.js';
import { loadTable } from './load.js';
import { profileTable } from './profile.js';
import { runSuite } from './validate/run-suite.js';
import { suiteSchema } from './validate/suite-schema.js';

const FLIGHTS = join(packageRoot(), 'node_modules/vega-datasets/data/flights-3m.parquet');

describe('inferSuite', () => {
  const tmp = useTempDirs();
  let engine: TableEngine | null = null;
  afterEach(() => {
    engine?.close();
    engine = null;
  });
  const open = async () => (engine = await openEngine({ tempDir: join(tmp(), 'duck'), threads: 2 }));

  it('writes a commented suite for 3,000,000 flights that parses and that the flights pass', async () => {
    const e = await open();
    const table = await loadTable(e, [FLIGHTS], 'parquet');
    const yaml = inferSuite(await profileTable(e, table), { name: 'flights' });
    expect(yaml).toBe(`# A starting suite inferred by Cairn from a profile of 3,000,000 rows and 5 columns.
# It describes the data as it was, which the data passes by construction; review each
# check and loosen or tighten it to the rules the data must follow.

suite: flights
checks:
  # Rows: 3,000,000 when inferred; these bounds allow ±50 %.
  - row_count: { min: 1500000, max: 4500000 }
  # The observed types; \`exact: true\` also fails on columns added later.
  - schema:
      columns: { date: TIMESTAMP, delay: BIGINT, distance: BIGINT, origin: VARCHAR, destination: VARCHAR }
      exact: true
  # Columns without a single NULL.
  - not_null: [ date, delay, distance, origin, destination ]
  # The smallest and largest delay seen; widen them to what is plausible.
  - range: { column: delay, min: -1116, max: 1688 }
  # The smallest and largest distance seen; widen them to what is plausible.
  - range: { column: distance, min: 21, max: 4962 }
`);
    const report = await runSuite(e, table, parseSuite(yaml, 'flights.yaml'), {
      target: 'flights@v1',
      now: new Date(),
    });
    expect(report.ok).toBe(true);
    expect(report.checks.map((c) => [c.name, c.status])).toEqual([
      ['row_count', 'passed'],
      ['schema', 'passed'],
      ['not_null', 'passed'],
      ['range(delay)', 'passed'],
      ['range(distance)', 'passed'],
    ]);
  });

  it('infers keys, allowed sets (with NULL and YAML-ambiguous text) and bounds from a generated CSV, which then passes', async () => {
    const dir = tmp();
    const cats = ['yes', 'null', '1', 'true', 'a "q", b', '#x', 'plain'];
    const lines = ['id,code,"odd: name",score,day,flag,note'];
    for (let i = 0; i < 2000; i++) {
      const cat = i % 9 === 8 ? '' : `"${cats[i % cats.length]!.replace(/"/g, '""')}"`;
      const score = i % 10 === 0 ? '' : String(((i * 37) % 1000) / 8 - 20.125);
      const day = `2024-0${1 + (i % 9)}-${String(1 + (i % 28)).padStart(2, '0')}`;
      lines.push(
        [
          i + 1,
          `C${String(i).padStart(5, '0')}`,
          cat,
          score,
          day,
          i % 3 === 0 ? 'true' : 'false',
          `note ${i % 50}`,
        ].join(','),
      );
    }
    writeFileSync(join(dir, 'gen.csv'), lines.join('\n') + '\n');
    const e = await open();
    const loaded = await loadTable(e, [join(dir, 'gen.csv')], 'csv');
    const yaml = inferSuite(await profileTable(e, loaded), { name: 'generated' });
    expect(yaml).toContain('  - row_count: { min: 1000, max: 3000 }\n');
    expect(yaml).toContain(
      '      columns:\n        id: BIGINT\n        code: VARCHAR\n        "odd: name": VARCHAR\n        score: DOUBLE\n        day: DATE\n        flag: BOOLEAN\n        note: VARCHAR\n      exact: true\n',
    );
    expect(yaml).toContain('  - not_null: [ id, code, day, flag, note ]\n');
    expect(yaml).toContain('  - unique: [ id ]\n');
    expect(yaml).toContain('  - unique: [ code ]\n');
    expect(yaml).toContain('  - range: { column: score, min: -20, max: 104.75 }\n');
    expect(yaml).toContain('  # All 7 values of odd: name seen, and NULL, most frequent first.\n');
    expect(yaml).not.toContain('allowed: { column: note');
    const suite = parseSuite(yaml, 'generated.yaml');
    const allowed = suite.checks.find((c) => c.kind === 'allowed');
    expect(allowed).toMatchObject({ column: 'odd: name' });
    expect(new Set((allowed as { values: unknown[] }).values)).toEqual(new Set([...cats, null]));
    // Load as `cairn data validate` does: typed by the suite's schema.
    const table = await loadTable(e, [join(dir, 'gen.csv')], 'csv', { schema: suiteSchema(suite), name: 'again' });
    const report = await runSuite(e, table, suite, { target: 'generated@v1', now: new Date() });
    expect(report.checks.filter((c) => c.status !== 'passed')).toEqual([]);
    expect(report.checks.map((c) => c.name)).toEqual([
      'row_count',
      'schema',
      'not_null',
      'unique(id)',
      'unique(code)',
      'range(id)',
      'range(score)',
      'allowed(odd: name)',
    ]);
  });
});
