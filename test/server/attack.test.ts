/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field in the tests */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWorkspace } from '../../src/app/workspace.js';
import { startTeam, type Team } from './harness.js';

/**
 * The team server attacked as a hostile or careless user would: credentials in odd places,
 * separation of duties through side doors, idempotency keys as a way to read secrets back.
 */
let t: Team;
beforeAll(async () => {
  t = await startTeam({ env: { ...process.env, CAIRN_ACTOR: 'mallory' } });
  // An environment that serves the protected alias, with a hook that always succeeds.
  writeFileSync(
    join(t.dataDir, '.cairn', 'deploy.json'),
    JSON.stringify({ environments: { prod: { hook: { command: 'true' }, alias: 'production', timeoutS: 30 } } }),
  );
});
afterAll(async () => {
  await t?.close();
});

async function events(filter: Record<string, string> = {}) {
  const r = await t.call('admin', 'GET', `/api/v1/audit/events?${new URLSearchParams(filter)}`);
  expect(r.status).toBe(200);
  return r.json as Array<{ index: number; event: any }>;
}

async function aliasOf(model: string, alias: string): Promise<string | null> {
  const r = await t.call('carol', 'GET', `/api/v1/model-versions/show?ref=${encodeURIComponent(`${model}@${alias}`)}`);
  return r.status === 200 ? (r.json.ref as string) : null;
}

describe('authentication edge cases', () => {
  it('refuses odd Authorization headers and never treats them as a valid credential', async () => {
    const alice = t.tokens.alice!;
    const cases: Array<Record<string, string>> = [
      { authorization: `Basic ${Buffer.from(`alice:${alice}`).toString('base64')}` },
      { authorization: `Bearer ${alice} ${alice}` },
      { authorization: `Bearer ${alice.slice(0, -1)}\u00e9` },
      { authorization: `Bearer ${'A'.repeat(8000)}` },
      { authorization: `Bearer ${alice.replace('cairn_', 'CAIRN_')}` },
      { authorization: `Bearer ${alice}x` },
      { authorization: 'Bearer ' },
      { authorization: `Token ${alice}` },
    ];
    for (const headers of cases) {
      const r = await t.call(null, 'GET', '/api/v1/datasets', undefined, headers);
      expect(r.status, JSON.stringify(headers).slice(0, 80)).toBe(401);
      expect(r.json.error.code).toBe('UNAUTHENTICATED');
    }
    // A credential in the query string is not a credential.
    const q = await t.call(null, 'GET', `/api/v1/datasets?access_token=${alice}`);
    expect(q.status).toBe(401);
  });

  it('never writes a token secret into the audit log, whatever field it was pasted into', async () => {
    const secret = t.tokens.alice!.split('_').slice(2).join('_');
    // A careless user pastes a token into a filter or a path; an attacker sends it in the query.
    await t.call('carol', 'GET', `/api/v1/audit/events?actor=${t.tokens.alice}`);
    await t.call('carol', 'GET', `/api/v1/models/${t.tokens.alice}/versions`);
    await t.call('carol', 'GET', `/api/v1/runs/${t.tokens.alice}`);
    await t.call(null, 'GET', `/api/v1/datasets?token=${t.tokens.alice}`);
    await t.call('carol', 'GET', `/api/v1/datasets`, undefined, { 'user-agent': `curl ${t.tokens.alice}` });
    const r = await t.call('admin', 'GET', '/api/v1/audit/bundle');
    expect(r.status).toBe(200);
    const text = JSON.stringify(r.json);
    expect(text.includes(secret), 'a token secret is in the audit log').toBe(false);
    expect(text).toContain(`${t.tokenIds.alice}_[redacted]`);
  });
});

