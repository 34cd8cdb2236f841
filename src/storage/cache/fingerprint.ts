import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname } from 'node:path';
import { writeFileAtomicSync } from '../objects/durable.js';

/**
 * What a cache entry looked like on disk when it was made: a cheap way to see that nobody
 * wrote to it since. Writes change mtime and usually size; a new file at the same name has a
 * new inode. When the stat differs the entry is re-hashed, and served only if its bytes are
 * still right (a `touch` is not poisoning); anything else is rebuilt, never served.
 */
export interface StatPrint {
  ino: number;
  size: number;
  mtimeMs: number;
}

export function statPrint(st: fs.Stats): StatPrint {
  return { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs };
}

export function samePrint(a: StatPrint | null, b: StatPrint): boolean {
  return a !== null && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/** The sidecar that remembers an entry's print: `<entry>.print` beside it. */
export function printPath(entry: string): string {
  return `${entry}.print`;
}

export function readPrint(entry: string): (StatPrint & Record<string, unknown>) | null {
  try {
    const p = JSON.parse(fs.readFileSync(printPath(entry), 'utf8')) as StatPrint & Record<string, unknown>;
    return typeof p.ino === 'number' && typeof p.size === 'number' && typeof p.mtimeMs === 'number' ? p : null;
  } catch {
    return null;
  }
}

export function writePrint(entry: string, print: StatPrint, extra: Record<string, unknown> = {}): void {
  fs.mkdirSync(dirname(entry), { recursive: true });
  writeFileAtomicSync(printPath(entry), JSON.stringify({ ...print, ...extra }), { mode: 0o444 });
}

/** SHA-256 of a file, read in blocks (the file may be large). */
export function hashFileSync(path: string): string {
  const h = createHash('sha256');
  const fd = fs.openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(4 * 1024 * 1024);
    let pos = 0;
    for (;;) {
      const n = fs.readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    fs.closeSync(fd);
  }
  return h.digest('hex');
}
