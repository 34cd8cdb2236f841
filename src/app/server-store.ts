import { createHash, randomUUID } from 'node:crypto';
import { CairnError } from '../core/errors.js';
import type { PresignedRequest, RemoteBackend, RemoteState, TransferService } from '../transfer/index.js';
import { emptyState, mergeState, parseState, readState, writeState } from '../transfer/index.js';

/**
 * The team server's object store (docs/SERVER.md "Data plane"): a Cairn remote layout
 * (docs/REMOTES.md) in a folder or an S3 bucket, which every client pushes to through the server
 * and which the server then imports into its own metadata. Packs are content-addressed and shared
 * by everyone's pushes (deduplication across all users). With S3, pack bytes go between the
 * client and the bucket on presigned URLs; with a folder they stream through the server.
 */
export interface ServerStore {
  /** The store's URL (file://… or s3://…), without credentials. */
  url: string;
  /** True when clients move pack bytes to and from the store directly (presigned S3 URLs). */
  direct: boolean;
  list(prefix: string): Promise<Array<{ key: string; size: number }>>;
  plan(who: string, objects: readonly PlannedObject[]): Promise<UploadPlan[]>;
  /** Streamed upload of a planned pack (folder stores): checked against the plan before it is stored. */
  receive(who: string, uploadId: string, body: Buffer): Promise<void>;
  /** After direct uploads: checks each staged object against its plan, then moves it into place. */
  commit(who: string, uploadIds: readonly string[]): Promise<Array<{ key: string; size: number }>>;
  download(keys: readonly string[]): Promise<Array<{ key: string; size: number; request: PresignedRequest | null }>>;
  readObject(key: string): Promise<Buffer>;
  writeObject(who: string, key: string, body: Buffer): Promise<void>;
  /** Imports what was pushed (metadata only: the bytes stay in the store) and checks `versions` arrived. */
  importPushed(transfer: TransferService, versions: readonly string[]): Promise<ImportAnswer>;
  close(): Promise<void>;
}

export interface PlannedObject {
  key: string;
  size: number;
  /** Hex SHA-256 and base64 MD5 of the whole object, as the client computed them. */
  sha256: string;
  md5: string;
}

export interface UploadPlan {
  key: string;
  /** Already in the store at this size (someone pushed it before): nothing to send. */
  present: boolean;
  uploadId?: string;
  /** Where to send the bytes: a presigned S3 URL, or a server path (`/api/v1/store/uploads/<id>`). */
  request?: PresignedRequest;
}

export interface ImportAnswer {
  imported: { datasets: number; versions: number };
  vouched: number;
  skipped: number;
  versions: string[];
}

interface Pending extends PlannedObject {
  who: string;
  expires: number;
  received: boolean;
}

export const STORE_ROUTE = '/api/v1/store';
const PACK_KEY = /^packs\/[0-9a-f]{2}\/[0-9a-f]{64}\.pack$/;
const URL_SECONDS = 15 * 60;
const MAX_PLAN = 10_000;

