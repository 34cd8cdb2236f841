import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../test-support/prng.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../test-support/services.js';
import { useTempDirs } from '../test-support/temp.js';
import { compiledRead } from './compiled-read.js';
import { openMetaStore, type MetaStore } from './open.js';
import type { ReadDb } from './read-db.js';

const available = await postgresAvailable();
const tempDir = useTempDirs();

// Names a marker could be confused with, quotes, and the empty string.
const ALPHABET = ['a', 'b', "'", '"', '\u0000', 'cairn-argument-0', '%', 'é', ' '];

const byName = (db: ReadDb, name: string) =>
  db.selectFrom('models').select(['id', 'name']).where('name', '=', name).orderBy('id');
const byNames = (db: ReadDb, name: string, other: string, limit: number) =>
  db
    .selectFrom('models')
    .select(['id', 'name', 'created_by'])
    .where((eb) => eb.or([eb('name', '=', name), eb('created_by', '=', other)]))
    .where('created_by', '!=', 'nobody')
    .orderBy('id')
    .limit(limit);
// One argument used twice: both of its parameters take each call's value.
const twice = (db: ReadDb, name: string) =>
  db.selectFrom('models').select(['id']).where('name', '=', name).where('created_by', '=', name).orderBy('id');

// An argument in the query's text (a column name, a sort direction): built on every call.
const column = (db: ReadDb, col: string) => db.selectFrom('models').select(sql.ref<string>(col).as('v')).orderBy('id');
const direction = (db: ReadDb, dir: 'asc' | 'desc') => db.selectFrom('models').select(['id']).orderBy('id', dir);

function cases(open: () => Promise<{ store: MetaStore; done: () => Promise<void> }>) {
  let store: MetaStore;
  let done: () => Promise<void>;
  let kept: Array<{ id: string; name: string; created_at: string; created_by: string }> = [];
  beforeAll(async () => {
    ({ store, done } = await open());
    const r = mulberry32(11);
    const pick = () =>
      Array.from({ length: 1 + Math.floor(r() * 3) }, () => ALPHABET[Math.floor(r() * ALPHABET.length)]).join('');
    // Names are unique (`#i`); authors repeat.
    const rows = Array.from({ length: 60 }, (_, i) => ({
      id: `m${String(i).padStart(3, '0')}`,
      name: `${pick()}#${i}`,
      created_at: '2026-01-01T00:00:00Z',
      created_by: pick(),
    }));
    // PostgreSQL text holds no NUL: there, the values that would carry one drop it.
    const clean = (x: string) => (store.dialect === 'postgres' ? x.split('\u0000').join('') : x);
    kept = rows.map((x) => ({ ...x, name: clean(x.name), created_by: clean(x.created_by) }));
    // Rows whose name is their author's: what `twice` finds.
    const same = ['a', 'b1', "'"].map((n, i) => ({
      id: `s${i}`,
      name: n,
      created_at: '2026-01-01T00:00:00Z',
      created_by: n,
    }));
    await store.db
      .insertInto('models')
      .values([...kept, ...same])
      .execute();
  });
  afterAll(() => done());

  it('answers as the query built on every call, for random arguments (seeded)', async () => {
    const once = compiledRead(byName);
    const many = compiledRead(byNames);
    const r = mulberry32(store.dialect === 'postgres' ? 2 : 1);
    const clean = (s: string) => (store.dialect === 'postgres' ? s.split('\u0000').join('') : s);
    // Half of the arguments are stored names or authors, half anything the alphabet makes.
    const arg = () => {
      if (r() < 0.5) {
        const row = kept[Math.floor(r() * kept.length)]!;
        return r() < 0.5 ? row.name : row.created_by;
      }
      return clean(
        Array.from({ length: Math.floor(r() * 3) }, () => ALPHABET[Math.floor(r() * ALPHABET.length)]).join(''),
      );
    };
    let hits = 0;
    for (let i = 0; i < 150; i++) {
      const name = arg();
      const other = arg();
      const limit = Math.floor(r() * 70);
      const found = await once(store.db, name);
      hits += found.length;
      expect(found).toEqual(await byName(store.db, name).execute());
      expect(await many(store.db, name, other, limit)).toEqual(await byNames(store.db, name, other, limit).execute());
    }
    // Not only empty answers compared.
    expect(hits).toBeGreaterThan(20);
  });

  it('an argument in the text of the query is built on every call', async () => {
    const read = compiledRead(column);
    const sorted = compiledRead(direction);
    for (const col of ['name', 'created_by', 'id'])
      expect(await read(store.db, col)).toEqual(await column(store.db, col).execute());
    for (const dir of ['desc', 'asc', 'desc'] as const)
      expect(await sorted(store.db, dir)).toEqual(await direction(store.db, dir).execute());
  });

  it("inside a transaction, reads on the transaction's connection: its own uncommitted rows show", async () => {
    const read = compiledRead(byName);
    const row = { id: 'tx1', name: 'only-in-tx', created_at: '2026-01-01T00:00:00Z', created_by: 'tx' };
    await store.db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('models').values(row).execute();
        expect(await read(trx, 'only-in-tx')).toEqual([{ id: 'tx1', name: 'only-in-tx' }]);
        // Outside it, on PostgreSQL's pipelined connections, not yet (SQLite's one connection waits for the transaction).
        if (store.dialect === 'postgres') expect(await read(store.db, 'only-in-tx')).toEqual([]);
        throw new Error('roll back');
      })
      .catch((err: unknown) => expect((err as Error).message).toBe('roll back'));
    expect(await read(store.db, 'only-in-tx')).toEqual([]);
  });

  it('an argument used twice answers as the query built on every call', async () => {
    const read = compiledRead(twice);
    for (const name of ['a', 'b1', "'", '', 'a']) {
      const rows = await read(store.db, name);
      expect(rows).toEqual(await twice(store.db, name).execute());
      if (name !== '') expect(rows.length).toBeGreaterThan(0);
    }
  });
}

describe('compiledRead on SQLite', () => {
  cases(async () => {
    const store = await openMetaStore(join(tempDir(), 'meta.db'));
    return { store, done: () => store.close() };
  });
});

describe.skipIf(!available)('compiledRead on PostgreSQL', () => {
  cases(async () => {
    const { url, schema } = freshPgUrl();
    const store = await openMetaStore(url);
    return {
      store,
      done: async () => {
        await store.close();
        await dropSchema(schema);
      },
    };
  });
});
