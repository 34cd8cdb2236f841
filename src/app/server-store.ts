import { createHash, randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { CairnError, isCairnError } from '../core/errors.js';
import type {
  EvaluationStateRow,
  GetOptions,
  MultipartUploads,
  PresignedRequest,
  RemoteBackend,
  RemoteState,
  TransferService,
} from '../transfer/index.js';
import { emptyState, MAX_STATE_BYTES, mergeState, parseState, readState, writeState } from '../transfer/index.js';
import { packFault, streamedPackFault } from '../storage/pack/reader.js';
import {
  buildStoreState,
  candidateState,
  recordedWanted,
  servedState,
  withoutLog,
  type RecordedRows,
  type OwnOutputs,
  type RecordedWanted,
  type TrainedRuns,
} from './server-state.js';
import { processLocks, type StoreLocks } from './store-locks.js';
import { checkPushedPackLists, storeTrees } from './server-pack-lists.js';
import type { TreeLoader } from '../storage/tree/walk.js';
import { streamObject, type StoredObject } from './store-object-stream.js';

const STATE_KEY = 'meta/state.json';
/**
 * The most bytes of one of the server's bookkeeping records read (an uploader record, a
 * workspace's owner): a few hundred bytes written by the server itself.
 */
const RECORD_BYTES = 64 * 1024;

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
  plan(who: string, objects: readonly PlannedObject[], opts?: PlanOptions): Promise<UploadPlan[]>;
  /** Streamed upload of a planned pack (folder stores): checked against the plan before it is stored. */
  receive(who: string, uploadId: string, body: Buffer): Promise<{ poisoned?: PoisonedPack }>;
  /** After direct uploads: checks each staged object against its plan, then moves it into place. */
  commit(
    who: string,
    uploadIds: readonly string[],
  ): Promise<Array<{ key: string; size: number; poisoned?: PoisonedPack }>>;
  download(keys: readonly string[]): Promise<Array<{ key: string; size: number; request: PresignedRequest | null }>>;
  /**
   * One of the layout's small objects whole (the state as clients see it, an audit bundle's
   * file): at most MAX_STATE_BYTES, the most a client may write of one.
   */
  readObject(key: string): Promise<Buffer>;
  /**
   * An object streamed from the store (a pack of a folder store, up to 1 GiB): its bytes are read
   * a slice at a time as the reader takes them, never held whole (store-object-stream.ts).
   */
  openObject(key: string): Promise<StoredObject>;
  writeObject(who: string, key: string, body: Buffer): Promise<void>;
  /**
   * Where to read the trees of a version the store lists (by root digest) with packs, from the
   * store itself; null when it lists none such (docs/SERVER.md "Data plane").
   */
  trees(digest: string): Promise<TreeLoader | null>;
  /**
   * Imports what `who` pushed (metadata only: the bytes stay in the store) from the state its
   * push proposed, writes the store's state from what was recorded, and checks `versions` arrived.
   */
  importPushed(transfer: TransferService, who: string, versions: readonly string[]): Promise<ImportAnswer>;
  /**
   * Forgets plans past their expiry and aborts the multipart uploads nobody can complete any
   * more (expired, or started by an earlier server process); runs every minute by itself.
   */
  sweep(): Promise<{ aborted: number; expired: number }>;
  /**
   * How many held packs this process read back in full against their names before letting an
   * account dedup against (or commit beside) another account's unverified upload, and how many
   * of those failed and were removed (docs/SERVER.md "Poisoned packs").
   */
  integrity(): { verified: number; poisoned: number };
  /** The server's own objects (`own-log/`: its log's exports), which no client reads or writes. */
  own: OwnObjects;
  close(): Promise<void>;
}

/** Where the server keeps the exports of its own log in the store (docs/SERVER.md "What a pull from the server brings"). */
export const OWN_PREFIX = 'own-log/';
const UPLOADERS_PREFIX = 'uploaders/';

/** The store's `own-log/` folder, keys relative to it: written by the server alone. */
export interface OwnObjects {
  /** `opts.maxBytes`: the size recorded for it (default: the backend's bound). */
  get(key: string, opts?: GetOptions): Promise<Buffer>;
  put(key: string, body: Buffer): Promise<void>;
  list(): Promise<Array<{ key: string; size: number }>>;
  delete(key: string): Promise<void>;
  /** Runs `fn` alone across every server process on the metadata database (a store lock). */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
}

/** A held pack that failed the check against its name and was removed: whose upload it was. */
export interface PoisonedPack {
  key: string;
  /** The account whose upload put it there (null: uploaded before uploaders were recorded). */
  uploader: string | null;
  reason: string;
}

export interface PlannedObject {
  key: string;
  size: number;
  /** Hex SHA-256 and base64 MD5 of the whole object, as the client computed them (MD5 only for a single PUT). */
  sha256: string;
  md5?: string;
  /**
   * A multipart upload (S3 stores; packs up to 10,000 parts): every part `partBytes` long except
   * the last, with the base64 MD5 of each, which its presigned UploadPart URL pins.
   */
  parts?: { partBytes: number; md5: string[] };
}

/**
 * For a caller who may not read every pack (a reader of some projects, docs/SERVER.md "What a
 * reader of some projects sees"): `knows(key)` says whether they may read a held pack. A held
 * pack they may not read, and did not upload themselves, is planned as if the store lacked it
 * (answering `present` would confirm that someone holds those bytes), and every upload planned
 * for them is checked against its pack's name before it is placed, so that no answer to their
 * upload depends on what the store held: bytes that are the pack join the one copy kept.
 */
export interface PlanOptions {
  knows: (packKey: string) => boolean;
}

export interface UploadPlan {
  key: string;
  /** Already in the store at this size (someone pushed it before): nothing to send. */
  present: boolean;
  uploadId?: string;
  /** Where to send the bytes: a presigned S3 URL, or a server path (`/api/v1/store/uploads/<id>`). */
  request?: PresignedRequest;
  /** A multipart upload instead: one presigned UploadPart per planned part, in order. */
  parts?: PresignedRequest[];
  /** The store held this key, but its bytes failed the check against the pack's name: removed. */
  poisoned?: PoisonedPack;
}

export interface ImportAnswer {
  imported: { datasets: number; versions: number; modelVersions: number; runs: number };
  vouched: number;
  skipped: number;
  versions: string[];
  /** Model versions of the push that no verified event vouches for exactly: not recorded (and the refusal is in the log). */
  skippedModels: Array<{ model: string; number: number; digest: string; why: string }>;
  /** Runs of the push that no verified event vouches for exactly, or whose versions are not here: not recorded (the refusal is in the log). */
  skippedRuns: Array<{ run: string; name: string; status: string; why: string }>;
}

/** A planned upload: what the bytes must be, whose it is, until when. */
export interface Pending extends PlannedObject {
  who: string;
  /** Milliseconds since the epoch. */
  expires: number;
  /** The store's id of the multipart upload under the staging key, when the pack goes in parts. */
  multipartId?: string;
  /** Checked against the pack's name before it is placed (PlanOptions): a blind upload. */
  checkName?: boolean;
}

