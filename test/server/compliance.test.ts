/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { login } from '../../src/app/remote/login.js';
import { withServices } from '../../src/app/services.js';
import { createHash } from 'node:crypto';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../src/test-support/services.js';
import { startTeam, type Team } from './harness.js';

const pg = await postgresAvailable();

async function eventsOf(t: Team, filter: Record<string, string>) {
  const r = await t.call('admin', 'GET', `/api/v1/audit/events?${new URLSearchParams(filter)}`);
  expect(r.status).toBe(200);
  return r.json as Array<{ index: number; event: any }>;
}

function clientEnv(): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(tmpdir(), 'cairn-client-'));
  return { ...process.env, CAIRN_CONFIG_DIR: join(home, 'config'), CAIRN_WORKSPACE: '', CAIRN_SERVER: '' };
}

// Holds, erasure and the dossier as server operations: roles decide who may, the acting identity
// is in every event, and the refusals are logged too.
describe.each([
  ['sqlite', false],
  ['postgres', true],
])('compliance on a team server (%s)', (_name, usePg) => {
  let t: Team;
  let schema: string | null = null;
  let model: string;
  beforeAll(async () => {
    if (usePg && !pg) return;
    const db = usePg ? freshPgUrl() : null;
    schema = db?.schema ?? null;
    t = await startTeam(db ? { db: db.url } : {});
    model = await t.trainAs('alice', 'churn');
  }, 120_000);
  afterAll(async () => {
    await t?.close();
    if (schema) await dropSchema(schema);
  });
  const skip = () => usePg && !pg;
  const post = (who: string, path: string, body: unknown) => t.call(who, 'POST', `/api/v1${path}`, body);

  it('lets only approvers and admins place and lift holds; a held version cannot be erased', async () => {
    if (skip()) return;
    for (const who of ['carol', 'alice']) {
      const r = await post(who, '/compliance/holds', { ref: 'churn-data@v1', reason: 'case 7' });
      expect(r.status, who).toBe(403);
      expect(r.json.error.code).toBe('PERMISSION_DENIED');
    }
    const held = await post('bob', '/compliance/holds', { ref: 'churn-data@v1', reason: 'litigation, case 7' });
    expect(held.status).toBe(200);
    expect(held.json).toMatchObject({ kind: 'hold', active: true, createdBy: 'bob' });
    const listed = await t.call('carol', 'GET', '/api/v1/compliance/holds?ref=churn-data%40v1');
    expect(listed.json.map((h: any) => h.id)).toEqual([held.json.id]);

    const refused = await post('admin', '/compliance/erasures', { ref: 'churn-data@v1', reason: 'Art. 17 #1' });
    expect(refused.status).toBe(423);
    expect(refused.json.error.code).toBe('HELD');
    const denied = (await eventsOf(t, { action: 'dataset.erase' })).filter((e) => e.event.outcome === 'denied');
    expect(denied.map((e) => e.event.actor.id)).toEqual(['admin']);
    // The reason may name a person: the log carries its digest only.
    expect(JSON.stringify(denied)).not.toContain('Art. 17 #1');

    const early = await post('alice', '/compliance/holds/release', { ref: 'churn-data@v1', reason: 'done' });
    expect(early.status).toBe(403);
    const lifted = await post('dana', '/compliance/holds/release', { ref: 'churn-data@v1', reason: 'case closed' });
    expect(lifted.status).toBe(200);
    expect(lifted.json).toMatchObject([{ id: held.json.id, active: false, releasedBy: 'dana' }]);
    const ev = await eventsOf(t, { action: 'dataset.hold.release' });
    expect(ev.map((e) => e.event.actor.id)).toEqual(['dana']);
  });

  it('refuses erasure to viewers, contributors and approvers, logging each; an admin erases with the impact list', async () => {
    if (skip()) return;
    for (const who of ['carol', 'alice', 'bob']) {
      const r = await post(who, '/compliance/erasures', { ref: 'churn-data@v1', reason: 'Art. 17 #2' });
      expect(r.status, who).toBe(403);
    }
    const denials = (await eventsOf(t, { action: 'server.denied' })).filter(
      (e) => e.event.target.name === 'compliance.erase',
    );
    expect(denials.map((e) => e.event.actor.id).sort()).toEqual(['alice', 'bob', 'carol']);
    // Bad input is refused by the contract before any service runs.
    expect((await post('admin', '/compliance/erasures', { ref: 'churn-data@v1' })).status).toBe(400);
    expect((await post('admin', '/compliance/erasures', { ref: 'churn-data@v1', reason: '' })).status).toBe(400);

    const r = await post('admin', '/compliance/erasures', { ref: 'churn-data@v1', reason: 'Art. 17 #2' });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ versions: ['churn-data@v1'], alreadyErased: false });
    expect(r.json.gc.bytesFreed).toBeGreaterThan(0);
    // Exactly what lineage --down shows, from the server's own graph.
    const down = (await t.call('carol', 'GET', '/api/v1/lineage?ref=churn-data%40v1&direction=down')).json;
    const byType = (type: string) => down.nodes.filter((n: any) => n.type === type && n.key !== down.root);
    expect(r.json.impact.runs.map((x: any) => x.id).sort()).toEqual(
      byType('run')
        .map((n: any) => n.id)
        .sort(),
    );
    expect(r.json.impact.models.map((x: any) => x.ref)).toEqual(byType('model_version').map((n: any) => n.ref));
    expect(r.json.impact.models).toHaveLength(1);
    const erased = (await eventsOf(t, { action: 'dataset.erase' })).filter((e) => e.event.outcome === 'ok');
    expect(erased).toHaveLength(1);
    expect(erased[0]!.event.actor.id).toBe('admin');

    // Its bytes are gone: reads that need them answer ERASED (410), metadata still answers.
    const diff = await t.call('carol', 'GET', '/api/v1/versions/diff?from=churn-data%40v1&to=churn-data%40v1');
    expect(diff.status).toBe(410);
    expect(diff.json.error.code).toBe('ERASED');
    expect((await t.call('carol', 'GET', '/api/v1/versions/show?ref=churn-data%40v1')).status).toBe(200);
    const again = await post('admin', '/compliance/erasures', { ref: 'churn-data@v1', reason: 'Art. 17 #2' });
    expect(again.json.alreadyErased).toBe(true);
    expect((await eventsOf(t, { action: 'dataset.erase' })).filter((e) => e.event.outcome === 'ok')).toHaveLength(1);

    const verify = await post('admin', '/audit/verify', { deep: true, artifacts: true });
    expect(verify.json.ok).toBe(true);
  });

  it('erases a subject on the server: admin only, the dry run changes nothing, then the files go', async () => {
    if (skip()) return;
    const rt = t.server.runtime;
    const scope = { actor: { id: 'alice', auth: 'token' as const }, command: 'test add' };
    const dir = mkdtempSync(join(tmpdir(), 'cairn-data-'));
    writeFileSync(join(dir, 'u1.txt'), 'PII of u1');
    writeFileSync(join(dir, 'u2.txt'), 'PII of u2');
    await rt.runAs(scope, () => rt.services.datasets.add({ source: dir, name: 'people' }));
    const body = { ref: 'people', subject: 'u1', key: '{subject}.txt', reason: 'Art. 17 #3' };
    for (const who of ['carol', 'alice', 'bob'])
      expect((await post(who, '/compliance/erasures/subject', { ...body, dryRun: true })).status, who).toBe(403);
    const plan = await post('admin', '/compliance/erasures/subject', { ...body, dryRun: true });
    expect(plan.status).toBe(200);
    expect(plan.json.versions.map((v: any) => v.remove.map((f: any) => f.path))).toEqual([['u1.txt']]);
    expect((await t.call('carol', 'GET', '/api/v1/datasets/log?name=people')).json).toHaveLength(1);
    // Path tricks in the pattern are refused before anything is read.
    const tricky = await post('admin', '/compliance/erasures/subject', { ...body, key: '../{subject}.txt' });
    expect(tricky.status).toBe(422);
    expect(tricky.json.error.code).toBe('INVALID_INPUT');
    const r = await post('admin', '/compliance/erasures/subject', body);
    expect(r.status).toBe(200);
    expect(r.json.versions[0].replacement.ref).toBe('people@v2');
    const shown = (await t.call('carol', 'GET', '/api/v1/versions/show?ref=people%40v2')).json;
    expect(JSON.stringify(shown)).not.toContain('u1.txt');
    const events = (await eventsOf(t, { action: 'dataset.erase' })).filter((e) => e.event.params.bySubject);
    expect(events.map((e) => [e.event.actor.id, e.event.outcome])).toEqual([['admin', 'ok']]);
    expect(JSON.stringify(events)).not.toContain('u1');
  });

  it('builds the dossier on the server and a client writes it after checking every proof with its pinned key', async () => {
    if (skip()) return;
    const env = clientEnv();
    await login(t.server.url, t.tokens.carol!, env);
    const out = join(mkdtempSync(join(tmpdir(), 'cairn-dossier-')), 'd');
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-nows-'));
    const r = await withServices({ cwd, env }, (s) => s.compliance.dossier(model, out));
    expect(r.dir).toBe(out);
    expect(r.proofs).toBeGreaterThan(0);
    const d = JSON.parse(readFileSync(join(out, 'dossier.json'), 'utf8'));
    expect(d.model.name).toBe('churn');
    expect(readFileSync(join(out, 'verifier-key.txt'), 'utf8').trim()).toBe(t.server.runtime.verifierKey);
    const reads = (await eventsOf(t, { action: 'server.read' })).filter(
      (e) => e.event.target.name === 'compliance.dossier',
    );
    expect(reads.map((e) => e.event.actor.id)).toEqual(['carol']);
    // The same calls as the CLI's, through the client services: holds as an approver.
    const envBob = clientEnv();
    await login(t.server.url, t.tokens.bob!, envBob);
    const h = await withServices({ cwd, env: envBob }, (s) =>
      s.compliance.hold(`model:churn@v1`, { reason: 'AI Act Art. 18', retainUntil: '2099-01-01' }),
    );
    expect(h).toMatchObject({ kind: 'retention', createdBy: 'bob' });
    await expect(
      withServices({ cwd, env }, (s) => s.compliance.hold('model:churn@v1', { reason: 'x' })),
    ).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
  });

  it('refuses a dossier whose proofs do not verify with the pinned key (a tampering server or proxy)', async () => {
    if (skip()) return;
    const proxy = await tamperingProxy(t.server.url);
    try {
      const env = clientEnv();
      // Pinned to the real server's key, through the proxy.
      await login(proxy.url, t.tokens.carol!, env, { key: t.server.runtime.verifierKey });
      const out = join(mkdtempSync(join(tmpdir(), 'cairn-dossier-')), 'd');
      const cwd = mkdtempSync(join(tmpdir(), 'cairn-nows-'));
      await expect(withServices({ cwd, env }, (s) => s.compliance.dossier('churn@v1', out))).rejects.toMatchObject({
        code: 'CHECK_FAILED',
      });
      expect(existsSync(out)).toBe(false);
    } finally {
      await new Promise((res) => proxy.server.close(res));
    }
  });
});

