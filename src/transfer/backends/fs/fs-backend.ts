import { randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fsp, type Dir } from 'node:fs';
import { dirname, join } from 'node:path';
import { CairnError, ioError } from '../../../core/errors.js';
import { fsyncDir } from '../../../storage/objects/durable.js';
import { assertKey, foldersOf, linkedFolder } from '../keys.js';
import type { GetOptions, ListOptions, RemoteBackend } from '../port.js';
import { getBound, listBound, readBounded, tooLarge, tooMany } from '../bounded.js';

const TMP = '.cairn-tmp';

/**
 * A remote on a mounted filesystem (`file:///path`): NFS, Lustre, GPFS on a cluster, or any
 * local directory. Objects are files under the root; a put writes `<root>/.cairn-tmp/<random>`,
 * fsyncs it and renames it into place (rename is atomic on one filesystem), then fsyncs the
 * directory, so a crash never leaves a partial object under its final name.
 */
export class FsBackend implements RemoteBackend {
  readonly url: string;
  readonly root: string;

  constructor(root: string) {
    this.root = root;
    this.url = `file://${root}`;
  }

  private path(key: string): string {
    return join(this.root, ...assertKey(key).split('/'));
  }

  async head(key: string): Promise<{ size: number } | null> {
    try {
      const st = await fsp.stat(this.path(key));
      return st.isFile() ? { size: st.size } : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR')
        return null;
      throw ioError(err, 'stat', this.path(key));
    }
  }

  async get(key: string, opts?: GetOptions): Promise<Buffer> {
    const max = getBound(opts);
    let fh: fsp.FileHandle | undefined;
    try {
      // Non-blocking: a FIFO placed under a key would otherwise hang the open until a writer came.
      fh = await fsp.open(this.path(key), fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
      const st = await fh.stat();
      // Only a regular file is an object (as for head): a device (a link to /dev/zero) or a FIFO
      // has no size to check and would be read without end.
      if (!st.isFile()) throw new CairnError('NOT_FOUND', `${this.url} has no object ${key}`, { data: { key } });
      if (st.size > max) throw tooLarge(this.url, key, max, st.size);
      // Read against the bound, not to the end: a file that grows after the stat (another
      // writer, not a put of ours) is cut off at the bound, having cost no more than it.
      // Each read allocates its whole high-water mark: sized to the file (1 MiB at most), many
      // parallel reads of small objects hold what they read, not 1 MiB each.
      const highWaterMark = Math.min(1024 * 1024, Math.max(16 * 1024, st.size + 1));
      const stream = fh.createReadStream({ autoClose: false, highWaterMark });
      return await readBounded(stream, max, () => tooLarge(this.url, key, max));
    } catch (err) {
      if (err instanceof CairnError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR')
        throw new CairnError('NOT_FOUND', `${this.url} has no object ${key}`, { data: { key } });
      throw ioError(err, 'read', this.path(key));
    } finally {
      await fh?.close();
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    let fh: fsp.FileHandle;
    try {
      fh = await fsp.open(this.path(key), 'r');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR')
        throw new CairnError('NOT_FOUND', `${this.url} has no object ${key}`, { data: { key } });
      throw ioError(err, 'read', this.path(key));
    }
    try {
      const buf = Buffer.allocUnsafe(length);
      let got = 0;
      while (got < length) {
        const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return buf.subarray(0, got);
    } catch (err) {
      throw ioError(err, 'read', this.path(key));
    } finally {
      await fh.close();
    }
  }

  /**
   * Refuses a key whose folders under the root are symbolic links. A shared folder remote is
   * writable by others: `packs -> ~/somewhere` would have a push write, and a gc or erase delete,
   * files outside the remote under the pusher's own permissions. Folders not made yet are
   * fine (mkdir makes real ones); the root itself may be a link.
   */
  private async noLinkedFolders(key: string): Promise<void> {
    for (const rel of foldersOf(key, TMP)) {
      const at = join(this.root, ...rel.split('/'));
      let isLink: boolean;
      try {
        isLink = (await fsp.lstat(at)).isSymbolicLink();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') continue;
        throw ioError(err, 'stat', at);
      }
      if (isLink) throw linkedFolder(this.url, key, rel);
    }
  }

  async put(key: string, body: Buffer): Promise<void> {
    const dest = this.path(key);
    const tmpDir = join(this.root, TMP);
    const tmp = join(tmpDir, `${process.pid}-${randomBytes(8).toString('hex')}`);
    await this.noLinkedFolders(key);
    try {
      await fsp.mkdir(tmpDir, { recursive: true });
      await fsp.mkdir(dirname(dest), { recursive: true });
      const fh = await fsp.open(tmp, 'wx', 0o644);
      try {
        await fh.writeFile(body);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, dest);
      await fsyncDir(dirname(dest));
    } catch (err) {
      await fsp.rm(tmp, { force: true }).catch(() => {});
      throw err instanceof CairnError ? err : ioError(err, 'write', dest);
    }
  }

  async list(prefix: string, opts?: ListOptions): Promise<Array<{ key: string; size: number }>> {
    const max = listBound(opts);
    const out: Array<{ key: string; size: number }> = [];
    // Start at the deepest folder the prefix names, not at the root: listing packs/ab/ must
    // not walk every pack.
    const slash = prefix.lastIndexOf('/');
    const start = slash < 0 ? '' : prefix.slice(0, slash);
    if (start) assertKey(start);
    // Entries are read a batch at a time (opendir, not readdir) and counted against the bound,
    // so a folder of millions of files is stopped at the bound, not read whole first.
    let seen = 0;
    const walk = async (rel: string): Promise<void> => {
      let dir: Dir;
      try {
        dir = await fsp.opendir(rel ? join(this.root, ...rel.split('/')) : this.root);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return;
        throw ioError(err, 'list', join(this.root, rel));
      }
      try {
        for await (const e of dir) {
          if (++seen > max) throw tooMany(this.url, prefix, max);
          const key = rel ? `${rel}/${e.name}` : e.name;
          if (!rel && e.name === TMP) continue;
          if (e.isDirectory()) {
            if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) await walk(key);
          } else if (e.isFile() && key.startsWith(prefix)) {
            out.push({ key, size: (await fsp.stat(join(this.root, ...key.split('/')))).size });
          }
        }
      } catch (err) {
        throw err instanceof CairnError ? err : ioError(err, 'list', join(this.root, rel));
      }
    };
    await walk(start);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    await this.noLinkedFolders(key);
    await fsp.rm(this.path(key), { force: true }).catch((err: unknown) => {
      throw ioError(err, 'delete', this.path(key));
    });
  }

  async close(): Promise<void> {}
}