/**
 * Where planned uploads are kept until used: the metadata database on a team server (so a
 * restart, or another server process on the same database, can finish them), memory otherwise.
 */
export interface UploadPlans {
  put(id: string, plan: Pending): Promise<void>;
  /** Removes and returns `who`'s plan `id`; of two concurrent takes, one gets it (null: none). */
  take(id: string, who: string): Promise<Pending | null>;
  /** Removes the plans that expired before `now`, and returns them. */
  expire(now: number): Promise<Array<{ id: string; plan: Pending }>>;
  /** The multipart upload ids of the plans still kept. */
  liveMultipartIds(): Promise<Set<string>>;
}

/** Plans in this process's memory: for a store opened without a database (tests of the data plane alone). */
export function memoryUploadPlans(): UploadPlans {
  const m = new Map<string, Pending>();
  return {
    put: async (id, plan) => void m.set(id, plan),
    take: async (id, who) => {
      const p = m.get(id);
      if (!p || p.who !== who) return null;
      m.delete(id);
      return p;
    },
    expire: async (now) => {
      const out: Array<{ id: string; plan: Pending }> = [];
      for (const [id, plan] of m) if (plan.expires < now) out.push({ id, plan });
      for (const { id } of out) m.delete(id);
      return out;
    },
    liveMultipartIds: async () => new Set([...m.values()].flatMap((p) => (p.multipartId ? [p.multipartId] : []))),
  };
}

export const STORE_ROUTE = '/api/v1/store';
const PACK_KEY = /^packs\/[0-9a-f]{2}\/[0-9a-f]{64}\.pack$/;
const URL_SECONDS = 15 * 60;
const MAX_PLAN = 10_000;
/** S3's rules for multipart uploads: parts of at least 5 MiB (the last may be shorter), at most 10,000. */
export const MIN_PART_BYTES = 5 * 1024 * 1024;
export const MAX_PARTS = 10_000;
/** The largest object one S3 PUT (and one CopyObject) takes; larger packs must come in parts. */
const MAX_SINGLE_PUT = 5 * 1024 ** 3;
const SWEEP_MS = 60_000;

export interface ServerStoreOptions {
  now?: () => number;
  /** How long planned uploads and their URLs live (default 15 minutes). */
  urlSeconds?: number;
  /**
   * Digests of the versions the server imported (each vouched by a verified log): what the
   * store's state shows clients, and what a push may not displace. Without it (tests of the
   * data plane alone) the state is shown and merged as written.
   */
  vouched?: () => Promise<ReadonlySet<string>>;
  /** Where plans are kept (default: memory, lost on restart). */
  plans?: UploadPlans;
  /** The server's rows, which an import writes the store's state from (required to import). */
  recorded?: (want: RecordedWanted) => Promise<RecordedRows>;
  /**
   * The locks around imports, pack commits, proposals and workspace claims: in the metadata
   * database on a team server, so several server processes on one store take turns (default:
   * this process only).
   */
  locks?: StoreLocks;
  /** Most bytes of a pack held in memory at once while it is checked against its name (default 16 MiB). */
  checkSliceBytes?: number;
  /**
   * The server's evaluations of these model versions (its own and those imported with pushes):
   * what the state it serves lists of them (docs/SERVER.md "What a pull from the server brings").
   */
  evaluations?: (modelVersionIds: readonly string[]) => Promise<EvaluationStateRow[]>;
  /**
   * The finished runs the server trained itself (not imported) whose output is none or one of
   * these versions, with their lineage edges: what the state it serves lists of them, those whose
   * inputs it lists too (docs/SERVER.md "What a pull from the server brings").
   */
  trainedRuns?: (versionIds: readonly string[]) => Promise<TrainedRuns>;
  /**
   * The bytes of one of the server's own packs (in its workspace: its runs' outputs). The state it
   * serves lists an own output version only once each of its packs is in the store, put there from
   * these bytes (docs/SERVER.md "What a pull from the server brings").
   */
  ownPack?: (packId: string) => Promise<Buffer>;
  /** Told of each held pack the placing of the server's own packs found poisoned and removed (to log it). */
  onOwnPoisoned?: (p: PoisonedPack) => Promise<void>;
  /**
   * The workspace id of the server's own log: a proposal's entry for it (every client that pulled
   * from the server carries one) is dropped, as only the server moves it.
   */
  ownLog?: string;
}

export function createServerStore(backend: RemoteBackend, opts: ServerStoreOptions = {}): ServerStore {
  const now = opts.now ?? Date.now;
  const urlSeconds = opts.urlSeconds ?? URL_SECONDS;
  const pending = opts.plans ?? memoryUploadPlans();
  const direct = typeof backend.presign === 'function' && typeof backend.copy === 'function';
  const multipart = direct && backend.multipart && backend.digest ? backend.multipart : null;
  const sweeper = startSweeper(
    () => sweepUploads(backend, multipart, pending, { now: now(), urlSeconds, list: true }),
    {
      enabled: multipart !== null,
    },
  );
  // A plan is used once, whatever the outcome: a replay (or a retry after a mismatch) is refused.
  const take = async (who: string, id: string): Promise<Pending> => {
    const p = await pending.take(id, who);
    if (!p || p.expires < now())
      throw new CairnError('UPLOAD_UNKNOWN', `upload ${id} was not planned for ${who}, was already used, or expired`, {
        hint: 'push again: the server plans a fresh upload',
      });
    return p;
  };
  const locks = opts.locks ?? processLocks();
  const proposals = proposalStore(backend, locks);
  const counts = { verified: 0, poisoned: 0 };
  const held = heldPacks(backend, counts, locks, opts.checkSliceBytes ?? CHECK_SLICE_BYTES);
  return {
    url: backend.url,
    direct,
    list: (prefix) => backend.list(prefix),
    plan: async (who, objects, planOpts) => {
      // Plans nobody used expire with their URLs: forget them (aborting their multipart uploads).
      // The store-wide listing is left to the timer: one request per plan would slow big pushes.
      await sweepUploads(backend, multipart, pending, { now: now(), urlSeconds, list: false });
      return planUploads(backend, pending, held, {
        who,
        objects,
        direct,
        multipart,
        urlSeconds,
        expires: now() + urlSeconds * 1000,
        ...(planOpts ? { knows: planOpts.knows } : {}),
      });
    },
    async receive(who, uploadId, body) {
      const p = await take(who, uploadId);
      checkBytes(p, body);
      if (p.checkName) checkName(p, body);
      const poisoned = await place(held, who, p, () => backend.put(p.key, body), noop);
      return poisoned ? { poisoned } : {};
    },
    async commit(who, uploadIds) {
      const out: Array<{ key: string; size: number; poisoned?: PoisonedPack }> = [];
      for (const id of uploadIds) {
        const p = await take(who, id);
        const poisoned = await commitOne(backend, { multipart, direct, held, who, uploadId: id, p });
        out.push({ key: p.key, size: p.size, ...(poisoned ? { poisoned } : {}) });
      }
      return out;
    },
    download: (keys) => downloads(backend, keys, direct),
    trees: (digest) => storeTrees(backend, digest),
    ...smallObjects(backend, opts, proposals, locks, ownPlacer(held, opts.ownPack, opts.onOwnPoisoned)),
    importPushed(transfer, who, versions) {
      const recorded = opts.recorded;
      if (!recorded) throw new CairnError('UNSUPPORTED', "this store was opened without the server's metadata");
      // One import at a time, across every server process on the database: each reads the
      // state, imports, and writes the state it recorded.
      return locks.run(IMPORT_LOCK, () =>
        importOnce(backend, transfer, { who, versions, proposals, recorded, held, ownLog: opts.ownLog }),
      );
    },
    sweep: sweeper.sweep,
    integrity: () => ({ ...counts }),
    own: ownObjects(backend, locks),
    async close() {
      await sweeper.stop();
      await backend.close();
    },
  };
}

