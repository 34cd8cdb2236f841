// Secrets stay secret (issue 10, item 12): no credential in remotes.json, config.json or any
// audit entry (the log is signed and pushed to every remote, so nothing written there can be
// taken back), and every file that says where the data is or what a job printed is owner-only.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, type CliResult } from '../../src/test-support/cli.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../src/test-support/services.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { writeTree } from '../../src/test-support/workspace.js';

const SECRET = 'hunter2-s3cr3t';

interface ErrorDoc {
  error: { code: string; message: string; hint: string; data: Record<string, unknown> };
}

const modeOf = (p: string) => statSync(p).mode & 0o777;

/** Every audit entry exactly as logged (what `audit export` and `push` carry). */
function auditEntries(cwd: string, env?: NodeJS.ProcessEnv): string {
  const r = cli(['audit', 'log', '--json'], { cwd, ...(env ? { env } : {}) });
  expect(r.code, r.stderr).toBe(0);
  const n = (r.json as unknown[]).length;
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(cli(['audit', 'show', String(i)], { cwd, ...(env ? { env } : {}) }).stdout);
  return out.join('\n');
}

/** No file under .cairn/ that is not a key or a pack holds the secret. */
function expectNowhere(cwd: string, secret: string, r?: CliResult): void {
  if (r) expect(r.stdout + r.stderr).not.toContain(secret);
  for (const f of ['config.json', 'remotes.json']) {
    const p = join(cwd, '.cairn', f);
    if (existsSync(p)) expect(readFileSync(p, 'utf8'), f).not.toContain(secret);
  }
  expect(auditEntries(cwd)).not.toContain(secret);
}

