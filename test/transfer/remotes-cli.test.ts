// End to end through the real CLI: `remote add`, `push`, `clone`, `pull`, `data checkout`
// against the three kinds of remote with real servers (a directory, s3rver, OpenSSH's sshd),
// and a push killed with SIGKILL mid-transfer that resumes without re-sending what landed.
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { cli, cliSpawn } from '../../src/test-support/cli.js';
import { sharedS3Server, stopSharedS3Server } from '../../src/test-support/s3-server.js';
import { sshdFacts } from '../../src/test-support/sshd.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';

const MiB = 1024 * 1024;

function ok<T>(cwd: string, args: string[], env?: NodeJS.ProcessEnv): T {
  const r = cli([...args, '--json'], { cwd, ...(env ? { env } : {}) });
  if (r.code !== 0) throw new Error(`cairn ${args.join(' ')} exited ${r.code}: ${r.stdout}${r.stderr}`);
  return r.json as T;
}

interface Kind {
  name: string;
  /** Remote URL and extra `remote add` / `clone` options, or null to skip (the reason printed). */
  setup(tmp: () => string): Promise<{ url: string; opts: string[]; env?: NodeJS.ProcessEnv } | null>;
}

const kinds: Kind[] = [
  { name: 'file://', setup: async (tmp) => ({ url: `file://${join(tmp(), 'remote')}`, opts: [] }) },
  {
    name: 's3:// (s3rver)',
    setup: async () => {
      const s = await sharedS3Server();
      if (!s) return null;
      return {
        url: `s3://${s.bucket}/e2e-${randomBytes(4).toString('hex')}`,
        opts: ['--endpoint', s.endpoint],
        env: {
          AWS_ACCESS_KEY_ID: s.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: s.credentials.secretAccessKey,
          AWS_REGION: s.region,
        },
      };
    },
  },
  {
    name: 'ssh:// (sshd)',
    setup: async () => {
      const f = sshdFacts();
      if (!f) return null;
      return {
        url: `ssh://${f.user}@${f.host}:${f.port}${join(f.dir, `e2e-${randomBytes(4).toString('hex')}`)}`,
        opts: ['--identity-file', f.identityFile, '--known-hosts', f.knownHostsFile],
      };
    },
  },
];

