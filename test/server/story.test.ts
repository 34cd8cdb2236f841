/* eslint-disable @typescript-eslint/no-explicit-any -- service answers are checked field by field */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login } from '../../src/app/remote/login.js';
import { withServices } from '../../src/app/services.js';
import { addVersion } from '../../src/datasets/add.js';
import { sharedS3Server, stopSharedS3Server, type S3TestServer } from '../../src/test-support/s3-server.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../src/test-support/services.js';
import { newWorkspace, prng, writeTree } from '../../src/test-support/workspace.js';
import { startTeam, type Team } from './harness.js';

const pg = await postgresAvailable();
let s3: S3TestServer | null = null;
let t: Team | null = null;
let schema: string | null = null;
const saved = { ...process.env };

beforeAll(async () => {
  s3 = await sharedS3Server();
  if (!s3 || !pg) return;
  Object.assign(process.env, {
    AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
    AWS_REGION: s3.region,
  });
  const db = freshPgUrl();
  schema = db.schema;
  t = await startTeam({ db: db.url, store: `s3://${s3.bucket}/story`, storeEndpoint: s3.endpoint });
  writeFileSync(
    join(t.dataDir, '.cairn', 'deploy.json'),
    JSON.stringify({ environments: { prod: { hook: { command: 'true' }, alias: 'production' } } }),
  );
});
afterAll(async () => {
  await t?.close();
  if (schema) await dropSchema(schema);
  process.env = saved;
  await stopSharedS3Server();
});

/** A person's machine: their own config dir (the login), and a folder that is not a workspace. */
async function person(user: string) {
  const home = mkdtempSync(join(tmpdir(), `cairn-${user}-`));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CAIRN_CONFIG_DIR: join(home, 'config'),
    CAIRN_SERVER: '',
    CAIRN_WORKSPACE: '',
    CAIRN_TOKEN: '',
    // Means nothing to a server: the token's account is who acts there.
    CAIRN_ACTOR: 'mallory',
  };
  await login(t!.server.url, t!.tokens[user]!, env);
  const elsewhere = mkdtempSync(join(tmpdir(), 'cairn-nows-'));
  return {
    home,
    env,
    onServer: <T>(fn: (s: any) => Promise<T>) => withServices({ cwd: elsewhere, env }, fn),
    inWorkspace: <T>(dir: string, fn: (s: any) => Promise<T>) => withServices({ cwd: dir, env }, fn),
  };
}

describe('the whole story on PostgreSQL and S3, two people with two tokens', () => {
  it('alice adds data and pushes, trains on the server and registers, bob approves, promotes and deploys; both verify one log', async (ctx) => {
    if (!t) {
      console.warn('SKIPPED: needs PostgreSQL at 127.0.0.1:5432 and the S3 test server');
      if (process.env.CAIRN_REQUIRE_SERVICES === '1') throw new Error('PostgreSQL or S3 missing');
      return ctx.skip();
    }
    const alice = await person('alice');
    const bob = await person('bob');

    // alice's laptop: a workspace, data added offline, linked to the team server and pushed.
    const ws = mkdtempSync(join(tmpdir(), 'cairn-alice-ws-'));
    const w = await newWorkspace(ws, { actor: 'alice@laptop' });
    const src = mkdtempSync(join(tmpdir(), 'cairn-src-'));
    writeTree(src, { 'train/a.bin': prng(3, 400_000), 'labels.csv': 'id,y\n1,0\n2,1\n' });
    await addVersion(w, { source: src, name: 'churn-data' });
    await w.close();
    await alice.inWorkspace(ws, (s) => s.transfer.addRemote('team', t!.server.url, {}));
    const pushed: any = await alice.inWorkspace(ws, (s) => s.transfer.push([], { remote: 'team' }));
    expect(pushed.server.imported.versions).toBe(1);

    // Everyone sees it on the server; bob can fetch the bytes (straight from S3).
    const seen: any = await bob.onServer((s) => s.datasets.list());
    expect(JSON.stringify(seen)).toContain('churn-data');

    // alice trains on the server's machines from the pushed version (its bytes come from the
    // store on first use) and registers the run's output: every step as alice, through the API.
    const code = mkdtempSync(join(tmpdir(), 'cairn-alice-code-'));
    writeFileSync(
      join(code, 'cairn.yaml'),
      'name: churn-train\ncommand: "mkdir -p $CAIRN_OUTPUT_DIR/m && wc -c < $CAIRN_INPUT_TRAIN/train/a.bin > $CAIRN_OUTPUT_DIR/m/model.txt"\ninputs:\n  train: churn-data@v1\n',
    );
    const sub: any = await alice.onServer((s) => s.runs.submit({ spec: join(code, 'cairn.yaml') }));
    const done: any = await alice.onServer((s) => s.runs.wait(sub.run.id, { pollMs: 100 }));
    expect(done.status).toBe('completed');
    const registered: any = await alice.onServer((s) =>
      s.models.register({ name: 'churn', fromRun: sub.run.id, format: 'txt' }),
    );
    const ref: string = registered.ref;
    // The run read the pushed bytes ("400000\n", 7 bytes), and the card names the data it read.
    expect(registered.card.files).toEqual([expect.objectContaining({ path: 'm/model.txt', size: 7 })]);
    expect(JSON.stringify(registered.card.training.data)).toContain('churn-data');
    const versions: any = await bob.onServer((s) => s.models.versions('churn'));
    expect(versions).toHaveLength(1);

    // alice may not approve (contributor) nor move production; bob (approver, not the author) may.
    await expect(alice.onServer((s) => s.models.approve(ref, 'production'))).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    });
    await expect(alice.onServer((s) => s.models.promote(ref, 'production', 'promote'))).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    });
    const approved: any = await bob.onServer((s) => s.models.approve(ref, 'production'));
    expect(approved.approver).toBe('bob');
    await bob.onServer((s) => s.models.promote(ref, 'production', 'promote'));
    // prod serves production: deploying there moves it, so the author may not, an approver may.
    await expect(alice.onServer((s) => s.deployments.deploy(ref, 'prod'))).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
    });
    const deployed: any = await bob.onServer((s) => s.deployments.deploy(ref, 'prod'));
    expect(deployed.status).toBe('succeeded');

    // One log, verified end to end from each client with the key it pinned at login.
    const a: any = await alice.onServer((s) => s.audit.verify({}));
    const b: any = await bob.onServer((s) => s.audit.verify({}));
    expect(a.ok).toBe(true);
    expect(b.ok).toBe(true);
    const events: any[] = await bob.onServer((s) => s.audit.events({ limit: 100_000 }));
    const who = (action: string) => events.filter((e) => e.action === action).map((e) => [e.actor, e.outcome]);
    // The import of alice's push, then the fetch of its bytes for alice's run.
    expect(who('remote.pull')).toEqual([
      ['alice', 'ok'],
      ['alice', 'ok'],
    ]);
    expect(who('model.approve')).toEqual([['bob', 'ok']]);
    // alice's attempts were refused before reaching the registry, and recorded as hers.
    // (Her first push's probes of objects the store did not hold yet are there too, as failed.)
    expect(who('server.denied').filter(([actor, outcome]) => actor === 'alice' && outcome === 'denied')).toHaveLength(
      3,
    );
    expect(who('server.store.plan').map(([actor]) => actor)).toContain('alice');
    expect(who('model.deploy').length).toBeGreaterThan(0);
    expect(who('model.deploy').every(([actor]) => actor === 'bob')).toBe(true);
    expect(events.some((e) => e.actor === 'mallory')).toBe(false);
  }, 180_000);
});
