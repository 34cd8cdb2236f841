import { randomBytes } from 'node:crypto';
import { promises as fsp, constants as fsc } from 'node:fs';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { ioError } from '../../core/errors.js';

/**
 * A rename is only durable once the directory holding the new name is fsynced; without it a
 * crash can leave metadata pointing at a pack whose directory entry never reached the disk.
 */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle | undefined;
  try {
    fh = await fsp.open(dir, fsc.O_RDONLY);
    await fh.sync();
  } catch (err) {
    // Some filesystems (and Windows) refuse fsync on directories; the rename is then as
    // durable as that filesystem allows.
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL' && (err as NodeJS.ErrnoException).code !== 'EISDIR') {
      throw ioError(err, 'sync directory', dir);
    }
  } finally {
    await fh?.close();
  }
}

/** temp file in the same directory → write → fsync → rename → fsync directory. */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: { mode?: number; durable?: boolean } = {},
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
  const durable = options.durable ?? true;
  try {
    await fsp.mkdir(dir, { recursive: true });
    const fh = await fsp.open(tmp, 'wx', options.mode ?? 0o644);
    try {
      await fh.writeFile(data);
      if (durable) await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, path);
  } catch (err) {
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw ioError(err, 'write', path);
  }
  if (durable) await fsyncDir(dir);
}

export function writeFileAtomicSync(
  path: string,
  data: string | Uint8Array | Iterable<string | Uint8Array>,
  options: { mode?: number } = {},
): void {
  const dir = dirname(path);
  const tmp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
  try {
    fs.mkdirSync(dir, { recursive: true });
    if (typeof data === 'string' || data instanceof Uint8Array) {
      fs.writeFileSync(tmp, data, { mode: options.mode ?? 0o644, flag: 'wx' });
    } else {
      // Pieces are written as they are made: a large document is never one string in memory.
      const fd = fs.openSync(tmp, 'wx', options.mode ?? 0o644);
      try {
        for (const piece of data) {
          if (typeof piece === 'string') fs.writeSync(fd, piece);
          else for (let at = 0; at < piece.length;) at += fs.writeSync(fd, piece, at);
        }
      } finally {
        fs.closeSync(fd);
      }
    }
    fs.renameSync(tmp, path);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw ioError(err, 'write', path);
  }
}