const noop = async () => {};

function ownObjects(backend: RemoteBackend, locks: StoreLocks): OwnObjects {
  return {
    get: (key, o) => backend.get(OWN_PREFIX + key, o),
    put: (key, body) => backend.put(OWN_PREFIX + key, body),
    list: async () =>
      (await backend.list(OWN_PREFIX)).map((o) => ({ key: o.key.slice(OWN_PREFIX.length), size: o.size })),
    delete: (key) => backend.delete(OWN_PREFIX + key),
    exclusive: (fn) => locks.run(OWN_LOCK, fn),
  };
}
const IMPORT_LOCK = 'store:import';
const OWN_LOCK = 'store:own-log';
const CHECK_SLICE_BYTES = 16 * 1024 * 1024;

/** Checks one planned upload that arrived and moves it into place (S3); a folder store's is already there. */
async function commitOne(
  backend: RemoteBackend,
  o: {
    multipart: MultipartUploads | null;
    direct: boolean;
    held: HeldPacks;
    who: string;
    uploadId: string;
    p: Pending;
  },
): Promise<PoisonedPack | null> {
  const { p } = o;
  if (p.multipartId) return commitMultipart(backend, o.multipart!, o.held, o.who, o.uploadId, p);
  if (o.direct) return commitStaged(backend, o.held, o.who, o.uploadId, p);
  if (!(await backend.head(p.key)))
    throw new CairnError('UPLOAD_MISMATCH', `${p.key} was planned but never arrived; nothing was recorded`);
  return null;
}

/**
 * The layout's small objects, read and written through the server. The state is special: what a
 * client writes there is its proposal for the next import (kept per account under proposals/),
 * never the store's state, which only an import writes (docs/SERVER.md "Store state").
 */
function smallObjects(
  backend: RemoteBackend,
  opts: Pick<ServerStoreOptions, 'vouched' | 'evaluations' | 'trainedRuns' | 'ownLog'>,
  proposals: Proposals,
  locks: StoreLocks,
  placeOwn: (outputs: OwnOutputs) => Promise<OwnOutputs>,
): Pick<ServerStore, 'readObject' | 'openObject' | 'writeObject'> {
  const { vouched, evaluations } = opts;
  const readObject = async (key: string): Promise<Buffer> => {
    refuseBookkeeping(key);
    // No client writes a small object larger (the route's body limit), nor an import a larger state.
    const whole = await backend.get(key, { maxBytes: MAX_STATE_BYTES });
    if (key !== STATE_KEY || !vouched) return whole;
    const state = shownState(parseState(whole), await vouched());
    if (!evaluations) return Buffer.from(JSON.stringify(state));
    const rows = await evaluations(state.modelVersions.map((v) => v.id));
    const listed = await opts.trainedRuns?.(state.versions.map((v) => v.id));
    const trained = listed?.outputs ? { ...listed, outputs: await placeOwn(listed.outputs) } : listed;
    return Buffer.from(
      JSON.stringify(servedState(state, { evaluations: rows, ownLog: null, ...(trained ? { trained } : {}) })),
    );
  };
  return {
    readObject,
    openObject: async (key) => {
      refuseBookkeeping(key, true);
      // The state is served as built from the server's rows, never as stored.
      if (key !== STATE_KEY) return streamObject(backend, key);
      const whole = await readObject(key);
      return { size: whole.length, body: Readable.from([whole], { objectMode: false }) };
    },
    writeObject: async (who, key, body) => {
      if (opts.ownLog !== undefined && key.startsWith(`audit/${opts.ownLog}/`))
        throw new CairnError('PERMISSION_DENIED', `${key} is the server's own audit log: only the server writes it`, {
          hint: 'push from your own workspace: its log goes under audit/<its id>/',
        });
      if (key !== STATE_KEY) return writeSmall(backend, who, key, body, locks);
      const incoming = withoutLog(parseState(body), opts.ownLog);
      // Refused now what the import would refuse anyway: the client hears it at once.
      const server = (await readState(backend)) ?? emptyState();
      const owned = await ownedWorkspaces(backend, who, incoming, server);
      candidateState(server, incoming, (w) => owned.has(w));
      await proposals.add(who, incoming);
    },
  };
}

const PROPOSALS = 'proposals/';
/**
 * What a client never reads, even a reader of every project: who owns each pushed log, who
 * uploaded each pack, and uploads still staged (bytes not yet checked or recorded). The server
 * reads the first two itself (through readObject), so only a client's read is refused.
 */
const CLIENT_UNREADABLE = ['owners/', UPLOADERS_PREFIX, 'incoming/'];

function refuseBookkeeping(key: string, client = false): void {
  if (
    key.startsWith(PROPOSALS) ||
    key.startsWith(OWN_PREFIX) ||
    (client && CLIENT_UNREADABLE.some((p) => key.startsWith(p)))
  )
    throw new CairnError('PERMISSION_DENIED', `${key} is the server's own bookkeeping`, {
      hint: 'read meta/state.json: what the server imported',
    });
}

/**
 * The states an account's pushes proposed, merged into one per account (a push writes the state
 * twice, and two pushes of one account may overlap), kept in the store so that a server restart
 * between a push's write and its import loses nothing. Taken away by the import that used them.
 */
interface Proposals {
  add(who: string, incoming: RemoteState): Promise<void>;
  /** The account's proposal and its exact bytes (null: none). */
  read(who: string): Promise<{ state: RemoteState; bytes: Buffer } | null>;
  /** Removes the proposal if it is still the one an import read (a push that wrote since keeps its own). */
  done(who: string, bytes: Buffer): Promise<void>;
}

