import { AsyncLocalStorage } from 'node:async_hooks';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { initWorkspace, openWorkspace, type RequestScope, type Workspace } from '../../app/workspace.js';
import { CairnError, isCairnError } from '../../core/errors.js';
import { mulberry32 } from '../../test-support/prng.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../test-support/services.js';
import { useTempDirs } from '../../test-support/temp.js';
import { verifyWorkspaceLog } from '../service/audit-service.js';
import { leafHashOfText } from '../merkle/index.js';
import type { AuditEvent } from '../event.js';

// Awaited at the top: an unreachable PostgreSQL skips loudly (or fails with CAIRN_REQUIRE_SERVICES=1).
const available = await postgresAvailable();

/** What one concurrent caller does: a write that takes, one that fails in its body or in the database, or events alone. */
type Op =
  { kind: 'write' } | { kind: 'throws' } | { kind: 'dbError' } | { kind: 'record' } | { kind: 'recordMany'; n: number };

/** A seeded generator (mulberry32): a failing history is reproduced from the seed in the test's name. */
function rng(seed: number) {
  const next = mulberry32(seed);
  // The generator's 32-bit word (exact: it is a multiple of 2^-32) modulo n, as the histories
  // of the seeds named in the tests were drawn.
  return (n: number) => (next() * 4294967296) % n;
}

/** A random history: mostly writes that take, some that fail either way, some events alone. */
function history(seed: number, max: number): Op[] {
  const r = rng(seed);
  return Array.from({ length: 2 + r(max - 1) }, (): Op => {
    const k = r(8);
    if (k < 4) return { kind: 'write' };
    if (k === 4) return { kind: 'throws' };
    if (k === 5) return { kind: 'dbError' };
    if (k === 6) return { kind: 'record' };
    return { kind: 'recordMany', n: 1 + r(3) };
  });
}

const SEEDS = [1, 2, 3, 4, 5, 6].map((i) => (Date.now() + i * 7919) % 2 ** 31);

async function openPair(dir: string, url: string, scopes: AsyncLocalStorage<RequestScope>) {
  const env = { ...process.env, CAIRN_ACTOR: 'host@example.com' };
  const scope = () => scopes.getStore();
  const ws = await initWorkspace(dir, { command: 'test', env, metadataUrl: url, scope, groupCommit: true });
  return ws;
}

/** A principal row: the write's visible effect (unique name), with the actor the write saw inside its transaction. */
function principal(name: string, by: string, id = `id-${name}`) {
  return {
    id,
    name,
    kind: 'user',
    email: null,
    groups: '[]',
    created_at: '2026-01-01T00:00:00.000Z',
    created_by: by,
    disabled_at: null,
  };
}

async function run(ws: Workspace, scopes: AsyncLocalStorage<RequestScope>, op: Op, i: number): Promise<string> {
  const actor = { id: `actor-${i}`, auth: 'token' as const };
  return scopes.run({ actor, command: `test ${op.kind}` }, async () => {
    const target = { type: 'account', name: `p${i}` };
    if (op.kind === 'record') {
      await ws.audit.record({ action: 'server.read', target }, 'ok');
      return 'ok';
    }
    if (op.kind === 'recordMany') {
      const ctx = ws.auditContext();
      await ws.audit.recordMany(
        Array.from({ length: op.n }, () => ({
          draft: { action: 'server.read', target },
          outcome: 'ok' as const,
          context: ctx,
        })),
      );
      return 'ok';
    }
    try {
      await ws.audit.audited({ action: 'server.user.add', target }, async (commit) =>
        commit(async (tx) => {
          // The actor as the write's own code sees it, inside the shared transaction.
          // The top-level transaction (a savepoint has an id of its own; txid_current names its parent).
          const { rows: t } = await sql<{ t: string }>`select txid_current()::text as t`.execute(tx.db);
          await tx.db
            .insertInto('principals')
            .values({ ...principal(`p${i}`, ws.actor().id), email: t[0]!.t })
            .execute();
          if (op.kind === 'throws') throw new CairnError('ALREADY_EXISTS', 'refused after writing');
          // A primary key that exists (the row just written): the database aborts this write's
          // part of the transaction. Not a row of its own, which no event would vouch for.
          if (op.kind === 'dbError')
            await tx.db
              .insertInto('principals')
              .values(principal(`dup${i}`, 'x', `id-p${i}`))
              .execute();
        }),
      );
      return 'ok';
    } catch (err) {
      return isCairnError(err) ? err.code : 'db';
    }
  });
}

