/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field in the tests */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../src/test-support/services.js';
import { cliSpawn } from '../../src/test-support/cli.js';
import { mulberry32 } from '../../src/test-support/prng.js';
import type { RequestEvent } from '../../src/app/server.js';
import { startTeam, type Team, announcedUrl } from './harness.js';

/**
 * Two server processes on one PostgreSQL database, one of them busy with reads (its statements
 * pipelined, docs/SERVER.md "Throughput on PostgreSQL"): an identity change committed through
 * one is seen by the other on the very next request, whatever is queued on its connections.
 */
const pg = await postgresAvailable();

describe.skipIf(!pg)('two servers on one PostgreSQL database', () => {
  let a: Team;
  let b: { child: ChildProcess; url: string };
  let schema: string;
  beforeAll(async () => {
    const db = freshPgUrl();
    schema = db.schema;
    a = await startTeam({ db: db.url });
    const child = cliSpawn(['server', 'start', '--listen', '127.0.0.1:0', '--data-dir', a.dataDir], {
      cwd: a.dataDir,
    });
    const url = await announcedUrl(child);
    b = { child, url };
  }, 120_000);
  afterAll(async () => {
    if (b && b.child.exitCode === null) {
      const gone = new Promise((r) => b.child.once('exit', r));
      b.child.kill('SIGTERM');
      await gone;
    }
    await a?.close();
    if (schema) await dropSchema(schema);
  });

  const onB = async (token: string, method: string, path: string, body?: unknown) => {
    const res = await fetch(b.url + path, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, json: (await res.json().catch(() => null)) as any };
  };

  it(
    'a revocation, a grant taken away or an account disabled on one is refused by the other on the next request, under load (seeded)',
    {
      timeout: 180_000,
    },
    async () => {
      const rnd = mulberry32(0x2_5e4e);
      // Other people's reads keep B's pipelined connections busy throughout.
      let busy = true;
      let background = 0;
      const load = async () => {
        while (busy) {
          const r = await onB(
            a.tokens.carol!,
            'GET',
            ['/api/v1/datasets', '/api/v1/runs?limit=5', '/api/v1/models'][background++ % 3]!,
          );
          expect(r.status).toBe(200);
        }
      };
      const loaders = Array.from({ length: 6 }, load);
      try {
        for (let round = 0; round < 6; round++) {
          const user = `u${round}`;
          expect((await a.call('admin', 'POST', '/api/v1/accounts', { name: user, role: 'contributor' })).status).toBe(
            200,
          );
          const tok = (await a.call('admin', 'POST', '/api/v1/tokens', { user })).json;
          // B learns the token and the grant (and keeps them for this identity generation).
          for (let i = 0; i < 1 + Math.floor(rnd() * 3); i++)
            expect((await onB(tok.token, 'GET', '/api/v1/datasets')).status).toBe(200);
          const tag = () => onB(tok.token, 'POST', '/api/v1/versions/tags', { ref: 'nothing@v1', tag: 'x' });
          // A contributor's tag of an unknown version is NOT_FOUND; without the grant it is refused.
          expect((await tag()).json.error.code).toBe('NOT_FOUND');
          const change = ['revoke', 'ungrant', 'disable'][round % 3]!;
          if (change === 'revoke')
            expect((await a.call('admin', 'DELETE', `/api/v1/tokens/${tok.id}`)).status).toBe(200);
          if (change === 'ungrant')
            expect(
              (await a.call('admin', 'PUT', '/api/v1/grants', { subject: `user:${user}`, project: '*', role: 'none' }))
                .status,
            ).toBe(200);
          if (change === 'disable')
            expect((await a.call('admin', 'POST', `/api/v1/accounts/${user}/disable`)).status).toBe(200);
          // The very next request on B, issued right after A answered.
          const next = await tag();
          if (change === 'ungrant') expect(next.status, JSON.stringify(next.json)).toBe(403);
          else expect(next.status, JSON.stringify(next.json)).toBe(401);
          const read = await onB(tok.token, 'GET', '/api/v1/datasets');
          expect(read.status).toBe(change === 'ungrant' ? 403 : 401);
        }
      } finally {
        busy = false;
        await Promise.all(loaders);
      }
      expect(background).toBeGreaterThan(0);
    },
  );

  it(
    'a change committed by the other server between a read being checked and its event appended is seen before the answer leaves (seeded)',
    { timeout: 180_000 },
    async () => {
      const rnd = mulberry32(0x9a4d);
      const rt = a.server.runtime;
      const append = rt.recordRequest.bind(rt);
      // What A's requests appended (or were refused appending) while one request ran.
      let seen: Array<{ action: string; outcome: string; status: unknown; ok: boolean }> = [];
      let landing: (() => Promise<void>) | null = null;
      rt.recordRequest = async (e: RequestEvent) => {
        // The read was checked and answered; its event is about to be appended.
        if (landing && e.draft.action === 'server.read') {
          const land = landing;
          landing = null;
          await land();
        }
        const entry = { action: e.draft.action, outcome: e.outcome, status: e.draft.params?.status, ok: false };
        seen.push(entry);
        await append(e);
        entry.ok = true;
      };
      try {
        for (let round = 0; round < 9; round++) {
          const user = `g${round}`;
          const made = await onB(a.tokens.admin!, 'POST', '/api/v1/accounts', { name: user, role: 'viewer' });
          expect(made.status).toBe(200);
          const tok = (await onB(a.tokens.admin!, 'POST', '/api/v1/tokens', { user })).json;
          const path = ['/api/v1/datasets', '/api/v1/runs?limit=5', '/api/v1/models'][Math.floor(rnd() * 3)]!;
          // A learns the token and the grant, and keeps them for the generation it last saw.
          for (let i = 0; i < 1 + Math.floor(rnd() * 3); i++)
            expect((await a.call(tok.token, 'GET', path)).status).toBe(200);
          const change = ['revoke', 'ungrant', 'disable'][round % 3]!;
          const commit = async () => {
            const r =
              change === 'revoke'
                ? await onB(a.tokens.admin!, 'DELETE', `/api/v1/tokens/${tok.id}`)
                : change === 'ungrant'
                  ? await onB(a.tokens.admin!, 'PUT', '/api/v1/grants', {
                      subject: `user:${user}`,
                      project: '*',
                      role: 'none',
                    })
                  : await onB(a.tokens.admin!, 'POST', `/api/v1/accounts/${user}/disable`);
            expect(r.status, JSON.stringify(r.json)).toBe(200);
          };
          // Committed on B before the request reaches A, or while A is between checking it and appending its event.
          const between = rnd() < 0.6;
          if (between) landing = commit;
          else await commit();
          seen = [];
          const r = await a.call(tok.token, 'GET', path);
          expect(landing, 'the change landed').toBeNull();
          expect(r.status, `${change} ${between ? 'between' : 'before'}: ${JSON.stringify(r.json)}`).toBe(
            change === 'ungrant' ? 403 : 401,
          );
          // Nothing of the answer that was about to leave reached the log; the refusal did, once.
          expect(seen.filter((x) => x.ok && x.action === 'server.read')).toEqual([]);
          expect(seen.filter((x) => x.ok && x.action === 'server.denied').map((x) => [x.outcome, x.status])).toEqual([
            ['denied', change === 'ungrant' ? 403 : 401],
          ]);
        }
      } finally {
        rt.recordRequest = append;
      }
    },
  );
});
