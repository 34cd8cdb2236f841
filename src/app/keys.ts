import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '../core/errors.js';
import {
  generateSigningKeyPair,
  privateKeyFromPem,
  privateKeyToPem,
  publicKeyFromPem,
  publicKeyToPem,
  rawPublicKey,
  type NoteSigner,
} from '../audit/note/index.js';
import type { KeptCheckpoint } from '../audit/log/kept-checkpoint.js';
import { verifierFor, type LogKeys } from '../audit/log/signer.js';
import { writeFileAtomic } from '../storage/objects/durable.js';

export const PRIVATE_KEY_FILE = join('keys', 'signing.key');
export const PUBLIC_KEY_FILE = join('keys', 'signing.pub');

/** Ed25519 key for checkpoints and (later) release signatures; the private half is 0600. */
export async function createSigningKey(cairnDir: string): Promise<void> {
  const { privateKey, publicKey } = generateSigningKeyPair();
  await writeFileAtomic(join(cairnDir, PRIVATE_KEY_FILE), privateKeyToPem(privateKey), { mode: 0o600 });
  chmodSync(join(cairnDir, PRIVATE_KEY_FILE), 0o600);
  chmodSync(join(cairnDir, 'keys'), 0o700);
  await writeFileAtomic(join(cairnDir, PUBLIC_KEY_FILE), publicKeyToPem(publicKey));
}

export const KEPT_CHECKPOINT_FILE = join('keys', 'checkpoint');

/**
 * The latest signed checkpoint, kept beside the key rather than in the metadata database
 * (docs/AUDIT.md §3): whoever can write only the database cannot make Cairn forget what the
 * log committed to. Written atomically (temporary file, fsync, rename).
 */
export function keptCheckpointFile(cairnDir: string): KeptCheckpoint {
  const path = join(cairnDir, KEPT_CHECKPOINT_FILE);
  return {
    where: join('.cairn', KEPT_CHECKPOINT_FILE),
    read: () => {
      try {
        return readFileSync(path, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw new CairnError('IO_ERROR', `cannot read the kept checkpoint ${path}: ${(err as Error).message}`, {
          cause: err,
        });
      }
    },
    write: (note) => writeFileAtomic(path, note, { mode: 0o644 }),
  };
}

export const PSEUDONYM_KEY_FILE = join('keys', 'pseudonym.key');

/**
 * The secret for keyed pseudonymization (HMAC-SHA256). It never leaves the workspace: not in
 * outputs, reports or the audit log. Created on first use, readable only by its owner; losing
 * it means new pseudonyms no longer match old ones, so back it up with the workspace.
 */
export function pseudonymKey(cairnDir: string): Buffer {
  const path = join(cairnDir, PSEUDONYM_KEY_FILE);
  try {
    const hex = readFileSync(path, 'utf8').trim();
    if (/^[0-9a-f]{64}$/.test(hex)) return Buffer.from(hex, 'hex');
    throw new CairnError('CONFIG_INVALID', `${path} does not hold a 32-byte hex key`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = randomBytes(32);
  mkdirSync(join(cairnDir, 'keys'), { recursive: true, mode: 0o700 });
  try {
    writeFileSync(path, `${key.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // Another process created it first: use theirs.
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return pseudonymKey(cairnDir);
    throw err;
  }
  return key;
}

export function loadLogKeys(cairnDir: string, origin: string): LogKeys {
  const pubPem = read(join(cairnDir, PUBLIC_KEY_FILE));
  const publicKey = publicKeyFromPem(pubPem);
  const raw = rawPublicKey(publicKey);
  let signer: NoteSigner | null = null;
  return {
    origin,
    rawPublicKey: raw,
    verifier: verifierFor(origin, publicKey, raw),
    signer: () => {
      if (!signer) {
        const keyPath = join(cairnDir, PRIVATE_KEY_FILE);
        const mode = statSync(keyPath).mode & 0o777;
        if ((mode & 0o077) !== 0 && process.platform !== 'win32') {
          throw new CairnError('CONFIG_INVALID', `${keyPath} is readable by other users (mode ${mode.toString(8)})`, {
            hint: `run: chmod 600 ${keyPath}`,
          });
        }
        signer = { name: origin, privateKey: privateKeyFromPem(read(keyPath)), rawPublicKey: raw };
      }
      return signer;
    },
  };
}

function read(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new CairnError('CONFIG_INVALID', `cannot read the workspace key ${path}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
