// Row-level diffs of table versions and JSON array files as tables, against a real workspace.
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../../app/workspace.js';
import { addVersion } from '../../datasets/add.js';
import { rejectsWith } from '../../test-support/assert.js';
import { useTempDirs } from '../../test-support/temp.js';
import { newWorkspace, writeTree } from '../../test-support/workspace.js';
import type { DataprepDeps } from './context.js';
import { diffTableVersions } from './diff.js';
import { profileVersion } from './profile.js';

const KEY = Buffer.alloc(32, 7);

describe('data diff of tables', () => {
  const tmp = useTempDirs();
  let ws: Workspace | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });
  const setup = async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const deps: DataprepDeps = { ...ws, pseudonymKey: () => KEY };
    let n = 0;
    const add = async (name: string, files: Record<string, string>) => {
      const src = join(dir, 'src', `${name}-${++n}`);
      writeTree(src, files);
      return addVersion(deps, { source: src, name });
    };
    return { deps, add };
  };

  const V1 = 'id,species,mass\n1,Adelie,3750\n2,Adelie,3800\n3,Gentoo,4500\n4,Gentoo,5000\n';
  // 2 changed (mass), 4 removed, 5 added, column `island` added; 1 and 3 unchanged.
  const V2 =
    'id,species,mass,island\n1,Adelie,3750,Torgersen\n2,Adelie,3900,Biscoe\n3,Gentoo,4500,Biscoe\n5,Chinstrap,3500,Dream\n';

  it('reports schema changes and rows added, removed and changed by an inferred id key, with samples', async () => {
    const { deps, add } = await setup();
    await add('penguins', { 'p.csv': V1 });
    await add('penguins', { 'p.csv': V2 });
    const d = await diffTableVersions(deps, 'penguins@v1', 'penguins@v2');
    expect(d).toEqual({
      from: 'penguins@v1',
      to: 'penguins@v2',
      schema: { added: [{ name: 'island', type: 'VARCHAR' }], removed: [], retyped: [] },
      key: { columns: ['id'], source: 'inferred' },
      rows: { from: 4, to: 4, added: 1, removed: 1, changed: 1, unchanged: 2 },
      changedColumns: { mass: 1 },
      samples: {
        added: [{ id: 5, species: 'Chinstrap', mass: 3500, island: 'Dream' }],
        removed: [{ id: 4, species: 'Gentoo', mass: 5000 }],
        changed: [{ key: { id: 2 }, changes: { mass: { from: 3800, to: 3900 } } }],
      },
    });
  });

  it('compares whole rows without an id-like key; refuses a key that is missing or not unique', async () => {
    const { deps, add } = await setup();
    await add('w', { 'w.csv': 'day,temp\nmon,10\ntue,12\n' });
    await add('w', { 'w.csv': 'day,temp\nmon,10\ntue,13\ntue,13\n' });
    const d = await diffTableVersions(deps, 'w@v1', 'w@v2');
    expect(d!.key).toEqual({ columns: [], source: 'row' });
    expect(d!.rows).toEqual({ from: 2, to: 3, added: 2, removed: 1, changed: 0, unchanged: 1 });
    expect(d!.samples.removed).toEqual([{ day: 'tue', temp: 12 }]);
    const byDay = diffTableVersions(deps, 'w@v1', 'w@v2', { key: ['day'] });
    expect((await rejectsWith(byDay, 'INVALID_INPUT')).message).toMatch(/not unique in the to version/);
    const bad = diffTableVersions(deps, 'w@v1', 'w@v2', { key: ['nope'] });
    expect((await rejectsWith(bad, 'INVALID_INPUT')).message).toMatch(/both versions must have the column "nope"/);
  });

  it('a retyped column is listed; numbers compare as numbers, other types by text; a given key is used', async () => {
    const { deps, add } = await setup();
    await add('t', { 't.csv': 'k,v,w\na,1,1\nb,2,x\n' });
    await add('t', { 't.csv': 'k,v,w\na,1.0,1\nb,2.5,1\n' });
    const d = await diffTableVersions(deps, 't@v1', 't@v2', { key: ['k'] });
    expect(d!.schema.retyped).toEqual([
      { name: 'v', from: 'BIGINT', to: 'DOUBLE' },
      { name: 'w', from: 'VARCHAR', to: 'BIGINT' },
    ]);
    expect(d!.key).toEqual({ columns: ['k'], source: 'given' });
    expect(d!.rows).toMatchObject({ changed: 1, unchanged: 1 });
    expect(d!.changedColumns).toEqual({ v: 1, w: 1 });
    expect(d!.samples.changed).toEqual([
      { key: { k: 'b' }, changes: { v: { from: 2, to: 2.5 }, w: { from: 'x', to: '1' } } },
    ]);
  });

  it('is null for file collections', async () => {
    const { deps, add } = await setup();
    await add('docs', { 'a.txt': 'x' });
    await add('docs', { 'a.txt': 'y' });
    expect(await diffTableVersions(deps, 'docs@v1', 'docs@v2')).toBeNull();
  });

  it('a JSON array file is a table; JSON objects and a JSON array beside a CSV are not', async () => {
    const { deps, add } = await setup();
    await add('arr', { 'rows.json': ' \n[{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]' });
    const p = await profileVersion(deps, 'arr@v1');
    expect(p.kind).toBe('table');
    expect((p.profile as { rows: number }).rows).toBe(2);
    await add('objs', { 'a.json': '{"id": 1}', 'b.json': '[1]' });
    expect((await profileVersion(deps, 'objs@v1')).kind).toBe('files');
    await add('mixed', { 'meta.json': '[{"x": 1}]', 'data.csv': 'a\n1\n2\n3\n' });
    const m = await profileVersion(deps, 'mixed@v1');
    expect((m.profile as { rows: number }).rows).toBe(3);
    const chosen = await profileVersion(deps, 'mixed@v1', { file: 'meta.json' });
    expect((chosen.profile as { rows: number }).rows).toBe(1);
  });
});