export function createServerStore(backend: RemoteBackend, opts: { now?: () => number } = {}): ServerStore {
  const now = opts.now ?? Date.now;
  const pending = new Map<string, Pending>();
  const direct = typeof backend.presign === 'function' && typeof backend.copy === 'function';
  const take = (who: string, id: string): Pending => {
    const p = pending.get(id);
    if (!p || p.who !== who || p.expires < now())
      throw new CairnError('UPLOAD_UNKNOWN', `upload ${id} was not planned for ${who}, was already used, or expired`, {
        hint: 'push again: the server plans a fresh upload',
      });
    return p;
  };
  let importing: Promise<unknown> = Promise.resolve();
  let stateWrites: Promise<unknown> = Promise.resolve();
  return {
    url: backend.url,
    direct,
    list: (prefix) => backend.list(prefix),
    plan: (who, objects) => {
      // Plans nobody used expire with their URLs: forget them, so the table stays small.
      for (const [id, p] of pending) if (p.expires < now()) pending.delete(id);
      return planUploads(backend, pending, { who, objects, direct, expires: now() + URL_SECONDS * 1000 });
    },
    async receive(who, uploadId, body) {
      // A plan is used once, whatever the outcome: a replay (or a retry after a mismatch) is refused.
      const p = take(who, uploadId);
      pending.delete(uploadId);
      checkBytes(p, body);
      await backend.put(p.key, body);
    },
    async commit(who, uploadIds) {
      const out: Array<{ key: string; size: number }> = [];
      for (const id of uploadIds) {
        const p = take(who, id);
        pending.delete(id);
        if (direct) await commitStaged(backend, id, p);
        else if (!(await backend.head(p.key)))
          throw new CairnError('UPLOAD_MISMATCH', `${p.key} was planned but never arrived; nothing was recorded`);
        out.push({ key: p.key, size: p.size });
      }
      return out;
    },
    download: (keys) => downloads(backend, keys, direct),
    readObject: (key) => backend.get(key),
    writeObject: (who, key, body) => {
      if (key !== 'meta/state.json') return writeSmall(backend, who, key, body);
      // State writes one at a time, each merged into what is there: twenty people pushing at
      // once each add their versions, and none replaces another's (nor can remove any).
      const run = stateWrites.then(() => mergeIntoState(backend, body));
      stateWrites = run.catch(() => {});
      return run;
    },
    importPushed(transfer, versions) {
      // One import at a time: each reads the state and the packs it names, then records.
      const run = importing.then(() => importOnce(backend, transfer, versions));
      importing = run.catch(() => {});
      return run;
    },
    close: () => backend.close(),
  };
}

async function planUploads(
  backend: RemoteBackend,
  pending: Map<string, Pending>,
  o: { who: string; objects: readonly PlannedObject[]; direct: boolean; expires: number },
): Promise<UploadPlan[]> {
  if (o.objects.length > MAX_PLAN) throw new CairnError('USAGE', `plan at most ${MAX_PLAN} objects per request`);
  const have = new Map((await backend.list('packs/')).map((x) => [x.key, x.size]));
  const out: UploadPlan[] = [];
  for (const obj of o.objects) {
    if (!PACK_KEY.test(obj.key))
      throw new CairnError('USAGE', `only packs (packs/xx/<sha256>.pack) are planned uploads, not ${obj.key}`);
    if (!/^[0-9a-f]{64}$/.test(obj.sha256) || !/^[A-Za-z0-9+/]{22}==$/.test(obj.md5))
      throw new CairnError('USAGE', `${obj.key}: sha256 is 64 hex digits and md5 base64 of 16 bytes`);
    if (have.get(obj.key) === obj.size) {
      out.push({ key: obj.key, present: true });
      continue;
    }
    const uploadId = randomUUID();
    pending.set(uploadId, { ...obj, who: o.who, expires: o.expires, received: false });
    const request: PresignedRequest = o.direct
      ? await backend.presign!('PUT', stagingKey(uploadId), {
          expiresInSeconds: URL_SECONDS,
          headers: { 'content-md5': obj.md5, 'content-length': String(obj.size), 'x-amz-meta-sha256': obj.sha256 },
        })
      : {
          method: 'PUT',
          url: `${STORE_ROUTE}/uploads/${uploadId}`,
          headers: {},
          expiresAt: new Date(o.expires).toISOString(),
        };
    out.push({ key: obj.key, present: false, uploadId, request });
  }
  return out;
}

/** Direct uploads land under incoming/; only the server moves a checked object to its pack key. */
function stagingKey(uploadId: string): string {
  return `incoming/${uploadId}.pack`;
}

