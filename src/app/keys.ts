import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import type { AuditKeyRotationView } from '../audit/index.js';
import {
  chmodSync,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { CairnError } from '../core/errors.js';
import { verify } from 'node:crypto';
import { openPkcs11, openPkcs11Signer, type Pkcs11KeyConfig } from './pkcs11.js';
import type { SigningKey } from '../models/index.js';
import {
  generateSigningKeyPair,
  publicKeyFromRaw,
  privateKeyFromPem,
  privateKeyToPem,
  publicKeyFromPem,
  publicKeyToPem,
  rawPublicKey,
  formatVerifierKey,
  parseVerifierKey,
  type NoteSigner,
  type NoteVerifier,
} from '../audit/note/index.js';
import type { KeptCheckpoint } from '../audit/log/kept-checkpoint.js';
import { verifierFor, type LogKeys } from '../audit/log/signer.js';
import { writeFileAtomic } from '../storage/objects/durable.js';
import { sha256Hex } from '../core/digest.js';
import type { AuditLog } from '../audit/log/audit-log.js';

/**
 * The audit checkpoint key. Workspaces made before releases had their own key signed releases
 * with it too; it stays what it always was, the log's key (docs/AUDIT.md, key custody).
 */
export const PRIVATE_KEY_FILE = join('keys', 'signing.key');
export const PUBLIC_KEY_FILE = join('keys', 'signing.pub');

/**
 * Where the audit key lives when it is not in signing.key: a PKCS #11 token (module, token and
 * key labels, the variable that holds the PIN). Only the public half is copied out, to signing.pub.
 */
export const AUDIT_KEY_CONFIG_FILE = join('keys', 'audit-key.json');

function readAuditKeyConfig(cairnDir: string, file = AUDIT_KEY_CONFIG_FILE): Pkcs11KeyConfig | null {
  const path = join(cairnDir, file);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CairnError('CONFIG_INVALID', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const c = (raw as { pkcs11?: Partial<Pkcs11KeyConfig> } | null)?.pkcs11;
  if (
    typeof c?.module !== 'string' ||
    typeof c.tokenLabel !== 'string' ||
    typeof c.keyLabel !== 'string' ||
    typeof c.pinEnv !== 'string'
  )
    throw new CairnError(
      'CONFIG_INVALID',
      `${path} must be {"pkcs11": {"module", "tokenLabel", "keyLabel", "pinEnv"}}`,
    );
  return { module: c.module, tokenLabel: c.tokenLabel, keyLabel: c.keyLabel, pinEnv: c.pinEnv };
}

/**
 * The audit key of a new workspace: generated into signing.key (0600), or, with `pkcs11`, a key
 * that already lives in a token, whose public half is read out and whose location is recorded.
 */
export async function createSigningKey(
  cairnDir: string,
  pkcs11?: { config: Pkcs11KeyConfig; env: NodeJS.ProcessEnv },
): Promise<void> {
  if (pkcs11) {
    const token = openPkcs11Signer(pkcs11.config, pkcs11.env);
    let raw: Buffer;
    try {
      raw = token.rawPublicKey;
      // A test signature proves the PIN, the labels and the mechanism now, not at the first checkpoint.
      const probe = Buffer.from('cairn pkcs11 probe\n');
      if (!verify(null, probe, publicKeyFromRaw(raw), token.sign(probe)))
        throw new CairnError('CONFIG_INVALID', 'the token key does not sign with its own public key');
    } finally {
      token.close();
    }
    mkdirSync(join(cairnDir, 'keys'), { recursive: true, mode: 0o700 });
    await writeFileAtomic(join(cairnDir, PUBLIC_KEY_FILE), publicKeyToPem(publicKeyFromRaw(raw)));
    await writeFileAtomic(
      join(cairnDir, AUDIT_KEY_CONFIG_FILE),
      `${JSON.stringify({ pkcs11: pkcs11.config }, null, 2)}\n`,
      {
        mode: 0o600,
      },
    );
    return;
  }
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

/** The audit key a rotation is handing over to, until it is put in place (file custody, or its token's location). */
export const NEXT_PRIVATE_KEY_FILE = join('keys', 'signing.next.key');
export const NEXT_AUDIT_KEY_CONFIG_FILE = join('keys', 'audit-key.next.json');
/** The vkeys of the audit keys this log retired, newest first (public halves only). */
export const RETIRED_KEYS_FILE = join('keys', 'retired.vkeys');

function readRetired(cairnDir: string): string[] {
  try {
    return readFileSync(join(cairnDir, RETIRED_KEYS_FILE), 'utf8').split('\n').filter(Boolean);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function verifierOfVkey(vkey: string): NoteVerifier {
  const k = parseVerifierKey(vkey);
  return { name: k.name, keyId: k.keyId, publicKey: k.publicKey };
}

function rotationPending(cairnDir: string): boolean {
  return existsSync(join(cairnDir, NEXT_PRIVATE_KEY_FILE)) || existsSync(join(cairnDir, NEXT_AUDIT_KEY_CONFIG_FILE));
}

export function loadLogKeys(cairnDir: string, origin: string, env: NodeJS.ProcessEnv = process.env): LogKeys {
  const pubPem = read(join(cairnDir, PUBLIC_KEY_FILE));
  const publicKey = publicKeyFromPem(pubPem);
  const raw = rawPublicKey(publicKey);
  const token = readAuditKeyConfig(cairnDir);
  let signer: NoteSigner | null = null;
  return {
    origin,
    rawPublicKey: raw,
    verifier: verifierFor(origin, publicKey, raw),
    retired: readRetired(cairnDir).map(verifierOfVkey),
    signer: () => {
      if (!signer && rotationPending(cairnDir))
        // The log may already have handed over to the next key: signing with this one now
        // would make a checkpoint that verification refuses (a retired key's).
        throw new CairnError(
          'CONFIG_INVALID',
          'an audit key rotation was interrupted: no checkpoint is signed until it finishes',
          {
            hint: 'run `cairn audit keys rotate` again: it finishes the rotation the log recorded, or discards the unused key',
          },
        );
      if (!signer && token) signer = tokenSigner(cairnDir, origin, token, raw, env);
      if (!signer) signer = fileSigner(join(cairnDir, PRIVATE_KEY_FILE), origin, raw);
      return signer;
    },
  };
}

function tokenSigner(
  cairnDir: string,
  origin: string,
  token: Pkcs11KeyConfig,
  raw: Buffer,
  env: NodeJS.ProcessEnv,
): NoteSigner {
  // Opened on the first checkpoint and kept for the process: a login per checkpoint would
  // cost more than the signature. Every signature is checked against signing.pub.
  const device = openPkcs11Signer(token, env);
  if (!device.rawPublicKey.equals(raw)) {
    device.close();
    throw new CairnError(
      'CONFIG_INVALID',
      `the key "${token.keyLabel}" on token "${token.tokenLabel}" is not the workspace's audit key (${PUBLIC_KEY_FILE})`,
    );
  }
  process.once('exit', () => device.close());
  return { name: origin, rawPublicKey: raw, sign: device.sign };
}

function fileSigner(keyPath: string, origin: string, raw: Buffer): NoteSigner {
  const mode = statSync(keyPath).mode & 0o777;
  if ((mode & 0o077) !== 0 && process.platform !== 'win32') {
    throw new CairnError('CONFIG_INVALID', `${keyPath} is readable by other users (mode ${mode.toString(8)})`, {
      hint: `run: chmod 600 ${keyPath}`,
    });
  }
  return { name: origin, privateKey: privateKeyFromPem(read(keyPath)), rawPublicKey: raw };
}

/** What a rotation did: the audit service's view of it (`index` is the `keys.rotate` event's). */
export type AuditKeyRotation = AuditKeyRotationView;

/** Where the next audit key lives: a new file key, or a key pair already in a token. */
export type NextAuditKey = { pkcs11?: Pkcs11KeyConfig };

/**
 * Rotates the workspace's audit key (docs/AUDIT.md §8, key custody). The new key is made (or
 * found in its token) and written beside the old one as the *next* key before the log records
 * anything; the log then appends the transition and signs with the new key; only then is the
 * new key put in place and the old private key file removed. A crash at any step leaves the
 * next key on disk, which blocks signing until this is run again: it finishes a rotation the
 * log recorded and discards a key the log never heard of.
 */
export async function rotateAuditKey(
  cairnDir: string,
  log: AuditLog,
  next: NextAuditKey,
  env: NodeJS.ProcessEnv = process.env,
): Promise<AuditKeyRotation> {
  const origin = log.keys.origin;
  const pending = pendingNextKeys(cairnDir, origin, env);
  if (pending) {
    const recorded = (await log.keyRotations()).at(-1);
    if (recorded?.to === pending.vkey) {
      const cp = await log.latestCheckpoint();
      installNextKey(cairnDir, pending, recorded.from);
      log.useKeys({ ...pending.keys, retired: readRetired(cairnDir).map(verifierOfVkey) });
      return {
        from: recorded.from,
        to: recorded.to,
        index: recorded.index,
        checkpoint: cp!,
        custody: pending.custody,
        resumed: true,
      };
    }
    rmSync(join(cairnDir, NEXT_PRIVATE_KEY_FILE), { force: true });
    rmSync(join(cairnDir, NEXT_AUDIT_KEY_CONFIG_FILE), { force: true });
  }
  // The retiring key signs the transition: opened before the next key exists (which blocks it).
  log.keys.signer();
  let made: PendingKeys;
  if (next.pkcs11) {
    const probe = openPkcs11Signer(next.pkcs11, env);
    const raw = probe.rawPublicKey;
    probe.close();
    if (raw.equals(log.keys.rawPublicKey))
      throw new CairnError('USAGE', `the key "${next.pkcs11.keyLabel}" is the current audit key`, {
        hint: 'make a new key pair in the token first (pkcs11-tool --keypairgen), and name its label',
      });
    await writeFileAtomic(
      join(cairnDir, NEXT_AUDIT_KEY_CONFIG_FILE),
      `${JSON.stringify({ pkcs11: next.pkcs11 }, null, 2)}\n`,
      { mode: 0o600 },
    );
    made = pendingNextKeys(cairnDir, origin, env)!;
  } else {
    const { privateKey } = generateSigningKeyPair();
    await writeFileAtomic(join(cairnDir, NEXT_PRIVATE_KEY_FILE), privateKeyToPem(privateKey), { mode: 0o600 });
    made = pendingNextKeys(cairnDir, origin, env)!;
  }
  const r = await log.rotateKey(made.keys, { custody: made.custody });
  installNextKey(cairnDir, made, r.from);
  return { from: r.from, to: r.to, index: r.index, checkpoint: r.checkpoint, custody: made.custody, resumed: false };
}

interface PendingKeys {
  keys: LogKeys;
  vkey: string;
  custody: 'file' | 'pkcs11';
  publicKeyPem: string;
}

function pendingNextKeys(cairnDir: string, origin: string, env: NodeJS.ProcessEnv): PendingKeys | null {
  const configPath = join(cairnDir, NEXT_AUDIT_KEY_CONFIG_FILE);
  const keyPath = join(cairnDir, NEXT_PRIVATE_KEY_FILE);
  let raw: Buffer;
  let signer: () => NoteSigner;
  let custody: 'file' | 'pkcs11';
  if (existsSync(configPath)) {
    const config = readAuditKeyConfig(cairnDir, NEXT_AUDIT_KEY_CONFIG_FILE)!;
    const device = openPkcs11Signer(config, env);
    raw = device.rawPublicKey;
    device.close();
    let opened: NoteSigner | null = null;
    signer = () => (opened ??= tokenSigner(cairnDir, origin, config, raw, env));
    custody = 'pkcs11';
  } else if (existsSync(keyPath)) {
    const made = fileSigner(keyPath, origin, rawPublicKey(createPublicKey(privateKeyFromPem(read(keyPath)))));
    raw = made.rawPublicKey;
    // Held in memory: the file is renamed into place when the rotation ends.
    signer = () => made;
    custody = 'file';
  } else return null;
  const publicKey = publicKeyFromRaw(raw);
  return {
    keys: { origin, rawPublicKey: raw, verifier: verifierFor(origin, publicKey, raw), signer },
    vkey: formatVerifierKey(origin, raw),
    custody,
    publicKeyPem: publicKeyToPem(publicKey),
  };
}

/**
 * Puts the next key in place: the retired vkey first (so its notes still open), then the new
 * public key, then the private key or token location, whose rename ends the rotation (and, for
 * a file key, overwrites the retired private key).
 */
function installNextKey(cairnDir: string, next: PendingKeys, retiredVkey: string): void {
  const retired = readRetired(cairnDir);
  if (!retired.includes(retiredVkey))
    writeFileSync(join(cairnDir, RETIRED_KEYS_FILE), [retiredVkey, ...retired].map((v) => `${v}\n`).join(''), {
      mode: 0o644,
    });
  writeFileSync(join(cairnDir, `${PUBLIC_KEY_FILE}.tmp`), next.publicKeyPem, { mode: 0o644 });
  renameSync(join(cairnDir, `${PUBLIC_KEY_FILE}.tmp`), join(cairnDir, PUBLIC_KEY_FILE));
  if (next.custody === 'file') {
    rmSync(join(cairnDir, AUDIT_KEY_CONFIG_FILE), { force: true });
    renameSync(join(cairnDir, NEXT_PRIVATE_KEY_FILE), join(cairnDir, PRIVATE_KEY_FILE));
  } else {
    renameSync(join(cairnDir, NEXT_AUDIT_KEY_CONFIG_FILE), join(cairnDir, AUDIT_KEY_CONFIG_FILE));
    // A file key moved into a token: nothing readable may stay behind.
    rmSync(join(cairnDir, PRIVATE_KEY_FILE), { force: true });
  }
}

/** The release signing key: Ed25519 for Cairn's DSSE signatures, P-256 for the OMS signature. */
export const RELEASE_KEY_FILE = join('keys', 'release.key');
export const RELEASE_PUBLIC_KEY_FILE = join('keys', 'release.pub');
export const RELEASE_OMS_PUBLIC_KEY_FILE = join('keys', 'release-oms.pub');

export interface ReleaseKeys {
  privateKey: SigningKey;
  publicKeyPem: string;
  /** `sha256:` + hex SHA-256 of the Ed25519 key's DER SubjectPublicKeyInfo (the bundle's keyid). */
  keyid: string;
  omsPrivateKey: SigningKey;
  omsPublicKeyPem: string;
}

/**
 * Where the release key lives when it is in a PKCS #11 token (set by `init --pkcs11` with
 * `--release-key-label` and `--oms-key-label`): the token, the Ed25519 and P-256 key labels.
 */
export const RELEASE_TOKEN_CONFIG_FILE = join('keys', 'release-token.json');

export interface ReleaseTokenConfig {
  module: string;
  tokenLabel: string;
  keyLabel: string;
  omsKeyLabel: string;
  pinEnv: string;
}

function readReleaseTokenConfig(cairnDir: string): ReleaseTokenConfig | null {
  const path = join(cairnDir, RELEASE_TOKEN_CONFIG_FILE);
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CairnError('CONFIG_INVALID', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
  const c = (raw as { pkcs11?: Partial<ReleaseTokenConfig> } | null)?.pkcs11;
  const fields = ['module', 'tokenLabel', 'keyLabel', 'omsKeyLabel', 'pinEnv'] as const;
  if (!c || fields.some((f) => typeof c[f] !== 'string'))
    throw new CairnError('CONFIG_INVALID', `${path} must be {"pkcs11": {${fields.map((f) => `"${f}"`).join(', ')}}}`);
  return c as ReleaseTokenConfig;
}

/**
 * Records where the release key lives (at init; the key is announced on its first use), after
 * a probe signature with each of its two keys proves the labels, PIN and mechanisms.
 */
export async function saveReleaseTokenConfig(
  cairnDir: string,
  config: ReleaseTokenConfig,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const session = openPkcs11(config, env);
  try {
    const probe = Buffer.from('cairn pkcs11 probe\n');
    const ed = session.ed25519(config.keyLabel);
    const ec = session.p256(config.omsKeyLabel);
    if (!verify(null, probe, ed.publicKey, ed.sign(probe)) || !verify('sha256', probe, ec.publicKey, ec.sign(probe)))
      throw new CairnError('CONFIG_INVALID', 'a release key in the token does not sign with its own public key');
  } finally {
    session.close();
  }
  await writeFileAtomic(join(cairnDir, RELEASE_TOKEN_CONFIG_FILE), `${JSON.stringify({ pkcs11: config }, null, 2)}\n`, {
    mode: 0o600,
  });
}

const tokenSessions = new Map<string, Promise<ReleaseKeys>>();

/**
 * The release key from its token. It is announced (a keys.create event) before its public
 * halves are published as release.pub and release-oms.pub, and again whenever those are missing
 * or name another key (the token's key was replaced).
 */
async function tokenReleaseKeys(
  cairnDir: string,
  config: ReleaseTokenConfig,
  audit: AuditLog,
  env: NodeJS.ProcessEnv,
): Promise<ReleaseKeys> {
  const session = openPkcs11(config, env);
  let ed: ReturnType<typeof session.ed25519>;
  let ec: ReturnType<typeof session.p256>;
  try {
    ed = session.ed25519(config.keyLabel);
    ec = session.p256(config.omsKeyLabel);
  } catch (err) {
    session.close();
    throw err;
  }
  process.once('exit', () => session.close());
  const publicKeyPem = publicKeyToPem(ed.publicKey);
  const keys: ReleaseKeys = {
    privateKey: ed,
    publicKeyPem,
    keyid: `sha256:${sha256Hex(ed.publicKey.export({ type: 'spki', format: 'der' }))}`,
    omsPrivateKey: ec,
    omsPublicKeyPem: ec.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
  let published: string | null = null;
  try {
    published = readFileSync(join(cairnDir, RELEASE_PUBLIC_KEY_FILE), 'utf8');
  } catch {
    // not yet announced
  }
  if (published !== publicKeyPem)
    await audit.record(
      {
        action: 'keys.create',
        target: { type: 'key', name: 'release' },
        params: {
          purpose: 'release',
          keyid: keys.keyid,
          omsKeyHint: omsHint(keys.omsPublicKeyPem),
          custody: 'pkcs11',
          token: config.tokenLabel,
        },
      },
      'ok',
    );
  writePublicReleaseKeys(cairnDir, keys);
  return keys;
}

const PEM_BLOCK = /-----BEGIN PRIVATE KEY-----\n[A-Za-z0-9+/=\n]+-----END PRIVATE KEY-----\n?/g;

function releaseKeysFrom(text: string, path: string): ReleaseKeys {
  const blocks = text.match(PEM_BLOCK) ?? [];
  let keys: KeyObject[];
  try {
    keys = blocks.map((b) => createPrivateKey(b));
  } catch (err) {
    throw new CairnError('CONFIG_INVALID', `${path} holds a key that cannot be read`, { cause: err });
  }
  const ed = keys.find((k) => k.asymmetricKeyType === 'ed25519');
  const ec = keys.find((k) => k.asymmetricKeyType === 'ec' && k.asymmetricKeyDetails?.namedCurve === 'prime256v1');
  if (keys.length !== 2 || !ed || !ec)
    throw new CairnError(
      'CONFIG_INVALID',
      `${path} must hold one Ed25519 and one ECDSA P-256 private key (PKCS #8 PEM)`,
      {
        hint: 'restore it from your backup; a new release key is made only when the file is absent',
      },
    );
  const pub = createPublicKey(ed);
  return {
    privateKey: ed,
    publicKeyPem: publicKeyToPem(pub),
    keyid: `sha256:${sha256Hex(pub.export({ type: 'spki', format: 'der' }))}`,
    omsPrivateKey: ec,
    omsPublicKeyPem: createPublicKey(ec).export({ type: 'spki', format: 'pem' }).toString(),
  };
}

function readReleaseKeys(cairnDir: string): ReleaseKeys | null {
  const path = join(cairnDir, RELEASE_KEY_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new CairnError('IO_ERROR', `cannot read the release key ${path}: ${(err as Error).message}`, { cause: err });
  }
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0 && process.platform !== 'win32')
    throw new CairnError('CONFIG_INVALID', `${path} is readable by other users (mode ${mode.toString(8)})`, {
      hint: `run: chmod 600 ${path}`,
    });
  return releaseKeysFrom(text, path);
}

/**
 * The release key, made on first need. Its creation is a `keys.create` event, appended before
 * the key file is linked into place: no release can be signed with a key the log never
 * announced. Two processes racing both append an event, but only the first key is linked;
 * the loser uses the winner's key (its event names a key that never signed anything).
 */
export async function releaseKeys(
  cairnDir: string,
  audit: AuditLog,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ReleaseKeys> {
  if (releaseRotationPending(cairnDir))
    // The log may already have handed releases over to the next key: a bundle signed with the
    // old one now would be signed by a retired key after its retirement, which verifiers refuse.
    throw new CairnError(
      'CONFIG_INVALID',
      'a release key rotation was interrupted: nothing is signed until it finishes',
      {
        hint: 'run `cairn release keys rotate` again: it finishes the rotation the log recorded, or discards the unused key',
      },
    );
  const token = readReleaseTokenConfig(cairnDir);
  if (token) {
    // One session per workspace and process (a server signs many releases), closed at exit.
    const cached = tokenSessions.get(cairnDir);
    if (cached) return cached;
    const opened = tokenReleaseKeys(cairnDir, token, audit, env);
    tokenSessions.set(cairnDir, opened);
    opened.catch(() => tokenSessions.delete(cairnDir));
    return opened;
  }
  const have = readReleaseKeys(cairnDir);
  if (have) {
    writePublicReleaseKeys(cairnDir, have);
    return have;
  }
  const ed = generateKeyPairSync('ed25519').privateKey;
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const text = `${privateKeyToPem(ed)}${ec.export({ type: 'pkcs8', format: 'pem' }).toString()}`;
  const path = join(cairnDir, RELEASE_KEY_FILE);
  const made = releaseKeysFrom(text, path);
  mkdirSync(join(cairnDir, 'keys'), { recursive: true, mode: 0o700 });
  const tmp = join(cairnDir, 'keys', `.release-${randomBytes(6).toString('hex')}.tmp`);
  await writeFileAtomic(tmp, text, { mode: 0o600 });
  try {
    await audit.record(
      {
        action: 'keys.create',
        target: { type: 'key', name: 'release' },
        params: { purpose: 'release', keyid: made.keyid, omsKeyHint: omsHint(made.omsPublicKeyPem) },
      },
      'ok',
    );
    try {
      linkSync(tmp, path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  } finally {
    rmSync(tmp, { force: true });
  }
  return releaseKeys(cairnDir, audit, env);
}

/** model_signing's key hint: hex SHA-256 of the SPKI PEM text. */
function omsHint(pem: string): string {
  return sha256Hex(Buffer.from(pem, 'utf8'));
}

function writePublicReleaseKeys(cairnDir: string, keys: ReleaseKeys): void {
  // Derived from the private key on every use, so a deleted or edited copy is put right.
  for (const [file, pem] of [
    [RELEASE_PUBLIC_KEY_FILE, keys.publicKeyPem],
    [RELEASE_OMS_PUBLIC_KEY_FILE, keys.omsPublicKeyPem],
  ] as const) {
    const path = join(cairnDir, file);
    let now: string | null = null;
    try {
      now = readFileSync(path, 'utf8');
    } catch {
      // absent: written below
    }
    if (now !== pem) writeFileSync(path, pem, { mode: 0o644 });
  }
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

/** The release key a rotation is handing over to, until it is put in place (a key file, or its token's labels). */
export const NEXT_RELEASE_KEY_FILE = join('keys', 'release.next.key');
export const NEXT_RELEASE_TOKEN_CONFIG_FILE = join('keys', 'release-token.next.json');
/** Every release-key transition the log recorded (`cairn.release-key-chain/v1`): publish it beside release.pub. */
export const RELEASE_CHAIN_FILE = join('keys', 'release-chain.json');

function releaseRotationPending(cairnDir: string): boolean {
  return (
    existsSync(join(cairnDir, NEXT_RELEASE_KEY_FILE)) || existsSync(join(cairnDir, NEXT_RELEASE_TOKEN_CONFIG_FILE))
  );
}

/** Where the next release key lives: a new key file (default), or two key pairs already in a token. */
export type NextReleaseKey = { pkcs11?: ReleaseTokenConfig };

export interface ReleaseKeyRotation {
  /** keyids (`sha256:…`) of the retiring and the new Ed25519 release key. */
  from: string;
  to: string;
  /** The index of the `keys.rotate` event. */
  index: number;
  custody: 'file' | 'pkcs11';
  /** True when this call finished a rotation an earlier one had recorded but not put in place. */
  resumed: boolean;
  /** The workspace-relative chain file to publish with release.pub. */
  chainFile: string;
}

/**
 * Rotates the release key (docs/RELEASES.md §8). As for the audit key: the next key is written
 * beside the current one (`release.next.key`, or `release-token.next.json` for a token) before
 * the log records anything; the `keys.rotate` event carries the transition, signed by the old
 * key and countersigned by the new; then the public halves are published and the next key is
 * renamed into place, which ends the rotation. A crash in between leaves the next key on disk,
 * which blocks every release until this runs again: it finishes a rotation the log recorded and
 * discards a key the log never heard of.
 */
export async function rotateReleaseKey(
  cairnDir: string,
  audit: AuditLog,
  next: NextReleaseKey,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ReleaseKeyRotation> {
  const { formatReleaseKeyChain, releaseKeyRef, signReleaseKeyTransition } = await import('../models/index.js');
  const pending = pendingReleaseKeys(cairnDir, env);
  if (pending) {
    const recorded = (await audit.releaseKeyTransitions()).at(-1);
    if (recorded?.to === pending.keys.keyid) {
      await installNextReleaseKey(cairnDir, audit, pending, formatReleaseKeyChain);
      return {
        from: recorded.from,
        to: recorded.to,
        index: recorded.index,
        custody: pending.custody,
        resumed: true,
        chainFile: join('.cairn', RELEASE_CHAIN_FILE),
      };
    }
    rmSync(join(cairnDir, NEXT_RELEASE_KEY_FILE), { force: true });
    rmSync(join(cairnDir, NEXT_RELEASE_TOKEN_CONFIG_FILE), { force: true });
  }
  if (!existsSync(join(cairnDir, RELEASE_KEY_FILE)) && !existsSync(join(cairnDir, RELEASE_TOKEN_CONFIG_FILE)))
    throw new CairnError('USAGE', 'this workspace has no release key yet: there is nothing to rotate', {
      hint: 'the first `cairn release create` makes (and announces) the release key',
    });
  const current = await releaseKeys(cairnDir, audit, env);
  await writeNextReleaseKey(cairnDir, current.keyid, next, env);
  let made: PendingReleaseKeys;
  try {
    made = pendingReleaseKeys(cairnDir, env)!;
  } catch (err) {
    // The token refused (PIN, labels): nothing was recorded, so nothing may stay pending.
    rmSync(join(cairnDir, NEXT_RELEASE_TOKEN_CONFIG_FILE), { force: true });
    throw err;
  }
  const envelope = signReleaseKeyTransition(
    {
      format: 'cairn.key-transition/v1',
      purpose: 'release',
      origin: audit.keys.origin,
      from: releaseKeyRef(publicKeyFromPem(current.publicKeyPem), current.omsPublicKeyPem),
      to: releaseKeyRef(publicKeyFromPem(made.keys.publicKeyPem), made.keys.omsPublicKeyPem),
      time: new Date().toISOString(),
    },
    current.privateKey,
    made.keys.privateKey,
  );
  const ev = await audit.record(
    {
      action: 'keys.rotate',
      target: { type: 'key', name: 'release' },
      params: {
        purpose: 'release',
        from: current.keyid,
        to: made.keys.keyid,
        omsKeyHint: omsHint(made.keys.omsPublicKeyPem),
        custody: made.custody,
        statement: envelope,
      },
    },
    'ok',
  );
  await installNextReleaseKey(cairnDir, audit, made, formatReleaseKeyChain);
  return {
    from: current.keyid,
    to: made.keys.keyid,
    index: ev.index,
    custody: made.custody,
    resumed: false,
    chainFile: join('.cairn', RELEASE_CHAIN_FILE),
  };
}

/** Writes the next release key (a new key file, or the token labels of key pairs already there) beside the current one. */
async function writeNextReleaseKey(
  cairnDir: string,
  currentKeyid: string,
  next: NextReleaseKey,
  env: NodeJS.ProcessEnv,
): Promise<void> {
  if (next.pkcs11) {
    const session = openPkcs11(next.pkcs11, env);
    let keyid: string;
    try {
      keyid = keyIdOfPublic(session.ed25519(next.pkcs11.keyLabel).publicKey);
      session.p256(next.pkcs11.omsKeyLabel);
    } finally {
      session.close();
    }
    if (keyid === currentKeyid)
      throw new CairnError('USAGE', `the key "${next.pkcs11.keyLabel}" is the current release key`, {
        hint: 'make new key pairs in the token first (pkcs11-tool --keypairgen), and name their labels',
      });
    await writeFileAtomic(
      join(cairnDir, NEXT_RELEASE_TOKEN_CONFIG_FILE),
      `${JSON.stringify({ pkcs11: next.pkcs11 }, null, 2)}\n`,
      { mode: 0o600 },
    );
  } else {
    const ed = generateKeyPairSync('ed25519').privateKey;
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    await writeFileAtomic(
      join(cairnDir, NEXT_RELEASE_KEY_FILE),
      `${privateKeyToPem(ed)}${ec.export({ type: 'pkcs8', format: 'pem' }).toString()}`,
      { mode: 0o600 },
    );
  }
}

function keyIdOfPublic(pub: KeyObject): string {
  return `sha256:${sha256Hex(pub.export({ type: 'spki', format: 'der' }))}`;
}

interface PendingReleaseKeys {
  keys: ReleaseKeys;
  custody: 'file' | 'pkcs11';
}

function pendingReleaseKeys(cairnDir: string, env: NodeJS.ProcessEnv): PendingReleaseKeys | null {
  const configPath = join(cairnDir, NEXT_RELEASE_TOKEN_CONFIG_FILE);
  if (existsSync(configPath)) {
    const c = (JSON.parse(readFileSync(configPath, 'utf8')) as { pkcs11: ReleaseTokenConfig }).pkcs11;
    const session = openPkcs11(c, env);
    let ed: ReturnType<typeof session.ed25519>;
    let ec: ReturnType<typeof session.p256>;
    try {
      ed = session.ed25519(c.keyLabel);
      ec = session.p256(c.omsKeyLabel);
    } catch (err) {
      session.close();
      throw err;
    }
    process.once('exit', () => session.close());
    return {
      custody: 'pkcs11',
      keys: {
        privateKey: ed,
        publicKeyPem: publicKeyToPem(ed.publicKey),
        keyid: keyIdOfPublic(ed.publicKey),
        omsPrivateKey: ec,
        omsPublicKeyPem: ec.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      },
    };
  }
  const keyPath = join(cairnDir, NEXT_RELEASE_KEY_FILE);
  if (!existsSync(keyPath)) return null;
  return { custody: 'file', keys: releaseKeysFrom(readFileSync(keyPath, 'utf8'), keyPath) };
}

/**
 * Puts the next release key in place: its public halves and the chain first, then the rename
 * of the key file or token labels that ends the rotation (a file key overwrites the retired one;
 * a retired token key stays in its token until its custodian deletes it).
 */
async function installNextReleaseKey(
  cairnDir: string,
  audit: AuditLog,
  next: PendingReleaseKeys,
  formatChain: (t: Array<{ index: number; envelope: never }>) => string,
): Promise<void> {
  writePublicReleaseKeys(cairnDir, next.keys);
  const chain = (await audit.releaseKeyTransitions()).map((t) => ({ index: t.index, envelope: t.envelope as never }));
  await writeFileAtomic(join(cairnDir, RELEASE_CHAIN_FILE), formatChain(chain), { mode: 0o644 });
  tokenSessions.delete(cairnDir);
  if (next.custody === 'file') {
    rmSync(join(cairnDir, RELEASE_TOKEN_CONFIG_FILE), { force: true });
    renameSync(join(cairnDir, NEXT_RELEASE_KEY_FILE), join(cairnDir, RELEASE_KEY_FILE));
  } else {
    renameSync(join(cairnDir, NEXT_RELEASE_TOKEN_CONFIG_FILE), join(cairnDir, RELEASE_TOKEN_CONFIG_FILE));
    // A file key moved into a token: nothing readable may stay behind.
    rmSync(join(cairnDir, RELEASE_KEY_FILE), { force: true });
  }
}
