import { randomBytes } from 'node:crypto';
import { userInfo } from 'node:os';
import { join, posix } from 'node:path';
import type { FileEntryWithStats, SFTPWrapper } from 'ssh2';
import { CairnError } from '../../../core/errors.js';
import { assertKey, foldersOf, linkedFolder } from '../keys.js';
import type { GetOptions, ListOptions, RemoteBackend } from '../port.js';
import { getBound, listBound, tooLarge, tooMany } from '../bounded.js';
import { withRetry } from '../retry.js';
import type { RetryOptions } from '../retry.js';
import { openSession } from './session.js';
import type { SshSession, SshTarget } from './session.js';
import { fsyncIfSupported, readAll, replaceFile, SFTP_STATUS, sftpOps, sftpStatus, writeAll } from './sftp-io.js';
import { ConnectionDropped, isTransient } from './transient.js';

const TMP = '.cairn-tmp';

export interface SshBackendOptions {
  host: string;
  /** Default 22. */
  port?: number;
  /** Default: the local user, as ssh does. */
  username?: string;
  /** Absolute path on the server under which the objects live. */
  root: string;
  /** Default: <sshDir>/id_ed25519, then <sshDir>/id_rsa, whichever exist. */
  identityFile?: string;
  /** Default <sshDir>/known_hosts. */
  knownHostsFile?: string;
  /** Where the user's keys and known_hosts are, as for `ssh` (app/ passes ~/.ssh). */
  sshDir?: string;
  /** ssh-agent socket (app/ passes $SSH_AUTH_SOCK); none when absent or false. */
  agent?: string | false;
  /** Connect-and-login limit, also the time without an answer after which the link counts as dead (default 20 s). */
  timeoutMs?: number;
  /** Attempts in all for an operation hit by a dropped connection (default 5). */
  attempts?: number;
  onRetry?: RetryOptions['onRetry'];
}

/**
 * A remote on any SSH server (`ssh://user@host[:port]/path`), spoken over SFTP. Behaves like
 * the `ssh` command: the same default user, keys, agent and known_hosts, and an unknown or
 * changed host key is refused, never accepted silently. One connection, opened on first use
 * and shared by concurrent operations; a dropped one is replaced and the operation retried.
 * Puts go to `<root>/.cairn-tmp/<random>` and are renamed into place (posix-rename@openssh.com
 * replaces atomically), so readers never see a partial object.
 */
export class SshBackend implements RemoteBackend {
  readonly url: string;
  readonly root: string;
  private readonly target: SshTarget;
  private readonly attempts: number;
  private readonly onRetry: RetryOptions['onRetry'];
  private current: Promise<SshSession> | null = null;
  /** Counts close() calls, so operations that began before one stop retrying. */
  private closes = 0;
  /** Directories known to exist, to spare a round trip per put. */
  private readonly dirs = new Set<string>();
  /** Temp files of puts whose connection died before they could remove them. */
  private readonly orphans = new Set<string>();

  constructor(opts: SshBackendOptions) {
    if (!posix.isAbsolute(opts.root))
      throw new CairnError('USAGE', `the SSH remote path must be absolute, not ${JSON.stringify(opts.root)}`, {
        data: { root: opts.root },
      });
    this.root = posix.normalize(opts.root).replace(/(.)\/+$/, '$1');
    const port = opts.port ?? 22;
    const username = opts.username ?? userInfo().username;
    const host = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
    this.url = `ssh://${username}@${host}:${port}${this.root}`;
    const ssh = opts.sshDir;
    const defaultKeys = ssh ? [join(ssh, 'id_ed25519'), join(ssh, 'id_rsa')] : [];
    this.target = {
      host: opts.host,
      port,
      username,
      identityFiles: opts.identityFile ? [opts.identityFile] : defaultKeys,
      identityExplicit: opts.identityFile !== undefined,
      knownHostsFile: opts.knownHostsFile ?? (ssh ? join(ssh, 'known_hosts') : null),
      agent: opts.agent || undefined,
      timeoutMs: opts.timeoutMs ?? 20_000,
      url: this.url,
    };
    this.attempts = opts.attempts ?? 5;
    this.onRetry = opts.onRetry;
  }

  private path(key: string): string {
    return posix.join(this.root, assertKey(key));
  }

  private session(): Promise<SshSession> {
    if (this.current) return this.current;
    const opening: Promise<SshSession> = openSession(this.target, () => {
      if (this.current === opening) this.current = null;
    }).then(async (s) => {
      await this.sweepOrphans(s.sftp);
      return s;
    });
    this.current = opening;
    opening.catch(() => {
      if (this.current === opening) this.current = null;
    });
    return opening;
  }

