import { createHash } from 'node:crypto';
import { CairnError, errorCatalogue, type ErrorCode } from '../../core/errors.js';
import type { PresignedRequest, RemoteBackend } from '../../transfer/index.js';
import { CLIENT_VERSION } from '../version.js';
import { ApiClient } from './client.js';
import { API_PREFIX } from './contract.js';

const PACK_KEY = /^packs\/[0-9a-f]{2}\/[0-9a-f]{64}\.pack$/;

interface PlanAnswer {
  direct: boolean;
  objects: Array<{ key: string; present: boolean; uploadId?: string; request?: PresignedRequest }>;
}

/**
 * A team server's store as a remote backend (`cairn remote add team https://cairn.example`):
 * push and pull run unchanged over it. Packs go on the URLs the server plans (straight to S3 when
 * the store is a bucket); the layout's small objects (state, audit bundles) go through the API.
 */
export class ServerStoreBackend implements RemoteBackend {
  readonly url: string;
  readonly #api: ApiClient;
  readonly #token: string;

  constructor(opts: { url: string; token: string }) {
    this.url = opts.url;
    this.#token = opts.token;
    this.#api = new ApiClient({ url: opts.url, token: opts.token });
  }

  async head(key: string): Promise<{ size: number } | null> {
    const found = (await this.list(key)).find((o) => o.key === key);
    return found ? { size: found.size } : null;
  }

  async list(prefix: string): Promise<Array<{ key: string; size: number }>> {
    const r = await this.#api.call<{ objects: Array<{ key: string; size: number }> }>('store.list', {
      query: { prefix },
    });
    return r.objects;
  }

  async get(key: string): Promise<Buffer> {
    if (!PACK_KEY.test(key)) return this.#raw('GET', `/store/objects/${key}`);
    const r = await this.#api.call<{ objects: Array<{ request: PresignedRequest | null }> }>('store.download', {
      body: { keys: [key] },
    });
    const req = r.objects[0]?.request;
    if (!req) return this.#raw('GET', `/store/objects/${key}`);
    return direct(req, undefined, key);
  }

  async put(key: string, body: Buffer): Promise<void> {
    if (!PACK_KEY.test(key)) {
      await this.#raw('PUT', `/store/objects/${key}`, body);
      return;
    }
    const planned = {
      key,
      size: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
      md5: createHash('md5').update(body).digest('base64'),
    };
    const plan = await this.#api.call<PlanAnswer>('store.plan', { body: { objects: [planned] } });
    const p = plan.objects[0]!;
    if (p.present || !p.request || !p.uploadId) return;
    if (p.request.url.startsWith('/')) await this.#raw('PUT', p.request.url.slice(API_PREFIX.length), body);
    else await direct(p.request, body, key);
    if (plan.direct) await this.#api.call('store.commit', { body: { uploads: [p.uploadId] } });
  }

  async delete(key: string): Promise<void> {
    throw new CairnError('PERMISSION_DENIED', `a team server's store is not changed by clients (${key})`);
  }

  async close(): Promise<void> {}

  async #raw(method: 'GET' | 'PUT', path: string, body?: Buffer): Promise<Buffer> {
    let res: Response;
    try {
      res = await fetch(this.url + API_PREFIX + path, {
        method,
        headers: {
          authorization: `Bearer ${this.#token}`,
          'user-agent': `cairn/${CLIENT_VERSION}`,
          ...(body ? { 'content-type': 'application/octet-stream' } : {}),
        },
        ...(body ? { body } : {}),
      });
    } catch (err) {
      throw new CairnError(
        'SERVER_UNAVAILABLE',
        `cannot reach the Cairn server at ${this.url}: ${(err as Error).message}`,
      );
    }
    const bytes = Buffer.from(await res.arrayBuffer());
    if (res.ok) return bytes;
    throw serverError(res.status, bytes, this.url);
  }
}

/** A request on a presigned URL, straight to the store: the server never sees these bytes. */
async function direct(req: PresignedRequest, body: Buffer | undefined, key: string): Promise<Buffer> {
  let res: Response;
  try {
    res = await fetch(req.url, { method: req.method, headers: req.headers, ...(body ? { body } : {}) });
  } catch (err) {
    throw new CairnError('IO_ERROR', `the store did not answer for ${key}: ${(err as Error).message}`, {
      data: { key },
    });
  }
  const bytes = Buffer.from(await res.arrayBuffer());
  if (res.ok) return bytes;
  const text = bytes.toString('utf8').slice(0, 300);
  if (res.status === 400 && /BadDigest|InvalidDigest/.test(text))
    throw new CairnError('UPLOAD_MISMATCH', `the store refused the bytes of ${key}: they do not match the plan`, {
      data: { key },
    });
  throw new CairnError('IO_ERROR', `the store answered ${res.status} for ${key}: ${text}`, {
    data: { key, status: res.status },
  });
}

function serverError(status: number, bytes: Buffer, url: string): CairnError {
  let e: { code?: string; message?: string; hint?: string; data?: Record<string, unknown> } | undefined;
  try {
    e = (JSON.parse(bytes.toString('utf8')) as { error?: typeof e }).error;
  } catch {
    e = undefined;
  }
  const code = (e?.code && e.code in errorCatalogue ? e.code : 'INTERNAL') as ErrorCode;
  return new CairnError(code, e?.message ?? `${url} answered ${status}`, {
    ...(e?.hint ? { hint: e.hint } : {}),
    ...(e?.data ? { data: e.data } : {}),
  });
}
