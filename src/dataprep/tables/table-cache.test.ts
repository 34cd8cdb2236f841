import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { useTempDirs } from '../../test-support/temp.js';
import { openEngine, type TableEngine } from './engine.js';
import { loadTable } from './load.js';
import { checkTableEntry, loadTableCached } from './table-cache.js';

const CSV =
  'id,day,amount,code,label\n1,2024-01-01,1.5,007,a\n2,2024-02-30,2.5,008,b\n3,not a date,,009,c\n4,2024-03-01,4,010,\n';

describe('loadTableCached', () => {
  const tmp = useTempDirs();
  const engines: TableEngine[] = [];
  afterEach(() => {
    for (const e of engines.splice(0)) e.close();
  });
  const open = async () => {
    const e = await openEngine({ tempDir: join(tmp(), 'duck'), threads: 2 });
    engines.push(e);
    return e;
  };
  const setup = () => {
    const root = tmp();
    const files = join(root, 'files');
    mkdirSync(files);
    writeFileSync(join(files, 't.csv'), CSV);
    const reads: string[] = [];
    const opts = { cacheDir: join(root, 'cache'), files: async () => (reads.push('read'), files) };
    return {
      root,
      files,
      reads,
      opts,
      key: { versionDigest: 'a'.repeat(64), source: { format: 'csv' as const, paths: ['t.csv'] } },
    };
  };

  it('parses the text once: a second command reads the typed table without the files', async () => {
    const s = setup();
    const first = await loadTableCached(await open(), s.key, s.opts);
    expect(s.reads).toEqual(['read']);
    const e = await open();
    const second = await loadTableCached(e, s.key, s.opts);
    expect(s.reads).toEqual(['read']);
    expect(second).toEqual(first);
    expect(second.columns.map((c) => [c.name, c.type])).toEqual([
      ['id', 'BIGINT'],
      ['day', 'VARCHAR'],
      ['amount', 'DOUBLE'],
      // leading zeros keep a column text: 007 is not the number 7
      ['code', 'VARCHAR'],
      ['label', 'VARCHAR'],
    ]);
    expect(await e.all('SELECT id, label FROM data ORDER BY id')).toEqual([
      { id: 1, label: 'a' },
      { id: 2, label: 'b' },
      { id: 3, label: 'c' },
      { id: 4, label: null },
    ]);
    expect(readdirSync(s.opts.cacheDir).filter((f) => f.endsWith('.duckdb'))).toHaveLength(1);
  });

  it('applies a declared schema as loadTable does: text columns cast strictly, bad values counted and nulled', async () => {
    const s = setup();
    const schema = { day: 'DATE', label: 'VARCHAR', id: 'BIGINT' };
    await loadTableCached(await open(), s.key, s.opts);
    const e = await open();
    const cached = await loadTableCached(e, s.key, { ...s.opts, schema });
    expect(s.reads).toEqual(['read']);
    const direct = await open();
    const plain = await loadTable(direct, [join(s.files, 't.csv')], 'csv', { schema });
    expect(cached.columns).toEqual(plain.columns);
    expect(cached.columns.find((c) => c.name === 'day')).toEqual({ name: 'day', type: 'DATE', invalid: 2 });
    const q = 'SELECT id, CAST(day AS VARCHAR) AS day FROM data ORDER BY id';
    expect(await e.all(q)).toEqual(await direct.all(q));
    expect(await e.all(q)).toEqual([
      { id: 1, day: '2024-01-01' },
      { id: 2, day: null },
      { id: 3, day: null },
      { id: 4, day: '2024-03-01' },
    ]);
  });

  it('reads the file again when the declared type needs text the cache holds typed (VARCHAR for a BIGINT column)', async () => {
    const s = setup();
    await loadTableCached(await open(), s.key, s.opts);
    const e = await open();
    const t = await loadTableCached(e, s.key, { ...s.opts, schema: { id: 'VARCHAR' } });
    expect(s.reads).toEqual(['read', 'read']);
    expect(t.columns.find((c) => c.name === 'id')).toEqual({ name: 'id', type: 'VARCHAR', invalid: 0 });
    expect(await e.all('SELECT id, code FROM data ORDER BY code')).toEqual([
      { id: '1', code: '007' },
      { id: '2', code: '008' },
      { id: '3', code: '009' },
      { id: '4', code: '010' },
    ]);
  });

  it('a schema column the file lacks is an error, or ignored when asked', async () => {
    const s = setup();
    const e = await open();
    await expect(loadTableCached(e, s.key, { ...s.opts, schema: { nope: 'BIGINT' } })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: 'the schema names column "nope", which the file does not have',
    });
    const t = await loadTableCached(e, s.key, {
      ...s.opts,
      schema: { nope: 'BIGINT' },
      missingSchemaColumns: 'ignore',
    });
    expect(t.columns.map((c) => c.name)).toEqual(['id', 'day', 'amount', 'code', 'label']);
  });

  it('a file that fails to parse leaves no cache entry and no temporary file', async () => {
    const s = setup();
    writeFileSync(join(s.files, 't.csv'), 'a,b\n1,2\n3,4,5\n');
    await expect(loadTableCached(await open(), s.key, s.opts)).rejects.toMatchObject({ code: 'INVALID_INPUT' });
    expect(readdirSync(s.opts.cacheDir)).toEqual([]);
  });

  it('a typed table changed on disk is never attached: it is detected, reported and rebuilt from the files', async () => {
    const s = setup();
    const tables = () => readdirSync(s.opts.cacheDir).filter((f) => f.endsWith('.duckdb'));
    const first = await loadTableCached(await open(), s.key, s.opts);
    const [mine] = tables();
    const otherKey = { ...s.key, versionDigest: 'c'.repeat(64) };
    writeFileSync(join(s.files, 't.csv'), 'id,day,amount,code,label\n9,2024-01-09,9,999,z\n');
    await loadTableCached(await open(), otherKey, s.opts);
    writeFileSync(join(s.files, 't.csv'), CSV);
    const theirs = tables().find((t) => t !== mine)!;
    for (const t of tables()) expect(statSync(join(s.opts.cacheDir, t)).mode & 0o222, t).toBe(0);
    // Someone copies the other version's table over this one: a valid database, wrong rows.
    const target = join(s.opts.cacheDir, mine!);
    chmodSync(target, 0o644);
    copyFileSync(join(s.opts.cacheDir, theirs), target);
    expect(checkTableEntry(target, { repair: false })).toBe('poisoned');
    expect(existsSync(target)).toBe(true);
    s.reads.length = 0;
    expect(await loadTableCached(await open(), s.key, s.opts)).toEqual(first);
    expect(s.reads).toEqual(['read']);
    expect(checkTableEntry(target, { repair: false })).toBe('ok');
    // The other entry was never touched and is still served from the cache.
    expect((await loadTableCached(await open(), otherKey, s.opts)).rows).toBe(1);
    expect(s.reads).toEqual(['read']);
  });

  it('keys entries by version digest: another version is parsed on its own', async () => {
    const s = setup();
    await loadTableCached(await open(), s.key, s.opts);
    await loadTableCached(await open(), { ...s.key, versionDigest: 'b'.repeat(64) }, s.opts);
    expect(s.reads).toEqual(['read', 'read']);
    expect(readdirSync(s.opts.cacheDir).filter((f) => f.endsWith('.duckdb'))).toHaveLength(2);
  });
});