  private async sweepOrphans(sftp: SFTPWrapper): Promise<void> {
    for (const tmp of [...this.orphans]) {
      await sftpOps.unlink(sftp, tmp).then(
        () => this.orphans.delete(tmp),
        (err: unknown) => sftpStatus(err) === SFTP_STATUS.NO_SUCH_FILE && this.orphans.delete(tmp),
      );
    }
  }

  /** Runs `fn` on the shared connection, reconnecting and retrying when the connection drops. */
  private async run<T>(key: string, action: string, fn: (sftp: SFTPWrapper) => Promise<T>): Promise<T> {
    const closes = this.closes;
    const closed = (cause?: unknown) =>
      new CairnError('IO_ERROR', `${this.url} was closed while ${action} ${key}`, { data: { key }, cause });
    try {
      return await withRetry(
        async () => {
          // A retry must not open a connection behind close(): nobody would end it, and it
          // would keep the process alive.
          if (this.closes !== closes) throw closed();
          const s = await this.session();
          try {
            return await fn(s.sftp);
          } catch (err) {
            if (err instanceof CairnError) throw err;
            if (s.endedByUs) throw closed(err);
            if (!s.alive || isTransient(err)) {
              s.drop();
              throw new ConnectionDropped(err);
            }
            throw err;
          }
        },
        { attempts: this.attempts, retryable: isTransient, onRetry: this.onRetry },
      );
    } catch (err) {
      throw this.toCairnError(err, key, action);
    }
  }

  private toCairnError(err: unknown, key: string, action: string): CairnError {
    if (err instanceof CairnError) {
      if ('key' in err.data) return err;
      return new CairnError(err.code, err.message, {
        data: { ...err.data, key },
        ...(err.hint ? { hint: err.hint } : {}),
        cause: err,
      });
    }
    const cause = err instanceof ConnectionDropped ? err.original : err;
    const msg = (cause as Error)?.message ?? String(cause);
    if (sftpStatus(cause) === SFTP_STATUS.PERMISSION_DENIED) {
      return new CairnError('PERMISSION_DENIED', `${this.url}: permission denied while ${action} ${key}`, {
        data: { key },
        cause,
      });
    }
    const what =
      err instanceof ConnectionDropped || isTransient(cause)
        ? `the connection failed while ${action} ${key} (${msg}); gave up after ${this.attempts} attempt(s)`
        : `failed ${action} ${key}: ${msg}`;
    return new CairnError('IO_ERROR', `${this.url}: ${what}`, {
      data: { key, sftpStatus: sftpStatus(cause) ?? null },
      cause,
    });
  }

  async head(key: string): Promise<{ size: number } | null> {
    const path = this.path(key);
    return this.run(key, 'checking', async (sftp) => {
      try {
        const st = await sftpOps.stat(sftp, path);
        return st.isFile() ? { size: st.size } : null;
      } catch (err) {
        if (sftpStatus(err) === SFTP_STATUS.NO_SUCH_FILE) return null;
        throw err;
      }
    });
  }

  async get(key: string, opts?: GetOptions): Promise<Buffer> {
    const path = this.path(key);
    const max = getBound(opts);
    const notFound = () => new CairnError('NOT_FOUND', `${this.url} has no object ${key}`, { data: { key } });
    return this.run(key, 'reading', async (sftp) => {
      let handle: Buffer;
      try {
        handle = await sftpOps.open(sftp, path, 'r');
      } catch (err) {
        if (sftpStatus(err) === SFTP_STATUS.NO_SUCH_FILE) throw notFound();
        throw err;
      }
      try {
        // fstat on the handle, not stat on the path: a concurrent put renames a new file over
        // the path, but this handle keeps reading the old one whole.
        const st = await sftpOps.fstat(sftp, handle);
        if (!st.isFile()) throw notFound();
        // The size is the server's word and the buffer is allocated from it: checked first.
        if (st.size > max) throw tooLarge(this.url, key, max, st.size);
        return await readAll(sftp, handle, st.size);
      } finally {
        await sftpOps.close(sftp, handle).catch(() => {});
      }
    });
  }

  /**
   * Refuses a key whose folders under the root are symbolic links (as the folder backend does):
   * whoever else can write to the remote's folder could otherwise have a push write, and a gc or
   * erase delete, outside it with the pusher's own account.
   */
  private async noLinkedFolders(sftp: SFTPWrapper, key: string): Promise<void> {
    // Asked at every write and delete (in parallel: one round trip), never remembered: a folder
    // seen real can be swapped for a link between two puts.
    await Promise.all(
      foldersOf(key, TMP).map(async (rel) => {
        const st = await sftpOps.lstat(sftp, posix.join(this.root, rel)).catch((err: unknown) => {
          if (sftpStatus(err) === SFTP_STATUS.NO_SUCH_FILE) return null;
          throw err;
        });
        if (st?.isSymbolicLink()) throw linkedFolder(this.url, key, rel);
      }),
    );
  }

