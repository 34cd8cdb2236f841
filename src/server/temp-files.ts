import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { CairnError } from '../core/errors.js';

/**
 * Runs `fn` with a folder path inside a fresh private temporary folder (the path itself does not
 * exist yet, for writers that must create it), and removes everything afterwards.
 */
export async function inTempFolder<T>(prefix: string, fn: (out: string) => Promise<T>): Promise<T> {
  const tmp = await mkdtemp(join(tmpdir(), prefix));
  try {
    return await fn(join(tmp, 'out'));
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Every regular file under `dir`, by relative path, in `encoding`; LIMIT_EXCEEDED past `maxBytes`. */
export async function filesOf(
  dir: string,
  encoding: 'utf8' | 'base64',
  maxBytes = Infinity,
): Promise<Record<string, string>> {
  const files: Record<string, string> = {};
  let bytes = 0;
  for (const f of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!f.isFile()) continue;
    const full = join(f.parentPath, f.name);
    bytes += (await stat(full)).size;
    if (bytes > maxBytes)
      throw new CairnError('LIMIT_EXCEEDED', `${dir} holds more than ${maxBytes} bytes`, { data: { maxBytes } });
    files[relative(dir, full)] = (await readFile(full)).toString(encoding);
  }
  return files;
}
