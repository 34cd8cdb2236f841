import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '../core/errors.js';
import { writeFileAtomic } from '../storage/objects/durable.js';

/**
 * The metadata database's password never goes in config.json (which is read by every command,
 * copied into bug reports and backed up with the project). `cairn init --metadata-url
 * postgres://user:pass@…` stores the URL without it and the password here, owner-only; at open
 * CAIRN_METADATA_PASSWORD wins over this file, and with neither the pg driver falls back to
 * PGPASSWORD and ~/.pgpass as libpq does.
 */
export const METADATA_PASSWORD_FILE = join('keys', 'metadata-password');

/** A URL with its password taken out: `{ url: postgres://user@host/db, password: 'pass' }`. */
export function splitPassword(url: string): { url: string; password: string | null } {
  if (!/^postgres(?:ql)?:\/\//.test(url)) return { url, password: null };
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { url, password: null };
  }
  if (!u.password) return { url, password: null };
  const password = decodeURIComponent(u.password);
  u.password = '';
  return { url: u.toString(), password };
}

export async function saveMetadataPassword(cairnDir: string, password: string): Promise<void> {
  await writeFileAtomic(join(cairnDir, METADATA_PASSWORD_FILE), `${password}\n`, { mode: 0o600 });
}

/** The URL to connect with: the stored one plus the password from the environment or the key file. */
export function withMetadataPassword(url: string, cairnDir: string, env: NodeJS.ProcessEnv): string {
  if (!/^postgres(?:ql)?:\/\//.test(url)) return url;
  let password = env.CAIRN_METADATA_PASSWORD || null;
  if (password === null) {
    try {
      password = readFileSync(join(cairnDir, METADATA_PASSWORD_FILE), 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new CairnError(
          'CONFIG_INVALID',
          `cannot read ${join(cairnDir, METADATA_PASSWORD_FILE)}: ${(err as Error).message}`,
          { cause: err },
        );
      }
    }
  }
  if (!password) return url;
  const u = new URL(url);
  u.password = encodeURIComponent(password);
  return u.toString();
}
