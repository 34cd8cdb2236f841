/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/server/start.js';
import { startTeam, type Team } from '../server/harness.js';
import { bundleVerifies } from './bundle-check.js';

/**
 * The team server over real HTTP on loopback, from a hostile team member: requests sent byte for
 * byte as written (no client normalizing paths or merging headers), then the audit log checked
 * both by Cairn's verifier and by the bundle's own verify.py.
 */
let t: Team;
beforeAll(async () => {
  t = await startTeam();
}, 120_000);
afterAll(async () => {
  await t?.close();
});

/** One HTTP/1.1 request written on a socket byte for byte: the path and headers exactly as given. */
function raw(
  method: string,
  path: string,
  headers: Array<[string, string]>,
  body?: string,
): Promise<{ status: number; json: any; text: string }> {
  const u = new URL(t.server.url);
  return new Promise((resolve, reject) => {
    const lines = [`${method} ${path} HTTP/1.1`, `host: ${u.host}`, 'connection: close'];
    for (const [k, v] of headers) lines.push(`${k}: ${v}`);
    const payload = Buffer.from(body ?? '', 'utf8');
    if (body !== undefined) lines.push(`content-length: ${payload.length}`);
    const sock = connect(Number(u.port), u.hostname);
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', reject);
    sock.on('close', () => {
      const all = Buffer.concat(chunks).toString('latin1');
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(all)?.[1] ?? 0);
      const head = all.indexOf('\r\n\r\n');
      let text = Buffer.from(all.slice(head + 4), 'latin1').toString('utf8');
      if (/transfer-encoding: chunked/i.test(all.slice(0, head))) text = text.replace(/(?:^|\r\n)[0-9a-f]+\r\n/gi, '');
      let json: any = null;
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
      resolve({ status, json, text });
    });
    sock.write(Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'), payload]));
  });
}

const bearer = (who: string): [string, string] => ['authorization', `Bearer ${t.tokens[who]}`];

describe('headers', () => {
  it('two Authorization headers never add up to more than one of them grants', async () => {
    // carol (viewer) sends her token and a forged one, in both orders, to a write.
    for (const headers of [
      [bearer('carol'), ['authorization', 'Bearer cairn_tokAAAAAAAAAAAA_forged']],
      [['authorization', 'Bearer cairn_tokAAAAAAAAAAAA_forged'], bearer('carol')],
      [bearer('carol'), bearer('admin').map((v, i) => (i ? v.replace(/.$/, 'x') : v)) as [string, string]],
    ] as Array<Array<[string, string]>>) {
      const r = await raw(
        'PUT',
        '/api/v1/grants',
        [...headers, ['content-type', 'application/json']],
        JSON.stringify({ subject: 'user:carol', project: '*', role: 'admin' }),
      );
      // Node refuses a repeated Authorization (400) before any route; never a 200.
      expect([400, 401, 403]).toContain(r.status);
    }
    const who = await t.call('carol', 'GET', '/api/v1/whoami');
    expect(who.json.role).toBe('viewer');
  });

  it('X-Forwarded-* and a method override change nothing', async () => {
    const r = await raw('GET', '/api/v1/accounts', [
      bearer('carol'),
      ['x-forwarded-for', '127.0.0.1'],
      ['x-forwarded-user', 'admin'],
      ['x-http-method-override', 'PUT'],
      ['x-method-override', 'DELETE'],
    ]);
    expect(r.status, r.text).toBe(403);
    const viaQuery = await raw('GET', '/api/v1/tokens?_method=POST', [bearer('carol')]);
    expect(viaQuery.status).toBeGreaterThanOrEqual(400);
  });

  it('a viewer finds no write behind the UI routes', async () => {
    for (const [method, path] of [
      ['POST', '/runs'],
      ['POST', '/models/x'],
      ['PUT', '/api/v1//grants'],
      ['POST', '/api/v1/../api/v1/tokens'],
      ['POST', '/API/V1/tokens'],
      ['POST', '/api/v1/tokens/'],
    ]) {
      const r = await raw(
        method!,
        path!,
        [bearer('carol'), ['content-type', 'application/json']],
        JSON.stringify({ user: 'carol' }),
      );
      expect(r.status, `${method} ${path}: ${r.text.slice(0, 200)}`).not.toBe(200);
    }
  });
});