function proposalStore(backend: RemoteBackend, locks: StoreLocks): Proposals {
  const key = (who: string) => `${PROPOSALS}${createHash('sha256').update(who).digest('hex')}.json`;
  // Read, merged and written back under the account's lock: two pushes of one account landing on
  // two server processes must not drop each other's proposal.
  const locked = <T>(who: string, fn: () => Promise<T>): Promise<T> => locks.run(`store:proposal:${key(who)}`, fn);
  const get = async (who: string) => {
    try {
      const bytes = await backend.get(key(who), { maxBytes: MAX_STATE_BYTES });
      return { state: parseState(bytes), bytes };
    } catch (err) {
      if (err instanceof CairnError && err.code === 'NOT_FOUND') return null;
      throw err;
    }
  };
  return {
    add: (who, incoming) =>
      locked(who, async () => {
        const had = await get(who);
        const merged = had ? mergeState(had.state, incoming) : null;
        // A proposal at odds with the account's earlier one replaces it: the newer push is the one
        // whose import comes next, and the earlier one's import then says DIVERGED (push again).
        const next = merged && !merged.conflicts.length ? merged.state : incoming;
        await backend.put(key(who), Buffer.from(JSON.stringify(next)));
      }),
    read: (who) => locked(who, () => get(who)),
    done: (who, bytes) =>
      locked(who, async () => {
        const now = await get(who);
        if (now && now.bytes.equals(bytes)) await backend.delete(key(who));
      }),
  };
}

/**
 * Multipart uploads a killed client (or an earlier server process) left behind cost storage
 * until aborted: swept at start and every minute (beside the expiry check each plan does), one
 * sweep at a time.
 */
function startSweeper(run: () => Promise<{ aborted: number; expired: number }>, o: { enabled: boolean }) {
  let sweeping: Promise<{ aborted: number; expired: number }> | null = null;
  const sweep = () => {
    sweeping ??= run().finally(() => (sweeping = null));
    return sweeping;
  };
  const first = o.enabled ? sweep().catch(() => null) : null;
  const timer = o.enabled ? setInterval(() => void sweep().catch(() => {}), SWEEP_MS) : null;
  timer?.unref();
  return {
    sweep,
    async stop() {
      if (timer) clearInterval(timer);
      await first;
      await sweeping?.catch(() => {});
    },
  };
}

async function planUploads(
  backend: RemoteBackend,
  pending: UploadPlans,
  heldBy: HeldPacks,
  o: {
    who: string;
    objects: readonly PlannedObject[];
    direct: boolean;
    multipart: MultipartUploads | null;
    urlSeconds: number;
    expires: number;
    knows?: (packKey: string) => boolean;
  },
): Promise<UploadPlan[]> {
  if (o.objects.length > MAX_PLAN) throw new CairnError('USAGE', `plan at most ${MAX_PLAN} objects per request`);
  const have = new Map((await backend.list('packs/')).map((x) => [x.key, x.size]));
  const out: UploadPlan[] = [];
  for (const obj of o.objects) {
    if (!PACK_KEY.test(obj.key))
      throw new CairnError('USAGE', `only packs (packs/xx/<sha256>.pack) are planned uploads, not ${obj.key}`);
    const inParts = obj.parts && o.multipart ? obj.parts : null;
    if (!/^[0-9a-f]{64}$/.test(obj.sha256) || (o.direct && !inParts && !isMd5(obj.md5)))
      throw new CairnError('USAGE', `${obj.key}: sha256 is 64 hex digits and md5 base64 of 16 bytes`);
    if (inParts) checkParts(obj.key, obj.size, inParts);
    else if (o.direct && obj.size > MAX_SINGLE_PUT)
      throw new CairnError('USAGE', `${obj.key}: objects over 5 GiB go up in parts (plan them with \`parts\`)`);
    // A held pack another account uploaded is read back against its name before this account's
    // push may depend on it; one that fails is removed and planned afresh (docs/SERVER.md "Poisoned packs").
    const held = have.get(obj.key);
    const hidden =
      held !== undefined && o.knows !== undefined && !o.knows(obj.key) && (await heldBy.uploader(obj.key)) !== o.who;
    const at = hidden ? undefined : held;
    const blind = o.knows !== undefined ? { checkName: true } : {};
    const poisoned = at === undefined ? null : await heldBy.exclusive(obj.key, () => heldBy.vouch(o.who, obj.key));
    if (!poisoned && at === obj.size) {
      out.push({ key: obj.key, present: true });
      continue;
    }
    if (!poisoned && at !== undefined) throw packExists(obj.key, at, obj.size);
    const mark = poisoned ? { poisoned } : {};
    const uploadId = randomUUID();
    const presign = { expiresInSeconds: o.urlSeconds };
    if (inParts) {
      const { parts: _p, ...rest } = obj;
      const staged = stagingKey(uploadId);
      // The object's metadata carries the planned SHA-256, as a single PUT's does: every later
      // download is checked against it.
      const multipartId = await o.multipart!.start(staged, { sha256: obj.sha256 });
      await pending.put(uploadId, { ...rest, parts: inParts, who: o.who, expires: o.expires, multipartId, ...blind });
      const parts = await Promise.all(
        inParts.md5.map((md5, i) =>
          o.multipart!.presignPart(staged, multipartId, i + 1, {
            ...presign,
            headers: { 'content-md5': md5, 'content-length': String(partLength(obj.size, inParts.partBytes, i)) },
          }),
        ),
      );
      out.push({ key: obj.key, present: false, uploadId, parts, ...mark });
      continue;
    }
    await pending.put(uploadId, { ...obj, who: o.who, expires: o.expires, ...blind });
    const request: PresignedRequest = o.direct
      ? await backend.presign!('PUT', stagingKey(uploadId), {
          ...presign,
          headers: { 'content-md5': obj.md5!, 'content-length': String(obj.size), 'x-amz-meta-sha256': obj.sha256 },
        })
      : {
          method: 'PUT',
          url: `${STORE_ROUTE}/uploads/${uploadId}`,
          headers: {},
          expiresAt: new Date(o.expires).toISOString(),
        };
    out.push({ key: obj.key, present: false, uploadId, request, ...mark });
  }
  return out;
}

function isMd5(md5: string | undefined): md5 is string {
  return typeof md5 === 'string' && /^[A-Za-z0-9+/]{22}==$/.test(md5);
}

/** A part list S3 would take: every part but the last at least 5 MiB, at most 10,000, covering the pack exactly. */
function checkParts(key: string, size: number, parts: { partBytes: number; md5: string[] }): void {
  const { partBytes, md5 } = parts;
  const count = size === 0 ? 1 : Math.ceil(size / partBytes);
  const why =
    !Number.isSafeInteger(partBytes) || partBytes < MIN_PART_BYTES
      ? `parts are at least ${MIN_PART_BYTES} bytes, not ${partBytes}`
      : count > MAX_PARTS
        ? `${count} parts of ${partBytes} bytes; at most ${MAX_PARTS}`
        : md5.length !== count
          ? `${size} bytes in parts of ${partBytes} make ${count} parts, not the ${md5.length} MD5s given`
          : md5.find((m) => !isMd5(m))
            ? 'each part MD5 is base64 of 16 bytes'
            : null;
  if (why) throw new CairnError('USAGE', `${key}: ${why}`, { data: { key, partBytes, parts: md5.length } });
}