  async put(key: string, body: Buffer): Promise<void> {
    const dest = this.path(key);
    const tmpDir = posix.join(this.root, TMP);
    await this.run(key, 'writing', async (sftp) => {
      await this.noLinkedFolders(sftp, key);
      const tmp = posix.join(tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
      let created = false;
      try {
        await this.ensureDir(sftp, tmpDir);
        await this.ensureDir(sftp, posix.dirname(dest));
        const handle = await this.retryOnMissingDir(sftp, tmpDir, () => sftpOps.open(sftp, tmp, 'wx'));
        created = true;
        try {
          await writeAll(sftp, handle, body);
          await fsyncIfSupported(sftp, handle);
        } finally {
          await sftpOps.close(sftp, handle).catch(() => {});
        }
        await this.retryOnMissingDir(sftp, posix.dirname(dest), () => replaceFile(sftp, tmp, dest));
      } catch (err) {
        if (created) {
          await sftpOps.unlink(sftp, tmp).catch((e: unknown) => {
            if (sftpStatus(e) !== SFTP_STATUS.NO_SUCH_FILE) this.orphans.add(tmp);
          });
        }
        throw err;
      }
    });
  }

  /** Someone (gc, an admin) may remove a directory we created earlier: make it again once. */
  private async retryOnMissingDir<T>(sftp: SFTPWrapper, dir: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (sftpStatus(err) !== SFTP_STATUS.NO_SUCH_FILE) throw err;
      this.dirs.delete(dir);
      await this.ensureDir(sftp, dir);
      return fn();
    }
  }

  /** mkdir -p; concurrent puts may race to create the same directory, which is fine. */
  private async ensureDir(sftp: SFTPWrapper, dir: string): Promise<void> {
    if (this.dirs.has(dir)) return;
    try {
      await sftpOps.mkdir(sftp, dir);
    } catch (err) {
      // SFTP v3 reports "exists" as a bare FAILURE, so look before concluding anything.
      const st = await sftpOps.stat(sftp, dir).catch(() => null);
      if (st?.isDirectory()) {
        this.dirs.add(dir);
        return;
      }
      if (sftpStatus(err) !== SFTP_STATUS.NO_SUCH_FILE || dir === '/') throw err;
      await this.ensureDir(sftp, posix.dirname(dir));
      await sftpOps.mkdir(sftp, dir).catch(async (e: unknown) => {
        if (!(await sftpOps.stat(sftp, dir).catch(() => null))?.isDirectory()) throw e;
      });
    }
    this.dirs.add(dir);
  }

  async list(prefix: string, opts?: ListOptions): Promise<Array<{ key: string; size: number }>> {
    const max = listBound(opts);
    // Start at the deepest folder the prefix names, not at the root: listing packs/ab/ must
    // not walk every pack.
    const slash = prefix.lastIndexOf('/');
    const start = slash < 0 ? '' : prefix.slice(0, slash);
    if (start) assertKey(start);
    return this.run(prefix, 'listing', async (sftp) => {
      const out: Array<{ key: string; size: number }> = [];
      let seen = 0;
      const walk = async (rel: string): Promise<void> => {
        let entries: FileEntryWithStats[];
        try {
          entries = await sftpOps.readdir(sftp, rel ? posix.join(this.root, rel) : this.root);
        } catch (err) {
          if (sftpStatus(err) === SFTP_STATUS.NO_SUCH_FILE) return;
          throw err;
        }
        // ssh2 reads a folder whole; the bound then stops the walk at the first folder past it.
        seen += entries.length;
        if (seen > max) throw tooMany(this.url, prefix, max);
        const subdirs: string[] = [];
        for (const e of entries) {
          const key = rel ? `${rel}/${e.filename}` : e.filename;
          if (!rel && e.filename === TMP) continue;
          if (e.attrs.isDirectory()) {
            if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) subdirs.push(key);
          } else if (e.attrs.isFile() && key.startsWith(prefix)) {
            out.push({ key, size: e.attrs.size });
          }
        }
        // Sibling folders in parallel: SFTP requests pipeline on the one connection.
        await Promise.all(subdirs.map(walk));
      };
      await walk(start);
      return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    });
  }

  async delete(key: string): Promise<void> {
    const path = this.path(key);
    await this.run(key, 'deleting', async (sftp) => {
      await this.noLinkedFolders(sftp, key);
      await sftpOps.unlink(sftp, path).catch((err: unknown) => {
        if (sftpStatus(err) !== SFTP_STATUS.NO_SUCH_FILE) throw err;
      });
    });
  }

  async close(): Promise<void> {
    this.closes++;
    const current = this.current;
    this.current = null;
    if (!current) return;
    const s = await current.catch(() => null);
    s?.end();
  }
}
