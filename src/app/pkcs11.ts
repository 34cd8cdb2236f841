import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { createRequire } from 'node:module';
// Types only: the addon itself is optional and loaded with require when a token is configured.
import type * as Pkcs11Js from 'pkcs11js';
import { CairnError } from '../core/errors.js';

/**
 * An Ed25519 key inside a PKCS #11 token (a hardware module, or SoftHSM2 in tests): Cairn asks
 * the token to sign and never holds the private key, so whoever runs the process cannot read it.
 * The token is reached through pkcs11js, an optional native addon loaded only here, only when a
 * workspace is configured for it.
 */
export interface Pkcs11KeyConfig {
  /** Path of the PKCS #11 module (e.g. /usr/lib/softhsm/libsofthsm2.so). */
  module: string;
  tokenLabel: string;
  keyLabel: string;
  /** The environment variable that holds the user PIN (never stored). */
  pinEnv: string;
}

export interface Pkcs11Signer {
  /** The 32-byte Ed25519 public key, read from the token's public key object. */
  rawPublicKey: Buffer;
  sign(message: Buffer): Buffer;
  close(): void;
}

// PKCS #11 v3.0 values that pkcs11js does not name.
const CKM_EDDSA = 0x1057;
const CKK_EC_EDWARDS = 0x40;

type Pkcs11Module = typeof Pkcs11Js;
type P11 = InstanceType<Pkcs11Module['PKCS11']>;

function loadAddon(): Pkcs11Module {
  try {
    return createRequire(import.meta.url)('pkcs11js') as Pkcs11Module;
  } catch (err) {
    throw new CairnError('UNSUPPORTED', 'PKCS #11 keys need the optional package pkcs11js, which is not installed', {
      cause: err,
      hint: 'install it with `npm install pkcs11js` (it builds a native addon), or keep the key in a file',
    });
  }
}

/** The point from CKA_EC_POINT: a DER OCTET STRING around it (some tokens give it bare). */
function ecPoint(value: Buffer, size: number, what: string): Buffer {
  if (value.length === size) return value;
  if (value.length === size + 2 && value[0] === 0x04 && value[1] === size) return value.subarray(2);
  throw new CairnError('CONFIG_INVALID', `the token key is not ${what} (unexpected CKA_EC_POINT)`);
}

// PKCS #11 ECDSA signatures are r ‖ s; X.509, Sigstore and model_signing use DER.
function derInteger(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b[i]! & 0x80 ? Buffer.concat([Buffer.of(0), b.subarray(i)]) : b.subarray(i);
  return Buffer.concat([Buffer.of(0x02, v.length), v]);
}

export function ecdsaRawToDer(raw: Buffer): Buffer {
  const half = raw.length / 2;
  const body = Buffer.concat([derInteger(raw.subarray(0, half)), derInteger(raw.subarray(half))]);
  return Buffer.concat([Buffer.of(0x30, body.length), body]);
}

/** A key the token keeps: its public half, and a function that asks the token to sign. */
export interface TokenKey {
  publicKey: KeyObject;
  sign(message: Buffer): Buffer;
}

export interface Pkcs11Session {
  /** An Ed25519 key pair labelled `label`: signs with CKM_EDDSA (the 64-byte RFC 8032 signature). */
  ed25519(label: string): TokenKey & { rawPublicKey: Buffer };
  /** An ECDSA P-256 key pair labelled `label`: SHA-256 here, CKM_ECDSA in the token, DER out. */
  p256(label: string): TokenKey;
  close(): void;
}

// A module is initialized once per process and shared by its sessions (the audit key's, kept
// open for checkpoints, and the release key's): a second C_Initialize fails, and C_Finalize
// would end every session of the process.
const modules = new Map<string, { p11: P11; users: number }>();