function partLength(size: number, partBytes: number, index: number): number {
  return Math.min(partBytes, size - index * partBytes);
}

/** Direct uploads land under incoming/; only the server moves a checked object to its pack key. */
function stagingKey(uploadId: string): string {
  return `incoming/${uploadId}.pack`;
}

async function commitStaged(
  backend: RemoteBackend,
  held: HeldPacks,
  who: string,
  uploadId: string,
  p: Pending,
): Promise<PoisonedPack | null> {
  const staged = stagingKey(uploadId);
  const st = await backend.stat!(staged);
  if (!st)
    throw new CairnError('UPLOAD_MISMATCH', `${p.key} was planned but never arrived; nothing was recorded`, {
      hint: 'the upload was interrupted: push again',
    });
  const md5hex = Buffer.from(p.md5!, 'base64').toString('hex');
  if (st.size !== p.size || st.etag.toLowerCase() !== md5hex) {
    await backend.delete(staged);
    throw new CairnError(
      'UPLOAD_MISMATCH',
      `the bytes uploaded for ${p.key} do not match the plan (${st.size} bytes, MD5 ${st.etag}; planned ${p.size} bytes, MD5 ${md5hex}); they were discarded`,
      { data: { key: p.key, planned: { size: p.size, md5: md5hex }, got: { size: st.size, md5: st.etag } } },
    );
  }
  return moveIntoPlace(backend, held, who, staged, p);
}

/**
 * The staged object's size and SHA-256 (read back through the hash inside the server; the
 * bytes never pass through a client again) against the plan, before anything moves into place:
 * for multipart packs, whose parts S3 checks one MD5 at a time. A mismatch deletes the staged object.
 */
async function checkDigest(
  backend: RemoteBackend,
  staged: string,
  p: Pending,
  what: { uploaded: string; mismatch: string },
): Promise<void> {
  let got: { size: number; sha256: string } | null;
  try {
    got = await backend.digest!(staged);
  } catch (err) {
    await backend.delete(staged).catch(() => {});
    throw err;
  }
  if (!got || got.size !== p.size || got.sha256 !== p.sha256) {
    await backend.delete(staged);
    throw new CairnError(
      'UPLOAD_MISMATCH',
      `${what.uploaded} for ${p.key} ${what.mismatch} the planned pack (${got ? `${got.size} bytes, sha256 ${got.sha256}` : 'nothing'}; planned ${p.size} bytes, sha256 ${p.sha256}); they were discarded`,
      { data: { key: p.key, planned: { size: p.size, sha256: p.sha256 }, got } },
    );
  }
}

/**
 * Completes a multipart upload with the part list the server planned (never one a client
 * sends), then checks the assembled object's size and SHA-256 against the plan by streaming it
 * through the hash inside the server (the bytes never pass through a client again) before it
 * moves into place. Parts that do not match their pinned MD5s fail at Complete (real S3) or at
 * the SHA-256 (stores that do not check Content-MD5); either way nothing is recorded.
 */
async function commitMultipart(
  backend: RemoteBackend,
  mp: MultipartUploads,
  held: HeldPacks,
  who: string,
  uploadId: string,
  p: Pending,
): Promise<PoisonedPack | null> {
  const staged = stagingKey(uploadId);
  const parts = p.parts!.md5.map((md5, i) => ({ partNumber: i + 1, etag: Buffer.from(md5, 'base64').toString('hex') }));
  try {
    // Each planned part there, at its size and with its pinned MD5, before S3 assembles them:
    // stores that do not check Content-MD5 on UploadPart are caught here, part by part.
    const have = new Map((await mp.parts(staged, p.multipartId!)).map((x) => [x.partNumber, x]));
    const bad = parts.find(
      (x, i) =>
        have.get(x.partNumber)?.etag.toLowerCase() !== x.etag ||
        have.get(x.partNumber)?.size !== partLength(p.size, p.parts!.partBytes, i),
    );
    if (bad) {
      const got = have.get(bad.partNumber);
      throw new CairnError(
        'UPLOAD_MISMATCH',
        `part ${bad.partNumber} of ${p.key} ${got ? `is not the planned bytes (${got.size} bytes, MD5 ${got.etag}; planned MD5 ${bad.etag})` : 'never arrived'}; the upload was aborted and nothing was recorded`,
        { hint: 'push again: the server plans a fresh upload', data: { key: p.key, part: bad.partNumber } },
      );
    }
    await mp.complete(staged, p.multipartId!, parts);
  } catch (err) {
    await mp.abort(staged, p.multipartId!).catch(() => {});
    if (err instanceof CairnError && err.code === 'UPLOAD_MISMATCH') throw err;
    const code = err instanceof CairnError ? (err.data?.code as string | undefined) : undefined;
    if (code && ['InvalidPart', 'InvalidPartOrder', 'EntityTooSmall', 'NoSuchUpload', 'BadDigest'].includes(code))
      throw new CairnError(
        'UPLOAD_MISMATCH',
        `the parts uploaded for ${p.key} are missing or not the planned ones (${code}); the upload was aborted and nothing was recorded`,
        { hint: 'push again: the server plans a fresh upload', data: { key: p.key, store: code } },
      );
    throw err;
  }
  await checkDigest(backend, staged, p, { uploaded: 'the parts uploaded', mismatch: 'do not assemble into' });
  return moveIntoPlace(backend, held, who, staged, p);
}

/**
 * Copies a checked staged object to its pack key, never over a pack already there: a plan for a
 * key the store holds at another size is refused, but two plans for one key can be live at once
 * (two pushes of the same pack, or a client planning a held pack at a made-up size to replace
 * it). The first commit wins, unless it is another account's unverified upload that fails the
 * check against the pack's name: then it is removed and this one takes its place. A later one of
 * the same size is the same pack (its uploader's own, or verified) and is dropped; one of another
 * size is refused.
 */
async function moveIntoPlace(
  backend: RemoteBackend,
  held: HeldPacks,
  who: string,
  staged: string,
  p: Pending,
): Promise<PoisonedPack | null> {
  if (p.checkName) {
    // Read back through the server, as the poisoned-pack check does: the bytes never pass a client again.
    const body = await backend.get(staged, { maxBytes: p.size });
    try {
      checkName(p, body);
    } catch (err) {
      await backend.delete(staged).catch(() => {});
      throw err;
    }
  }
  return place(
    held,
    who,
    p,
    () => backend.copy!(staged, p.key),
    () => backend.delete(staged),
  );
}

/**
 * Puts a checked upload of `who` at its pack key (`write`), or drops it (`discard`) when the key is
 * already held by bytes `who` may rely on. Runs under the key's lock (across server processes on
 * one database), so no check races its write and a held pack is never replaced by a racing
 * commit; the uploader is recorded after the bytes are in place (a crash between leaves no
 * record, and a pack with none is checked before anyone relies on it).
 */
