// The team server through the real CLI, as an admin and two people would use it.
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, cliSpawn } from '../../src/test-support/cli.js';

type Child = ReturnType<typeof cliSpawn>;
const children: Child[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

/** Starts `cairn server start` on a free port and resolves with its URL once it listens. */
async function startCli(cwd: string, dataDir: string): Promise<{ child: Child; url: string }> {
  const child = cliSpawn(['server', 'start', '--data-dir', dataDir, '--listen', '127.0.0.1:0', '--json'], { cwd });
  children.push(child);
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /"url":\s*"([^"]+)"/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
  return { child, url };
}

describe('cairn server start, accounts and login through the CLI', () => {
  it('serves two people with different tokens; CAIRN_ACTOR changes nothing; SIGTERM stops it cleanly', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-srv-cli-'));
    const dataDir = join(cwd, 'data');
    const host = { cwd };
    expect(cli(['server', 'user', 'add', 'root', '--role', 'admin', '--data-dir', dataDir], host).code).toBe(0);
    const rootTok = cli(['server', 'token', 'create', '--user', 'root', '--data-dir', dataDir, '--json'], host)
      .json as {
      token: string;
    };
    const { child, url } = await startCli(cwd, dataDir);
    const home = (who: string) => ({ cwd: mkdtempSync(join(tmpdir(), `cairn-${who}-`)) });
    const as = (who: string, extra: NodeJS.ProcessEnv = {}) => ({
      ...home(who),
      env: { CAIRN_CONFIG_DIR: join(cwd, `cfg-${who}`), CAIRN_ACTOR: 'mallory', ...extra },
    });
    const root = as('root');
    const login = cli(['login', url, '--token', rootTok.token, '--json'], root);
    expect(login.code, login.stderr).toBe(0);
    expect(statSync(join(cwd, 'cfg-root', 'credentials.json')).mode & 0o777).toBe(0o600);
    // The admin adds people through the API.
    expect(cli(['server', 'user', 'add', 'ana', '--role', 'viewer', '--json'], root).code).toBe(0);
    const anaTok = (
      cli(['server', 'token', 'create', '--user', 'ana', '--expires', '1h', '--json'], root).json as { token: string }
    ).token;
    const ana = as('ana');
    // From stdin, so the token is on no command line; an empty stdin is refused, nothing stored.
    const empty = cli(['login', url, '--token', '-'], { ...ana, input: ' \n' });
    expect(empty.code).not.toBe(0);
    expect(empty.stderr).toMatch(/expects one token on stdin/);
    expect(cli(['whoami', '--json'], ana).json).toBeNull();
    const viaStdin = cli(['login', url, '--token', '-'], { ...ana, input: `${anaTok}\n` });
    expect(viaStdin.code, viaStdin.stderr).toBe(0);
    const who = cli(['whoami', '--json'], ana);
    expect(who.json).toMatchObject({ user: 'ana', url });
    expect(cli(['model', 'ls', '--json'], ana).code).toBe(0);
    // A viewer may not manage accounts, and the refusal is a stable code and exit status.
    const denied = cli(['server', 'user', 'add', 'eve', '--json'], ana);
    expect(denied.code).toBe(1);
    expect(denied.stdout + denied.stderr).toMatch(/PERMISSION_DENIED/);
    const log = cli(['audit', 'log', '--json'], root);
    const events = log.json as Array<{ actor: { id: string }; action: string }>;
    expect(events.some((e) => e.actor.id === 'ana' && e.action === 'server.read')).toBe(true);
    expect(events.some((e) => e.actor.id === 'ana' && e.action === 'server.denied')).toBe(true);
    expect(events.some((e) => e.actor.id === 'mallory')).toBe(false);
    const verify = cli(['audit', 'verify', '--json'], ana);
    expect(verify.code, verify.stderr).toBe(0);
    expect(cli(['logout'], ana).code).toBe(0);
    expect(cli(['whoami', '--json'], ana).json).toBeNull();
    // A revoked token stops working at once.
    const list = cli(['server', 'token', 'ls', '--user', 'ana', '--json'], root).json as Array<{ id: string }>;
    expect(cli(['server', 'token', 'revoke', list[0]!.id], root).code).toBe(0);
    const after = cli(
      ['model', 'ls'],
      as('ana', {
        CAIRN_SERVER: url,
        CAIRN_TOKEN: anaTok,
        CAIRN_SERVER_KEY: (login.json as { verifierKey: string }).verifierKey,
      }),
    );
    expect(after.code).toBe(1);
    expect(after.stdout + after.stderr).toMatch(/UNAUTHENTICATED[^]*revoked/);
    child.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child.once('exit', r));
    expect(code).toBe(0);
  });
});