/**
 * A man in the middle that passes everything through but rewrites one statement of each proof in a
 * dossier answer, as a server that rewrote its history would have to.
 */
async function tamperingProxy(target: string): Promise<{ url: string; server: Server }> {
  const up = new URL(target);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const fwd = request(
        {
          host: up.hostname,
          port: up.port,
          path: req.url,
          method: req.method,
          headers: { ...req.headers, host: up.host },
        },
        (r) => {
          const body: Buffer[] = [];
          r.on('data', (c: Buffer) => body.push(c));
          r.on('end', () => {
            let out = Buffer.concat(body);
            if (req.url?.startsWith('/api/v1/compliance/dossier') && r.statusCode === 200) {
              const j = JSON.parse(out.toString('utf8'));
              for (const [k, v] of Object.entries(j.files as Record<string, string>))
                if (k.startsWith('proofs/')) {
                  const p = JSON.parse(v);
                  // A consistent forgery: another entry and its own leaf hash; only the path to the signed root betrays it.
                  p.entry = String(p.entry).replace(/"time":"[^"]*"/, '"time":"2000-01-01T00:00:00.000Z"');
                  p.leafHash = createHash('sha256')
                    .update(Buffer.concat([Buffer.from([0]), Buffer.from(p.entry, 'utf8')]))
                    .digest('hex');
                  j.files[k] = JSON.stringify(p);
                }
              out = Buffer.from(JSON.stringify(j));
            }
            const headers = { ...r.headers };
            delete headers['content-length'];
            delete headers['transfer-encoding'];
            res.writeHead(r.statusCode ?? 502, headers);
            res.end(out);
          });
        },
      );
      fwd.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', res));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}