function place(
  held: HeldPacks,
  who: string,
  p: { key: string; size: number; checkName?: boolean },
  write: () => Promise<void>,
  discard: () => Promise<void>,
): Promise<PoisonedPack | null> {
  return held.exclusive(p.key, async () => {
    const at = await held.backend.head(p.key);
    const poisoned = at ? await held.vouch(who, p.key) : null;
    if (at && !poisoned) {
      await discard();
      if (at.size !== p.size) throw packExists(p.key, at.size, p.size);
      return null;
    }
    await write();
    await discard();
    // A blind upload was checked against its name just now: nobody needs to check it again.
    await held.record(p.key, { account: who, verified: p.checkName === true });
    return poisoned;
  });
}

const UPLOADERS = UPLOADERS_PREFIX;

/** The uploader recorded for the packs the server places itself: no account's name has a colon. */
const OWN_UPLOADER = 'server:own';
const packKey = (id: string) => `packs/${id.slice(0, 2)}/${id}.pack`;

/**
 * Puts the packs of the server's own output versions in the store, as an upload of its own (a
 * pack held already under that key is checked against its name first, and replaced if it fails,
 * which `onPoisoned` hears of: a contributor who guessed an output's pack cannot make it
 * unpullable). Returns the outputs without the versions whose packs could not be placed (an own
 * pack missing from the server's workspace): those are not served. Each pack is placed once per
 * process.
 */
function ownPlacer(
  held: HeldPacks,
  read: ((packId: string) => Promise<Buffer>) | undefined,
  onPoisoned: ((p: PoisonedPack) => Promise<void>) | undefined,
): (outputs: OwnOutputs) => Promise<OwnOutputs> {
  const placed = new Set<string>();
  // One placing per pack at a time: readers of the state arriving together wait for the same
  // one, rather than each reading the whole pack into memory and writing it again.
  const placing = new Map<string, Promise<boolean>>();
  const sizes = new Map<string, number>();
  const placeOnce = (id: string): Promise<boolean> => {
    if (placed.has(id)) return Promise.resolve(true);
    let p = placing.get(id);
    if (!p) {
      p = placeOne(id).finally(() => placing.delete(id));
      placing.set(id, p);
    }
    return p;
  };
  const placeOne = async (id: string): Promise<boolean> => {
    const size = sizes.get(id);
    if (!read || size === undefined) return false;
    let body: Buffer;
    try {
      body = await read(id);
    } catch {
      return false;
    }
    if (body.length !== size) return false;
    try {
      const write = () => held.backend.put(packKey(id), body);
      const poisoned = await place(held, OWN_UPLOADER, { key: packKey(id), size }, write, noop);
      if (poisoned) await onPoisoned?.(poisoned);
    } catch (err) {
      // Another pack of that name at another size: never replaced; the version is not served.
      if (isCairnError(err, 'ALREADY_EXISTS')) return false;
      throw err;
    }
    placed.add(id);
    return true;
  };
  return async (outputs) => {
    for (const p of outputs.packs) sizes.set(p.id, p.size);
    const ok = new Map<string, boolean>();
    for (const id of new Set(outputs.versions.flatMap((v) => v.packs))) ok.set(id, await placeOnce(id));
    const versions = outputs.versions.filter((v) => v.packs.every((id) => ok.get(id)));
    return { ...outputs, versions };
  };
}

/** Who put a pack in the store, and whether the server has since read it back against its name. */
interface Uploader {
  /** Null: the pack was there before uploaders were recorded. */
  account: string | null;
  verified: boolean;
}

/**
 * The provenance of the store's packs (kept beside them under uploaders/, which no client can
 * write): a pack's bytes are checked against their name only when an account other than its
 * uploader is about to rely on them, so nobody's push pays for the check of its own packs.
 */
interface HeldPacks {
  backend: RemoteBackend;
  /** Runs `fn` holding the pack key's lock: its check, commit and record happen one at a time. */
  exclusive<T>(packKey: string, fn: () => Promise<T>): Promise<T>;
  record(packKey: string, u: Uploader): Promise<void>;
  /** True when the record says `who` may rely on the pack without a check (its own upload, or verified). */
  trusted(who: string, packKey: string): Promise<boolean>;
  /** The account whose upload put the pack there (null: unknown). */
  uploader(packKey: string): Promise<string | null>;
  /**
   * Null when `who` may rely on the held pack at `packKey` (its own upload, or verified now or
   * earlier); otherwise the pack failed the check and was removed. Call it inside `exclusive`:
   * a second process waiting for the key then finds the first's verdict recorded and skips the check.
   */
  vouch(who: string, packKey: string): Promise<PoisonedPack | null>;
}

function heldPacks(
  backend: RemoteBackend,
  counts: { verified: number; poisoned: number },
  locks: StoreLocks,
  sliceBytes: number,
): HeldPacks {
  const key = (packKey: string) => `${UPLOADERS}${packKey.slice('packs/'.length)}.json`;
  const record = (packKey: string, u: Uploader) => backend.put(key(packKey), Buffer.from(JSON.stringify(u)));
  const read = async (packKey: string): Promise<Uploader | null> => {
    try {
      const u = JSON.parse(
        (await backend.get(key(packKey), { maxBytes: RECORD_BYTES })).toString('utf8'),
      ) as Partial<Uploader>;
      return { account: typeof u.account === 'string' ? u.account : null, verified: u.verified === true };
    } catch (err) {
      if (err instanceof CairnError && err.code === 'NOT_FOUND') return null;
      // An unreadable record is no record: the pack is checked, never trusted on it.
      if (err instanceof SyntaxError) return null;
      throw err;
    }
  };
  return {
    backend,
    exclusive: (packKey, fn) => locks.run(`store:pack:${packKey}`, fn),
    record,
    async trusted(who, packKey) {
      const u = await read(packKey);
      return u !== null && (u.verified || u.account === who);
    },
    uploader: async (packKey) => (await read(packKey))?.account ?? null,
    async vouch(who, packKey) {
      const u = await read(packKey);
      if (u && (u.verified || u.account === who)) return null;
      const at = await backend.head(packKey);
      if (!at) return { key: packKey, uploader: u?.account ?? null, reason: 'gone from the store' };
      counts.verified++;
      // Footer and index first, then the blobs in ranges of at most `sliceBytes`: a pack of any
      // size is checked in bounded memory. Stores without ranged reads are read whole.
      const range = backend.getRange
        ? (offset: number, length: number) => backend.getRange!(packKey, offset, length)
        : wholeThenSlice(backend, packKey, at.size);
      const fault = await streamedPackFault(range, at.size, /([0-9a-f]{64})\.pack$/.exec(packKey)![1]!, {
        sliceBytes,
      });
      if (!fault) {
        await record(packKey, { account: u?.account ?? null, verified: true });
        return null;
      }
      counts.poisoned++;
      await backend.delete(packKey);
      await backend.delete(key(packKey));
      return { key: packKey, uploader: u?.account ?? null, reason: fault };
    },
  };
}

