import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '../core/errors.js';

/**
 * The team server's key for what its browser sessions keep secret in the metadata database:
 * the provider's refresh tokens, and the sign-ins in progress that travel in state cookies. It
 * lives in the data dir beside the signing key (owner-only, `keys/session.key`), never in the
 * database: a reader of the database or of a backup (a read-only user, a dump) gets sealed bytes
 * only. Every server process on one database needs the same file (docs/SERVER.md "Several server
 * processes": the data dir's contents are copied to each host).
 */
export const SESSION_KEY_FILE = join('keys', 'session.key');

export interface SessionKeys {
  /** Seals sign-ins in progress into the state cookie (OidcBrowser's own format). */
  stateKey: Buffer;
  /** Seals the rows the server authorizes from (accounts, tokens, grants, sessions): identity's RowSeal key. */
  rowKey: Buffer;
  /** A check value of the key (HMAC of a fixed label): what the database keeps to tell a wrong key file. */
  check: string;
  /** Seals a session's refresh token, bound to its row (the session id's hash). */
  seal(idHash: string, secret: string): string;
  /** The refresh token sealed for this row, or null: sealed with another key, for another row, or damaged. */
  open(idHash: string, sealed: string): string | null;
}

/** Sealed values start so: a later format gets another prefix, and an unknown one is not guessed at. */
const SEALED = 'v1.';

/** The key file's 32 bytes, made on first use (of two processes starting at once, one file wins). */
export function readSessionKey(cairnDir: string, create: boolean): Buffer | null {
  const path = join(cairnDir, SESSION_KEY_FILE);
  try {
    const hex = readFileSync(path, 'utf8').trim();
    if (/^[0-9a-f]{64}$/.test(hex)) return Buffer.from(hex, 'hex');
    throw new CairnError('CONFIG_INVALID', `${path} does not hold a 32-byte hex key`, {
      hint: `copy ${SESSION_KEY_FILE} from the data dir of a server already on this database`,
    });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (!create) return null;
  mkdirSync(join(cairnDir, 'keys'), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(path, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return readSessionKey(cairnDir, false);
}

/** Keys for each use, derived from the file's key (HKDF-SHA256), so no two uses share one. */
export function sessionKeys(key: Buffer): SessionKeys {
  const derive = (label: string) => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), label, 32));
  const refreshKey = derive('cairn browser session refresh token v1');
  const aad = (idHash: string) => Buffer.from(`cairn-session:${idHash}`, 'utf8');
  return {
    stateKey: derive('cairn oidc state cookie v1'),
    rowKey: derive('cairn authorization rows v1'),
    check: createHmac('sha256', key).update('cairn session key check v1').digest('hex'),
    seal(idHash, secret) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', refreshKey, iv).setAAD(aad(idHash));
      const body = Buffer.concat([c.update(secret, 'utf8'), c.final()]);
      return SEALED + Buffer.concat([iv, c.getAuthTag(), body]).toString('base64url');
    },
    open(idHash, sealed) {
      if (!sealed.startsWith(SEALED)) return null;
      const raw = Buffer.from(sealed.slice(SEALED.length), 'base64url');
      if (raw.length < 29) return null;
      try {
        const d = createDecipheriv('aes-256-gcm', refreshKey, raw.subarray(0, 12)).setAAD(aad(idHash));
        d.setAuthTag(raw.subarray(12, 28));
        return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
      } catch {
        return null;
      }
    },
  };
}

/** Whether a check value kept in the database is this key's. */
export function sameCheck(kept: string, keys: SessionKeys): boolean {
  const a = Buffer.from(kept);
  const b = Buffer.from(keys.check);
  return a.length === b.length && timingSafeEqual(a, b);
}
