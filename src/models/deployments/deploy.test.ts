import { createHmac, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../../app/workspace.js';
import { useTempDirs } from '../../test-support/temp.js';
import { newWorkspace, writeTree } from '../../test-support/workspace.js';
import { history, setPolicy } from '../aliases.js';
import { registerModel, resolveModel } from '../registry.js';
import { deployModel } from './deploy.js';
import { flushOutbox } from './flush.js';
import { listDeployments } from './views.js';
import { signBody } from './outbox.js';
import { deploymentDeps } from '../../app/deploy-config.js';

const SECRET = 'correct horse battery staple';

/** A deploy endpoint on 127.0.0.1 that checks the HMAC, answers 500 to the first `failFirst` requests, then 200. */
async function webhookServer(failFirst: number) {
  const requests: Array<{ path: string; body: string; signatureValid: boolean; deployment: string | undefined }> = [];
  let posts = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method === 'GET') {
        res.writeHead(req.url === '/health' ? 200 : 404).end();
        return;
      }
      const body = Buffer.concat(chunks);
      const want = Buffer.from(`sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`);
      const got = Buffer.from(String(req.headers['x-cairn-signature'] ?? ''));
      const signatureValid = got.length === want.length && timingSafeEqual(got, want);
      requests.push({
        path: req.url ?? '',
        body: body.toString('utf8'),
        signatureValid,
        deployment: req.headers['x-cairn-deployment'] as string | undefined,
      });
      if (!signatureValid) res.writeHead(401).end('bad signature');
      else res.writeHead(++posts <= failFirst ? 500 : 200).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, requests, close: () => new Promise<void>((r) => server.close(() => r())) };
}

