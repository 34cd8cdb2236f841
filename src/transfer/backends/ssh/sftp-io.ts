import type { FileEntryWithStats, SFTPWrapper, Stats } from 'ssh2';

/** SFTP v3 status codes (draft-ietf-secsh-filexfer-02) that the backend reacts to. */
export const SFTP_STATUS = {
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  NO_CONNECTION: 6,
  CONNECTION_LOST: 7,
} as const;

export function sftpStatus(err: unknown): number | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/**
 * After the connection dies ssh2 marks the channel's incoming side closed but may leave the
 * outgoing side 'open', so both are checked.
 */
function channelOpen(s: SFTPWrapper): boolean {
  const ch = s as unknown as { incoming?: { state?: string }; outgoing?: { state?: string } };
  return ch.outgoing?.state === 'open' && ch.incoming?.state === 'open';
}

/**
 * Promisifies one callback-style SFTP call. ssh2 silently drops a request sent on a channel
 * that is no longer open (its callback would never run), so that is refused up front; a
 * synchronous throw (misuse, missing extension) becomes a rejection like any other failure.
 */
function call<T>(s: SFTPWrapper, fn: (cb: (err: Error | undefined | null, value?: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    if (!channelOpen(s)) {
      reject(Object.assign(new Error('Not connected: the SFTP channel is closed'), { code: 'ENOTCONN' }));
      return;
    }
    try {
      fn((err, value) => (err ? reject(err) : resolve(value as T)));
    } catch (err) {
      reject(err);
    }
  });
}

export const sftpOps = {
  stat: (s: SFTPWrapper, path: string) => call<Stats>(s, (cb) => s.stat(path, cb)),
  lstat: (s: SFTPWrapper, path: string) => call<Stats>(s, (cb) => s.lstat(path, cb)),
  open: (s: SFTPWrapper, path: string, flags: 'r' | 'wx') =>
    call<Buffer>(s, (cb) => s.open(path, flags, { mode: 0o644 }, cb)),
  fstat: (s: SFTPWrapper, h: Buffer) => call<Stats>(s, (cb) => s.fstat(h, cb)),
  close: (s: SFTPWrapper, h: Buffer) => call<void>(s, (cb) => s.close(h, cb)),
  mkdir: (s: SFTPWrapper, path: string) => call<void>(s, (cb) => s.mkdir(path, cb)),
  unlink: (s: SFTPWrapper, path: string) => call<void>(s, (cb) => s.unlink(path, cb)),
  rename: (s: SFTPWrapper, from: string, to: string) => call<void>(s, (cb) => s.rename(from, to, cb)),
  readdir: (s: SFTPWrapper, path: string) => call<FileEntryWithStats[]>(s, (cb) => s.readdir(path, cb)),
};

/** Whether the server announced an extension in its VERSION packet (ssh2 keeps no public list). */
export function hasExtension(s: SFTPWrapper, name: string): boolean {
  const exts = (s as unknown as { _extensions?: Record<string, string> })._extensions;
  return exts?.[name] !== undefined;
}

/** Replaces `to` atomically where the server can (posix-rename@openssh.com). */
export async function replaceFile(s: SFTPWrapper, from: string, to: string): Promise<void> {
  if (hasExtension(s, 'posix-rename@openssh.com')) return call<void>(s, (cb) => s.ext_openssh_rename(from, to, cb));
  // Plain SFTP rename refuses an existing target, so there is a brief window without `to`.
  await sftpOps.unlink(s, to).catch((err: unknown) => {
    if (sftpStatus(err) !== SFTP_STATUS.NO_SUCH_FILE) throw err;
  });
  await sftpOps.rename(s, from, to);
}

export async function fsyncIfSupported(s: SFTPWrapper, h: Buffer): Promise<void> {
  if (hasExtension(s, 'fsync@openssh.com')) await call<unknown>(s, (cb) => s.ext_openssh_fsync(h, cb));
}

// Many requests in flight hide the round trip; one chunk per request keeps ssh2 from
// splitting (it splits past the server's advertised limit, which is at least 32 KiB).
const CHUNK = 32 * 1024;
const WINDOW = 64;

async function pipelined(total: number, step: (offset: number, length: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const offset = next;
      const length = Math.min(CHUNK, total - offset);
      next += length;
      await step(offset, length);
    }
  };
  await Promise.all(Array.from({ length: Math.min(WINDOW, Math.ceil(total / CHUNK)) }, worker));
}

export async function writeAll(s: SFTPWrapper, h: Buffer, body: Buffer): Promise<void> {
  await pipelined(body.length, (offset, length) => call<void>(s, (cb) => s.write(h, body, offset, length, offset, cb)));
}

/** Reads `size` bytes from an open handle; a short read (server limit, EOF) is continued. */
export async function readAll(s: SFTPWrapper, h: Buffer, size: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(size);
  let truncated = false;
  await pipelined(size, async (offset, length) => {
    let done = 0;
    while (done < length) {
      const n = await call<number>(s, (cb) =>
        s.read(h, out, offset + done, length - done, offset + done, (err, bytes) => cb(err, bytes)),
      );
      if (n === 0) {
        truncated = true;
        return;
      }
      done += n;
    }
  });
  if (truncated)
    throw Object.assign(new Error('the file ended before the size its attributes gave'), { code: SFTP_STATUS.FAILURE });
  return out;
}