/** A ranged reader over one whole read, for stores that cannot read a range (none a server opens today). */
function wholeThenSlice(backend: RemoteBackend, key: string, size: number) {
  let whole: Promise<Buffer> | null = null;
  return async (offset: number, length: number) =>
    (await (whole ??= backend.get(key, { maxBytes: size }))).subarray(offset, offset + length);
}

function packExists(key: string, held: number, planned: number): CairnError {
  return new CairnError(
    'ALREADY_EXISTS',
    `${key} is in the store at ${held} bytes, not the ${planned} planned; a pack in the store is never replaced`,
    {
      hint: 'packs are named by their content: the one in the store or the one pushed is damaged (check it with a pull and `cairn fsck`)',
      data: { key, held, planned },
    },
  );
}

/**
 * Drops plans past their expiry (their URLs are dead too), aborting their multipart uploads,
 * and aborts any multipart upload under incoming/ that no kept plan knows and that is older than
 * a URL lives: a client killed after planning, a plan kept in an earlier process's memory, or a
 * CreateMultipartUpload whose reply was lost.
 */
async function sweepUploads(
  backend: RemoteBackend,
  mp: MultipartUploads | null,
  pending: UploadPlans,
  o: { now: number; urlSeconds: number; list: boolean },
): Promise<{ aborted: number; expired: number }> {
  let aborted = 0;
  const gone = await pending.expire(o.now);
  for (const { id, plan } of gone) {
    if (plan.multipartId && mp) {
      await mp.abort(stagingKey(id), plan.multipartId);
      aborted++;
    }
  }
  const expired = gone.length;
  if (!mp || !o.list) return { aborted, expired };
  const live = await pending.liveMultipartIds();
  const stale = o.now - o.urlSeconds * 1000;
  for (const u of await mp.list('incoming/')) {
    if (live.has(u.uploadId)) continue;
    if (u.initiated !== null && Date.parse(u.initiated) > stale) continue;
    await mp.abort(u.key, u.uploadId);
    aborted++;
  }
  return { aborted, expired };
}

