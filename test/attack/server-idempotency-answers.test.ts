import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTeam, type Team } from '../server/harness.js';

/**
 * Idempotency keys are kept so that a client's retry gets the first answer. The CLI sends one
 * with every write, and the server kept each answer whole, for ever: a `release create` answers
 * the whole signed bundle (the model's files, base64), so every release a contributor made left
 * a copy of the model's weights in the metadata database, and nothing ever removed a key. A
 * contributor could fill the database's disk by releasing; every team's database grew with
 * every write. Now an answer larger than the server keeps is not kept (a retry is told the
 * write took effect, with its audit event), and keys are forgotten after a day.
 */
let t: Team;
let db: Database.Database;
beforeAll(async () => {
  t = await startTeam();
  db = new Database(join(t.dataDir, '.cairn', 'meta.db'), { readonly: true });
}, 120_000);
afterAll(async () => {
  db?.close();
  await t?.close();
});

/** A model version trained on the server whose weights are `bytes` of random data, as bob. */
async function bigModel(name: string, bytes: number): Promise<string> {
  const rt = t.server.runtime;
  const scope = { actor: { id: 'bob', auth: 'token' as const }, command: 'test train' };
  const dir = mkdtempSync(join(tmpdir(), 'cairn-data-'));
  writeFileSync(join(dir, 'd.csv'), 'x,y\n1,0\n');
  await rt.runAs(scope, () => rt.services.datasets.add({ source: dir, name: `${name}-data` }));
  const spec = join(t.dataDir, `${name}.yaml`);
  writeFileSync(
    spec,
    `name: ${name}-train\ncommand: "mkdir -p $CAIRN_OUTPUT_DIR/m && head -c ${bytes} /dev/urandom > $CAIRN_OUTPUT_DIR/m/model.bin"\ninputs:\n  train: ${name}-data@latest\n`,
  );
  const sub = await rt.runAs(scope, () => rt.services.runs.submit({ spec }));
  const run = await rt.runAs(scope, () => rt.services.runs.wait(sub.run.id, { pollMs: 50 }));
  expect(run.status).toBe('completed');
  return (await rt.runAs(scope, () => rt.services.models.register({ name, fromRun: run.id }))).ref;
}

function keptAnswerBytes(): number {
  const row = db.prepare('select coalesce(sum(length(response)), 0) as n from idempotency_keys').get() as { n: number };
  return row.n;
}

describe('idempotency answers', () => {
  it('a release of a 4 MiB model does not leave its bundle in the database; a retry learns it took effect', async () => {
    const ref = await bigModel('heavy', 4 * 1024 * 1024);
    const before = keptAnswerBytes();
    const first = await t.call('alice', 'POST', '/api/v1/releases', { ref }, { 'idempotency-key': 'rel-1' });
    expect(first.status, JSON.stringify(first.json).slice(0, 300)).toBe(200);
    expect(JSON.stringify(first.json).length).toBeGreaterThan(4 * 1024 * 1024);
    // keepAnswer runs after the answer: give it its moment.
    await new Promise((r) => setTimeout(r, 300));
    expect(keptAnswerBytes() - before, 'the bundle was kept in idempotency_keys').toBeLessThan(64 * 1024);
    const retry = await t.call('alice', 'POST', '/api/v1/releases', { ref }, { 'idempotency-key': 'rel-1' });
    expect(retry.status).toBe(409);
    expect(retry.json.error.code).toBe('IDEMPOTENCY_CONFLICT');
    const index = retry.json.error.data.event as number;
    const ev = await t.call('admin', 'GET', `/api/v1/audit/events/${index}`);
    expect(ev.json.event).toMatchObject({ action: 'model.release', actor: { id: 'alice' }, outcome: 'ok' });
  }, 120_000);

  it('a small answer is still replayed whole', async () => {
    const ref = await t.registerAs('alice', 'small');
    const body = { ref, alias: 'staging' };
    const first = await t.call('dana', 'POST', '/api/v1/model-versions/approvals', body, { 'idempotency-key': 's-1' });
    expect(first.status, JSON.stringify(first.json)).toBe(200);
    const retry = await t.call('dana', 'POST', '/api/v1/model-versions/approvals', body, { 'idempotency-key': 's-1' });
    expect([retry.status, retry.headers.get('idempotent-replay'), retry.json]).toEqual([200, 'true', first.json]);
  });
});

describe('idempotency keys', () => {
  it('keys older than a day are forgotten', async () => {
    // A server of its own: it sweeps at its first claimed key, then once a minute.
    const own = await startTeam();
    const ro = new Database(join(own.dataDir, '.cairn', 'meta.db'), { readonly: true });
    try {
      const w = new Database(join(own.dataDir, '.cairn', 'meta.db'));
      try {
        const old = new Date(Date.now() - 25 * 3600_000).toISOString();
        const insert = w.prepare(
          'insert into idempotency_keys (principal, key, request_digest, status, response, created_at) values (?, ?, ?, ?, ?, ?)',
        );
        for (let i = 0; i < 50; i++) insert.run('alice', `old-${i}`, 'x', 200, '{"old":true}', old);
        insert.run('alice', 'recent', 'x', 200, '{}', new Date().toISOString());
      } finally {
        w.close();
      }
      const count = () =>
        (ro.prepare("select count(*) as n from idempotency_keys where key like 'old-%'").get() as { n: number }).n;
      expect(count()).toBe(50);
      // Any write with a key: the server sweeps what is past the day as it claims keys.
      const ref = await own.registerAs('alice', 'sweep');
      await own.call(
        'dana',
        'POST',
        '/api/v1/model-versions/approvals',
        { ref, alias: 'staging' },
        { 'idempotency-key': 'sw' },
      );
      for (let i = 0; i < 50 && count() > 0; i++) await new Promise((r) => setTimeout(r, 100));
      expect(count()).toBe(0);
      expect(
        (ro.prepare("select count(*) as n from idempotency_keys where key = 'recent'").get() as { n: number }).n,
      ).toBe(1);
    } finally {
      ro.close();
      await own.close();
    }
  }, 120_000);
});