describe('remotes through the CLI', () => {
  const tmp = useTempDirs();
  afterAll(() => stopSharedS3Server());

  for (const kind of kinds) {
    it(
      `${kind.name}: push, clone, pull and checkout give back every byte; audit logs travel and verify`,
      { timeout: 120_000 },
      async (ctx) => {
        const remote = await kind.setup(tmp);
        if (!remote) return ctx.skip();
        const env = remote.env;
        const a = tmp();
        ok(a, ['init'], env);
        const src = join(tmp(), 'src');
        writeTree(src, { 'train.csv': 'id,label\n1,spam\n2,ham\n', 'blobs/big.bin': prng(11, 2 * MiB) });
        ok(a, ['data', 'add', src, '--name', 'mail'], env);
        ok(a, ['remote', 'add', 'origin', remote.url, ...remote.opts], env);
        const pushed = ok<{ versions: number; packs: { sent: number; skipped: number } }>(a, ['push'], env);
        expect(pushed.versions).toBe(1);
        expect(pushed.packs.sent).toBeGreaterThan(0);
        expect(ok<{ packs: { sent: number } }>(a, ['push'], env).packs.sent).toBe(0);

        const b = join(tmp(), 'clone');
        const cloned = ok<{ versions: number; auditLogs: Array<{ ok: boolean; size: number }> }>(
          tmp(),
          ['clone', remote.url, b, ...remote.opts],
          env,
        );
        expect(cloned.versions).toBe(1);
        expect(cloned.auditLogs).toHaveLength(1);
        expect(cloned.auditLogs[0]!.size).toBeGreaterThanOrEqual(4);
        const pulled = ok<{ packs: { fetched: number } }>(b, ['pull', 'mail'], env);
        expect(pulled.packs.fetched).toBe(pushed.packs.sent);
        ok(b, ['data', 'checkout', 'mail', join(b, 'out')], env);
        expect(readFileSync(join(b, 'out', 'blobs/big.bin')).equals(readFileSync(join(src, 'blobs/big.bin')))).toBe(
          true,
        );
        expect(readFileSync(join(b, 'out', 'train.csv'), 'utf8')).toBe('id,label\n1,spam\n2,ham\n');
        const log = ok<Array<{ action: string }>>(b, ['audit', 'log'], env);
        expect(log.map((e) => e.action)).toEqual([
          'workspace.init',
          'workspace.clone',
          'remote.pull',
          'dataset.checkout',
        ]);
        expect(cli(['audit', 'verify'], { cwd: b }).code).toBe(0);
      },
    );
  }

  it('remote add / ls / default / rm, and clear errors for bad remotes', () => {
    const cwd = tmp();
    ok(cwd, ['init']);
    ok(cwd, ['remote', 'add', 'hpc', 'file:///scratch/team/cairn']);
    ok(cwd, [
      'remote',
      'add',
      'cloud',
      's3://ml-data/fraud',
      '--endpoint',
      'http://127.0.0.1:9000',
      '--jobs',
      '8',
      '--bwlimit',
      '50M',
    ]);
    expect(
      ok<{ remotes: Array<{ name: string; default: boolean; url: string }> }>(cwd, ['remote', 'ls']).remotes.map(
        (r) => [r.name, r.default],
      ),
    ).toEqual([
      ['cloud', false],
      ['hpc', true],
    ]);
    expect(JSON.parse(readFileSync(join(cwd, '.cairn', 'remotes.json'), 'utf8')).remotes.cloud).toEqual({
      url: 's3://ml-data/fraud',
      endpoint: 'http://127.0.0.1:9000',
      jobs: 8,
      bwlimit: 50_000_000,
    });
    ok(cwd, ['remote', 'default', 'cloud']);
    ok(cwd, ['remote', 'rm', 'hpc']);
    expect(ok<{ remotes: Array<{ name: string; default: boolean }> }>(cwd, ['remote', 'ls']).remotes).toEqual([
      expect.objectContaining({ name: 'cloud', default: true }),
    ]);
    const bad = cli(['remote', 'add', 'x', 'ftp://host/path', '--json'], { cwd });
    expect([bad.code, (bad.json as { error: { code: string } }).error.code]).toEqual([2, 'USAGE']);
    const dup = cli(['remote', 'add', 'cloud', 'file:///x', '--json'], { cwd });
    expect((dup.json as { error: { code: string } }).error.code).toBe('ALREADY_EXISTS');
    const nothing = cli(['push', '--remote', 'nope', '--json'], { cwd });
    expect((nothing.json as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    const missing = cli(['clone', `file://${join(tmp(), 'empty')}`, join(cwd, 'c2'), '--json'], { cwd });
    expect((missing.json as { error: { code: string } }).error.code).toBe('NOT_FOUND');
    expect(existsSync(join(cwd, 'c2'))).toBe(false);
    const events = ok<Array<{ action: string }>>(cwd, ['audit', 'log']).map((e) => e.action);
    // a push to an unknown remote never started: a usage mistake, not an attempt on the record
    expect(events).toEqual(['workspace.init', 'remote.add', 'remote.add', 'remote.remove']);
  });

  it(
    'a push killed mid-transfer resumes: the next push sends only what had not landed',
    { timeout: 120_000 },
    async () => {
      const a = tmp();
      ok(a, ['init']);
      // 1 MiB packs, so the data is many objects and the kill falls between them
      const config = JSON.parse(readFileSync(join(a, '.cairn', 'config.json'), 'utf8'));
      config.storage.pack_size_mib = 1;
      writeFileSync(join(a, '.cairn', 'config.json'), JSON.stringify(config));
      const src = join(tmp(), 'src');
      writeTree(src, Object.fromEntries(Array.from({ length: 8 }, (_, i) => [`part-${i}.bin`, prng(100 + i, MiB)])));
      ok(a, ['data', 'add', src, '--name', 'parts']);
      const remoteDir = join(tmp(), 'remote');
      ok(a, ['remote', 'add', 'origin', `file://${remoteDir}`, '--jobs', '1', '--bwlimit', '2M']);
      const child = cliSpawn(['push'], { cwd: a });
      const landed = () =>
        existsSync(join(remoteDir, 'packs'))
          ? readdirSync(join(remoteDir, 'packs'), { recursive: true }).filter((p) => String(p).endsWith('.pack')).length
          : 0;
      const deadline = Date.now() + 60_000;
      while (landed() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
      const before = landed();
      expect(before).toBeGreaterThanOrEqual(2);
      const resumed = ok<{ packs: { needed: number; sent: number; skipped: number } }>(a, ['push']);
      expect(resumed.packs.skipped).toBe(before);
      expect(resumed.packs.sent).toBe(resumed.packs.needed - before);
      expect(resumed.packs.needed).toBeGreaterThan(before);
      // what is there now is whole: a clone pulls and verifies every pack
      const b = join(tmp(), 'clone');
      ok(tmp(), ['clone', `file://${remoteDir}`, b]);
      expect(ok<{ packs: { fetched: number } }>(b, ['pull']).packs.fetched).toBe(resumed.packs.needed);
      const events = ok<Array<{ action: string; outcome: string }>>(a, ['audit', 'log']).map(
        (e) => `${e.action}:${e.outcome}`,
      );
      // the killed push left no event (it never finished); the resumed one is on record
      expect(events.slice(-1)).toEqual(['remote.push:ok']);
    },
  );
});