describe('store object keys', () => {
  it.each([
    '..%2F..%2F.cairn%2Fkeys%2Faudit.key',
    '%2e%2e/%2e%2e/.cairn/keys/audit.key',
    'meta/%2e%2e/proposals/x.json',
    'meta%2F..%2Fproposals%2Fx.json',
    './proposals/x.json',
    'proposals%2fx.json',
    'meta//state.json',
    'meta/state.json%00',
    'meta\\..\\..\\x',
    '%EF%BC%8E%EF%BC%8E/%EF%BC%8E%EF%BC%8E/.cairn/config.json',
  ])('GET and PUT %s: refused, nothing outside the store read or written', async (key) => {
    const get = await raw('GET', `/api/v1/store/objects/${key}`, [bearer('alice')]);
    expect(get.status, get.text.slice(0, 200)).toBeGreaterThanOrEqual(400);
    expect(get.text).not.toMatch(/PRIVATE|"origin"|BEGIN/);
    const put = await raw(
      'PUT',
      `/api/v1/store/objects/${key}`,
      [bearer('alice'), ['content-type', 'application/octet-stream']],
      'x',
    );
    expect(put.status, put.text.slice(0, 200)).toBeGreaterThanOrEqual(400);
  });
});

describe('idempotency keys across accounts and bodies', () => {
  it('the same key from another account runs its own request and never gets the first answer', async () => {
    const key = 'shared-key-1';
    const a = await t.call(
      'admin',
      'POST',
      '/api/v1/tokens',
      { user: 'alice', label: 'for alice' },
      { 'idempotency-key': key },
    );
    expect(a.status).toBe(200);
    const b = await t.call(
      'bob',
      'POST',
      '/api/v1/tokens',
      { user: 'alice', label: 'for alice' },
      { 'idempotency-key': key },
    );
    expect(b.status).toBe(403); // bob is not an admin: his own answer, not admin's replay
    expect(JSON.stringify(b.json)).not.toContain(a.json.id);
    // A different body under admin's key is a conflict, not admin's token.
    const c = await t.call('admin', 'POST', '/api/v1/tokens', { user: 'bob' }, { 'idempotency-key': key });
    expect([c.status, c.json.error.code]).toEqual([409, 'IDEMPOTENCY_CONFLICT']);
  });
});

describe('events a client can shape', () => {
  it('odd characters in a User-Agent, a path, a query and a reason keep the log verifiable by verify.py', async () => {
    const odd = 'a\u2028b\u2029c\u0085d\u007fe\u00ff\u00e9\u{1f600}\u200bz';
    await raw('GET', '/api/v1/datasets', [bearer('carol'), ['user-agent', 'curl/\u00ff\u00fe\u0080 x']]);
    await t.call('carol', 'GET', `/api/v1/models/${encodeURIComponent(odd)}/versions`);
    await raw('GET', '/api/v1/audit/events?actor=%ED%A0%80%F0%9F%98%80%00', [bearer('carol')]);
    await raw('GET', '/api/v1/runs/%00%ED%A0%80x%C0%AF', [bearer('carol')]);
    await t.call('bob', 'POST', '/api/v1/compliance/holds', { ref: 'nope@v1', reason: odd });
    await t.call('alice', 'POST', '/api/v1/models/x/versions', {
      fromRun: 'nope',
      signature: { [odd]: odd, '': [odd] },
    });
    const b = await bundleVerifies(t);
    expect(b.problems).toEqual([]);
    expect(b.ok).toBe(true);
    expect(b.py, b.py).toMatch(/^ok: /);
  });

  it('a token in a store path or User-Agent is not written into the log', async () => {
    const secret = t.tokens.bob!.split('_').slice(2).join('_');
    await raw('GET', `/api/v1/store/objects/meta/${t.tokens.bob}`, [
      bearer('alice'),
      ['user-agent', `x ${t.tokens.bob}`],
    ]);
    await raw(
      'PUT',
      `/api/v1/store/objects/audit/${t.tokens.bob}/x`,
      [bearer('alice'), ['user-agent', `x ${t.tokens.bob}`], ['content-type', 'application/octet-stream']],
      'x',
    );
    const b = await bundleVerifies(t);
    expect(b.text.includes(secret), 'a token secret is in the audit log').toBe(false);
  });
});

