// `cairn ui` as an HTTP server, without a browser: loopback names only, writes only with the
// CSRF header, caching headers, the SPA fallback, and the routes the UI added (paging, fields,
// curves, readiness) answering on a real workspace with real runs.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../../src/test-support/cli.js';
import { serve } from './support.js';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** cairn ui's secret, sent as a bearer token by `raw` unless a test says otherwise. */
let secret = '';

/** A raw request, so the Host header is ours to set (fetch does not allow it). */
function raw(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string; anonymous?: boolean } = {},
) {
  const headers = { ...(opts.anonymous ? {} : { authorization: `Bearer ${secret}` }), ...(opts.headers ?? {}) };
  return new Promise<Answer>((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('cairn ui over HTTP', () => {
  let ws = '';
  let ui: Awaited<ReturnType<typeof serve>>;
  const runs: string[] = [];

  beforeAll(async () => {
    ws = mkdtempSync(join(tmpdir(), 'cairn-ui-serve-'));
    expect(cli(['init'], { cwd: ws }).code).toBe(0);
    const metric = `for s in 0 1 2 3 4 5 6 7 8 9; do echo "{\\"kind\\":\\"metric\\",\\"name\\":\\"loss\\",\\"step\\":$s,\\"value\\":{params.lr}}" >> "$CAIRN_METRICS_FILE"; done`;
    writeFileSync(
      join(ws, 'cairn.yaml'),
      `name: train\ncommand: ${JSON.stringify(metric)}\nparams:\n  lr: 0.1\nresources:\n  time: 1m\n`,
    );
    for (const lr of ['0.1', '0.2', '0.3']) {
      const r = cli(['run', '--set', `params.lr=${lr}`, '--json'], { cwd: ws });
      expect(r.code, r.stderr).toBe(0);
      runs.push((r.json as { id: string }).id);
    }
    ui = await serve(['ui', '--port', '0'], ws, { CAIRN_ACTOR: 'tester@example.com' });
    secret = ui.token;
  }, 120_000);

  afterAll(async () => {
    await ui?.stop();
  });

  it('listens on 127.0.0.1 and answers only loopback names (DNS rebinding gets 403)', async () => {
    expect(new URL(ui.url).hostname).toBe('127.0.0.1');
    const good = await raw(`${ui.url}/api/v1/whoami`);
    expect(good.status).toBe(200);
    expect(JSON.parse(good.body)).toMatchObject({ local: true, role: 'admin', user: 'tester@example.com' });
    for (const host of ['localhost', '[::1]'])
      expect((await raw(`${ui.url}/api/v1/whoami`, { headers: { host: `${host}:1234` } })).status).toBe(200);
    for (const host of ['evil.example', 'evil.example:5000', '127.0.0.1.evil.example']) {
      const bad = await raw(`${ui.url}/api/v1/whoami`, { headers: { host } });
      expect(bad.status, host).toBe(403);
      expect(JSON.parse(bad.body).error.code).toBe('PERMISSION_DENIED');
      expect((await raw(`${ui.url}/runs`, { headers: { host } })).status).toBe(403);
    }
  });

  it('answers only whoever holds the secret it printed (other users of a shared machine reach 127.0.0.1 too)', async () => {
    expect(ui.token.length).toBeGreaterThanOrEqual(32);
    expect(ui.link).toBe(`${ui.url}/?token=${ui.token}`);
    const port = new URL(ui.url).port;
    // Nothing, a wrong secret, a prefix of it, the right value under another port's cookie name.
    const strangers: Array<Record<string, string>> = [
      {},
      { authorization: `Bearer ${ui.token.slice(0, -1)}x` },
      { authorization: `Bearer ${ui.token.slice(0, 10)}` },
      { cookie: `cairn_ui_${Number(port) + 1}=${ui.token}` },
      { cookie: `cairn_ui_${port}=${ui.token}x` },
    ];
    for (const headers of strangers) {
      const api = await raw(`${ui.url}/api/v1/whoami`, { anonymous: true, headers });
      expect(api.status, JSON.stringify(headers)).toBe(401);
      expect(JSON.parse(api.body).error.code).toBe('UNAUTHENTICATED');
      const page = await raw(`${ui.url}/runs`, { anonymous: true, headers: { ...headers, accept: 'text/html' } });
      expect(page.status).toBe(401);
      expect(page.body).toContain('?token=');
      expect(page.body).not.toContain(ui.token);
      const write = await raw(`${ui.url}/api/v1/audit/verify`, {
        method: 'POST',
        anonymous: true,
        headers: { ...headers, 'content-type': 'application/json', 'x-cairn-csrf': '1' },
        body: '{}',
      });
      expect(write.status).toBe(401);
    }
    expect((await raw(`${ui.url}/?token=nope`, { anonymous: true })).status).toBe(401);
    // The link: a cookie only scripts of this origin's requests carry, and the secret leaves the address bar.
    const link = await raw(`${ui.url}/runs?ids=a&token=${ui.token}`, { anonymous: true });
    expect(link.status).toBe(303);
    expect(link.headers.location).toBe('/runs?ids=a');
    const setCookie = String(link.headers['set-cookie']);
    expect(setCookie).toContain(`cairn_ui_${port}=${ui.token}`);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    const withCookie = await raw(`${ui.url}/api/v1/whoami`, {
      anonymous: true,
      headers: { cookie: `other=1; cairn_ui_${port}=${ui.token}` },
    });
    expect(withCookie.status).toBe(200);
    // The UI's code is public; its data is not.
    const index = await raw(`${ui.url}/`);
    const asset = /src="\/assets\/([^"]+)"/.exec(index.body)![1]!;
    expect((await raw(`${ui.url}/assets/${asset}`, { anonymous: true })).status).toBe(200);
    // The secret-free prefix does not reach data by dot segments (sent as written: a URL string
    // would be normalized by the client before it left).
    const { hostname, port: uiPort } = new URL(ui.url);
    for (const sneak of ['/assets/../api/v1/whoami', '/assets/%2e%2e/api/v1/whoami', '/assets/x/../../api/v1/whoami']) {
      const r = await new Promise<Answer>((resolve, reject) => {
        const req = request({ hostname, port: uiPort, path: sneak }, (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        });
        req.on('error', reject);
        req.end();
      });
      expect(r.status, sneak).not.toBe(200);
      expect(r.body, sneak).not.toContain('tester@example.com');
    }
  });

  it('takes a write only with the CSRF header (a cross-site form cannot send it)', async () => {
    const body = JSON.stringify({ deep: false });
    const form = await raw(`${ui.url}/api/v1/audit/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    expect(form.status).toBe(403);
    const ok = await raw(`${ui.url}/api/v1/audit/verify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-cairn-csrf': '1' },
      body,
    });
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body).ok).toBe(true);
  });

  it('serves index.html uncached for page routes, hashed assets immutable, API misses as JSON', async () => {
    const page = await raw(`${ui.url}/runs/compare?ids=x`);
    expect(page.status).toBe(200);
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    const asset = /src="\/assets\/([^"]+)"/.exec(page.body)![1]!;
    const js = await raw(`${ui.url}/assets/${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(js.headers['content-type']).toContain('javascript');
    expect((await raw(`${ui.url}/assets/nope.js`)).status).toBe(404);
    const miss = await raw(`${ui.url}/api/v1/nope`);
    expect(miss.status).toBe(404);
    expect(JSON.parse(miss.body).error.code).toBe('NOT_FOUND');
    // No data plane on a workspace serving itself.
    expect((await raw(`${ui.url}/api/v1/store/list`)).status).toBe(404);
  });

  it('pages runs on the server, lists fields, and returns many curves in one call', async () => {
    const get = async (path: string) => {
      const r = await raw(`${ui.url}/api/v1${path}`);
      expect(r.status, r.body).toBe(200);
      return JSON.parse(r.body);
    };
    const page1 = await get('/runs/find?limit=2&offset=0&columns=params.lr');
    const page2 = await get('/runs/find?limit=2&offset=2&columns=params.lr');
    expect(page1.matched).toBe(3);
    expect(page2.matched).toBe(3);
    const seen = [...page1.runs, ...page2.runs].map((r: { id: string }) => r.id);
    expect([...seen].sort()).toEqual([...runs].sort());
    const sorted = await get(`/runs/find?limit=1&offset=1&sort=-params.lr&columns=params.lr`);
    expect(sorted.runs.map((r: { values: Record<string, number> }) => r.values['params.lr'])).toEqual([0.2]);
    expect(await get('/runs/fields')).toEqual({ params: ['lr'], metrics: ['loss'] });
    const curves = await get(`/runs/curves?ids=${runs.join(',')}&name=loss&buckets=5`);
    expect(curves).toHaveLength(3);
    for (const [i, c] of curves.entries()) {
      expect(c.id).toBe(runs[i]);
      expect(c.points).toBe(10);
      expect(c.buckets).toHaveLength(5);
      expect(c.buckets[0].mean).toBeCloseTo(0.1 * (i + 1));
    }
    const none = await get(`/runs/curves?ids=${runs[0]}&name=absent`);
    expect(none[0]).toMatchObject({ points: 0, buckets: [] });
    const unknown = await raw(`${ui.url}/api/v1/runs/curves?ids=nope&name=loss`);
    expect(unknown.status).toBe(404);
  });
});
