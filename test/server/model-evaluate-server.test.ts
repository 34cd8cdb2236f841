/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP and service answers are checked field by field */
// `cairn model evaluate` against a team server (docs/SERVER.md "Evaluations"): bob trains and
// registers on his laptop and pushes; the server evaluates the pushed version on its own side
// (its files and the test set fetched from the store), records the verdict under the account
// that asked, and only that server-side verdict counts for the protected alias's policy.
// Real server (SQLite and PostgreSQL), real HTTP, ONNX Runtime, accounts with their own tokens.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliSpawn } from '../../src/test-support/cli.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../src/test-support/services.js';
import { startTeam, type Team } from './harness.js';
import { laptopWithModels, onServer, testSet } from './eval-fixtures.js';

const pg = await postgresAvailable();

describe.each([
  ['sqlite', false],
  ['postgres', true],
])('model evaluate on a team server (%s)', (_name, usePg) => {
  let t: Team;
  let schema: string | null = null;
  let bob: Awaited<ReturnType<typeof laptopWithModels>>;
  beforeAll(async () => {
    if (usePg && !pg) return;
    const db = usePg ? freshPgUrl() : null;
    schema = db?.schema ?? null;
    t = await startTeam(db ? { db: db.url } : {});
    // bob registers a good and a bad version on his laptop, offline, and pushes them with the test set.
    bob = await laptopWithModels(t, 'bob');
    await bob.run((s) => s.models.register({ name: 'clf', path: bob.model('good', [4, -2]) }));
    await bob.run((s) => s.models.register({ name: 'clf', path: bob.model('bad', [-4, 2]) }));
    const pushed: any = await bob.run((s) => s.transfer.push([], { remote: 'team' }));
    expect(pushed.server.imported).toMatchObject({ modelVersions: 2 });
  }, 180_000);
  afterAll(async () => {
    await t?.close();
    if (schema) await dropSchema(schema);
  });
  const skip = () => usePg && !pg;

  it('the server evaluates a pushed version; dana approves; the protected alias moves only onto a passing one', async () => {
    if (skip()) return;
    const dana = onServer(t, 'dana');
    const alice = onServer(t, 'alice');
    await dana.models.setPolicy('clf', 'production', { suites: ['acceptance'], approvals: 1, separateApprover: true });
    await dana.models.approve('clf@v1', 'production');
    await dana.models.approve('clf@v2', 'production');
    await expect(dana.models.promote('clf@v1', 'production')).rejects.toMatchObject({
      code: 'POLICY_UNMET',
      data: { unmet: ['suite acceptance has not been run on v1'] },
    });

    // alice (a contributor) asks the server to evaluate: it reads the version's and the test
    // set's bytes from its store and answers the report the local command prints.
    const good: any = await alice.models.evaluate('clf@v1', { suitePath: bob.suite, data: 'eval' });
    expect(good).toMatchObject({ format: 'cairn.evaluation/v1', model: 'clf@v1', suite: 'acceptance', passed: true });
    expect(good.rows).toBe(600);
    expect(good.metrics.accuracy).toBeGreaterThan(0.9);
    const bad: any = await alice.models.evaluate('clf@v2', { suitePath: bob.suite, data: 'eval@v1' });
    expect(bad.passed).toBe(false);
    expect(bad.checks.map((c: any) => [c.name, c.passed])).toEqual([[expect.stringContaining('accuracy'), false]]);

    // Stored on the server, by the account that asked, as the server's own.
    const shown: any = await dana.models.show('clf@v1');
    expect(shown.evaluations).toEqual([expect.objectContaining({ suite: 'acceptance', passed: true })]);
    const events: any[] = await dana.audit.events({ action: 'model.evaluate', limit: 100 });
    expect(events.map(({ event: e }) => [e.actor.id, e.target.version, e.outcome])).toEqual([
      ['alice', 1, 'ok'],
      ['alice', 2, 'failed'],
    ]);

    // The passing version moves the protected alias; the failing one cannot.
    expect(await dana.models.promote('clf@v1', 'production')).toMatchObject({ alias: 'production' });
    await expect(dana.models.promote('clf@v2', 'production')).rejects.toMatchObject({
      code: 'POLICY_UNMET',
      data: { unmet: ['suite acceptance failed on v2 (its latest evaluation)'] },
    });
    const verified: any = await dana.audit.verify({});
    expect(verified.problems).toEqual([]);
  }, 180_000);

  it('a viewer may not evaluate (a denied request event); an unknown version or test set is NOT_FOUND', async () => {
    if (skip()) return;
    const carol = onServer(t, 'carol');
    await expect(carol.models.evaluate('clf@v1', { suitePath: bob.suite, data: 'eval' })).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    });
    const denied: any[] = await onServer(t, 'dana').audit.events({ action: 'server.denied', limit: 100 });
    expect(denied.some(({ event: e }) => e.actor.id === 'carol' && e.target.name === 'models.evaluate')).toBe(true);
    const alice = onServer(t, 'alice');
    await expect(alice.models.evaluate('clf@v9', { suitePath: bob.suite, data: 'eval' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    await expect(alice.models.evaluate('clf@v1', { suitePath: bob.suite, data: 'nothing' })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    // A suite that does not parse is refused before anything runs, naming the file.
    const broken = join(bob.dir, 'broken.yaml');
    writeFileSync(broken, 'suite: s\ndata: {label: label, features: [f1]}\nchecks:\n  - metric: {name: acuracy}\n');
    await expect(alice.models.evaluate('clf@v1', { suitePath: broken, data: 'eval' })).rejects.toMatchObject({
      code: 'INVALID_INPUT',
      message: expect.stringContaining('broken.yaml'),
    });
  }, 120_000);

  it('the real CLI signed in to the server: the same report and exit codes as the local command', async () => {
    if (skip()) return;
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-evs-cli-'));
    const env = {
      CAIRN_CONFIG_DIR: join(cwd, 'cfg'),
      CAIRN_SERVER: t.server.url,
      CAIRN_TOKEN: t.tokens.alice!,
      CAIRN_SERVER_KEY: t.server.runtime.verifierKey,
      CAIRN_WORKSPACE: '',
    };
    // Spawned, not spawnSync: the server answers from this very process.
    const cli = (args: string[]) =>
      new Promise<{ code: number | null; json: any; stderr: string }>((resolve) => {
        const child = cliSpawn(args, { cwd, env });
        let out = '';
        let err = '';
        child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
        child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
        child.once('close', (code) => resolve({ code, json: JSON.parse(out || 'null'), stderr: err }));
      });
    const ok = await cli(['model', 'evaluate', 'clf@v1', '--suite', bob.suite, '--data', 'eval', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.json).toMatchObject({ model: 'clf@v1', suite: 'acceptance', passed: true, rows: 600 });
    const bad = await cli(['model', 'evaluate', 'clf@v2', '--suite', bob.suite, '--data', 'eval', '--json']);
    expect(bad.code).toBe(1);
    expect(bad.json).toMatchObject({ error: { code: 'CHECK_FAILED', data: { report: { passed: false } } } });
  }, 120_000);

  it("a contributor to `default` alone cannot evaluate on another project's run output (as if it did not exist)", async () => {
    if (skip()) return;
    // alice's run in secretproj writes a test set as its output: runs/zzsecret-eval@v1.
    const csv = Buffer.from(testSet()).toString('base64');
    const sub = await t.call('alice', 'POST', '/api/v1/runs', {
      spec: 'name: zzsecret-eval\nproject: secretproj\ncommand: "cp t.csv $CAIRN_OUTPUT_DIR/"\n',
      specName: 'cairn.yaml',
      files: { 't.csv': csv },
      backend: 'local',
    });
    expect(sub.status, JSON.stringify(sub.json)).toBe(200);
    const rt = t.server.runtime;
    const run = await rt.runAs({ actor: { id: 'alice', auth: 'token' }, command: 'test wait' }, () =>
      rt.services.runs.wait(sub.json.run.id, { pollMs: 50 }),
    );
    expect(run.status).toBe('completed');
    const made = await t.call('admin', 'POST', '/api/v1/accounts', {
      name: 'mel',
      role: 'contributor',
      project: 'default',
    });
    expect(made.status).toBe(200);
    t.tokens.mel = (await t.call('admin', 'POST', '/api/v1/tokens', { user: 'mel' })).json.token;
    const data = 'runs/zzsecret-eval@v1';
    await expect(onServer(t, 'mel').models.evaluate('clf@v1', { suitePath: bob.suite, data })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: `no dataset version ${data}`,
    });
    // The probe can fail: alice reads secretproj, and the server evaluates on it for her.
    expect(await onServer(t, 'alice').models.evaluate('clf@v1', { suitePath: bob.suite, data })).toMatchObject({
      passed: true,
      rows: 600,
    });
  }, 120_000);
});