function acquireModule(addon: Pkcs11Module, path: string): P11 {
  let m = modules.get(path);
  if (!m) {
    const p11 = new addon.PKCS11();
    try {
      p11.load(path);
    } catch (err) {
      throw new CairnError('CONFIG_INVALID', `cannot load the PKCS #11 module ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    p11.C_Initialize();
    m = { p11, users: 0 };
    modules.set(path, m);
  }
  m.users++;
  return m.p11;
}

function releaseModule(path: string): void {
  const m = modules.get(path);
  if (!m || --m.users > 0) return;
  modules.delete(path);
  m.p11.C_Finalize();
}

/** The one key object of a class, type and label; a clear error when there is none or several. */
function findKey(
  p11: P11,
  addon: Pkcs11Module,
  session: Buffer,
  k: { token: string; cls: number; keyType: number; label: string; what: string; gen: string },
): Buffer {
  p11.C_FindObjectsInit(session, [
    { type: addon.CKA_CLASS, value: k.cls },
    { type: addon.CKA_KEY_TYPE, value: k.keyType },
    { type: addon.CKA_LABEL, value: k.label },
  ]);
  const found = p11.C_FindObjects(session, 2);
  p11.C_FindObjectsFinal(session);
  if (found.length !== 1)
    throw new CairnError(
      'CONFIG_INVALID',
      `expected one ${k.what} ${k.cls === addon.CKO_PRIVATE_KEY ? 'private' : 'public'} key labelled "${k.label}" on token "${k.token}", found ${found.length}`,
      { hint: `generate it in the token: pkcs11-tool --keypairgen --key-type ${k.gen} --label ${k.label}` },
    );
  return found[0]!;
}

/** A logged-in session on the token labelled `tokenLabel`. */
function openSession(p11: P11, addon: Pkcs11Module, config: Omit<Pkcs11KeyConfig, 'keyLabel'>, pin: string): Buffer {
  const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === config.tokenLabel);
  if (!slot)
    throw new CairnError('CONFIG_INVALID', `no PKCS #11 token labelled "${config.tokenLabel}" in ${config.module}`);
  const session = p11.C_OpenSession(slot, addon.CKF_SERIAL_SESSION);
  try {
    p11.C_Login(session, addon.CKU_USER, pin);
  } catch (err) {
    // Login is per token for the whole process: another session (the audit key's) may hold it.
    if (!/CKR_USER_ALREADY_LOGGED_IN/.test((err as Error).message)) {
      p11.C_CloseSession(session);
      throw new CairnError(
        'PERMISSION_DENIED',
        `the PKCS #11 token "${config.tokenLabel}" refused the PIN from ${config.pinEnv}`,
        { cause: err },
      );
    }
  }
  return session;
}

/** Opens the token named by `config` and logs in with the PIN from `env[config.pinEnv]`. */
export function openPkcs11(config: Omit<Pkcs11KeyConfig, 'keyLabel'>, env: NodeJS.ProcessEnv): Pkcs11Session {
  const pin = env[config.pinEnv];
  if (!pin)
    throw new CairnError('CONFIG_INVALID', `the PIN of PKCS #11 token "${config.tokenLabel}" is not set`, {
      hint: `export ${config.pinEnv}=<user PIN>`,
    });
  const addon = loadAddon();
  const p11 = acquireModule(addon, config.module);
  let session: Buffer;
  try {
    session = openSession(p11, addon, config, pin);
  } catch (err) {
    releaseModule(config.module);
    throw err;
  }
  const open = session;
  const find = (cls: number, keyType: number, label: string, what: string, gen: string): Buffer =>
    findKey(p11, addon, open, { token: config.tokenLabel, cls, keyType, label, what, gen });
  const point = (handle: Buffer) =>
    p11.C_GetAttributeValue(open, handle, [{ type: addon.CKA_EC_POINT }])[0]!.value as Buffer;
  return {
    ed25519: (label) => {
      const priv = find(addon.CKO_PRIVATE_KEY, CKK_EC_EDWARDS, label, 'Ed25519', 'EC:edwards25519');
      const raw = Buffer.from(
        ecPoint(
          point(find(addon.CKO_PUBLIC_KEY, CKK_EC_EDWARDS, label, 'Ed25519', 'EC:edwards25519')),
          32,
          'an Ed25519 key',
        ),
      );
      return {
        rawPublicKey: raw,
        publicKey: createPublicKey({
          key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
          format: 'jwk',
        }),
        sign: (message) => {
          p11.C_SignInit(open, { mechanism: CKM_EDDSA }, priv);
          return Buffer.from(p11.C_Sign(open, message, Buffer.alloc(64)));
        },
      };
    },
    p256: (label) => {
      const priv = find(addon.CKO_PRIVATE_KEY, addon.CKK_EC, label, 'ECDSA P-256', 'EC:prime256v1');
      const q = ecPoint(
        point(find(addon.CKO_PUBLIC_KEY, addon.CKK_EC, label, 'ECDSA P-256', 'EC:prime256v1')),
        65,
        'a P-256 key',
      );
      if (q[0] !== 0x04)
        throw new CairnError('CONFIG_INVALID', `the key "${label}" is not an uncompressed P-256 point`);
      const publicKey = createPublicKey({
        key: {
          kty: 'EC',
          crv: 'P-256',
          x: q.subarray(1, 33).toString('base64url'),
          y: q.subarray(33).toString('base64url'),
        },
        format: 'jwk',
      });
      return {
        publicKey,
        sign: (message) => {
          p11.C_SignInit(open, { mechanism: addon.CKM_ECDSA }, priv);
          const digest = createHash('sha256').update(message).digest();
          return ecdsaRawToDer(Buffer.from(p11.C_Sign(open, digest, Buffer.alloc(64))));
        },
      };
    },
    close: () => {
      // Closing a token's last session logs it out; C_Logout here would log out the others too.
      try {
        p11.C_CloseSession(open);
      } finally {
        releaseModule(config.module);
      }
    },
  };
}

/** The audit key: one Ed25519 key of the token, with the session that reaches it. */
export function openPkcs11Signer(config: Pkcs11KeyConfig, env: NodeJS.ProcessEnv): Pkcs11Signer {
  const session = openPkcs11(config, env);
  try {
    const key = session.ed25519(config.keyLabel);
    return { rawPublicKey: key.rawPublicKey, sign: key.sign, close: () => session.close() };
  } catch (err) {
    session.close();
    throw err;
  }
}