describe('requests no route takes', () => {
  const deniedOn = async (name: string): Promise<any[]> => {
    const r = await t.call('admin', 'GET', '/api/v1/audit/events?action=server.denied');
    expect(r.status).toBe(200);
    return (r.json as Array<{ event: any }>).map((e) => e.event).filter((e) => e.target?.name === name);
  };

  it('a path no route serves is a 404 and a server.denied event naming who the credential proves', async () => {
    const before = (await deniedOn('unrouted')).length;
    const get = await raw('GET', `/api/v1/admin/secrets/${t.tokens.bob}?x=1`, [bearer('carol')]);
    expect([get.status, get.json?.error?.code]).toEqual([404, 'NOT_FOUND']);
    const del = await raw('DELETE', '/api/v2/everything', []);
    expect([del.status, del.json?.error?.code]).toEqual([404, 'NOT_FOUND']);
    const forged = await raw('PATCH', '/auth/backdoor', [['authorization', 'Bearer cairn_forged_xxxxxxxx']]);
    expect(forged.status).toBe(404);
    const after = await deniedOn('unrouted');
    expect(after.length, 'probing for routes left no trace').toBe(before + 3);
    const [a, b, c] = after.slice(-3);
    expect(a).toMatchObject({ outcome: 'denied', actor: { id: 'carol', auth: 'token' } });
    expect(a.params).toMatchObject({ status: 404, method: 'GET' });
    expect(a.params.path).toMatch(/^\/api\/v1\/admin\/secrets\//);
    expect(JSON.stringify(a), 'a token in the path reached the log').not.toContain(
      t.tokens.bob!.split('_').slice(2).join('_'),
    );
    expect(b).toMatchObject({
      actor: { id: 'anonymous' },
      params: { status: 404, method: 'DELETE', path: '/api/v2/everything' },
    });
    expect(c).toMatchObject({ actor: { id: 'anonymous' }, params: { method: 'PATCH' } });
  });

  it("a request Node's parser refuses is answered 400/431 with a stable code and recorded", async () => {
    const before = (await deniedOn('unparsed')).length;
    const u = new URL(t.server.url);
    const send = (bytes: string) =>
      new Promise<string>((resolve, reject) => {
        const sock = connect(Number(u.port), u.hostname);
        const chunks: Buffer[] = [];
        sock.on('data', (c: Buffer) => chunks.push(c));
        sock.on('error', reject);
        sock.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
        sock.end(Buffer.from(bytes, 'latin1'));
      });
    const badLine = await send('GET /api/v1/datasets HTTP/9.9 junk\r\n\r\n');
    expect(badLine).toMatch(/^HTTP\/1\.1 400 /);
    expect(badLine).toContain('"code":"USAGE"');
    const badHeader = await send(`GET /api/v1/datasets HTTP/1.1\r\nhost: x\r\nbad header\r\n\r\n`);
    expect(badHeader).toMatch(/^HTTP\/1\.1 400 /);
    const huge = await send(`GET / HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_000)}\r\n\r\n`);
    expect(huge).toMatch(/^HTTP\/1\.1 431 /);
    // The events are appended after the answer: wait for them.
    let after: any[] = [];
    for (let i = 0; i < 50 && after.length < before + 3; i++) {
      after = await deniedOn('unparsed');
      if (after.length < before + 3) await new Promise((r) => setTimeout(r, 100));
    }
    expect(after.length, "requests refused by Node's parser left no trace").toBe(before + 3);
    expect(
      after
        .slice(-3)
        .map((e) => e.params.status)
        .sort(),
    ).toEqual([400, 400, 431]);
    for (const e of after.slice(-3)) expect(e).toMatchObject({ outcome: 'denied', actor: { id: 'anonymous' } });
    const b = await bundleVerifies(t);
    expect([b.ok, b.problems]).toEqual([true, []]);
  });
});

describe('tokens across a restart', () => {
  it('a revoked or expired token stays refused after the server restarts on the same data dir', async () => {
    const rt = t.server.runtime;
    const host = { actor: { id: 'host-admin', auth: 'os-user' as const }, command: 'test' };
    const revoked = await rt.runAs(host, () => rt.identity.createToken('alice', { expiresInMs: 3_600_000 }));
    const expiring = await rt.runAs(host, () => rt.identity.createToken('alice', { expiresInMs: 300 }));
    expect((await t.call(revoked.token, 'GET', '/api/v1/whoami')).status).toBe(200);
    expect((await t.call('admin', 'DELETE', `/api/v1/tokens/${revoked.id}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 400));
    await t.server.close();
    const again = await startServer({ listen: '127.0.0.1:0', dataDir: t.dataDir, env: process.env });
    try {
      for (const token of [revoked.token, expiring.token]) {
        const r = await fetch(`${again.url}/api/v1/whoami`, { headers: { authorization: `Bearer ${token}` } });
        expect(r.status).toBe(401);
      }
      const ok = await fetch(`${again.url}/api/v1/whoami`, { headers: { authorization: `Bearer ${t.tokens.alice}` } });
      expect(ok.status).toBe(200);
    } finally {
      await again.close();
    }
    // the harness closes t.server again in afterAll: make that a no-op
    t.server.close = async () => {};
  });
});