/** Whether a process exists and is not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('deployments', () => {
  const tmp = useTempDirs();
  const open: Workspace[] = [];
  const servers: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const ws of open.splice(0)) await ws.close();
    for (const s of servers.splice(0)) await s.close();
  });

  /** A workspace with two versions of `spam`, and `.cairn/deploy.json` holding `environments`. */
  const setup = async (environments: Record<string, unknown>) => {
    const root = tmp();
    const ws = await newWorkspace(root, { actor: 'alice@example.com' });
    open.push(ws);
    writeTree(join(root, 'm1'), { 'model.onnx': 'weights-one' });
    writeTree(join(root, 'm2'), { 'model.onnx': 'weights-two' });
    await registerModel(ws, { name: 'spam', path: join(root, 'm1') });
    await registerModel(ws, { name: 'spam', path: join(root, 'm2') });
    writeFileSync(join(ws.cairnDir, 'deploy.json'), JSON.stringify({ environments }));
    const env = { ...process.env, OUT: root, TEST_DEPLOY_SECRET: SECRET };
    return { root, ws, env };
  };

  const deployEvents = async (ws: Workspace) =>
    (
      await ws.meta.db
        .selectFrom('audit_events')
        .select(['outcome', 'entry'])
        .where('action', '=', 'model.deploy')
        .orderBy('idx')
        .execute()
    ).map((e) => ({ outcome: e.outcome, params: (JSON.parse(e.entry) as { params: Record<string, unknown> }).params }));

  it('a command hook gets the model (read-only files, digest, env); on success the alias moves, with lineage and audit events', async () => {
    const { root, ws, env } = await setup({
      production: {
        hook: {
          command:
            'cat "$CAIRN_MODEL_DIR/model.onnx" > "$OUT/served.txt" && echo "$CAIRN_MODEL $CAIRN_MODEL_VERSION $CAIRN_MODEL_DIGEST $CAIRN_ENV $CAIRN_DEPLOY_ACTION" > "$OUT/hook-env.txt"',
        },
        health: { command: 'test -s served.txt' },
        timeoutS: 30,
        alias: 'production',
      },
    });
    const v1 = (await resolveModel(ws, 'spam@v1')).version;
    const d1 = await deployModel(deploymentDeps(ws), 'spam@v1', 'production', { env });
    expect(d1).toMatchObject({
      status: 'succeeded',
      version: 'spam@v1',
      env: 'production',
      alias: 'production',
      previous: null,
      error: null,
      by: 'alice@example.com',
      health: { kind: 'command', ok: true },
    });
    expect(readFileSync(join(root, 'served.txt'), 'utf8')).toBe('weights-one');
    expect(readFileSync(join(root, 'hook-env.txt'), 'utf8').trim()).toBe(
      `spam 1 sha256:${v1.digest} production deploy`,
    );
    // The files come from the shared cache, keyed by the version's tree digest, read-only.
    const cached = join(ws.cacheDir, 'versions', v1.digest, 'model.onnx');
    expect(readFileSync(cached, 'utf8')).toBe('weights-one');
    expect(statSync(cached).mode & 0o222).toBe(0);
    expect((await resolveModel(ws, 'spam@production')).ref).toBe('spam@v1');

    const d2 = await deployModel(deploymentDeps(ws), 'spam@v2', 'production', { env });
    expect(d2).toMatchObject({ status: 'succeeded', version: 'spam@v2', previous: 'spam@v1' });
    expect(readFileSync(join(root, 'served.txt'), 'utf8')).toBe('weights-two');
    expect((await resolveModel(ws, 'spam@production')).ref).toBe('spam@v2');
    const h = await history(ws, 'spam', { alias: 'production' });
    expect(('events' in h ? h.events! : []).map((e) => [e.action, e.previous, e.version])).toEqual([
      ['deploy', null, 'spam@v1'],
      ['deploy', 'spam@v1', 'spam@v2'],
    ]);
    const edges = await ws.meta.db
      .selectFrom('lineage_edges')
      .select(['src_id', 'dst_type', 'dst_id', 'relation'])
      .where('dst_type', '=', 'deployment')
      .orderBy('created_at')
      .execute();
    expect(edges).toEqual([
      { src_id: v1.id, dst_type: 'deployment', dst_id: d1.id, relation: 'deployed' },
      {
        src_id: (await resolveModel(ws, 'spam@v2')).version.id,
        dst_type: 'deployment',
        dst_id: d2.id,
        relation: 'deployed',
      },
    ]);
    const events = await deployEvents(ws);
    expect(events.map((e) => [e.outcome, e.params.status])).toEqual([
      ['ok', 'pending'],
      ['ok', 'succeeded'],
      ['ok', 'pending'],
      ['ok', 'succeeded'],
    ]);
    expect(events[3]!.params).toMatchObject({
      env: 'production',
      deployment: d2.id,
      hook: { kind: 'command', exitCode: 0, timedOut: false },
      health: { kind: 'command', ok: true },
      error: null,
      aliasMove: { alias: 'production', from: 'spam@v1', to: 'spam@v2' },
    });
    expect((await listDeployments(ws, { env: 'production' })).map((d) => [d.version, d.status])).toEqual([
      ['spam@v2', 'succeeded'],
      ['spam@v1', 'succeeded'],
    ]);
  });

  it('a failing hook fails the deployment and, with onFailure keep, leaves the alias where it was', async () => {
    const { ws, env } = await setup({
      production: {
        hook: { command: '[ "$CAIRN_MODEL_VERSION" = 1 ] || { echo "cannot load the weights" >&2; exit 3; }' },
        health: { command: 'true' },
        alias: 'production',
        onFailure: 'keep',
      },
    });
    await deployModel(deploymentDeps(ws), 'spam@v1', 'production', { env });
    const d = await deployModel(deploymentDeps(ws), 'spam@v2', 'production', { env });
    expect(d).toMatchObject({
      status: 'failed',
      previous: 'spam@v1',
      error: 'the deploy hook exited with status 3',
      hook: { kind: 'command', exitCode: 3, timedOut: false },
      health: { kind: 'skipped' },
    });
    expect((d.hook as { tail: string }).tail).toContain('cannot load the weights');
    expect((await resolveModel(ws, 'spam@production')).ref).toBe('spam@v1');
    const last = (await deployEvents(ws)).at(-1)!;
    expect([last.outcome, last.params.status, last.params.error]).toEqual([
      'failed',
      'failed',
      'the deploy hook exited with status 3',
    ]);
    // The hook's output stays in the deployment row and its log, out of the audit log.
    expect(JSON.stringify(last.params)).not.toContain('cannot load');
  });

  it('a hook that outlives its timeout fails the deployment, and its whole process group is killed', async () => {
    const { root, ws, env } = await setup({
      staging: { hook: { command: 'trap "" TERM; sleep 60 & echo $! > "$OUT/child.pid"; wait; wait' }, timeoutS: 0.5 },
    });
    const d = await deployModel(deploymentDeps(ws), 'spam@v1', 'staging', { env, killGraceMs: 100 });
    expect(d).toMatchObject({ status: 'failed', hook: { kind: 'command', timedOut: true } });
    expect(d.error).toContain('timed out');
    const pid = Number(readFileSync(join(root, 'child.pid'), 'utf8'));
    // SIGKILL is delivered at once, but the orphan is reaped by init a moment later.
    for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 50));
    expect(alive(pid)).toBe(false);
    expect(existsSync(join(ws.cairnDir, 'deploy', d.id, 'hook.log'))).toBe(true);
  });

  it('with onFailure rollback a failed health check redeploys the previous version: alias back, status rolled_back', async () => {
    const { root, ws, env } = await setup({
      production: {
        hook: {
          command:
            'echo "$CAIRN_MODEL_VERSION" > "$OUT/current.txt"; echo "$CAIRN_DEPLOY_ACTION $CAIRN_MODEL_VERSION" >> "$OUT/actions.txt"',
        },
        health: { command: 'grep -qx 1 current.txt' },
        alias: 'production',
        onFailure: 'rollback',
      },
    });
    await deployModel(deploymentDeps(ws), 'spam@v1', 'production', { env });
    const d = await deployModel(deploymentDeps(ws), 'spam@v2', 'production', { env });
    expect(d).toMatchObject({
      status: 'rolled_back',
      previous: 'spam@v1',
      health: { kind: 'command', ok: false, exitCode: 1 },
      hook: { rollback: { to: 'spam@v1', ok: true } },
    });
    expect(d.error).toBe('the health check exited with status 1');
    expect(readFileSync(join(root, 'actions.txt'), 'utf8')).toBe('deploy 1\ndeploy 2\nrollback 1\n');
    expect(readFileSync(join(root, 'current.txt'), 'utf8').trim()).toBe('1');
    expect((await resolveModel(ws, 'spam@production')).ref).toBe('spam@v1');
    const last = (await deployEvents(ws)).at(-1)!;
    expect([last.outcome, last.params.status, last.params.rollback]).toEqual([
      'failed',
      'rolled_back',
      { to: 'spam@v1', ok: true },
    ]);
    // The first deployment of an env has nothing to roll back to: it just fails.
    writeFileSync(
      join(ws.cairnDir, 'deploy.json'),
      JSON.stringify({ environments: { canary: { hook: { command: 'exit 1' }, onFailure: 'rollback' } } }),
    );
    expect(await deployModel(deploymentDeps(ws), 'spam@v2', 'canary', { env })).toMatchObject({
      status: 'failed',
      error: 'the deploy hook exited with status 1; there is no previous version to roll back to',
    });
  });

  it('a webhook is written to the outbox with the deployment and delivered, signed, after retries; its health URL is polled', async () => {
    const srv = await webhookServer(2);
    servers.push(srv);
    const { ws, env } = await setup({
      production: {
        hook: { webhook: { url: `${srv.url}/deploy?token=abc`, secretEnv: 'TEST_DEPLOY_SECRET' } },
        health: { url: `${srv.url}/health` },
        alias: 'production',
        timeoutS: 20,
      },
    });
    const v1 = (await resolveModel(ws, 'spam@v1')).version;
    const d = await deployModel(deploymentDeps(ws), 'spam@v1', 'production', { env, retry: { baseMs: 5 } });
    expect(d).toMatchObject({
      status: 'succeeded',
      hook: { kind: 'webhook', ok: true, attempts: 3, status: 200, url: `${srv.url}/deploy` },
      health: { kind: 'url', ok: true, status: 200 },
    });
    expect(srv.requests.map((r) => [r.path, r.signatureValid, r.deployment])).toEqual([
      ['/deploy?token=abc', true, d.id],
      ['/deploy?token=abc', true, d.id],
      ['/deploy?token=abc', true, d.id],
    ]);
    expect(JSON.parse(srv.requests[0]!.body)).toEqual({
      action: 'deploy',
      deployment: d.id,
      model: 'spam',
      version: 1,
      ref: 'spam@v1',
      digest: `sha256:${v1.digest}`,
      env: 'production',
    });
    const row = await ws.meta.db
      .selectFrom('outbox')
      .selectAll()
      .where('deployment_id', '=', d.id)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      attempts: 3,
      next_attempt_at: null,
      last_error: null,
      delivered_at: expect.any(String),
      signature: signBody(row.body, SECRET),
    });
    expect((await resolveModel(ws, 'spam@production')).ref).toBe('spam@v1');
    // The query string (which may hold a token) stays out of the audit log.
    expect(JSON.stringify(await deployEvents(ws))).not.toContain('token=abc');
  });

  it('a webhook that is never answered fails the deployment; outbox flush delivers what a dead process left pending', async () => {
    const srv = await webhookServer(1000);
    servers.push(srv);
    const { ws, env } = await setup({
      production: {
        hook: { webhook: { url: `${srv.url}/deploy`, secretEnv: 'TEST_DEPLOY_SECRET' } },
        alias: 'production',
        timeoutS: 20,
      },
    });
    const d = await deployModel(deploymentDeps(ws), 'spam@v1', 'production', {
      env,
      retry: { baseMs: 1, attempts: 3 },
    });
    expect(d).toMatchObject({
      status: 'failed',
      error: 'the webhook was not delivered after 3 attempt(s) (last: HTTP 500)',
    });
    // Given up with its deployment: a flush does not send a failed deployment later.
    expect(await flushOutbox(deploymentDeps(ws), { env })).toEqual({ flushed: [], waiting: [] });

    // A process that died after recording its deployment: the flush delivers it and finishes the deployment.
    const good = await webhookServer(0);
    servers.push(good);
    const v2 = (await resolveModel(ws, 'spam@v2')).version;
    const id = '01900000-0000-7000-8000-000000000001';
    const body = JSON.stringify({ action: 'deploy', deployment: id, model: 'spam', version: 2 });
    await ws.meta.db
      .insertInto('deployments')
      .values({
        id,
        model_id: v2.model_id,
        version_id: v2.id,
        env: 'production',
        alias: 'production',
        status: 'pending',
        started_at: '2026-01-01T00:00:00.000Z',
        ended_at: null,
        by: 'alice@example.com',
        hook: null,
        health: null,
        error: null,
        previous_version_id: null,
      })
      .execute();
    await ws.meta.db
      .insertInto('outbox')
      .values({
        id: 'o1',
        deployment_id: id,
        url: `${good.url}/deploy`,
        body,
        signature: signBody(body, SECRET),
        attempts: 0,
        next_attempt_at: '2026-01-01T00:00:00.000Z',
        last_error: null,
        delivered_at: null,
        created_at: '2026-01-01T00:00:00.000Z',
      })
      .execute();
    const r = await flushOutbox(deploymentDeps(ws), { env });
    expect(r.flushed).toEqual([
      {
        delivery: 'o1',
        deployment: id,
        action: 'deploy',
        url: `${good.url}/deploy`,
        attempts: 1,
        delivered: true,
        gaveUp: false,
        nextAttemptAt: null,
        error: null,
        deploymentStatus: 'succeeded',
      },
    ]);
    expect(good.requests.map((q) => [q.body, q.signatureValid])).toEqual([[body, true]]);
    expect((await resolveModel(ws, 'spam@production')).ref).toBe('spam@v2');
    expect(
      await ws.meta.db
        .selectFrom('outbox')
        .select(['delivered_at', 'next_attempt_at'])
        .where('id', '=', 'o1')
        .executeTakeFirstOrThrow(),
    ).toEqual({ delivered_at: expect.any(String), next_attempt_at: null });

    // A delivery that keeps failing is scheduled again with backoff, then given up (and its deployment fails).
    const id2 = '01900000-0000-7000-8000-000000000002';
    await ws.meta.db
      .insertInto('deployments')
      .values({
        id: id2,
        model_id: v2.model_id,
        version_id: v2.id,
        env: 'production',
        alias: 'production',
        status: 'pending',
        started_at: '2026-01-01T00:00:00.000Z',
        ended_at: null,
        by: 'alice@example.com',
        hook: null,
        health: null,
        error: null,
        previous_version_id: null,
      })
      .execute();
    await ws.meta.db
      .insertInto('outbox')
      .values({
        id: 'o2',
        deployment_id: id2,
        url: `${srv.url}/deploy`,
        body,
        signature: signBody(body, SECRET),
        attempts: 0,
        next_attempt_at: '2026-01-01T00:00:00.000Z',
        last_error: null,
        delivered_at: null,
        created_at: '2026-01-01T00:00:00.000Z',
      })
      .execute();
    const once = await flushOutbox(deploymentDeps(ws), { env, retry: { baseMs: 60_000, giveUpAfter: 2 } });
    expect(once.flushed).toMatchObject([
      { delivery: 'o2', delivered: false, gaveUp: false, attempts: 1, error: 'HTTP 500', deploymentStatus: 'pending' },
    ]);
    expect(once.waiting).toEqual([]);
    // Not due yet: nothing is sent, it is listed as waiting.
    expect(await flushOutbox(deploymentDeps(ws), { env })).toEqual({
      flushed: [],
      waiting: [{ delivery: 'o2', deployment: id2, nextAttemptAt: once.flushed[0]!.nextAttemptAt }],
    });
    await ws.meta.db
      .updateTable('outbox')
      .set({ next_attempt_at: '2026-01-01T00:00:00.000Z' })
      .where('id', '=', 'o2')
      .execute();
    const twice = await flushOutbox(deploymentDeps(ws), { env, retry: { giveUpAfter: 2 } });
    expect(twice.flushed).toMatchObject([
      { delivery: 'o2', delivered: false, gaveUp: true, attempts: 2, deploymentStatus: 'failed' },
    ]);
  });

  it('a webhook environment rolls back by sending a signed rollback notice for the previous version', async () => {
    const srv = await webhookServer(0);
    servers.push(srv);
    const hook = { webhook: { url: `${srv.url}/deploy`, secretEnv: 'TEST_DEPLOY_SECRET' } };
    const { ws, env } = await setup({
      production: { hook, health: { url: `${srv.url}/health` }, alias: 'production', onFailure: 'rollback' },
    });
    await deployModel(deploymentDeps(ws), 'spam@v1', 'production', { env });
    writeFileSync(
      join(ws.cairnDir, 'deploy.json'),
      JSON.stringify({
        environments: {
          production: {
            hook,
            health: { url: `${srv.url}/not-ready` },
            alias: 'production',
            onFailure: 'rollback',
            timeoutS: 1,
          },
        },
      }),
    );
    const d = await deployModel(deploymentDeps(ws), 'spam@v2', 'production', { env, healthPollMs: 50 });
    expect(d).toMatchObject({
      status: 'rolled_back',
      previous: 'spam@v1',
      health: { kind: 'url', ok: false },
      hook: { kind: 'webhook', ok: true, rollback: { to: 'spam@v1', kind: 'webhook' } },
    });
    expect(
      srv.requests.map((r) => {
        const b = JSON.parse(r.body) as { action: string; version: number; deployment: string };
        return [b.action, b.version, b.deployment === d.id, r.signatureValid];
      }),
    ).toEqual([
      ['deploy', 1, false, true],
      ['deploy', 2, true, true],
      ['rollback', 1, true, true],
    ]);
    const rows = await ws.meta.db
      .selectFrom('outbox')
      .select(['attempts', 'delivered_at', 'next_attempt_at'])
      .where('deployment_id', '=', d.id)
      .orderBy('created_at')
      .execute();
    expect(rows).toEqual([
      { attempts: 1, delivered_at: expect.any(String), next_attempt_at: null },
      { attempts: 1, delivered_at: expect.any(String), next_attempt_at: null },
    ]);
    expect((await resolveModel(ws, 'spam@production')).ref).toBe('spam@v1');
  });

  it('refuses to start while another deployment of the model to the env is running', async () => {
    const { ws, env } = await setup({ staging: { hook: { command: 'true' } } });
    const v1 = (await resolveModel(ws, 'spam@v1')).version;
    await ws.meta.db
      .insertInto('deployments')
      .values({
        id: 'running',
        model_id: v1.model_id,
        version_id: v1.id,
        env: 'staging',
        alias: null,
        status: 'pending',
        started_at: new Date().toISOString(),
        ended_at: null,
        by: 'bob@example.com',
        hook: null,
        health: null,
        error: null,
        previous_version_id: null,
      })
      .execute();
    await expect(deployModel(deploymentDeps(ws), 'spam@v2', 'staging', { env })).rejects.toMatchObject({
      code: 'LOCKED',
      data: { deployment: 'running' },
    });
    expect((await deployEvents(ws)).map((e) => [e.outcome, e.params.status])).toEqual([['failed', 'pending']]);
    // One left behind by a process that died long ago does not block.
    await ws.meta.db
      .updateTable('deployments')
      .set({ started_at: '2026-01-01T00:00:00.000Z' })
      .where('id', '=', 'running')
      .execute();
    expect((await deployModel(deploymentDeps(ws), 'spam@v2', 'staging', { env })).status).toBe('succeeded');
  });

  it('refuses a deployment whose alias policy is not met before running anything', async () => {
    const { root, ws, env } = await setup({
      production: { hook: { command: 'touch "$OUT/ran"' }, alias: 'production' },
    });
    await setPolicy(ws, 'spam', 'production', { suites: ['acceptance'], approvals: 1, separateApprover: true });
    await expect(deployModel(deploymentDeps(ws), 'spam@v1', 'production', { env })).rejects.toMatchObject({
      code: 'POLICY_UNMET',
      data: {
        env: 'production',
        alias: 'production',
        unmet: ['suite acceptance has not been run on v1', expect.stringContaining('1 approval(s)')],
      },
    });
    expect(existsSync(join(root, 'ran'))).toBe(false);
    expect(await listDeployments(ws)).toEqual([]);
    const events = await deployEvents(ws);
    expect(events.map((e) => [e.outcome, e.params.status])).toEqual([['denied', 'refused']]);
  });

  it('reads .cairn/deploy.json strictly: an unknown key is an error that names it', async () => {
    const { ws, env } = await setup({ production: { hook: { comand: 'true' } } });
    await expect(deployModel(deploymentDeps(ws), 'spam@v1', 'production', { env })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('environments.production.hook.comand: unknown key "comand"'),
    });
    writeFileSync(
      join(ws.cairnDir, 'deploy.json'),
      JSON.stringify({ environments: { production: { hook: { command: 'true' }, onFaillure: 'keep' } } }),
    );
    await expect(deployModel(deploymentDeps(ws), 'spam@v1', 'production', { env })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('environments.production.onFaillure'),
    });
    writeFileSync(join(ws.cairnDir, 'deploy.json'), JSON.stringify({ environment: {} }));
    await expect(deployModel(deploymentDeps(ws), 'spam@v1', 'production', { env })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('(top level).environment'),
    });
    writeFileSync(
      join(ws.cairnDir, 'deploy.json'),
      JSON.stringify({ environments: { staging: { hook: { command: 'true' } } } }),
    );
    await expect(deployModel(deploymentDeps(ws), 'spam@v1', 'production', { env })).rejects.toMatchObject({
      code: 'NOT_FOUND',
      hint: 'configured: staging',
    });
    writeFileSync(
      join(ws.cairnDir, 'deploy.json'),
      JSON.stringify({
        environments: {
          staging: { hook: { webhook: { url: 'http://127.0.0.1:9/x', secretEnv: 'NO_SUCH_SECRET_VAR' } } },
        },
      }),
    );
    await expect(deployModel(deploymentDeps(ws), 'spam@v1', 'staging', { env })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      message: expect.stringContaining('NO_SUCH_SECRET_VAR'),
    });
    expect(await listDeployments(ws)).toEqual([]);
  });
});
