import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { mulberry32 } from '../../src/test-support/prng.js';
import { dropSchema, freshPgUrl, PG_BASE_URL, postgresAvailable } from '../../src/test-support/services.js';
import { startTeam, type Team } from './harness.js';

/**
 * A read is answered only once its audit event is committed (docs/SERVER.md "Throughput on
 * PostgreSQL"): an answer that left first could be a read the log never shows, after a crash.
 * The log's head row is held locked from another session, so no event can commit: not one of
 * the concurrent reads may be answered until the lock is let go, and then each is, with its
 * event in the log.
 */
const available = await postgresAvailable();

describe.skipIf(!available)('reads on PostgreSQL are answered after their event commits', () => {
  let t: Team;
  let schema: string;
  let holder: pg.Client;
  beforeAll(async () => {
    const db = freshPgUrl();
    schema = db.schema;
    t = await startTeam({ db: db.url });
    const rt = t.server.runtime;
    const dir = mkdtempSync(join(tmpdir(), 'cairn-data-'));
    writeFileSync(join(dir, 'd.csv'), 'x,y\n1,2\n');
    await rt.runAs({ actor: { id: 'alice', auth: 'token' }, command: 'test add' }, () =>
      rt.services.datasets.add({ source: dir, name: 'd' }),
    );
    await t.registerAs('alice', 'm');
    holder = new pg.Client({ connectionString: PG_BASE_URL, options: `-c search_path=${schema}` });
    await holder.connect();
  });
  afterAll(async () => {
    await holder?.end();
    await t?.close();
    await dropSchema(schema);
  });

  for (const seed of [1, 2, 3]) {
    it(`no answer while the head is locked, every answer and event after (seed ${seed})`, async () => {
      const r = mulberry32(seed);
      const paths = ['/api/v1/datasets', '/api/v1/runs?limit=50', '/api/v1/models/m/versions'];
      // Warm: the server has appended before, so its one-statement append at the head is the path taken.
      expect((await t.call('alice', 'GET', paths[0]!)).status).toBe(200);
      await holder.query('begin');
      await holder.query('select size from audit_head for update');
      const n = 1 + Math.floor(r() * 24);
      let answered = 0;
      const reads = Array.from({ length: n }, async (_, i) => {
        await new Promise((res) => setTimeout(res, Math.floor(r() * 20)));
        const res = await t.call('alice', 'GET', paths[Math.floor(r() * paths.length)]!, undefined, {
          'user-agent': `probe-${seed}-${i}`,
        });
        answered++;
        return res.status;
      });
      await new Promise((res) => setTimeout(res, 400));
      const early = answered;
      await holder.query('commit');
      const statuses = await Promise.all(reads);
      expect(early).toBe(0);
      expect(statuses).toEqual(Array.from({ length: n }, () => 200));
      const { rows } = await holder.query<{ n: string }>(
        `select count(*) as n from audit_events where action = 'server.read' and entry like $1`,
        [`%"probe-${seed}-%`],
      );
      expect(Number(rows[0]!.n)).toBe(n);
    });
  }
});