/** A blind upload's bytes against its pack's name (PlanOptions): refused the same whether or not the store held the pack. */
function checkName(p: PlannedObject, body: Buffer): void {
  const fault = packFault(body, /([0-9a-f]{64})\.pack$/.exec(p.key)![1]!);
  if (fault)
    throw new CairnError(
      'UPLOAD_MISMATCH',
      `the bytes uploaded for ${p.key} are not the pack its name says (${fault}); nothing was stored`,
      { data: { key: p.key } },
    );
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
 * The small objects of the layout a push writes itself besides its proposed state: the
 * descriptor (once) and the pushing workspace's own audit bundle. Packs only arrive through planned uploads, and
 * nothing else in the store (staged uploads, other keys) can be written by a client.
 */
async function writeSmall(
  backend: RemoteBackend,
  who: string,
  key: string,
  body: Buffer,
  locks: StoreLocks,
): Promise<void> {
  // Workspace ids are lower case: a name in capitals would be another owner's claim on the same
  // folder wherever names fold case (a folder store on macOS or a share; every macOS client's pins).
  const audit = /^audit\/([0-9a-z_-]{1,128})\/[0-9A-Za-z_./-]{1,200}$/.exec(key);
  if (key === 'cairn-remote.json') {
    if (await backend.head(key)) return;
  } else if (audit) {
    await claimWorkspace(backend, audit[1]!, who, locks);
  } else {
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
async function claimWorkspace(backend: RemoteBackend, workspace: string, who: string, locks: StoreLocks) {
  // One claim per workspace at a time, across server processes: a push uploads several files at
  // once, two accounts may push one workspace name through two processes, and a read racing the
  // first claim's write could see half an object (a store write is not atomic everywhere).
  // A claim is written once and never changes: the owner's later writes need no lock.
  if ((await ownerOf(backend, workspace).catch(() => null)) === who) return;
  await locks.run(`store:owner:${workspace}`, () => claimOnce(backend, workspace, who));
}

async function claimOnce(backend: RemoteBackend, workspace: string, who: string): Promise<void> {
  const key = `owners/${workspace}.json`;
  let owner: string | null = null;
  try {
    owner = (JSON.parse((await backend.get(key, { maxBytes: RECORD_BYTES })).toString('utf8')) as { account: string })
      .account;
  } catch (err) {
    if (!(err instanceof CairnError && err.code === 'NOT_FOUND')) throw err;
  }
  if (owner === null) await backend.put(key, Buffer.from(JSON.stringify({ account: who, workspace })));
  else if (owner !== who)
    throw new CairnError('PERMISSION_DENIED', `workspace ${workspace}'s log on this server is ${owner}'s to push`, {
      hint: 'push from your own workspace',
    });
}

/**
 * The state as clients see it: versions the server imported (vouched by a verified log) and
 * the datasets and tags that have one. What a push wrote and no verified log vouches for (a
 * push still on its way, or a name squatted by a state written without the history behind it)
 * is not shown, so no client plans against it.
 */
function shownState(state: RemoteState, vouched: ReadonlySet<string>): RemoteState {
  const versions = state.versions.filter((v) => vouched.has(`sha256:${v.digest}`));
  const datasets = new Set(versions.map((v) => v.dataset_id));
  const shown = new Set(versions.map((v) => v.id));
  const modelVersions = state.modelVersions.filter((m) => shown.has(m.files_version_id));
  const models = new Set(modelVersions.map((m) => m.model_id));
  // A run shows with its output version (one without an output: as soon as the server lists it).
  const runs = state.runs.filter((r) => r.output_version_id === null || shown.has(r.output_version_id));
  return {
    ...state,
    runs,
    versions,
    datasets: state.datasets.filter((d) => datasets.has(d.id)),
    tags: state.tags.filter((t) => datasets.has(t.dataset_id)),
    modelVersions,
    models: state.models.filter((m) => models.has(m.id)),
  };
}

async function ownerOf(backend: RemoteBackend, workspace: string): Promise<string | null> {
  try {
    const bytes = await backend.get(`owners/${workspace}.json`, { maxBytes: RECORD_BYTES });
    return (JSON.parse(bytes.toString('utf8')) as { account: string }).account;
  } catch (err) {
    if (err instanceof CairnError && err.code === 'NOT_FOUND') return null;
    throw err;
  }
}

async function importOnce(
  backend: RemoteBackend,
  transfer: TransferService,
  o: {
    who: string;
    versions: readonly string[];
    proposals: Proposals;
    recorded: (want: RecordedWanted) => Promise<RecordedRows>;
    held: HeldPacks;
    ownLog: string | undefined;
  },
): Promise<ImportAnswer> {
  const previous = await readState(backend);
  const proposal = await o.proposals.read(o.who);
  if (!previous && !proposal)
    throw new CairnError('NOT_FOUND', 'nothing was pushed to this server yet', { hint: 'cairn push' });
  const server = previous ?? emptyState();
  let res: Awaited<ReturnType<TransferService['pull']>>;
  let next: RemoteState;
  // No proposal: a retry of an import that already ran (its versions are listed, or not).
  let candidate = server;
  try {
    if (proposal) {
      // A proposal kept from before the server's log travelled may still carry its entry.
      const proposed = withoutLog(proposal.state, o.ownLog);
      const owned = await ownedWorkspaces(backend, o.who, proposed, server);
      candidate = candidateState(server, proposed, (w) => owned.has(w));
    }
    const storePacks = await checkPacksPresent(backend, candidate);
    await checkPacksRelied(o.held, o.who, server, candidate);
    await checkPushedPackLists(backend, server, candidate, storePacks);
    // The pushing account is the registrant of the model versions it brought: the one the server
    // knows, whom separation of duties then keeps from approving them (docs/SERVER.md "Model versions").
    res = await transfer.pull([], { remote: 'store', metadataOnly: true, state: candidate, registrant: o.who });
    next = buildStoreState({
      previous: server,
      candidate,
      recorded: await o.recorded(recordedWanted(server, candidate)),
      verified: res.auditLogs,
      storePacks,
    });
    await writeNextState(backend, previous, next);
  } finally {
    // An import uses its proposal up, whatever the outcome: a refused one does not linger to be
    // merged into the account's next push.
    if (proposal) await o.proposals.done(o.who, proposal.bytes);
  }
  const listed = new Set(next.versions.map((v) => `sha256:${v.digest}`));
  // Listed is not enough: each must have been imported by now (by this pull or an earlier one),
  // not skipped as a version no verified log vouches for.
  const skipped = new Set(res.skipped.map((v) => v.digest));
  const notVouched = o.versions.filter((d) => skipped.has(d) || (!listed.has(d) && candidateHas(candidate, d)));
  if (notVouched.length)
    throw new CairnError(
      'NOT_VOUCHED',
      `no verified log vouches for ${notVouched.join(', ')}; nothing of it was recorded`,
      {
        hint: 'push again: the workspace log must travel with its versions',
        data: { versions: notVouched },
      },
    );
  const missing = o.versions.filter((d) => !listed.has(d));
  if (missing.length)
    throw new CairnError(
      'DIVERGED',
      `the pushed state does not list ${missing.join(', ')}: another push of this account replaced it while this one ran`,
      { hint: 'push again (nothing is sent twice)', data: { missing } },
    );
  return {
    imported: res.imported,
    vouched: res.vouched.length,
    skipped: res.skipped.length,
    versions: [...o.versions],
    skippedModels: res.models.skipped,
    skippedRuns: res.runs.skipped,
  };
}

/**
 * The store's state carries a generation, one more at each import's write. The import lock makes
 * the writes take turns; this guards the case where a holder's lease lapsed (a process stalled past
 * it) and another process wrote meanwhile: a writer that is behind never overwrites a newer
 * state. Its import answers DIVERGED (nothing is lost: its rows are recorded, and the client's
 * push again lists them from the newer state).
 */
async function writeNextState(backend: RemoteBackend, previous: RemoteState | null, next: RemoteState) {
  const base = generationOf(previous);
  // An import that changed nothing (a retry, a refused proposal) writes nothing: readers and the
  // generation see no move.
  const content = (st: RemoteState) =>
    JSON.stringify({ ...st, generation: null }, (_k, v: unknown) =>
      v && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
        : v,
    );
  if (previous && content(previous) === content(next)) return;
  const now = await readState(backend);
  if ((now === null) !== (previous === null) || generationOf(now) !== base)
    throw new CairnError(
      'DIVERGED',
      `the store's state moved on (generation ${generationOf(now)}, this import read ${base}) while this import ran: another server process wrote it`,
      { hint: 'push again (nothing is sent twice)', data: { generation: generationOf(now), read: base } },
    );
  await writeState(backend, { ...next, generation: base + 1 } as RemoteState);
}

/** A state's generation (0: none yet, or a state written before generations were kept). */
export function generationOf(state: RemoteState | null): number {
  const g = (state as { generation?: unknown } | null)?.generation;
  return typeof g === 'number' && Number.isSafeInteger(g) && g >= 0 ? g : 0;
}

function candidateHas(state: RemoteState, digest: string): boolean {
  return state.versions.some((v) => `sha256:${v.digest}` === digest);
}

/**
 * The workspaces whose entries `proposal` would move past the server's and whose bundles `who`
 * pushed (owners/<workspace>.json). Entries the server already holds as far are not looked up:
 * every client's state carries everyone's, and most pushes move only their own.
 */
async function ownedWorkspaces(
  backend: RemoteBackend,
  who: string,
  proposal: RemoteState,
  server: RemoteState,
): Promise<Set<string>> {
  const have = new Map(server.audit.map((a) => [a.workspace, a.size]));
  const out = new Set<string>();
  for (const a of proposal.audit)
    if ((have.get(a.workspace) ?? -1) < a.size && (await ownerOf(backend, a.workspace)) === who) out.add(a.workspace);
  return out;
}

/**
 * The packs the versions new in the candidate need, which `who` relies on without having uploaded
 * them (its push found them listed and sent nothing): each is another account's upload, checked
 * against its name now unless verified before. One that fails was removed: nothing is recorded,
 * and the push runs again and uploads it (docs/SERVER.md "Poisoned packs").
 */
async function checkPacksRelied(held: HeldPacks, who: string, server: RemoteState, candidate: RemoteState) {
  const known = new Set(server.versions.map((v) => v.digest));
  const keys = new Set(
    candidate.versions
      .filter((v) => !known.has(v.digest))
      .flatMap((v) => v.packs.map((id) => `packs/${id.slice(0, 2)}/${id}.pack`)),
  );
  const poisoned: PoisonedPack[] = [];
  for (const key of keys) {
    // Its own or verified packs (the common path) need no lock: such a record only ever changes
    // to another trusted one (a poisoned pack is replaced by a checked upload).
    if (await held.trusted(who, key)) continue;
    const bad = await held.exclusive(key, () => held.vouch(who, key));
    if (bad) poisoned.push(bad);
  }
  if (poisoned.length)
    throw new CairnError(
      'CORRUPT_OBJECT',
      `${poisoned.map((p) => `${p.key} (uploaded by ${p.uploader ?? 'an unknown account'})`).join(', ')} failed the check against ${poisoned.length > 1 ? 'their names' : 'its name'} and ${poisoned.length > 1 ? 'were' : 'was'} removed; nothing of this push was recorded`,
      { hint: 'push again: the push uploads your copy', data: { poisoned } },
    );
}

/**
 * Every pack a version of the candidate needs is in the store at the size listed, before any row
 * is recorded; returns the store's pack sizes.
 */
async function checkPacksPresent(backend: RemoteBackend, state: RemoteState): Promise<Map<string, number>> {
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
  return new Map([...have].map(([key, size]) => [/([0-9a-f]{64})\.pack$/.exec(key)![1]!, size]));
}