async function commitStaged(backend: RemoteBackend, uploadId: string, p: Pending): Promise<void> {
  const staged = stagingKey(uploadId);
  const st = await backend.stat!(staged);
  if (!st)
    throw new CairnError('UPLOAD_MISMATCH', `${p.key} was planned but never arrived; nothing was recorded`, {
      hint: 'the upload was interrupted: push again',
    });
  const md5hex = Buffer.from(p.md5, 'base64').toString('hex');
  if (st.size !== p.size || st.etag.toLowerCase() !== md5hex) {
    await backend.delete(staged);
    throw new CairnError(
      'UPLOAD_MISMATCH',
      `the bytes uploaded for ${p.key} do not match the plan (${st.size} bytes, MD5 ${st.etag}; planned ${p.size} bytes, MD5 ${md5hex}); they were discarded`,
      { data: { key: p.key, planned: { size: p.size, md5: md5hex }, got: { size: st.size, md5: st.etag } } },
    );
  }
  await backend.copy!(staged, p.key);
  await backend.delete(staged);
}

function checkBytes(p: PlannedObject, body: Buffer): void {
  const sha256 = createHash('sha256').update(body).digest('hex');
  if (body.length !== p.size || sha256 !== p.sha256)
    throw new CairnError(
      'UPLOAD_MISMATCH',
      `the bytes uploaded for ${p.key} do not match the plan (${body.length} bytes, sha256 ${sha256}; planned ${p.size} bytes, sha256 ${p.sha256}); nothing was stored`,
      { data: { key: p.key, planned: { size: p.size, sha256: p.sha256 }, got: { size: body.length, sha256 } } },
    );
}

async function downloads(backend: RemoteBackend, keys: readonly string[], direct: boolean) {
  if (keys.length > MAX_PLAN) throw new CairnError('USAGE', `ask for at most ${MAX_PLAN} objects per request`);
  const have = new Map((await backend.list('packs/')).map((x) => [x.key, x.size]));
  return Promise.all(
    keys.map(async (key) => {
      if (!PACK_KEY.test(key)) throw new CairnError('USAGE', `only packs are downloaded this way, not ${key}`);
      const size = have.get(key);
      if (size === undefined) throw new CairnError('NOT_FOUND', `the store has no object ${key}`, { data: { key } });
      const request = direct ? await backend.presign!('GET', key, { expiresInSeconds: URL_SECONDS }) : null;
      return { key, size, request };
    }),
  );
}

/**
 * The small objects of the layout a push writes itself: the descriptor (once), the merged state
 * and the pushing workspace's own audit bundle. Packs only arrive through planned uploads, and
 * nothing else in the store (staged uploads, other keys) can be written by a client.
 */
async function writeSmall(backend: RemoteBackend, who: string, key: string, body: Buffer): Promise<void> {
  const audit = /^audit\/([0-9A-Za-z_-]{1,128})\/[0-9A-Za-z_./-]{1,200}$/.exec(key);
  if (key === 'cairn-remote.json') {
    if (await backend.head(key)) return;
  } else if (audit) {
    await claimWorkspace(backend, audit[1]!, who);
  } else if (key !== 'meta/state.json') {
    throw new CairnError('PERMISSION_DENIED', `a push may not write ${key} directly`, {
      hint: 'packs go through planned uploads (POST /api/v1/store/plan)',
    });
  }
  await backend.put(key, body);
}

/**
 * A workspace's audit bundle in the store belongs to the account that first pushed it: nobody
 * else may overwrite it (a later pull would otherwise verify someone else's history under it).
 */
async function claimWorkspace(backend: RemoteBackend, workspace: string, who: string): Promise<void> {
  // One claim per workspace at a time in this process: a push uploads several files at once, and a
  // read racing the first claim's write could see half an object (a store write is not atomic everywhere).
  const before = claims.get(workspace) ?? Promise.resolve();
  const mine = before.then(() => claimOnce(backend, workspace, who));
  const settled = mine.catch(() => {});
  claims.set(workspace, settled);
  try {
    await mine;
  } finally {
    if (claims.get(workspace) === settled) claims.delete(workspace);
  }
}

