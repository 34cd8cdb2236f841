import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { CairnError } from '../core/errors.js';

/**
 * An API token is `cairn_<id>_<secret>`: the id finds the row, the secret proves possession.
 * Only sha256(secret) is stored, so a copy of the database does not let anyone sign in, and the
 * id (not a secret) is what audit events name as the credential.
 */
const PREFIX = 'cairn_';

export interface IssuedToken {
  id: string;
  token: string;
  secretHash: string;
}

export function issueToken(): IssuedToken {
  const id = `tok${randomBytes(9).toString('base64url').replace(/[-_]/g, 'x')}`;
  const secret = randomBytes(32).toString('base64url');
  return { id, token: `${PREFIX}${id}_${secret}`, secretHash: hashSecret(secret) };
}

export function parseToken(token: string): { id: string; secret: string } {
  const m = /^cairn_(tok[A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/.exec(token.trim());
  if (!m) throw new CairnError('UNAUTHENTICATED', 'the credential is not a Cairn API token');
  return { id: m[1]!, secret: m[2]! };
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

/** Constant-time: the comparison does not tell an attacker how many leading characters were right. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashSecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** `90d`, `12h`, `30m` or `never` → milliseconds (null for never). */
export function parseExpiry(s: string): number | null {
  if (s === 'never') return null;
  const m = /^(\d+)([dhm])$/.exec(s);
  if (!m || Number(m[1]) <= 0)
    throw new CairnError('USAGE', `cannot read the expiry ${JSON.stringify(s)}`, {
      hint: 'e.g. 90d, 12h, 30m or never',
    });
  const unit = { d: 86_400_000, h: 3_600_000, m: 60_000 }[m[2] as 'd' | 'h' | 'm'];
  return Number(m[1]) * unit;
}
