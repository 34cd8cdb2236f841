import { cpSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { login, logout, whoami } from '../../src/app/remote/login.js';
import { credentialsPath } from '../../src/app/remote/credentials.js';
import { withServices } from '../../src/app/services.js';
import { startServer } from '../../src/server/start.js';
import { startTeam, type Team } from './harness.js';

const teams: Team[] = [];
afterEach(async () => {
  for (const t of teams.splice(0)) await t.close().catch(() => {});
});

function clientEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(tmpdir(), 'cairn-client-'));
  // No workspace here: commands go to the server the client logged in to.
  return { ...process.env, CAIRN_CONFIG_DIR: join(home, 'config'), CAIRN_WORKSPACE: '', CAIRN_SERVER: '', ...extra };
}

describe('the CLI as a server client', () => {
  it('logs in, keeps the token owner-only, acts as the token’s account and logs out', async () => {
    const t = await startTeam();
    teams.push(t);
    const env = clientEnv();
    const r = await login(t.server.url, t.tokens.bob, env);
    expect(r).toMatchObject({ user: 'bob', pinned: 'first-use', verifierKey: t.server.runtime.verifierKey });
    expect(statSync(credentialsPath(env)).mode & 0o777).toBe(0o600);
    expect((await whoami(env))?.user).toBe('bob');
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-nows-'));
    const models = await withServices({ cwd, env }, (s) => s.models.list());
    expect(models).toEqual([]);
    await expect(
      withServices({ cwd, env }, (s) => s.datasets.add({ path: '.', name: 'x' } as never)),
    ).rejects.toMatchObject({
      code: 'NOT_ON_SERVER',
    });
    expect(logout(env, undefined, false).loggedOut).toEqual([t.server.url]);
    expect(await whoami(env)).toBeNull();
  });

  it('refuses a server whose key changed since login, unless the new key is given', async () => {
    const t = await startTeam();
    teams.push(t);
    const env = clientEnv();
    await login(t.server.url, t.tokens.carol, env);
    const url = new URL(t.server.url);
    await t.close();
    // Another server (another key) now answers at the same address.
    const other = await startTeam();
    teams.push(other);
    const impostor = await startServer({ listen: `127.0.0.1:${url.port}`, dataDir: other.dataDir });
    try {
      await expect(login(t.server.url, other.tokens.carol, env)).rejects.toMatchObject({ code: 'UNTRUSTED_KEY' });
      const again = await login(t.server.url, other.tokens.carol, env, { key: other.server.runtime.verifierKey });
      expect(again.pinned).toBe('given');
    } finally {
      await impostor.close();
    }
  });

  it('catches a server whose history was rewritten after the client saw it', async () => {
    const t = await startTeam();
    teams.push(t);
    const env = clientEnv();
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-nows-'));
    // The operator keeps a copy of the data dir, lets history grow, then puts the copy back and
    // writes a different history on top (a restored backup, or a deliberate rewrite).
    const copy = mkdtempSync(join(tmpdir(), 'cairn-copy-'));
    const url = new URL(t.server.url);
    await t.server.close();
    cpSync(t.dataDir, copy, { recursive: true });
    let s = await startServer({ listen: `127.0.0.1:${url.port}`, dataDir: t.dataDir });
    await login(s.url, t.tokens.alice, env);
    for (let i = 0; i < 5; i++) await withServices({ cwd, env }, (x) => x.models.list());
    await s.close();
    rmSync(t.dataDir, { recursive: true, force: true });
    cpSync(copy, t.dataDir, { recursive: true });
    s = await startServer({ listen: `127.0.0.1:${url.port}`, dataDir: t.dataDir });
    try {
      // The rewritten log is longer than what the client saw, but does not contain it.
      const host = { actor: { id: 'host-admin', auth: 'os-user' as const }, command: 'rewrite' };
      for (let i = 0; i < 30; i++)
        await s.runtime.runAs(host, () => s.runtime.identity.addAccount({ name: `filler${i}` }));
      await expect(withServices({ cwd, env }, (x) => x.models.list())).rejects.toMatchObject({
        code: 'AUDIT_INCONSISTENT',
      });
    } finally {
      await s.close();
    }
  });

  it('verifies the whole server log on the client with the pinned key', async () => {
    const t = await startTeam();
    teams.push(t);
    const env = clientEnv();
    await login(t.server.url, t.tokens.carol, env);
    await t.registerAs('alice', 'churn');
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-nows-'));
    const report = await withServices({ cwd, env }, (s) => s.audit.verify({}));
    expect(report.ok).toBe(true);
    expect(report.trusted?.size).toBeGreaterThan(5);
  });
});