describe('secrets: credentials are refused, never stored or logged', () => {
  const tmp = useTempDirs();
  const ws = () => {
    const cwd = tmp();
    expect(cli(['init'], { cwd }).code).toBe(0);
    return cwd;
  };

  it('remote add --endpoint with credentials (userinfo or a secret query) is a usage error; nothing is stored or logged', () => {
    const cwd = ws();
    const before = auditEntries(cwd);
    for (const endpoint of [
      `http://AKIA:${SECRET}@minio.local:9000`,
      `http://${SECRET}@minio.local:9000`,
      `https://minio.local/?X-Amz-Signature=${SECRET}`,
      `https://minio.local/#${SECRET}`,
    ]) {
      const r = cli(['remote', 'add', 'origin', 's3://bucket/prefix', '--endpoint', endpoint, '--json'], { cwd });
      expect(r.code, endpoint).toBe(2);
      const e = (r.json as ErrorDoc).error;
      expect(e.code).toBe('USAGE');
      expect(e.message).toMatch(
        /--endpoint .* is not usable: (it carries credentials|query strings and fragments are not used)/,
      );
      expect(e.hint).toMatch(/AWS_ACCESS_KEY_ID/);
      expectNowhere(cwd, SECRET, r);
      expect(existsSync(join(cwd, '.cairn', 'remotes.json'))).toBe(false);
      // The human form does not echo it either.
      const human = cli(['remote', 'add', 'origin', 's3://bucket/prefix', '--endpoint', endpoint], { cwd });
      expect(human.code).toBe(2);
      expect(human.stderr).not.toContain(SECRET);
    }
    // The remote URL itself: a password is refused and not echoed.
    const url = cli(['remote', 'add', 'origin', `ssh://alice:${SECRET}@host/srv/data`], { cwd });
    expect(url.code).toBe(2);
    expect(url.stderr).toMatch(/carries a password/);
    expect(url.stderr).not.toContain(SECRET);
    // clone refuses the same endpoint before creating anything.
    const clone = cli(
      ['clone', 's3://bucket/prefix', join(cwd, 'copy'), '--endpoint', `http://AKIA:${SECRET}@minio.local:9000`],
      { cwd },
    );
    expect(clone.code).toBe(2);
    expect(clone.stderr).not.toContain(SECRET);
    expect(existsSync(join(cwd, 'copy'))).toBe(false);
    expect(auditEntries(cwd)).toBe(before);
    // A clean endpoint is fine and is what gets stored.
    expect(
      cli(['remote', 'add', 'origin', 's3://bucket/prefix', '--endpoint', 'http://minio.local:9000'], { cwd }).code,
    ).toBe(0);
    expect(JSON.parse(readFileSync(join(cwd, '.cairn', 'remotes.json'), 'utf8')).remotes.origin.endpoint).toBe(
      'http://minio.local:9000',
    );
  });

  it('a remotes.json edited by hand to hold credentials is refused without echoing them', () => {
    const cwd = ws();
    writeFileSync(
      join(cwd, '.cairn', 'remotes.json'),
      JSON.stringify({
        version: 1,
        remotes: { origin: { url: 's3://bucket/p', endpoint: `http://AKIA:${SECRET}@minio:9000` } },
      }),
    );
    const r = cli(['remote', 'ls', '--json'], { cwd });
    expect(r.code).toBe(1);
    expect((r.json as ErrorDoc).error).toMatchObject({
      code: 'CONFIG_INVALID',
      data: {
        problems: [expect.stringMatching(/^remotes\.origin\.endpoint: expected an http\(s\) URL without credentials/)],
      },
    });
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });

  it('an audit event never carries a URL with a password: a run whose command holds one is refused before anything is recorded', () => {
    const cwd = ws();
    writeFileSync(join(cwd, 'd.csv'), 'x\n1\n');
    expect(cli(['data', 'add', 'd.csv', '--name', 'toy'], { cwd }).code).toBe(0);
    const before = auditEntries(cwd);
    writeFileSync(
      join(cwd, 'leak.yaml'),
      `name: leak\ncommand: "curl -s https://bot:${SECRET}@example.invalid/hook || true"\ninputs:\n  data: toy@v1\n`,
    );
    const r = cli(['run', 'leak.yaml', '--json'], { cwd });
    expect(r.code).toBe(1);
    const e = (r.json as ErrorDoc).error;
    expect(e).toMatchObject({ code: 'INVALID_INPUT', data: { field: 'params.command', action: 'run.submit' } });
    expect(e.message).toMatch(
      /refusing to write a credential into the audit log: params\.command: a URL carries a password/,
    );
    expectNowhere(cwd, SECRET, r);
    // Neither the attempt (whose event would carry it too) nor a run was recorded.
    expect(auditEntries(cwd)).toBe(before);
    expect((cli(['run', 'ls', '--json'], { cwd }).json as { runs: unknown[] }).runs).toEqual([]);
    expect(readdirSync(join(cwd, '.cairn')).includes('runs') ? readdirSync(join(cwd, '.cairn', 'runs')) : []).toEqual(
      [],
    );
  });

  it(
    'meta.db (and its -wal/-shm), config.json, remotes.json, keys, run logs and hook logs are owner-only',
    { timeout: 120_000 },
    () => {
      const cwd = ws();
      const cairn = join(cwd, '.cairn');
      writeTree(join(cwd, 'm'), { 'model.bin': 'weights' });
      writeFileSync(join(cwd, 'd.csv'), 'x\n1\n');
      expect(cli(['data', 'add', 'd.csv', '--name', 'toy'], { cwd }).code).toBe(0);
      expect(cli(['remote', 'add', 'origin', `file://${join(cwd, 'remote')}`], { cwd }).code).toBe(0);
      writeFileSync(
        join(cwd, 'hello.yaml'),
        'name: hello\ncommand: "echo token=abc; echo oops >&2"\ninputs:\n  data: toy@v1\n',
      );
      const run = cli(['run', 'hello.yaml', '--json'], { cwd });
      expect(run.code, run.stdout + run.stderr).toBe(0);
      const runId = (run.json as { id: string }).id;
      expect(cli(['model', 'register', 'spam', '--path', 'm', '--format', 'custom'], { cwd }).code).toBe(0);
      writeFileSync(
        join(cairn, 'deploy.json'),
        JSON.stringify({ environments: { staging: { hook: { command: 'echo deploying' } } } }),
      );
      const dep = cli(['deploy', 'spam', '--env', 'staging', '--json'], { cwd });
      expect(dep.code, dep.stdout + dep.stderr).toBe(0);

      expect(modeOf(cairn)).toBe(0o700);
      for (const f of ['meta.db', 'config.json', 'remotes.json', 'keys/signing.key'])
        expect([f, modeOf(join(cairn, f))]).toEqual([f, 0o600]);
      // SQLite gives -wal and -shm the main file's mode; they exist while a process has the
      // database open (the CLI removes them when it exits), so open it here under umask 022.
      const db = new Database(join(cairn, 'meta.db'));
      try {
        db.pragma('journal_mode = WAL');
        db.prepare('SELECT count(*) FROM audit_events').get();
        for (const f of ['meta.db-wal', 'meta.db-shm']) expect([f, modeOf(join(cairn, f))]).toEqual([f, 0o600]);
      } finally {
        db.close();
      }
      for (const f of ['stdout.log', 'stderr.log'])
        expect([f, modeOf(join(cairn, 'runs', runId, f))]).toEqual([f, 0o600]);
      const deployment = (dep.json as { id: string }).id;
      expect(modeOf(join(cairn, 'deploy'))).toBe(0o700);
      expect(modeOf(join(cairn, 'deploy', deployment))).toBe(0o700);
      expect(modeOf(join(cairn, 'deploy', deployment, 'hook.log'))).toBe(0o600);
    },
  );
});

