import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** One usable line of an OpenSSH known_hosts file. */
export interface KnownHostEntry {
  line: number;
  marker: '@revoked' | '@cert-authority' | null;
  hosts: string;
  keyType: string;
  key: Buffer;
}

export type HostKeyVerdict =
  | { status: 'ok' }
  | { status: 'unknown'; otherTypes: string[] }
  | { status: 'changed'; lines: number[] }
  | { status: 'revoked'; line: number };

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const out: KnownHostEntry[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const fields = raw.trim().split(/\s+/);
    if (!fields[0] || fields[0].startsWith('#')) continue;
    const marker = fields[0].startsWith('@') ? fields.shift() : null;
    const [hosts, keyType, b64] = fields;
    if (!hosts || !keyType || !b64) continue;
    if (marker !== null && marker !== '@revoked' && marker !== '@cert-authority') continue;
    out.push({ line: i + 1, marker: marker ?? null, hosts, keyType, key: Buffer.from(b64, 'base64') });
  }
  return out;
}

/** The name OpenSSH looks up: bare host on port 22, `[host]:port` elsewhere. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function globMatch(pattern: string, name: string): boolean {
  const re = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(name);
}

function hashedMatch(field: string, name: string): boolean {
  const [, magic, salt, hash] = field.split('|');
  if (magic !== '1' || !salt || !hash) return false;
  const want = Buffer.from(hash, 'base64');
  const got = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest();
  return want.length === got.length && timingSafeEqual(want, got);
}

/** OpenSSH pattern-list semantics: any positive match and no negated one. */
export function hostsFieldMatches(hosts: string, name: string): boolean {
  if (hosts.startsWith('|')) return hashedMatch(hosts, name);
  let hit = false;
  for (const p of hosts.split(',')) {
    if (p.startsWith('!')) {
      if (globMatch(p.slice(1), name)) return false;
    } else if (globMatch(p, name)) hit = true;
  }
  return hit;
}

/** The wire-format key type inside a public key blob (`string type, …`). */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return '';
  const n = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + n).toString('latin1');
}

export function fingerprint(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/**
 * Decides like OpenSSH's StrictHostKeyChecking=yes: a revoked key or a different key of the
 * same type is refused loudly; a host with no key of this type is unknown (also refused, since
 * nobody is there to answer a "trust it?" prompt).
 */
export function verifyHostKey(entries: KnownHostEntry[], name: string, offered: Buffer): HostKeyVerdict {
  const mine = entries.filter((e) => e.marker !== '@cert-authority' && hostsFieldMatches(e.hosts, name));
  const revoked = mine.find((e) => e.marker === '@revoked' && e.key.equals(offered));
  if (revoked) return { status: 'revoked', line: revoked.line };
  const plain = mine.filter((e) => e.marker === null);
  if (plain.some((e) => e.key.equals(offered))) return { status: 'ok' };
  const type = keyTypeOf(offered);
  const sameType = plain.filter((e) => e.keyType === type);
  if (sameType.length) return { status: 'changed', lines: sameType.map((e) => e.line) };
  return { status: 'unknown', otherTypes: [...new Set(plain.map((e) => e.keyType))] };
}

const DEFAULT_HOST_KEY_ALGOS = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

/**
 * Host key algorithms in the order to offer them: those the user already trusts for this host
 * first, as OpenSSH does, so a server with several keys shows the one known_hosts can check
 * rather than failing as "unknown".
 */
export function preferredHostKeyAlgorithms(entries: KnownHostEntry[], name: string): string[] {
  const known = new Set(
    entries.filter((e) => e.marker === null && hostsFieldMatches(e.hosts, name)).map((e) => e.keyType),
  );
  const first = DEFAULT_HOST_KEY_ALGOS.filter(
    (a) => known.has(a) || (a.startsWith('rsa-sha2-') && known.has('ssh-rsa')),
  );
  return [...first, ...DEFAULT_HOST_KEY_ALGOS.filter((a) => !first.includes(a))];
}
