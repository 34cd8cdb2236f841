import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oidcSettings } from '../../src/app/oidc/index.js';
import { startServer, type RunningServer } from '../../src/server/start.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../src/test-support/services.js';
import { browse, startIdp, type TestIdp } from '../server/idp.js';
import { startTeam, type Team } from '../server/harness.js';

/**
 * docs/SERVER.md "Several server processes": two server processes on one PostgreSQL database
 * behind a round-robin load balancer, "no sticky sessions needed". A browser's sign-in starts on
 * one process (`/auth/login` seals the sign-in into a cookie) and comes back from the provider to
 * the other (`/auth/callback`): a seal key of each process's own made every such sign-in fail, so
 * half the people could not sign in. Real provider, real servers, a real proxy between.
 */
const pg = await postgresAvailable();
if (!pg && process.env.CAIRN_REQUIRE_SERVICES === '1')
  throw new Error('PostgreSQL is required (CAIRN_REQUIRE_SERVICES=1)');
if (!pg) console.warn('server-oidc-balanced.test: PostgreSQL not reachable, skipped');

let idp: TestIdp;
let t: Team;
let second: RunningServer;
let balancer: http.Server;
let front = '';
let schema = '';

/** Round robin over the processes, one request each, the Host header passed on (as a load balancer does). */
function roundRobin(targets: string[]): Promise<http.Server> {
  let next = 0;
  const s = http.createServer((req, res) => {
    const to = new URL(targets[next++ % targets.length]!);
    const up = http.request(
      { host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.rawHeaders);
        r.pipe(res);
      },
    );
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  return new Promise((resolve) => s.listen(0, '127.0.0.1', () => resolve(s)));
}

beforeAll(async () => {
  if (!pg) return;
  idp = await startIdp({ 'u-3001': { preferred_username: 'ines', email: 'ines@example.com', groups: ['ml'] } });
  const db = freshPgUrl();
  schema = db.schema;
  const oidc = oidcSettings({ issuer: idp.issuer, clientId: idp.clientId })!;
  t = await startTeam({ db: db.url, oidc });
  second = await startServer({ listen: '127.0.0.1:0', dataDir: t.dataDir, db: db.url, env: process.env, oidc });
  balancer = await roundRobin([t.server.url, second.url]);
  front = `http://127.0.0.1:${(balancer.address() as AddressInfo).port}`;
  idp.configure([`${front}/auth/callback`]);
  await t.server.runtime.runAs({ actor: { id: 'host-admin', auth: 'os-user' }, command: 'test' }, () =>
    t.server.runtime.identity.grant('group:ml', '*', 'viewer'),
  );
}, 120_000);
afterAll(async () => {
  balancer?.close();
  await second?.close();
  await t?.close();
  await idp?.close();
  if (schema) await dropSchema(schema).catch(() => {});
});

describe.skipIf(!pg)('attack: browser sign-in through a load balancer over two server processes', () => {
  it('a sign-in started on one process finishes on the other', async () => {
    for (let i = 0; i < 3; i++) {
      // Each sign-in is three requests to the servers (login, callback, whoami): the callback lands
      // on the other process than the login, whichever process the login reached.
      const end = await browse(`${front}/auth/login?return_to=/api/v1/whoami`, 'u-3001', new Map());
      expect(end.status, end.body.slice(0, 300)).toBe(200);
      expect(JSON.parse(end.body)).toMatchObject({ user: 'ines' });
    }
  }, 120_000);
});
