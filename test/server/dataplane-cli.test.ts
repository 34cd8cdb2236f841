import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, cliSpawn } from '../../src/test-support/cli.js';

const started: Array<ReturnType<typeof cliSpawn>> = [];
afterEach(async () => {
  for (const p of started.splice(0)) {
    const gone = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await gone;
  }
});

describe('the data plane through the real CLI', () => {
  it('cairn server start --store, then init, data add, login, remote add, push; the server lists the version; init --server links a workspace', async () => {
    const home = mkdtempSync(join(tmpdir(), 'cairn-dpcli-'));
    const env = { CAIRN_CONFIG_DIR: join(home, 'config'), CAIRN_SERVER: '', CAIRN_TOKEN: '', CAIRN_WORKSPACE: '' };
    const srv = join(home, 'srv');
    expect(
      cli(['server', 'user', 'add', 'alice', '--role', 'contributor', '--data-dir', srv], { cwd: home, env }).code,
    ).toBe(0);
    const tok = cli(['server', 'token', 'create', '--user', 'alice', '--data-dir', srv, '--json'], { cwd: home, env });
    const token = (tok.json as { token: string }).token;
    const server = cliSpawn(
      ['server', 'start', '--data-dir', srv, '--listen', '127.0.0.1:0', '--store', `file://${join(home, 'store')}`],
      { cwd: home, env },
    );
    started.push(server);
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      server.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /Cairn server on (http:\/\/\S+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      server.once('exit', (c) => reject(new Error(`server exited ${c}`)));
    });
    const ws = join(home, 'ws');
    const src = join(home, 'src');
    mkdirSync(ws);
    mkdirSync(src);
    writeFileSync(join(src, 'a.txt'), 'hello team\n');
    for (const args of [
      ['init'],
      ['data', 'add', src, '--name', 'greet'],
      ['login', url, '--token', token],
      ['remote', 'add', 'team', url],
    ]) {
      const r = cli(args, { cwd: ws, env });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const pushed = cli(['push', '--remote', 'team', '--json'], { cwd: ws, env });
    expect(pushed.code, pushed.stderr).toBe(0);
    expect(pushed.json).toMatchObject({ versions: 1, packs: { sent: 1 }, server: { imported: { versions: 1 } } });
    // Outside the workspace, commands act on the server alice logged in to.
    const ls = cli(['data', 'ls', '--json'], { cwd: home, env });
    expect(ls.code, ls.stderr).toBe(0);
    expect(JSON.stringify(ls.json)).toContain('greet');
    // The server's log (with the import recorded as alice) verifies on this client with the pinned key.
    const verify = cli(['audit', 'verify', '--json'], { cwd: home, env });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(verify.json).toMatchObject({ ok: true });

    // A second workspace linked at init: the server is its default remote, so a bare push goes there.
    const ws2 = join(home, 'ws2');
    mkdirSync(ws2);
    writeFileSync(join(src, 'b.txt'), 'second\n');
    const linked = cli(['init', '--server', url, '--json'], { cwd: ws2, env });
    expect(linked.code, linked.stderr).toBe(0);
    expect(linked.json).toMatchObject({ server: { remote: 'team', url, signedInAs: 'alice' } });
    expect(cli(['data', 'add', src, '--name', 'greet2'], { cwd: ws2, env }).code).toBe(0);
    const bare = cli(['push', '--json'], { cwd: ws2, env });
    expect(bare.code, bare.stderr).toBe(0);
    expect(bare.json).toMatchObject({ server: { imported: { versions: 1 } } });
    // A URL that is no remote at all leaves no half-made workspace behind.
    const ws3 = join(home, 'ws3');
    mkdirSync(ws3);
    const bad = cli(['init', '--server', 'ftp://nope'], { cwd: ws3, env });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/ftp/);
    expect(existsSync(join(ws3, '.cairn'))).toBe(false);
  }, 120_000);
});