describe('separation of duties through side doors', () => {
  it('a protected alias does not roll back onto a version the caller registered', async () => {
    // bob (approver) registered v1; dana put it in production, then bob moved production on to alice's v2.
    const v1 = await t.registerAs('bob', 'sod-rollback');
    const v2 = await t.registerAs('alice', 'sod-rollback');
    expect(
      (await t.call('dana', 'POST', '/api/v1/model-versions/promotions', { ref: v1, alias: 'production' })).status,
    ).toBe(200);
    expect(
      (await t.call('bob', 'POST', '/api/v1/model-versions/promotions', { ref: v2, alias: 'production' })).status,
    ).toBe(200);
    // A rollback would put bob's own version live by bob's hand.
    const r = await t.call('bob', 'POST', '/api/v1/models/sod-rollback/aliases/production/rollback', {});
    expect(r.status).toBe(403);
    expect(r.json.error.message).toMatch(/trained or registered/);
    expect(await aliasOf('sod-rollback', 'production')).toBe(v2);
    const denied = await events({ action: 'server.denied', actor: 'bob' });
    expect(denied.at(-1)!.event.target).toEqual({ type: 'api', name: 'models.rollback' });
    // dana may.
    expect((await t.call('dana', 'POST', '/api/v1/models/sod-rollback/aliases/production/rollback', {})).status).toBe(
      200,
    );
    expect(await aliasOf('sod-rollback', 'production')).toBe(v1);
  });

  it('a deploy to an environment that serves a protected alias needs an approver who is not an author', async () => {
    const v = await t.registerAs('alice', 'sod-deploy');
    // alice is a contributor: deploying would move production to her own version.
    const byAlice = await t.call('alice', 'POST', '/api/v1/deployments', { ref: v, env: 'prod' });
    expect(byAlice.status).toBe(403);
    expect(await aliasOf('sod-deploy', 'production')).toBeNull();
    const mine = await t.registerAs('bob', 'sod-deploy');
    const byBob = await t.call('bob', 'POST', '/api/v1/deployments', { ref: mine, env: 'prod' });
    expect(byBob.status).toBe(403);
    expect(byBob.json.error.message).toMatch(/trained or registered/);
    expect(await aliasOf('sod-deploy', 'production')).toBeNull();
    const byDana = await t.call('dana', 'POST', '/api/v1/deployments', { ref: mine, env: 'prod' });
    expect(byDana.status).toBe(200);
    expect(byDana.json.status).toBe('succeeded');
    expect(await aliasOf('sod-deploy', 'production')).toBe(mine);
  });

  it('a contributor cannot grant itself a role, approve, or set a protected policy', async () => {
    const v = await t.registerAs('bob', 'sod-contrib');
    expect(
      (await t.call('alice', 'PUT', '/api/v1/grants', { subject: 'user:alice', project: '*', role: 'admin' })).status,
    ).toBe(403);
    expect(
      (await t.call('alice', 'POST', '/api/v1/model-versions/approvals', { ref: v, alias: 'production' })).status,
    ).toBe(403);
    const policy = { suites: [], approvals: 0, separateApprover: false };
    expect((await t.call('alice', 'PUT', '/api/v1/models/sod-contrib/aliases/production/policy', policy)).status).toBe(
      403,
    );
    expect((await t.call('alice', 'DELETE', '/api/v1/models/sod-contrib/aliases/production')).status).toBe(403);
    // Project games: a project in the query does not lend a role on another.
    expect((await t.call('alice', 'GET', '/api/v1/accounts?project=x')).status).toBe(400);
    expect((await t.call('carol', 'POST', '/api/v1/versions/tags?project=*', { ref: 'a@v1', tag: 't' })).status).toBe(
      400,
    );
    const weird = ['user:', 'user:../admin', 'group:*', 'user:alice\nuser:admin', 'role:admin', 'user:nobody'];
    for (const subject of weird)
      expect(
        (await t.call('admin', 'PUT', '/api/v1/grants', { subject, project: '*', role: 'admin' })).status,
      ).not.toBe(200);
  });
});