const pgAvailable = await postgresAvailable();

describe.skipIf(!pgAvailable)('secrets: the metadata database password stays out of config.json', () => {
  const tmp = useTempDirs();
  const schemas: string[] = [];
  afterAll(async () => {
    for (const s of schemas) await dropSchema(s);
  });

  const withPassword = () => {
    const { url, schema } = freshPgUrl();
    schemas.push(schema);
    const u = new URL(url);
    u.password = SECRET;
    return { url: u.toString(), schema };
  };

  it('init --metadata-url postgres://user:pass@… keeps the password in keys/metadata-password (0600), not in config.json or the log', () => {
    const cwd = tmp();
    const { url } = withPassword();
    const r = cli(['init', '--metadata-url', url, '--json'], { cwd });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const config = readFileSync(join(cwd, '.cairn', 'config.json'), 'utf8');
    expect(config).not.toContain(SECRET);
    const stored = (JSON.parse(config) as { metadata: { url: string } }).metadata.url;
    expect(new URL(stored).username).toBe('postgres');
    expect(new URL(stored).password).toBe('');
    const pwFile = join(cwd, '.cairn', 'keys', 'metadata-password');
    expect(readFileSync(pwFile, 'utf8')).toBe(`${SECRET}\n`);
    expect(modeOf(pwFile)).toBe(0o600);
    expect(modeOf(join(cwd, '.cairn', 'config.json'))).toBe(0o600);
    // Later commands connect (the password comes from the file) and nothing leaks.
    writeFileSync(join(cwd, 'a.txt'), 'a');
    const add = cli(['data', 'add', 'a.txt', '--name', 'ds'], { cwd });
    expect(add.code, add.stderr).toBe(0);
    expectNowhere(cwd, SECRET, add);
    // CAIRN_METADATA_PASSWORD works without the file.
    const other = tmp();
    const { url: url2 } = withPassword();
    const plain = new URL(url2);
    plain.password = '';
    expect(
      cli(['init', '--metadata-url', plain.toString()], { cwd: other, env: { CAIRN_METADATA_PASSWORD: SECRET } }).code,
    ).toBe(0);
    expect(existsSync(join(other, '.cairn', 'keys', 'metadata-password'))).toBe(false);
    expect(cli(['data', 'ls'], { cwd: other, env: { CAIRN_METADATA_PASSWORD: SECRET } }).code).toBe(0);
  });

  it('a config.json edited to hold the password is refused, without echoing it', () => {
    const cwd = tmp();
    const { url } = withPassword();
    expect(cli(['init', '--metadata-url', url], { cwd }).code).toBe(0);
    const path = join(cwd, '.cairn', 'config.json');
    const config = JSON.parse(readFileSync(path, 'utf8')) as { metadata: { url: string } };
    config.metadata.url = url;
    writeFileSync(path, JSON.stringify(config));
    const r = cli(['data', 'ls', '--json'], { cwd });
    expect(r.code).toBe(1);
    expect((r.json as ErrorDoc).error).toMatchObject({
      code: 'CONFIG_INVALID',
      data: { problems: [expect.stringMatching(/^metadata\.url: must not carry a password/)] },
    });
    expect(r.stdout + r.stderr).not.toContain(SECRET);
  });
});
