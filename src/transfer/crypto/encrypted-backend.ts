import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { CairnError } from '../../core/errors.js';
import { assertKey } from '../backends/keys.js';
import { getBound, tooLarge } from '../backends/bounded.js';
import { type GetOptions, type RemoteBackend } from '../backends/port.js';

const MAGIC = Buffer.from('CRN1', 'ascii');
const NONCE = 12;
const TAG = 16;
/** Bytes an encrypted object has beyond its plaintext. */
export const ENCRYPTION_OVERHEAD = MAGIC.length + NONCE + TAG;

/**
 * Client-side encryption over any backend. The remote sees only `o/<64 hex>` names and
 * AES-256-GCM ciphertext:
 * - the name is HMAC-SHA256(name key, logical key), so it reveals neither file names nor pack
 *   ids, yet the same pack always gets the same name: deduplication still works for everyone
 *   holding the workspace key;
 * - the body is `CRN1` | 12-byte random nonce | ciphertext | 16-byte tag, with the logical key
 *   as additional data, so an object moved to another name fails to decrypt.
 * Both keys are derived from one 32-byte remote key with HKDF-SHA256 (docs/REMOTES.md).
 */
export class EncryptedBackend implements RemoteBackend {
  readonly url: string;
  private readonly encKey: Buffer;
  private readonly nameKey: Buffer;

  constructor(
    readonly inner: RemoteBackend,
    masterKey: Buffer,
  ) {
    if (masterKey.length !== 32) throw new CairnError('INVALID_INPUT', 'a remote key is 32 bytes');
    this.url = inner.url;
    this.encKey = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'cairn-remote-v1 encryption', 32));
    this.nameKey = Buffer.from(hkdfSync('sha256', masterKey, Buffer.alloc(0), 'cairn-remote-v1 names', 32));
  }

  /** The name the remote stores `key` under. */
  physicalName(key: string): string {
    return `o/${createHmac('sha256', this.nameKey).update(assertKey(key)).digest('hex')}`;
  }

  encrypt(key: string, plain: Buffer): Buffer {
    const nonce = randomBytes(NONCE);
    const c = createCipheriv('aes-256-gcm', this.encKey, nonce);
    c.setAAD(Buffer.from(key, 'utf8'));
    const body = Buffer.concat([c.update(plain), c.final()]);
    return Buffer.concat([MAGIC, nonce, body, c.getAuthTag()]);
  }

  decrypt(key: string, sealed: Buffer): Buffer {
    if (sealed.length < ENCRYPTION_OVERHEAD || !sealed.subarray(0, MAGIC.length).equals(MAGIC)) {
      throw new CairnError('CORRUPT_OBJECT', `the remote object for ${key} is not a Cairn encrypted object`, {
        data: { key },
      });
    }
    const nonce = sealed.subarray(MAGIC.length, MAGIC.length + NONCE);
    const tag = sealed.subarray(sealed.length - TAG);
    const d = createDecipheriv('aes-256-gcm', this.encKey, nonce);
    d.setAAD(Buffer.from(key, 'utf8'));
    d.setAuthTag(tag);
    try {
      return Buffer.concat([d.update(sealed.subarray(MAGIC.length + NONCE, sealed.length - TAG)), d.final()]);
    } catch {
      throw new CairnError(
        'CORRUPT_OBJECT',
        `the remote object for ${key} does not decrypt: it was altered, or this is the wrong key`,
        {
          data: { key },
          hint: 'check the remote key (cairn remote key export on a workspace that can read it)',
        },
      );
    }
  }

  async head(key: string): Promise<{ size: number } | null> {
    const h = await this.inner.head(this.physicalName(key));
    return h ? { size: Math.max(0, h.size - ENCRYPTION_OVERHEAD) } : null;
  }

  /**
   * A bound on the plaintext is the same bound on the ciphertext plus the known overhead, so an
   * encrypted remote is cut off where a plain one would be; the refusal names the logical key
   * and the plaintext bound, as the caller asked for them.
   */
  async get(key: string, opts?: GetOptions): Promise<Buffer> {
    const max = getBound(opts);
    const sealed = await this.inner
      .get(this.physicalName(key), { maxBytes: max + ENCRYPTION_OVERHEAD })
      .catch((err: unknown) => {
        if (err instanceof CairnError && err.code === 'NOT_FOUND')
          throw new CairnError('NOT_FOUND', `${this.url} has no object ${key}`, { data: { key } });
        if (err instanceof CairnError && err.data.tooLarge === true) {
          const announced =
            typeof err.data.announced === 'number' ? err.data.announced - ENCRYPTION_OVERHEAD : undefined;
          throw tooLarge(this.url, key, max, announced);
        }
        throw err;
      });
    return this.decrypt(key, sealed);
  }

  async put(key: string, body: Buffer): Promise<void> {
    await this.inner.put(this.physicalName(key), this.encrypt(key, body));
  }

  /** Names are one-way: a listing cannot say which logical keys exist. Use `present`. */
  async list(_prefix: string): Promise<Array<{ key: string; size: number }>> {
    throw new CairnError(
      'UNSUPPORTED',
      'an encrypted remote cannot be listed by name; ask whether given keys are present instead',
    );
  }

  /** Which of `keys` the remote holds: one listing of the opaque names, matched locally. */
  async present(keys: readonly string[]): Promise<Map<string, number>> {
    const stored = new Map((await this.inner.list('o/')).map((o) => [o.key, o.size]));
    const out = new Map<string, number>();
    for (const k of keys) {
      const size = stored.get(this.physicalName(k));
      if (size !== undefined) out.set(k, Math.max(0, size - ENCRYPTION_OVERHEAD));
    }
    return out;
  }

  async delete(key: string): Promise<void> {
    await this.inner.delete(this.physicalName(key));
  }

  async close(): Promise<void> {
    await this.inner.close();
  }
}

/** Which of `keys` (all under `prefix`) a remote holds, with their sizes; encrypted or not. */
export async function presentKeys(
  backend: RemoteBackend,
  prefix: string,
  keys: readonly string[],
): Promise<Map<string, number>> {
  if (backend instanceof EncryptedBackend) return backend.present(keys);
  const listed = new Map((await backend.list(prefix)).map((o) => [o.key, o.size]));
  const out = new Map<string, number>();
  for (const k of keys) {
    const size = listed.get(k);
    if (size !== undefined) out.set(k, size);
  }
  return out;
}
