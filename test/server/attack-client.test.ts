import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/app/remote/client.js';
import { credentialsPath } from '../../src/app/remote/credentials.js';
import { login } from '../../src/app/remote/login.js';
import { withServices } from '../../src/app/services.js';
import { startTeam, type Team } from './harness.js';

/** The CLI's side: a hostile server (or one in the middle) answering it, and a careless local setup. */
const teams: Team[] = [];
const proxies: Server[] = [];
afterEach(async () => {
  for (const p of proxies.splice(0)) {
    p.closeAllConnections();
    await new Promise((r) => p.close(r));
  }
  for (const t of teams.splice(0)) await t.close().catch(() => {});
});

function clientEnv(): NodeJS.ProcessEnv {
  const home = mkdtempSync(join(tmpdir(), 'cairn-client-'));
  return { ...process.env, CAIRN_CONFIG_DIR: join(home, 'config'), CAIRN_WORKSPACE: '', CAIRN_SERVER: '' };
}

type Rewrite = (path: string, body: Buffer) => Buffer | 'endless' | null;

/** A server in front of a real one that forwards everything and rewrites what `rewrite` chooses. */
async function hostile(target: string, rewrite: Rewrite): Promise<string> {
  const server = createServer((req, res) => {
    void (async () => {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter(([k]) => !['host', 'connection', 'content-length'].includes(k)),
      ) as Record<string, string>;
      const up = await fetch(target + req.url, {
        method: req.method!,
        headers,
        ...(chunks.length ? { body: Buffer.concat(chunks) } : {}),
      });
      const body = Buffer.from(await up.arrayBuffer());
      const out = rewrite(req.url!, body);
      res.writeHead(up.status, { 'content-type': 'application/json' });
      if (out === 'endless') {
        const block = Buffer.alloc(1 << 16, 0x20);
        const pump = () => {
          while (res.write(block));
        };
        res.on('drain', pump);
        res.write('{"files":');
        pump();
        return;
      }
      res.end(out ?? body);
    })().catch(() => res.destroy());
  });
  proxies.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address() as { port: number };
  return `http://127.0.0.1:${a.port}`;
}

describe('a hostile server answering the CLI', () => {
  it('cannot make the bundle writer put a file outside the export folder', async () => {
    const t = await startTeam();
    teams.push(t);
    const outside = mkdtempSync(join(tmpdir(), 'cairn-outside-'));
    const names = ['../escaped', `${outside}/abs`, 'a/../../escaped2', '', '.'];
    for (const name of names) {
      const url = await hostile(t.server.url, (path, body) => {
        if (!path.startsWith('/api/v1/audit/bundle')) return null;
        const b = JSON.parse(body.toString()) as { files: Record<string, string> };
        b.files[name] = 'pwned';
        return Buffer.from(JSON.stringify(b));
      });
      const env = clientEnv();
      await login(url, t.tokens.carol, env);
      const dir = join(mkdtempSync(join(tmpdir(), 'cairn-export-')), 'out');
      const cwd = mkdtempSync(join(tmpdir(), 'cairn-nows-'));
      await expect(
        withServices({ cwd, env }, (s) => s.audit.export(dir)),
        name,
      ).rejects.toMatchObject({
        code: 'PATH_UNSAFE',
      });
    }
    expect(readdirSync(outside)).toEqual([]);
    expect(existsSync(join(tmpdir(), 'escaped'))).toBe(false);
  });

  it('answers malformed or mistyped JSON with a stable code, never a crash', async () => {
    const t = await startTeam();
    teams.push(t);
    const env = clientEnv();
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-nows-'));
    let mode: 'ok' | 'null' | 'array' | 'files' = 'ok';
    const url = await hostile(t.server.url, (path) => {
      if (mode === 'null' && path.startsWith('/api/v1/audit/checkpoint')) return Buffer.from('null');
      if (mode === 'array' && path.startsWith('/api/v1/audit/checkpoint')) return Buffer.from('[1,2]');
      if (mode === 'files' && path.startsWith('/api/v1/audit/bundle'))
        return Buffer.from('{"files":{"entries.jsonl":{"x":1}}}');
      return null;
    });
    await login(url, t.tokens.carol, env);
    for (const m of ['null', 'array'] as const) {
      mode = m;
      await expect(
        withServices({ cwd, env }, (s) => s.models.list()),
        m,
      ).rejects.toMatchObject({
        code: 'SERVER_UNAVAILABLE',
      });
    }
    mode = 'files';
    const dir = join(mkdtempSync(join(tmpdir(), 'cairn-export-')), 'out');
    await expect(withServices({ cwd, env }, (s) => s.audit.export(dir))).rejects.toMatchObject({
      code: 'SERVER_UNAVAILABLE',
    });
  });

  it('stops reading an answer that never ends instead of filling the memory', async () => {
    const t = await startTeam();
    teams.push(t);
    const url = await hostile(t.server.url, (path) => (path.startsWith('/api/v1/audit/bundle') ? 'endless' : null));
    const api = new ApiClient({ url, token: t.tokens.carol!, maxAnswerBytes: 4 * 1024 * 1024 });
    await expect(api.call('audit.bundle')).rejects.toMatchObject({ code: 'SERVER_UNAVAILABLE' });
  });

  it('refuses a checkpoint older than one it already verified (a history rolled back)', async () => {
    const t = await startTeam();
    teams.push(t);
    let frozen: Buffer | null = null;
    let freeze = false;
    const url = await hostile(t.server.url, (path, body) => {
      if (!path.startsWith('/api/v1/audit/checkpoint')) return null;
      frozen ??= body;
      // Once frozen: the first signed checkpoint again, with an empty consistency proof.
      return freeze ? frozen : null;
    });
    const env = clientEnv();
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-nows-'));
    await login(url, t.tokens.carol, env);
    await t.registerAs('alice', 'm');
    await withServices({ cwd, env }, (s) => s.models.list());
    freeze = true;
    await expect(withServices({ cwd, env }, (s) => s.models.list())).rejects.toMatchObject({
      code: 'AUDIT_INCONSISTENT',
    });
  });
});

describe('the credentials file', () => {
  it('does not follow a link planted where the new file is written', async () => {
    const t = await startTeam();
    teams.push(t);
    const env = clientEnv();
    const dir = env.CAIRN_CONFIG_DIR!;
    // A config folder someone else could write to (a shared CAIRN_CONFIG_DIR, a loose umask).
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o777);
    const leak = join(mkdtempSync(join(tmpdir(), 'cairn-leak-')), 'stolen');
    writeFileSync(leak, '');
    chmodSync(leak, 0o644);
    symlinkSync(leak, `${credentialsPath(env)}.${process.pid}.tmp`);
    await login(t.server.url, t.tokens.carol, env);
    expect(readFileSync(leak, 'utf8')).not.toContain(t.tokens.carol);
    expect(statSync(credentialsPath(env)).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  it('takes away group and world access from a credentials file that has it', async () => {
    const t = await startTeam();
    teams.push(t);
    const env = clientEnv();
    await login(t.server.url, t.tokens.carol, env);
    chmodSync(credentialsPath(env), 0o644);
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-nows-'));
    await withServices({ cwd, env }, (s) => s.models.list());
    expect(statSync(credentialsPath(env)).mode & 0o777).toBe(0o600);
  });
});
