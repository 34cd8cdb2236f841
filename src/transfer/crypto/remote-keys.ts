import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '../../core/errors.js';
import { writeFileAtomic } from '../../storage/objects/durable.js';

const PREFIX = 'cairn-remote-key-v1:';

/** A key's public fingerprint: recorded on the remote so a wrong key is named, not guessed at. */
export function remoteKeyId(key: Buffer): string {
  return createHash('sha256').update('cairn-remote-key-id').update(key).digest('hex').slice(0, 32);
}

export function newRemoteKey(): Buffer {
  return randomBytes(32);
}

/** The backup form: one line, `cairn-remote-key-v1:<base64>`. */
export function formatRemoteKey(key: Buffer): string {
  return `${PREFIX}${key.toString('base64')}`;
}

export function parseRemoteKey(text: string): Buffer {
  const t = text.trim();
  const key = t.startsWith(PREFIX) ? Buffer.from(t.slice(PREFIX.length), 'base64') : Buffer.alloc(0);
  if (key.length !== 32)
    throw new CairnError('INVALID_INPUT', `not a Cairn remote key (expected one line ${PREFIX}<base64 of 32 bytes>)`);
  return key;
}

function keyPath(cairnDir: string, keyId: string): string {
  if (!/^[0-9a-f]{32}$/.test(keyId))
    throw new CairnError('CONFIG_INVALID', `bad remote key id ${JSON.stringify(keyId)}`);
  return join(cairnDir, 'keys', 'remotes', `${keyId}.key`);
}

/** Stores a remote key in the workspace, readable by its owner only. */
export async function saveRemoteKey(cairnDir: string, key: Buffer): Promise<string> {
  const id = remoteKeyId(key);
  const dir = join(cairnDir, 'keys', 'remotes');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const path = keyPath(cairnDir, id);
  if (!existsSync(path)) await writeFileAtomic(path, `${formatRemoteKey(key)}\n`, { mode: 0o600 });
  chmodSync(path, 0o600);
  return id;
}

export function loadRemoteKey(cairnDir: string, keyId: string): Buffer {
  const path = keyPath(cairnDir, keyId);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new CairnError('NOT_FOUND', `the remote key ${keyId} is not in this workspace (${path})`, {
      hint: 'restore it from your backup: cairn remote add <name> <url> --encrypt --key-file <backup>',
    });
  }
  const key = parseRemoteKey(text);
  if (remoteKeyId(key) !== keyId) throw new CairnError('CORRUPT_OBJECT', `${path} does not hold key ${keyId}`);
  return key;
}
