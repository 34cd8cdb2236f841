/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTeam, type Team } from '../server/harness.js';

/**
 * A contributor on one project attacks the others through the run submission: the project a run
 * belongs to is written in the spec it sends (or in a --set), not in the URL, so authorizing the
 * request on the URL alone would let it queue work under — and spend the budget of — a project
 * it holds no grant on.
 */
let t: Team;
beforeAll(async () => {
  t = await startTeam();
  // gina contributes to `default` only.
  expect(
    (await t.call('admin', 'POST', '/api/v1/accounts', { name: 'gina', role: 'contributor', project: 'default' }))
      .status,
  ).toBe(200);
  t.tokens.gina = (await t.call('admin', 'POST', '/api/v1/tokens', { user: 'gina' })).json.token;
}, 120_000);
afterAll(async () => {
  await t?.close();
});

const submission = (project: string | null, sets?: string[]) => ({
  spec: [
    `name: probe-${Math.random().toString(36).slice(2, 8)}`,
    ...(project ? [`project: ${project}`] : []),
    'command: "true"',
    '',
  ].join('\n'),
  specName: 'cairn.yaml',
  files: { 'train.py': Buffer.from('print(1)\n').toString('base64') },
  backend: 'local',
  ...(sets ? { sets } : {}),
});

async function runsOf(project: string): Promise<string[]> {
  const r = await t.call('admin', 'GET', `/api/v1/runs?project=${project}`);
  expect(r.status).toBe(200);
  return r.json.map((x: any) => x.id);
}

describe('run submission and projects', () => {
  it('a contributor on one project cannot submit a run into another by naming it in the spec or a --set', async () => {
    // Her own project: taken (so the refusals below are about the project, not the request).
    const own = await t.call('gina', 'POST', '/api/v1/runs', submission(null));
    expect(own.status, JSON.stringify(own.json)).toBe(200);
    expect(own.json.run.project).toBe('default');

    const named = await t.call('gina', 'POST', '/api/v1/runs', submission('secret'));
    expect(named.status, JSON.stringify(named.json)).toBe(403);
    expect(named.json.error.code).toBe('PERMISSION_DENIED');
    const viaSet = await t.call('gina', 'POST', '/api/v1/runs', submission(null, ['project=secret']));
    expect(viaSet.status, JSON.stringify(viaSet.json)).toBe(403);
    // The last --set wins in the service, so it is the one authorized.
    const setBack = await t.call('gina', 'POST', '/api/v1/runs', submission('secret', ['project=default']));
    expect(setBack.status, JSON.stringify(setBack.json)).toBe(200);
    const twice = await t.call('gina', 'POST', '/api/v1/runs', submission(null, ['project=default', 'project=secret']));
    expect(twice.status, JSON.stringify(twice.json)).toBe(403);
    expect(await runsOf('secret')).toEqual([]);

    // The refusals are in the audit log as denials of gina.
    const denied = await t.call('admin', 'GET', '/api/v1/audit/events?action=server.denied');
    expect(
      denied.json.filter((e: any) => e.event.actor?.id === 'gina' && e.event.target?.name === 'runs.submit').length,
    ).toBe(3);

    // alice holds contributor on every project: the same submission is hers to make.
    const alice = await t.call('alice', 'POST', '/api/v1/runs', submission('secret'));
    expect(alice.status, JSON.stringify(alice.json)).toBe(200);
    expect(await runsOf('secret')).toEqual([alice.json.run.id]);
  });

  it("a contributor on one project cannot register another project's run outputs as a model (and so read them)", async () => {
    // A finished run of `secret`, with an output, made by alice (contributor everywhere).
    const sub = await t.call('alice', 'POST', '/api/v1/runs', {
      ...submission('secret'),
      spec: [
        'name: secret-train',
        'project: secret',
        'command: "mkdir -p $CAIRN_OUTPUT_DIR/m && echo secret-weights > $CAIRN_OUTPUT_DIR/m/model.bin"',
        '',
      ].join('\n'),
    });
    expect(sub.status, JSON.stringify(sub.json)).toBe(200);
    const rt = t.server.runtime;
    const run = await rt.runAs({ actor: { id: 'alice', auth: 'token' }, command: 'test wait' }, () =>
      rt.services.runs.wait(sub.json.run.id, { pollMs: 50 }),
    );
    expect(run.status).toBe('completed');

    // Refused as a run she cannot know of (404, as for one that does not exist).
    const stolen = await t.call('gina', 'POST', '/api/v1/models/exfil/versions', { fromRun: run.id });
    expect(stolen.status, JSON.stringify(stolen.json)).toBe(404);
    expect(stolen.json.error.code).toBe('NOT_FOUND');
    expect((await t.call('admin', 'GET', '/api/v1/models/exfil/versions')).json).toSatisfy(
      (v: any) => !Array.isArray(v) || v.length === 0,
    );
    // Someone who may read `secret` registers it as before.
    const ok = await t.call('alice', 'POST', '/api/v1/models/secret-model/versions', { fromRun: run.id });
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
  });

  it('a spec that does not parse is refused as bad input, never authorized on a guessed project', async () => {
    const r = await t.call('gina', 'POST', '/api/v1/runs', {
      ...submission('secret'),
      spec: 'name: x\nproject: secret\ncommand: [unclosed\n',
    });
    expect([r.status, r.json.error.code]).toEqual([422, 'INVALID_INPUT']);
    expect(await runsOf('secret')).not.toContain(r.json?.run?.id);
  });
});
