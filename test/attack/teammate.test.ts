/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTeam, type Team } from '../server/harness.js';

/**
 * A hostile teammate holding a real token with a real role, trying what the role should not
 * reach: her own model approved, or a team-wide power (accounts, tokens, grants, quotas) taken
 * from an admin grant on one project. Each case failed before its fix (the answer was 200).
 */
let t: Team;
beforeAll(async () => {
  t = await startTeam({ roles: { admin: 'admin', bob: 'approver', dana: 'approver', mallory: 'viewer' } });
  // mallory administers `default` (datasets and models) and nothing else.
  for (const [project, role] of [
    ['*', 'none'],
    ['default', 'admin'],
  ] as const)
    expect((await t.call('admin', 'PUT', '/api/v1/grants', { subject: 'user:mallory', project, role })).status).toBe(
      200,
    );
  expect(
    (await t.call('admin', 'PUT', '/api/v1/compute/projects/secretproj', { budgetGpuHours: 5, period: 'month' }))
      .status,
  ).toBe(200);
});
afterAll(async () => {
  await t?.close();
});

async function events(who: string, action: string) {
  const r = await t.call(who, 'GET', `/api/v1/audit/events?action=${action}`);
  expect(r.status).toBe(200);
  return r.json as Array<{ index: number; event: any }>;
}

describe('an approver and her own model', () => {
  it('cannot approve it after setting a policy without separateApprover; another approver can', async () => {
    const own = await t.registerAs('bob', 'selfie');
    const policy = { suites: [], approvals: 1, separateApprover: false };
    expect((await t.call('bob', 'PUT', '/api/v1/models/selfie/aliases/production/policy', policy)).status).toBe(200);
    const r = await t.call('bob', 'POST', '/api/v1/model-versions/approvals', { ref: own, alias: 'production' });
    expect([r.status, r.json.error?.code]).toEqual([403, 'PERMISSION_DENIED']);
    expect(r.json.error.message).toMatch(/trained or registered .* may not approve it/);
    // Through another alias or as the latest: the same version, the same answer.
    expect(
      (await t.call('bob', 'POST', '/api/v1/model-versions/approvals', { ref: 'selfie', alias: 'staging' })).status,
    ).toBe(403);
    const shown = await t.call('bob', 'GET', `/api/v1/model-versions/show?ref=${encodeURIComponent(own)}`);
    expect(shown.json.approvals).toEqual([]);
    const denied = await events('admin', 'server.denied');
    expect(denied.at(-1)!.event).toMatchObject({
      actor: { id: 'bob' },
      target: { type: 'api', name: 'models.approve' },
      outcome: 'denied',
    });
    // Nothing on record names bob as approving his own version.
    expect((await events('admin', 'model.approve')).filter((e) => e.event.params?.approver === 'bob')).toEqual([]);
    const byDana = await t.call('dana', 'POST', '/api/v1/model-versions/approvals', { ref: own, alias: 'production' });
    expect([byDana.status, byDana.json.approver]).toEqual([200, 'dana']);
  });
});

describe('an admin of one project', () => {
  const attempts: Array<[string, string, string, unknown?]> = [
    ['a token for the team admin', 'POST', '/api/v1/tokens', { user: 'admin' }],
    [
      'a grant on another project',
      'PUT',
      '/api/v1/grants',
      { subject: 'user:mallory', project: 'secretproj', role: 'viewer' },
    ],
    ['a grant on every project', 'PUT', '/api/v1/grants', { subject: 'user:mallory', project: '*', role: 'admin' }],
    ['an account in a group', 'POST', '/api/v1/accounts', { name: 'sock', groups: ['secret-team'], role: 'admin' }],
    ["another's account disabled", 'POST', '/api/v1/accounts/bob/disable'],
    ['the list of accounts', 'GET', '/api/v1/accounts'],
    ['the list of tokens', 'GET', '/api/v1/tokens'],
    ["another project's budget", 'PUT', '/api/v1/compute/projects/secretproj', { budgetGpuHours: 500 }],
  ];
  it.each(attempts)(
    'is refused %s (only an admin on * changes what every project shares)',
    async (_w, m, path, body) => {
      const r = await t.call('mallory', m, path, body);
      expect([r.status, r.json.error?.code]).toEqual([403, 'PERMISSION_DENIED']);
    },
  );

  it('changed nothing, and does not read the events of projects she has no grant on', async () => {
    const accounts = await t.call('admin', 'GET', '/api/v1/accounts');
    expect(accounts.json.map((a: any) => a.name)).not.toContain('sock');
    expect(accounts.json.find((a: any) => a.name === 'bob').disabled).toBeNull();
    const tokens = await t.call('admin', 'GET', '/api/v1/tokens?user=admin');
    expect(tokens.json).toHaveLength(1);
    const projects = await t.call('admin', 'GET', '/api/v1/compute/projects');
    expect(projects.json.find((p: any) => p.name === 'secretproj').budgetGpuHours).toBe(5);
    // The team admin's change to secretproj is in the log; mallory's view of it leaves it out.
    expect((await events('admin', 'project.set')).map((e) => e.event.target.name)).toContain('secretproj');
    expect(await events('mallory', 'project.set')).toEqual([]);
    // Still the admin of `default`: she reads its events.
    expect((await t.call('mallory', 'GET', '/api/v1/models')).status).toBe(200);
  });
});
