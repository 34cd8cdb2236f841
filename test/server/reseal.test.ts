/* eslint-disable @typescript-eslint/no-explicit-any -- CLI and HTTP answers are checked field by field */
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startServer } from '../../src/server/start.js';
import { rawSqlite } from '../../src/test-support/audit-tamper.js';
import { cli } from '../../src/test-support/cli.js';
import { startTeam } from './harness.js';

/**
 * The session key (`keys/session.key`) seals every row the server authorizes from: lost, nobody
 * signs in and the server does not start. `cairn server reseal` on the host makes a new key and
 * seals the accounts, tokens and grants again — only those the audit log vouches for, so a row a
 * database writer slipped in while the key was lost is not blessed by the new seal.
 */
describe('cairn server reseal', () => {
  it('after a lost key: refuses while the log does not vouch for a row, then seals again and tokens work', async () => {
    const t = await startTeam({ roles: { admin: 'admin', alice: 'contributor' } });
    expect((await t.call('alice', 'GET', '/api/v1/datasets')).status).toBe(200);
    await t.close();
    const keyFile = join(t.dataDir, '.cairn', 'keys', 'session.key');
    rmSync(keyFile);
    await expect(startServer({ listen: '127.0.0.1:0', dataDir: t.dataDir, env: process.env })).rejects.toMatchObject({
      code: 'CONFIG_INVALID',
      hint: expect.stringContaining('cairn server reseal'),
    });

    // While the key was lost, someone with the database gave alice admin on every project.
    const db = rawSqlite(t.dataDir);
    await db.run("update role_grants set role = 'admin' where subject = 'user:alice'");
    const refused = cli(['server', 'reseal', '--data-dir', t.dataDir, '--json'], { cwd: t.dataDir });
    expect(refused.code, refused.stderr).toBe(1);
    expect((refused.json as any)?.error?.code ?? refused.stderr).toMatch(/STATE_MISMATCH/);
    expect(refused.stderr + JSON.stringify(refused.json)).toMatch(/grants admin but the log recorded contributor/);
    expect(existsSync(keyFile)).toBe(false);
    await db.run("update role_grants set role = 'contributor' where subject = 'user:alice'");
    await db.close();

    const r = cli(['server', 'reseal', '--data-dir', t.dataDir, '--json'], { cwd: t.dataDir });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ accounts: 2, tokens: 2, grants: 2, sessions: 0, keyFile });
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);

    const s = await startServer({ listen: '127.0.0.1:0', dataDir: t.dataDir, env: process.env });
    try {
      const as = (who: string, path: string, init: RequestInit = {}) =>
        fetch(s.url + path, { ...init, headers: { authorization: `Bearer ${t.tokens[who]}`, ...init.headers } });
      expect((await as('alice', '/api/v1/datasets')).status).toBe(200);
      // Still a contributor, as the log says: the team's accounts are an admin's.
      expect((await as('alice', '/api/v1/accounts')).status).toBe(403);
      const ev = (await (await as('admin', '/api/v1/audit/events?action=server.keys.reseal')).json()) as any[];
      expect(ev.map((e) => [e.event.action, e.event.outcome, e.event.params])).toEqual([
        ['server.keys.reseal', 'ok', { accounts: 2, tokens: 2, grants: 2, sessions: 0 }],
      ]);
    } finally {
      await s.close();
    }
  }, 120_000);
});
