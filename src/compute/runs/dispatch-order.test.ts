import { describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { mulberry32 } from '../../test-support/prng.js';
import { dispatchOrder } from './dispatch.js';

describe('dispatchOrder', () => {
  it('orders queued runs as `order by priority desc, created_at` did (seeded)', () => {
    const rnd = mulberry32(0xd15_9a7c);
    const db = new Database(':memory:');
    db.exec('create table runs (id integer primary key, priority integer, created_at text)');
    const insert = db.prepare('insert into runs (id, priority, created_at) values (?, ?, ?)');
    for (let round = 0; round < 20; round++) {
      db.exec('delete from runs');
      const rows = Array.from({ length: 1 + Math.floor(rnd() * 30) }, (_, id) => ({
        id,
        priority: Math.floor(rnd() * 4) - 1,
        // Distinct instants, a few of them close together (same second, other milliseconds).
        created_at: new Date(Date.UTC(2026, 0, 1) + id * 997 + Math.floor(rnd() * 900)).toISOString(),
      }));
      for (const r of rows) insert.run(r.id, r.priority, r.created_at);
      const bySql = (
        db.prepare('select id from runs order by priority desc, created_at').all() as Array<{ id: number }>
      ).map((r) => r.id);
      expect([...rows].sort(dispatchOrder).map((r) => r.id)).toEqual(bySql);
    }
  });
});
