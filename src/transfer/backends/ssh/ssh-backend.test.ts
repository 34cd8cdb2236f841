import { createHmac, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import type { Socket } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { afterAll, describe, expect, it } from 'vitest';
import { sshdFacts } from '../../../test-support/sshd.js';
import type { SshdFacts } from '../../../test-support/sshd.js';
import { remoteBackendConformance } from '../conformance.case.js';
import { SshBackend } from './ssh-backend.js';
import type { SshBackendOptions } from './ssh-backend.js';
import type { SshSession } from './session.js';

// sshd runs as this user on this machine, so a "remote" path is also a local one the tests
// can inspect directly.
const base = mkdtempSync(join(tmpdir(), 'cairn-remote-ssh-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));

function options(f: SshdFacts, extra: Partial<SshBackendOptions> = {}): SshBackendOptions {
  return {
    host: f.host,
    port: f.port,
    username: f.user,
    identityFile: f.identityFile,
    knownHostsFile: f.knownHostsFile,
    agent: false,
    root: join(base, randomBytes(6).toString('hex')),
    ...extra,
  };
}

function facts(): SshdFacts {
  const f = sshdFacts();
  if (!f) throw new Error('sshd unavailable');
  return f;
}

remoteBackendConformance(
  'ssh://',
  () => ({
    // Each root is new and absent: the backend must create it.
    open: async () => new SshBackend(options(facts())),
    reopen: async (b) => new SshBackend(options(facts(), { root: (b as SshBackend).root })),
  }),
  async () => sshdFacts() !== null,
);

/** The TCP socket under the backend's current connection (reaches into ssh2's internals). */
async function socketOf(b: SshBackend): Promise<Socket> {
  const s = await (b as unknown as { session(): Promise<SshSession> }).session();
  return (s.client as unknown as { _sock: Socket })._sock;
}

/** Runs `act` once `limit` more bytes have gone out on the socket: mid-transfer, whatever the speed. */
function afterBytesSent(sock: Socket, limit: number, act: () => void): void {
  const write = sock.write.bind(sock) as (...args: unknown[]) => boolean;
  let sent = 0;
  let fired = false;
  sock.write = ((chunk: Buffer, ...rest: unknown[]) => {
    sent += chunk.length;
    if (!fired && sent > limit) {
      fired = true;
      act();
      return false;
    }
    return write(chunk, ...rest);
  }) as typeof sock.write;
}

/**
 * The sshd processes serving the connection from local port `clientPort`: those holding the
 * server end of that TCP socket (the privileged monitor and the session child). Found through
 * /proc, so only this test's session is killed, not another test process's.
 */
function serverSessionPids(sshdPort: number, clientPort: number): number[] {
  const hexPort = (p: number) => p.toString(16).toUpperCase().padStart(4, '0');
  const row = readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .find((c) => c[1]?.endsWith(`:${hexPort(sshdPort)}`) && c[2]?.endsWith(`:${hexPort(clientPort)}`));
  if (!row?.[9]) return [];
  const socket = `socket:[${row[9]}]`;
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => {
      try {
        return readdirSync(`/proc/${pid}/fd`).some((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`) === socket);
      } catch {
        return false;
      }
    });
}

const tmpEntries = (b: SshBackend) =>
  existsSync(join(b.root, '.cairn-tmp')) ? readdirSync(join(b.root, '.cairn-tmp')) : [];

describe('SshBackend', () => {
  const withSshd = (fn: (f: SshdFacts) => Promise<void>) => async (ctx: { skip: () => void }) => {
    const f = sshdFacts();
    if (!f) return ctx.skip();
    await fn(f);
  };

  it('names itself ssh://user@host:port/root, defaulting to the local user and port 22', () => {
    expect(new SshBackend({ host: 'example.org', root: '/srv/cairn/' }).url).toBe(
      `ssh://${userInfo().username}@example.org:22/srv/cairn`,
    );
    expect(() => new SshBackend({ host: 'h', root: 'relative' })).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });

  it(
    'writes and deletes nothing through a folder someone linked out of the remote (PATH_UNSAFE)',
    withSshd(async (f) => {
      const b = new SshBackend(options(f));
      await b.put('packs/ab/keep.pack', Buffer.from('in'));
      const outside = mkdtempSync(join(tmpdir(), 'cairn-outside-'));
      mkdirSync(join(outside, 'cd'));
      writeFileSync(join(outside, 'cd', 'victim.pack'), 'theirs');
      symlinkSync(outside, join(b.root, 'meta'));
      symlinkSync(join(outside, 'cd'), join(b.root, 'packs', 'cd'));
      await expect(b.put('meta/state.json', Buffer.from('{}'))).rejects.toMatchObject({
        code: 'PATH_UNSAFE',
        data: { link: 'meta' },
      });
      await expect(b.delete('packs/cd/victim.pack')).rejects.toMatchObject({
        code: 'PATH_UNSAFE',
        data: { link: 'packs/cd' },
      });
      expect(existsSync(join(outside, 'state.json'))).toBe(false);
      expect(readFileSync(join(outside, 'cd', 'victim.pack'), 'utf8')).toBe('theirs');
      // Real folders go on working.
      await b.put('packs/ab/more.pack', Buffer.from('ok'));
      await b.delete('packs/ab/keep.pack');
      expect(readdirSync(join(b.root, 'packs', 'ab'))).toEqual(['more.pack']);
      await b.close();
    }),
  );

  it(
    'refuses a host whose key is not in known_hosts, saying how to add it',
    withSshd(async (f) => {
      const empty = join(base, `kh-${randomBytes(4).toString('hex')}`);
      writeFileSync(empty, '');
      const b = new SshBackend(options(f, { knownHostsFile: empty }));
      const err = await b.head('x').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'PERMISSION_DENIED', data: { key: 'x', host: '127.0.0.1', port: f.port } });
      expect((err as Error).message).toContain(`127.0.0.1:${f.port}`);
      expect((err as Error).message).toContain('not in');
      expect((err as { hint: string }).hint).toContain(`ssh-keyscan -p ${f.port} 127.0.0.1 >> ${empty}`);
      await b.close();
    }),
  );

  it(
    'refuses a host whose key differs from the recorded one',
    withSshd(async (f) => {
      const kh = join(base, `kh-${randomBytes(4).toString('hex')}`);
      const fake = ssh2.utils.generateKeyPairSync('ed25519').public.split(' ').slice(0, 2).join(' ');
      writeFileSync(kh, `[127.0.0.1]:${f.port} ${fake}\n`);
      const b = new SshBackend(options(f, { knownHostsFile: kh }));
      await expect(b.get('x')).rejects.toMatchObject({
        code: 'PERMISSION_DENIED',
        message: expect.stringContaining('CHANGED'),
      });
      await b.close();
    }),
  );

  it(
    'accepts a hashed known_hosts entry',
    withSshd(async (f) => {
      const kh = join(base, `kh-${randomBytes(4).toString('hex')}`);
      const [, type, key] = readFileSync(f.knownHostsFile, 'utf8').trim().split(' ');
      const salt = randomBytes(20);
      const hash = createHmac('sha1', salt).update(`[127.0.0.1]:${f.port}`).digest('base64');
      writeFileSync(kh, `|1|${salt.toString('base64')}|${hash} ${type} ${key}\n`);
      const b = new SshBackend(options(f, { knownHostsFile: kh }));
      expect(await b.head('x')).toBeNull();
      await b.close();
    }),
  );

  it(
    'skips a dead agent (a stale SSH_AUTH_SOCK) and logs in with the key file',
    withSshd(async (f) => {
      const b = new SshBackend(options(f, { agent: join(base, 'no-agent.sock') }));
      expect(await b.head('x')).toBeNull();
      await b.close();
    }),
  );

  it(
    'refuses a key the server does not authorise',
    withSshd(async (f) => {
      const keyFile = join(base, `id-${randomBytes(4).toString('hex')}`);
      writeFileSync(keyFile, ssh2.utils.generateKeyPairSync('ed25519').private, { mode: 0o600 });
      const b = new SshBackend(options(f, { identityFile: keyFile }));
      const err = await b.put('a', Buffer.from('x')).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'PERMISSION_DENIED', data: { key: 'a', username: f.user } });
      expect((err as Error).message).toContain(keyFile);
      await b.close();
    }),
  );

  it(
    'reconnects after the server-side session is killed',
    withSshd(async (f) => {
      const b = new SshBackend(options(f));
      try {
        await b.put('meta/a', Buffer.from('one'));
        const sock = await socketOf(b);
        const sessions = serverSessionPids(f.port, sock.localPort ?? 0);
        expect(sessions.length).toBeGreaterThan(0);
        for (const pid of sessions) process.kill(pid, 'SIGKILL');
        expect((await b.get('meta/a')).toString()).toBe('one');
        // The answer came over a new connection: the killed one can answer nothing.
        expect(sock.destroyed).toBe(true);
        await b.put('meta/b', Buffer.from('two'));
        expect(await b.list('meta/')).toEqual([
          { key: 'meta/a', size: 3 },
          { key: 'meta/b', size: 3 },
        ]);
      } finally {
        await b.close();
      }
    }),
  );

  it(
    'a listing past the bound is stopped at the first folder past it (IO_ERROR, tooMany)',
    withSshd(async (f) => {
      const b = new SshBackend(options(f));
      try {
        for (let i = 0; i < 3; i++) mkdirSync(join(b.root, 'packs', `p${i}`), { recursive: true });
        for (let i = 0; i < 30; i++) writeFileSync(join(b.root, 'packs', `p${i % 3}`, `o${i}`), 'x');
        await expect(b.list('packs/', { maxKeys: 10 })).rejects.toMatchObject({
          code: 'IO_ERROR',
          data: { prefix: 'packs/', maxKeys: 10, tooMany: true },
        });
        expect(await b.list('packs/', { maxKeys: 33 })).toHaveLength(30);
      } finally {
        await b.close();
      }
    }),
  );

  it(
    'a folder is not an object',
    withSshd(async (f) => {
      const b = new SshBackend(options(f));
      try {
        await b.put('packs/ab/x.pack', Buffer.from('x'));
        expect(await b.head('packs/ab')).toBeNull();
        await expect(b.get('packs/ab')).rejects.toMatchObject({ code: 'NOT_FOUND', data: { key: 'packs/ab' } });
        expect(await b.list('packs/a')).toEqual([{ key: 'packs/ab/x.pack', size: 1 }]);
      } finally {
        await b.close();
      }
    }),
  );

  it(
    'retries a put whose connection drops mid-transfer, and leaves no temp file',
    withSshd(async (f) => {
      const retries: unknown[] = [];
      const b = new SshBackend(options(f, { onRetry: (err) => retries.push(err) }));
      try {
        await b.head('warm-up');
        const sock = await socketOf(b);
        afterBytesSent(sock, 1024 * 1024, () => sock.destroy());
        const body = randomBytes(9 * 1024 * 1024);
        await b.put('packs/ab/big.pack', body);
        expect(retries).toHaveLength(1);
        expect((await b.get('packs/ab/big.pack')).equals(body)).toBe(true);
        expect(tmpEntries(b)).toEqual([]);
      } finally {
        await b.close();
      }
    }),
  );

  it(
    'an interrupted put (no retries left) fails with IO_ERROR and leaves no object',
    withSshd(async (f) => {
      const b = new SshBackend(options(f, { attempts: 1 }));
      try {
        await b.put('packs/ab/old.pack', Buffer.from('old'));
        const sock = await socketOf(b);
        afterBytesSent(sock, 1024 * 1024, () => sock.destroy());
        const err = await b.put('packs/ab/big.pack', randomBytes(9 * 1024 * 1024)).catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'IO_ERROR', data: { key: 'packs/ab/big.pack' } });
        const other = new SshBackend(options(f, { root: b.root }));
        expect(await other.head('packs/ab/big.pack')).toBeNull();
        await other.close();
        // The next operation reconnects and removes the temp file the dead connection left.
        expect(await b.list('packs/')).toEqual([{ key: 'packs/ab/old.pack', size: 3 }]);
        expect(tmpEntries(b)).toEqual([]);
      } finally {
        await b.close();
      }
    }),
  );

  it(
    'close() during a put fails that put and leaves no object',
    withSshd(async (f) => {
      const b = new SshBackend(options(f));
      await b.head('warm-up');
      const sock = await socketOf(b);
      afterBytesSent(sock, 1024 * 1024, () => void b.close());
      const err = await b.put('packs/ab/big.pack', randomBytes(9 * 1024 * 1024)).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'IO_ERROR', data: { key: 'packs/ab/big.pack' } });
      expect(await b.head('packs/ab/big.pack')).toBeNull();
      expect(tmpEntries(b)).toEqual([]);
      await b.close();
    }),
  );
  it(
    'a file larger than the caller expects is refused before a buffer is allocated for it',
    withSshd(async (f) => {
      const b = new SshBackend(options(f));
      try {
        await b.put('packs/ab/p.pack', randomBytes(100 * 1024));
        await expect(b.get('packs/ab/p.pack', { maxBytes: 1000 })).rejects.toMatchObject({
          code: 'IO_ERROR',
          data: { key: 'packs/ab/p.pack', maxBytes: 1000, announced: 100 * 1024, tooLarge: true },
        });
        expect((await b.get('packs/ab/p.pack', { maxBytes: 100 * 1024 })).length).toBe(100 * 1024);
        // A remote file claiming a terabyte (sparse here): the default bound refuses it at once.
        await b.put('packs/cd/huge.pack', Buffer.from('x'));
        truncateSync(join(b.root, 'packs/cd/huge.pack'), 1024 ** 4);
        const err = await b.get('packs/cd/huge.pack').catch((e: unknown) => e);
        expect(err).toMatchObject({ code: 'IO_ERROR', data: { remote: b.url, tooLarge: true, announced: 1024 ** 4 } });
        expect((err as Error).message).toContain(b.url);
      } finally {
        await b.close();
      }
    }),
  );
});