describe('projects', () => {
  it('authorizes a run on its own project, and lists only the runs of projects the caller may read', async () => {
    const ws = await openWorkspace({ cwd: t.dataDir, env: { ...process.env, CAIRN_ACTOR: 'probe' } });
    const now = new Date().toISOString();
    const row = (project: string) => ({
      id: `run-${project}-${Math.random().toString(36).slice(2, 10)}`,
      run_key: `${project}-${Math.random()}`,
      name: `r-${project}`,
      project,
      spec_digest: 'x',
      spec: '{}',
      backend: 'local',
      backend_id: null,
      status: 'completed',
      reason: null,
      exit_code: 0,
      priority: 0,
      gpus: 0,
      cpus: 1,
      memory_mb: 0,
      time_limit_s: 600,
      created_at: now,
      created_by: 'alice',
      started_at: now,
      ended_at: now,
      restarts: 0,
      code_commit: null,
      code_dirty: null,
      env_digest: null,
      dir: '/tmp',
      output_version_id: null,
      reused_from: null,
      usage: '{}',
    });
    const secret = row('secret');
    const ml = row('ml');
    try {
      await ws.meta.db.insertInto('runs').values([secret, ml]).execute();
    } finally {
      await ws.close();
    }
    const people: Array<[string, string]> = [
      ['frank', 'default'],
      ['eve', 'ml'],
    ];
    for (const [name, project] of people) {
      expect((await t.call('admin', 'POST', '/api/v1/accounts', { name, role: 'viewer', project })).status).toBe(200);
      const tok = await t.call('admin', 'POST', '/api/v1/tokens', { user: name });
      t.tokens[name] = tok.json.token;
    }
    // frank reads the default project only: not another project's runs, one by one or listed.
    // Such a run answers as no run at all (404), so a guessed name or prefix is not confirmed.
    expect((await t.call('frank', 'GET', `/api/v1/runs/${secret.id}`)).status).toBe(404);
    expect((await t.call('frank', 'GET', `/api/v1/runs/${secret.id}/metrics`)).status).toBe(404);
    expect((await t.call('frank', 'GET', `/api/v1/runs/${secret.id}/logs`)).status).toBe(404);
    const listed = await t.call('frank', 'GET', '/api/v1/runs');
    expect(listed.status).toBe(200);
    expect(listed.json.map((r: any) => r.id)).not.toContain(secret.id);
    // eve is a viewer on ml only: she reads ml's runs, not secret's.
    expect((await t.call('eve', 'GET', `/api/v1/runs/${ml.id}`)).status).toBe(200);
    expect((await t.call('eve', 'GET', `/api/v1/runs/${secret.id}`)).status).toBe(404);
    expect((await t.call('eve', 'GET', '/api/v1/runs?project=ml')).json.map((r: any) => r.id)).toEqual([ml.id]);
    // carol is a viewer on every project.
    expect((await t.call('carol', 'GET', `/api/v1/runs/${secret.id}`)).status).toBe(200);
  });
});

describe('idempotency keys', () => {
  it('are per account: another account’s key neither replays its answer nor blocks its own write', async () => {
    const key = { 'idempotency-key': `shared-${Math.random()}` };
    const v = await t.registerAs('alice', 'idem-users');
    const bob = await t.call('bob', 'POST', '/api/v1/model-versions/approvals', { ref: v, alias: 'staging' }, key);
    const dana = await t.call('dana', 'POST', '/api/v1/model-versions/approvals', { ref: v, alias: 'staging' }, key);
    expect(bob.json.approver).toBe('bob');
    expect(dana.json.approver).toBe('dana');
    expect(dana.headers.get('idempotent-replay')).toBeNull();
    const huge = await t.call(
      'bob',
      'POST',
      '/api/v1/versions/tags',
      { ref: v, tag: 'x' },
      { 'idempotency-key': 'k'.repeat(5000) },
    );
    expect(huge.status).toBe(400);
  });

  it('never keep a token secret in the server database, and a replay of a token creation says so', async () => {
    const key = { 'idempotency-key': `tok-${Math.random()}` };
    const first = await t.call('admin', 'POST', '/api/v1/tokens', { user: 'carol' }, key);
    expect(first.status).toBe(200);
    // cairn_<id>_<secret>: the secret is everything after the second underscore (it may hold '_' itself).
    const secret = (first.json.token as string).split('_').slice(2).join('_');
    const ws = await openWorkspace({ cwd: t.dataDir, env: { ...process.env, CAIRN_ACTOR: 'probe' } });
    try {
      const rows = await sql<{ response: string }>`select response from idempotency_keys`.execute(ws.meta.db);
      expect(rows.rows.length).toBeGreaterThan(0);
      for (const row of rows.rows) expect(row.response).not.toContain(secret);
    } finally {
      await ws.close();
    }
    const replay = await t.call('admin', 'POST', '/api/v1/tokens', { user: 'carol' }, key);
    expect(replay.status).toBe(409);
    expect(replay.json.error.code).toBe('IDEMPOTENCY_CONFLICT');
    expect(replay.json.error.data.token).toBe(first.json.id);
    expect(JSON.stringify(replay.json)).not.toContain(secret);
  });
});
