import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../test-support/temp.js';
import { readTable } from './table.js';

describe('readTable', () => {
  const tmp = useTempDirs();

  it('reads a JSON array file as a table, and prefers the CSV when a .json sits beside it', async () => {
    const a = tmp();
    writeFileSync(join(a, 'rows.json'), '[{"id": 1, "s": "x"}, {"id": 2, "s": "y"}]');
    expect(await readTable(a)).toEqual([
      { id: 1, s: 'x' },
      { id: 2, s: 'y' },
    ]);
    const b = tmp();
    mkdirSync(join(b, 'meta'));
    writeFileSync(join(b, 'meta', 'info.json'), '[{"note": "not the table"}]');
    writeFileSync(join(b, 'data.csv'), 'id\n7\n');
    expect(await readTable(b)).toEqual([{ id: 7 }]);
  });
});
