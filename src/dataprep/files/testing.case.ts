import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { compareNames } from '../../storage/tree/node.js';
import { fsReader, type ByteRange, type FileInfo, type ReadFile } from './source.js';

/** Test helpers: a directory as a version listing, and a reader that records its calls. */
export function listing(root: string): FileInfo[] {
  return readdirSync(root, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => {
      const abs = join(d.parentPath, d.name);
      const bytes = readFileSync(abs);
      return {
        path: relative(root, abs).split('\\').join('/'),
        size: bytes.length,
        digest: createHash('sha256').update(bytes).digest('hex'),
      };
    })
    .sort((a, b) => compareNames(a.path, b.path));
}

export interface ReadCall {
  path: string;
  range: ByteRange | null;
  bytes: number;
}

export function recordingReader(root: string): { read: ReadFile; calls: ReadCall[] } {
  const inner = fsReader(root);
  const calls: ReadCall[] = [];
  const read: ReadFile = async (path, range) => {
    const b = await inner(path, range);
    calls.push({ path, range: range ?? null, bytes: b.length });
    return b;
  };
  return { read, calls };
}
