// `clean` and `split` with format csv: the versions hold data.csv, readable without Parquet,
// in the same rows and order as the Parquet output, and the same bytes on every run.
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../../app/workspace.js';
import { addVersion } from '../../datasets/add.js';
import { materializedVersion } from '../../datasets/materialized.js';
import { useTempDirs } from '../../test-support/temp.js';
import { newWorkspace, writeTree } from '../../test-support/workspace.js';
import { cleanVersion } from './clean.js';
import type { DataprepDeps } from './context.js';
import { splitVersion } from './split.js';

describe('clean and split --format csv', () => {
  const tmp = useTempDirs();
  let ws: Workspace | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  it('writes data.csv with a header, in the order the Parquet output has, deterministically', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const deps: DataprepDeps = { ...ws, pseudonymKey: () => Buffer.alloc(32, 1) };
    const rows = Array.from({ length: 300 }, (_, i) => `${i},${['a', 'b', 'c'][i % 3]},${(i * 7) % 11}`);
    writeTree(join(dir, 'src'), { 't.csv': `id,cls,v\n${rows.join('\n')}\n` });
    await addVersion(deps, { source: join(dir, 'src'), name: 't' });
    const recipe = join(dir, 'r.yaml');
    writeFileSync(recipe, 'steps:\n  - derive: { w: "v * 2" }\n  - filter: id % 2 = 0\n');
    const filesOf = async (digest: string) => {
      const d = await materializedVersion(deps, digest.replace(/^sha256:/, ''));
      return { names: readdirSync(d).filter((n) => !n.startsWith('.')), dir: d };
    };

    const csv = await cleanVersion(deps, 't@v1', { recipePath: recipe, name: 'c', format: 'csv' });
    const pq = await cleanVersion(deps, 't@v1', { recipePath: recipe, name: 'p' });
    const c = await filesOf(csv.digest);
    expect(c.names).toEqual(['data.csv']);
    expect((await filesOf(pq.digest)).names).toEqual(['data.parquet']);
    const text = readFileSync(join(c.dir, 'data.csv'), 'utf8').trim().split('\n');
    expect(text[0]).toBe('id,cls,v,w');
    expect(text.length).toBe(151);
    expect(text.slice(1).map((l) => Number(l.split(',')[0]))).toEqual([...Array(150).keys()].map((i) => i * 2));
    const again = await cleanVersion(deps, 't@v1', { recipePath: recipe, name: 'c2', format: 'csv' });
    expect(again.digest).toBe(csv.digest);

    const s1 = await splitVersion(deps, 'c@v1', {
      name: 's',
      ratios: 'train=0.7,test=0.3',
      format: 'csv',
      key: ['id'],
    });
    const s2 = await splitVersion(deps, 'c@v1', {
      name: 's2',
      ratios: 'train=0.7,test=0.3',
      format: 'csv',
      key: ['id'],
    });
    expect(s1.splits.map((s) => s.digest)).toEqual(s2.splits.map((s) => s.digest));
    let total = 0;
    for (const s of s1.splits) {
      const f = await filesOf(s.digest);
      expect(f.names).toEqual(['data.csv']);
      const lines = readFileSync(join(f.dir, 'data.csv'), 'utf8').trim().split('\n');
      expect(lines[0]).toBe('id,cls,v,w');
      expect(lines.length - 1).toBe(s.size);
      total += s.size;
    }
    expect(total).toBe(150);
  });
});