const claims = new Map<string, Promise<void>>();

async function claimOnce(backend: RemoteBackend, workspace: string, who: string): Promise<void> {
  const key = `owners/${workspace}.json`;
  let owner: string | null = null;
  try {
    owner = (JSON.parse((await backend.get(key)).toString('utf8')) as { account: string }).account;
  } catch (err) {
    if (!(err instanceof CairnError && err.code === 'NOT_FOUND')) throw err;
  }
  if (owner === null) await backend.put(key, Buffer.from(JSON.stringify({ account: who, workspace })));
  else if (owner !== who)
    throw new CairnError('PERMISSION_DENIED', `workspace ${workspace}'s log on this server is ${owner}'s to push`, {
      hint: 'push from your own workspace',
    });
}

/** A pushed state, merged into the store's (a union: versions, tags, packs and logs are only ever added). */
async function mergeIntoState(backend: RemoteBackend, body: Buffer): Promise<void> {
  const incoming = parseState(body);
  const merged = mergeState((await readState(backend)) ?? emptyState(), incoming);
  if (merged.conflicts.length)
    throw new CairnError(
      'DIVERGED',
      `the push conflicts with the server's store: ${merged.conflicts.map((c) => c.what).join(', ')}`,
      { hint: 'versions are immutable: use another dataset name', data: { conflicts: merged.conflicts } },
    );
  await writeState(backend, merged.state);
}

async function importOnce(
  backend: RemoteBackend,
  transfer: TransferService,
  versions: readonly string[],
): Promise<ImportAnswer> {
  const state = await readState(backend);
  if (!state) throw new CairnError('NOT_FOUND', 'nothing was pushed to this server yet', { hint: 'cairn push' });
  await checkPacksPresent(backend, state, versions);
  const res = await transfer.pull([], { remote: 'store', metadataOnly: true });
  const known = new Set(state.versions.map((v) => `sha256:${v.digest}`));
  // Listed is not enough: each must have been imported by now (by this pull or an earlier one),
  // not skipped as a version no verified log vouches for.
  const skipped = new Set(res.skipped.map((v) => v.digest));
  const notVouched = versions.filter((d) => skipped.has(d));
  if (notVouched.length)
    throw new CairnError(
      'NOT_VOUCHED',
      `no verified log vouches for ${notVouched.join(', ')}; nothing of it was recorded`,
      {
        hint: 'push again: the workspace log must travel with its versions',
        data: { versions: notVouched },
      },
    );
  const missing = versions.filter((d) => !known.has(d));
  if (missing.length)
    throw new CairnError(
      'DIVERGED',
      `the store's state does not list ${missing.join(', ')}: another push replaced it while this one ran`,
      { hint: 'push again (nothing is sent twice)', data: { missing } },
    );
  return {
    imported: res.imported,
    vouched: res.vouched.length,
    skipped: res.skipped.length,
    versions: [...versions],
  };
}

/** Every pack a pushed version needs is in the store at its size before any row is recorded. */
async function checkPacksPresent(backend: RemoteBackend, state: RemoteState, versions: readonly string[]) {
  // All of them, not only this push's: the state is only written after its packs (push.ts).
  void versions;
  const have = new Map((await backend.list('packs/')).map((x) => [x.key, x.size]));
  const sizes = new Map(state.packs.map((p) => [p.id, p.size]));
  for (const v of state.versions) {
    for (const id of v.packs) {
      const key = `packs/${id.slice(0, 2)}/${id}.pack`;
      if (have.get(key) !== sizes.get(id))
        throw new CairnError('MISSING_OBJECT', `version sha256:${v.digest} needs ${key}, which is not in the store`, {
          hint: 'push again: its upload did not complete',
          data: { key },
        });
    }
  }
}