interface Row {
  idx: number;
  actor: string;
  action: string;
  target_name: string | null;
  outcome: string;
  leaf_hash: string;
  entry: string;
}

async function rows(ws: Workspace): Promise<Row[]> {
  const { rows: r } = await sql<Row>`
    select idx, actor, action, target_name, outcome, leaf_hash, entry from audit_events order by idx
  `.execute(ws.meta.db);
  return r.map((x) => ({ ...x, idx: Number(x.idx) }));
}

/** The log checked without the code under test: consecutive indexes, each leaf the hash of its entry, each entry linked to the one before. */
function checkChain(log: Row[]) {
  let prev: string | null = null;
  log.forEach((r, i) => {
    expect(r.idx).toBe(i);
    expect(leafHashOfText(r.entry).toString('hex')).toBe(r.leaf_hash);
    const ev = JSON.parse(r.entry) as AuditEvent & { prev?: string | null };
    expect(ev.index).toBe(i);
    expect(ev.prev ?? null).toBe(prev);
    expect(ev.actor.id).toBe(r.actor);
    prev = r.leaf_hash;
  });
}

describe.skipIf(!available)('group commit of audited writes (PostgreSQL)', () => {
  const tmp = useTempDirs();

  it.each(SEEDS)(
    'concurrent writes, failures and events share transactions: each effect once with its own actor, failures rolled back and logged, the log verifies (seed %i)',
    async (seed) => {
      const ops = history(seed, 40);
      {
        const { url, schema } = freshPgUrl();
        const scopes = new AsyncLocalStorage<RequestScope>();
        const ws = await openPair(tmp(), url, scopes);
        try {
          const before = (await rows(ws)).length;
          // All at once: the group commit takes whatever is queued while a transaction runs.
          const outcomes = await Promise.all(ops.map((op, i) => run(ws, scopes, op, i)));
          const log = await rows(ws);
          checkChain(log);
          const added = log.slice(before);
          const names = new Set(
            (await ws.meta.db.selectFrom('principals').select(['name', 'created_by']).execute()).map(
              (p) => `${p.name}:${p.created_by}`,
            ),
          );
          ops.forEach((op, i) => {
            const mine = added.filter((r) => r.target_name === `p${i}`);
            for (const r of mine) expect(r.actor).toBe(`actor-${i}`);
            if (op.kind === 'record' || op.kind === 'recordMany') {
              expect(outcomes[i]).toBe('ok');
              expect(mine.map((r) => [r.action, r.outcome])).toEqual(
                Array(op.kind === 'record' ? 1 : op.n).fill(['server.read', 'ok']),
              );
              return;
            }
            const ok = op.kind === 'write';
            expect(outcomes[i]).toBe(ok ? 'ok' : op.kind === 'throws' ? 'ALREADY_EXISTS' : 'db');
            // The effect exactly when the write took, written as its own actor; one event either way.
            expect(names.has(`p${i}:actor-${i}`)).toBe(ok);
            expect(mine.map((r) => [r.action, r.outcome])).toEqual([['server.user.add', ok ? 'ok' : 'failed']]);
          });
          expect(names.size).toBe(ops.filter((o) => o.kind === 'write').length);
          const report = await verifyWorkspaceLog(ws, {});
          expect(report.problems).toEqual([]);
          expect(report.ok).toBe(true);
        } finally {
          await ws.close();
          await dropSchema(schema);
        }
      }
    },
    120_000,
  );

  it('events whose text needs escaping are stored byte for byte, alone and beside a write', async () => {
    const { url, schema } = freshPgUrl();
    const scopes = new AsyncLocalStorage<RequestScope>();
    const ws = await openPair(tmp(), url, scopes);
    const names = ['q"uote', 'back\\slash\\"', 'a \\u0000 escape', 'line\nbreak\ttab', 'é€😀', '{"a":[1]}', "it's"];
    try {
      const record = (name: string, i: number) =>
        scopes.run({ actor: { id: `act"or\\${i}`, auth: 'token' }, command: 'test' }, () =>
          ws.audit.recordMany([
            { draft: { action: 'server.read', target: { type: 'api', name }, params: { q: name } }, outcome: 'ok' },
          ]),
        );
      // One at a time (the first under the head's lock, the next on the head this process left),
      // then all at once beside a write (one group's transaction).
      for (const [i, name] of names.entries()) await record(name, i);
      await Promise.all([...names.map((name, i) => record(name, i + 100)), run(ws, scopes, { kind: 'write' }, 7)]);
      const log = await rows(ws);
      checkChain(log);
      const read = log.filter((r) => r.action === 'server.read');
      expect(read.map((r) => r.target_name).sort()).toEqual([...names, ...names].sort());
      for (const r of read) expect((JSON.parse(r.entry) as AuditEvent).params.q).toBe(r.target_name);
      expect(read.map((r) => r.actor)).toContain('act"or\\3');
      expect((await verifyWorkspaceLog(ws, {})).ok).toBe(true);
    } finally {
      await ws.close();
      await dropSchema(schema);
    }
  }, 120_000);

  it('really groups: 30 concurrent writes commit in fewer transactions than writes', async () => {
    const { url, schema } = freshPgUrl();
    const scopes = new AsyncLocalStorage<RequestScope>();
    const ws = await openPair(tmp(), url, scopes);
    try {
      const before = (await rows(ws)).length;
      await Promise.all(Array.from({ length: 30 }, (_, i) => run(ws, scopes, { kind: 'write' }, i)));
      const added = (await rows(ws)).slice(before);
      expect(added).toHaveLength(30);
      const txs = await ws.meta.db.selectFrom('principals').select('email').where('name', 'like', 'p%').execute();
      expect(txs).toHaveLength(30);
      expect(new Set(txs.map((r) => r.email)).size).toBeLessThan(30);
    } finally {
      await ws.close();
      await dropSchema(schema);
    }
  }, 120_000);

  it('two processes appending to one log: the one-statement append notices the other and never forks the chain', async () => {
    const { url, schema } = freshPgUrl();
    const dir = tmp();
    const scopes = new AsyncLocalStorage<RequestScope>();
    const a = await openPair(dir, url, scopes);
    const env = { ...process.env, CAIRN_ACTOR: 'other@example.com' };
    const b = await openWorkspace({
      cwd: dir,
      command: 'test',
      env,
      scope: () => scopes.getStore(),
      groupCommit: true,
    });
    let next = 1000;
    try {
      // Events alone, one process after the other: each finds the head moved by the other since its last append.
      for (let i = 0; i < 6; i++) await run(i % 2 ? a : b, scopes, { kind: 'record' }, next++);
      checkChain(await rows(a));
      for (const seed of SEEDS) {
        const side = rng(seed + 1);
        const ops = history(seed, 25);
        await Promise.all(ops.map((op) => run(side(2) === 0 ? a : b, scopes, op, next++)));
      }
      checkChain(await rows(a));
      const report = await verifyWorkspaceLog(b, {});
      expect(report.problems).toEqual([]);
    } finally {
      await a.close();
      await b.close();
      await dropSchema(schema);
    }
  }, 240_000);

  it.each(SEEDS.slice(0, 3))(
    'guarded events are appended only while the identity generation they name stands, on every append path, and a refused batch writes nothing (seed %i)',
    async (seed) => {
      const { url, schema } = freshPgUrl();
      const dir = tmp();
      const scopes = new AsyncLocalStorage<RequestScope>();
      const a = await openPair(dir, url, scopes);
      const b = await openWorkspace({
        cwd: dir,
        command: 'test',
        env: { ...process.env, CAIRN_ACTOR: 'other@example.com' },
        scope: () => scopes.getStore(),
        groupCommit: true,
      });
      const r = rng(seed);
      const generation = async () =>
        Number(
          (await sql<{ n: number }>`select n from identity_generation where id = 1`.execute(a.meta.db)).rows[0]!.n,
        );
      let next = 0;
      const expected = new Map<string, boolean>();
      try {
        for (let step = 0; step < 12; step++) {
          // Another process's identity change lands between steps, never during one.
          if (r(3) === 0) await sql`update identity_generation set n = n + 1 where id = 1`.execute(b.meta.db);
          const now = await generation();
          const ops = Array.from({ length: 1 + r(6) }, () => ({
            ws: r(2) === 0 ? a : b,
            kind: (['current', 'stale', 'none', 'write'] as const)[r(4)]!,
            i: next++,
          }));
          const outcomes = await Promise.all(
            ops.map(async ({ ws, kind, i }) => {
              if (kind === 'write') return run(ws, scopes, { kind: 'write' }, i);
              const guard = kind === 'current' ? now : kind === 'stale' ? now - 1 - r(2) : undefined;
              const ctx = {
                actor: { id: `actor-${i}`, auth: 'token' as const },
                host: 'h',
                pid: 1,
                command: 'c',
                client: 'c',
                workspace: 'w',
              };
              const items = Array.from({ length: 1 + r(3) }, () => ({
                draft: { action: 'server.read' as const, target: { type: 'account', name: `p${i}` } },
                outcome: 'ok' as const,
                context: ctx,
              }));
              return ws.audit.recordMany(items, guard === undefined ? {} : { guard }).then(
                () => 'ok',
                (err: unknown) => (isCairnError(err) ? err.code : 'other'),
              );
            }),
          );
          ops.forEach(({ kind, i }, k) => {
            expect(outcomes[k], `${kind} at step ${step}`).toBe(kind === 'stale' ? 'IDENTITY_MOVED' : 'ok');
            expected.set(`p${i}`, kind !== 'stale');
          });
        }
        const log = await rows(a);
        checkChain(log);
        const logged = new Set(log.map((x) => x.target_name));
        for (const [name, present] of expected) expect(logged.has(name), name).toBe(present);
        expect((await verifyWorkspaceLog(b, {})).problems).toEqual([]);
      } finally {
        await a.close();
        await b.close();
        await dropSchema(schema);
      }
    },
    240_000,
  );
});

describe('guarded events on SQLite (one transaction per append)', () => {
  const tmp = useTempDirs();

  it('appends while the generation stands and refuses, writing nothing, once it moved', async () => {
    const ws = await initWorkspace(tmp(), {
      command: 'test',
      env: { ...process.env, CAIRN_ACTOR: 'host@example.com' },
    });
    try {
      const item = (name: string) => ({
        draft: { action: 'server.read' as const, target: { type: 'api', name } },
        outcome: 'ok' as const,
      });
      const size = async () => ws.audit.size();
      await ws.audit.recordMany([item('before')], { guard: 0 });
      const at = await size();
      await sql`update identity_generation set n = n + 1 where id = 1`.execute(ws.meta.db);
      await expect(ws.audit.recordMany([item('stale'), item('stale')], { guard: 0 })).rejects.toMatchObject({
        code: 'IDENTITY_MOVED',
      });
      expect(await size()).toBe(at);
      await ws.audit.recordMany([item('after')], { guard: 1 });
      expect(await size()).toBe(at + 1);
    } finally {
      await ws.close();
    }
  });
});
