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

/** The raw key from CKA_EC_POINT: a DER OCTET STRING around the 32 bytes (some tokens give them bare). */
function ed25519Point(value: Buffer): Buffer {
  if (value.length === 32) return value;
  if (value.length === 34 && value[0] === 0x04 && value[1] === 0x20) return value.subarray(2);
  throw new CairnError('CONFIG_INVALID', 'the token key is not an Ed25519 key (unexpected CKA_EC_POINT)');
}

export function openPkcs11Signer(config: Pkcs11KeyConfig, env: NodeJS.ProcessEnv): Pkcs11Signer {
  const pin = env[config.pinEnv];
  if (!pin)
    throw new CairnError('CONFIG_INVALID', `the PIN of PKCS #11 token "${config.tokenLabel}" is not set`, {
      hint: `export ${config.pinEnv}=<user PIN>`,
    });
  const addon = loadAddon();
  const p11 = new addon.PKCS11();
  try {
    p11.load(config.module);
  } catch (err) {
    throw new CairnError(
      'CONFIG_INVALID',
      `cannot load the PKCS #11 module ${config.module}: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  p11.C_Initialize();
  let session: Buffer | null = null;
  try {
    const slot = p11.C_GetSlotList(true).find((s) => p11.C_GetTokenInfo(s).label.trim() === config.tokenLabel);
    if (!slot)
      throw new CairnError('CONFIG_INVALID', `no PKCS #11 token labelled "${config.tokenLabel}" in ${config.module}`);
    session = p11.C_OpenSession(slot, addon.CKF_SERIAL_SESSION);
    try {
      p11.C_Login(session, addon.CKU_USER, pin);
    } catch (err) {
      throw new CairnError(
        'PERMISSION_DENIED',
        `the PKCS #11 token "${config.tokenLabel}" refused the PIN from ${config.pinEnv}`,
        {
          cause: err,
        },
      );
    }
    const find = (cls: number): Buffer => {
      p11.C_FindObjectsInit(session!, [
        { type: addon.CKA_CLASS, value: cls },
        { type: addon.CKA_KEY_TYPE, value: CKK_EC_EDWARDS },
        { type: addon.CKA_LABEL, value: config.keyLabel },
      ]);
      const found = p11.C_FindObjects(session!, 2);
      p11.C_FindObjectsFinal(session!);
      if (found.length !== 1)
        throw new CairnError(
          'CONFIG_INVALID',
          `expected one Ed25519 ${cls === addon.CKO_PRIVATE_KEY ? 'private' : 'public'} key labelled "${config.keyLabel}" on token "${config.tokenLabel}", found ${found.length}`,
          { hint: 'generate it in the token: pkcs11-tool --keypairgen --key-type EC:edwards25519 --label <key label>' },
        );
      return found[0]!;
    };
    const priv = find(addon.CKO_PRIVATE_KEY);
    const pub = find(addon.CKO_PUBLIC_KEY);
    const [point] = p11.C_GetAttributeValue(session, pub, [{ type: addon.CKA_EC_POINT }]);
    const rawPublicKey = Buffer.from(ed25519Point(point!.value as Buffer));
    const open = session;
    return {
      rawPublicKey,
      sign: (message) => {
        p11.C_SignInit(open, { mechanism: CKM_EDDSA }, priv);
        return Buffer.from(p11.C_Sign(open, message, Buffer.alloc(64)));
      },
      close: () => {
        try {
          p11.C_Logout(open);
          p11.C_CloseSession(open);
        } finally {
          p11.C_Finalize();
        }
      },
    };
  } catch (err) {
    if (session) p11.C_CloseSession(session);
    p11.C_Finalize();
    throw err;
  }
}
