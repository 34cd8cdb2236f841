import * as fs from 'node:fs';
import { join } from 'node:path';
import { readPrint, samePrint, statPrint, writePrint, printPath } from './fingerprint.js';

/**
 * `.cairn/cache/files/<xx>/<digest>[.x]`: one read-only file per content (and executable
 * bit), the source that reflink and hardlink checkouts link from. A hardlinked checkout shares
 * the entry's inode, so a person who makes a checked-out file writable and edits it edits the
 * entry too: every use checks the entry before linking it.
 */
export function fileCacheEntry(cacheDir: string, digest: string, executable: boolean): string {
  const key = `${digest}${executable ? '.x' : ''}`;
  return join(cacheDir, key.slice(0, 2), key);
}

export const FILE_CACHE_MODE = { plain: 0o444, executable: 0o555 } as const;

export type EntryState = 'ok' | 'missing' | 'poisoned';

/**
 * Whether an entry may be served. Its stat print (recorded when it was made) is compared
 * first; when it differs the bytes are re-hashed against the digest the entry is named by:
 * still right → the print is renewed (and the read-only mode restored) and it is served;
 * wrong → the entry is removed and reported poisoned, so the caller writes a fresh one.
 */
export async function checkFileCacheEntry(
  path: string,
  want: { digest: string; size: number; mode: number },
  hash: (path: string) => Promise<string>,
): Promise<EntryState> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(path);
  } catch {
    return 'missing';
  }
  if (
    st.isFile() &&
    samePrint(readPrint(path), statPrint(st)) &&
    (st.mode & 0o777) === want.mode &&
    st.size === want.size
  )
    return 'ok';
  if (st.isFile() && st.size === want.size && (await hash(path)) === want.digest) {
    fs.chmodSync(path, want.mode);
    writePrint(path, statPrint(fs.lstatSync(path)));
    return 'ok';
  }
  dropEntry(path);
  return 'poisoned';
}

/**
 * fsck's look at an entry, changing nothing: `poisoned` when its stat moved and its bytes no
 * longer hash to the digest it is named by (or it is not a plain read-only file).
 */
export async function inspectFileCacheEntry(
  path: string,
  hash: (path: string) => Promise<string>,
): Promise<'ok' | 'poisoned'> {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const m = /^([0-9a-f]{64})(\.x)?$/.exec(name);
  const st = fs.lstatSync(path);
  if (!m || !st.isFile()) return 'poisoned';
  if (samePrint(readPrint(path), statPrint(st)) && (st.mode & 0o222) === 0) return 'ok';
  return (await hash(path)) === m[1] ? 'ok' : 'poisoned';
}

/** Records a freshly written entry's print (after it is in place and read-only). */
export function sealFileCacheEntry(path: string): void {
  writePrint(path, statPrint(fs.lstatSync(path)));
}

function dropEntry(path: string): void {
  fs.rmSync(path, { recursive: true, force: true });
  fs.rmSync(printPath(path), { force: true });
}
