import { AsyncLocalStorage } from 'node:async_hooks';
import { createHmac, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql, type ExpressionBuilder } from 'kysely';
import type { AuditActor, AuditContext, EventDraft } from '../audit/event.js';
import { formatVerifierKey } from '../audit/note/index.js';
import { CairnError, isCairnError } from '../core/errors.js';
import type { Database } from '../meta/schema.js';
import type { WriteTx } from '../meta/write-tx.js';
import { createIdentityService, sealedFields, type IdentityService, type RowGuard } from '../identity/index.js';
import { CONFIG_FILE } from './config.js';
import { loadDeployConfig } from './deploy-config.js';
import { buildServices, type Services } from './services.js';
import {
  createServerStore,
  type Pending,
  type PlannedObject,
  type PoisonedPack,
  type ServerStore,
  type UploadPlans,
} from './server-store.js';
import type { OwnOutputs, TrainedRuns } from './server-state.js';
import { memorySessions, type SessionRecord, type SessionStore } from './oidc/index.js';
import { readSessionKey, sameCheck, SESSION_KEY_FILE, sessionKeys, type SessionKeys } from './session-seal.js';
import { KEY_CHECK_ROW, rowGuard, sealRowsOnce } from './row-guard.js';
import { serverJobs, type JobUserOptions, type ServerJobs } from './job-user.js';
import { pseudonymKey } from './keys.js';
import { leaseLocks, processLease, type ProcessLease, type StoreLocks } from './store-locks.js';
import { remoteConfigFrom, TRAVELLING_RUNS, versionPacks } from '../transfer/index.js';
import { treeLoader } from '../datasets/index.js';
import { allErasures } from '../meta/repos/retention.js';
import { runRecord } from '../compute/index.js';
import { loadRemotesFile, openBackend, saveRemotesFile } from './transfer-config.js';
import { CAIRN_DIR, initWorkspace, openWorkspace, type RequestScope, type Workspace } from './workspace.js';

export interface ServerOptions {
  /** Where the server keeps its workspace (.cairn/: config, signing key, local objects, SQLite by default). */
  dataDir: string;
  /** Metadata database for a new data dir: sqlite (default) or postgres://… */
  db?: string;
  env?: NodeJS.ProcessEnv;
  /** The object store: file:///dir or s3://bucket/prefix (kept in the data dir's remotes.json as `store`). */
  store?: string;
  /** S3-compatible endpoint of an s3:// store (MinIO, Ceph, a test server). */
  storeEndpoint?: string;
  /** `--job-user`: the OS account jobs run as (docs/SERVER.md "Jobs run as their own account"). */
  jobUser?: string;
  /** `--allow-root-jobs`: a root server without a job user runs jobs as root (else they are refused). */
  allowRootJobs?: boolean;
  /**
   * `cairn ui`: serve an existing workspace (found from `dataDir` as the CLI finds it) as its own
   * user, with the workspace's actor (CAIRN_ACTOR kept) and no data plane: nothing is created in it.
   */
  local?: boolean;
}

/** One audit event a request produced outside a service call (a read served, a request refused). */
export interface RequestEvent {
  draft: EventDraft;
  outcome: 'ok' | 'denied' | 'failed';
  reason?: string;
  context: AuditContext;
  /**
   * The identity generation the request's credential and roles were checked against, when that
   * reading was not taken after the request arrived: the event is appended only if it still
   * stands, else recordRequest fails with IDENTITY_MOVED and nothing is written.
   */
  guard?: number;
}

/**
 * What the HTTP shell needs: the same services a workspace builds, run as the request's
 * authenticated identity; the identity service; and a group commit for the events of reads and
 * refusals, so recording every request does not cost one transaction each.
 */
export interface ServerRuntime {
  services: Services;
  identity: IdentityService;
  origin: string;
  /** The id of the server's workspace: its log's, in every event and in the store's state. */
  workspaceId: string;
  /** The folder of the workspace the server runs on (its data dir). */
  root: string;
  verifierKey: string;
  dialect: 'sqlite' | 'postgres';
  /** Where submitted runs' spec and code are placed, one folder per digest. */
  runCodeDir: string;
  /** Who the server's jobs run as, and whether they may run at all. */
  jobs: ServerJobs;
  /** Runs `fn` with `scope` as the acting identity of every event and check inside it. */
  runAs<T>(scope: RequestScope, fn: () => Promise<T>): Promise<T>;
  contextFor(scope: RequestScope): AuditContext;
  /** The audit context of the request running now (inside runAs). */
  contextHere(): AuditContext;
  /** Appends request events, batched with concurrent ones into one transaction; resolves once durable. */
  recordRequest(event: RequestEvent): Promise<void>;
  idempotency: IdempotencyStore;
  /** The alias a deploy environment serves (deploy.json in the data dir), or null. */
  servedAlias(env: string): string | null;
  /**
   * A network address as the log may name it: keyed with the data dir's pseudonym key, so the
   * operator can test whether an address made a request but the log never holds one (DESIGN §6).
   */
  peerPseudonym(address: string): string;
  /** The data plane: where pushed packs, states and logs live (docs/SERVER.md "Data plane"); null for `cairn ui`. */
  store: ServerStore | null;
  /** `cairn ui`: the workspace's own actor, whom every request acts as; null for a team server. */
  localActor: AuditActor | null;
  /** Where browser sessions are kept: the metadata database (they survive a restart). */
  sessions: SessionStore;
  ready(): Promise<boolean>;
  close(): Promise<void>;
}

export type Claim =
  | { state: 'new' }
  | { state: 'done'; status: number; response: string }
  /** Running elsewhere: `retryAfterMs`, when it runs in another process, is when that process's lease could run out. */
  | { state: 'busy'; retryAfterMs?: number }
  | { state: 'conflict' }
  /** The write committed (event `index`) but the server stopped before storing its answer. */
  | { state: 'lost'; index: number };

/**
 * Idempotency keys: a client retrying a write (after a timeout, a reset connection, a server
 * restart) sends the same key and gets the first answer instead of a second write. A key is
 * claimed before the write runs, so two concurrent retries cannot both run it.
 */
export interface IdempotencyStore {
  claim(principal: string, key: string, requestDigest: string): Promise<Claim>;
  complete(principal: string, key: string, status: number, response: string): Promise<void>;
  /** Marks the claim's write as committed, inside that write's transaction (see RequestScope.inCommit). */
  committed(tx: WriteTx, principal: string, key: string, index: number): Promise<void>;
  /** Forgets a claim whose request failed before changing anything, so a retry runs it again. */
  release(principal: string, key: string): Promise<void>;
  /**
   * The request holding this claim ended without an answer to keep (its database connection was
   * lost): a retry takes the claim over — and is told the write took effect if it committed.
   */
  abandon(principal: string, key: string): void;
}

export async function openServer(opts: ServerOptions): Promise<ServerRuntime> {
  const dataDir = resolve(opts.dataDir);
  const scopes = new AsyncLocalStorage<RequestScope>();
  const scope = () => scopes.getStore();
  const common = { cwd: dataDir, command: 'server', scope, env: serverEnv(opts.env), groupCommit: true };
  const fresh = !existsSync(join(dataDir, CAIRN_DIR, CONFIG_FILE));
  const ws = opts.local
    ? await openWorkspace({ cwd: dataDir, command: 'ui', scope, env: opts.env ?? process.env })
    : !fresh
      ? await openWorkspace(common)
      : await initWorkspace(dataDir, { ...common, ...(opts.db ? { metadataUrl: opts.db } : {}) });
  // The store logs what it finds poisoned through the runtime's request events, made below.
  const poisoned: { record?: (p: PoisonedPack) => Promise<void> } = {};
  const store = opts.local ? null : await openServerStore(ws, opts, (p) => poisoned.record?.(p) ?? Promise.resolve());
  const { jobs, sessions, rows } = await jobsAndSessions(ws, store, opts, { dataDir, fresh });
  // A team server's jobs are contributors' code: they start without the server's secrets, and
  // with a job user as another account. `cairn ui` serves the user's own workspace, whose jobs
  // keep the user's environment.
  const services = buildServices(ws, opts.env, { isolateJobs: !opts.local, jobs });
  const identity = createIdentityService(ws, rows ?? undefined);
  const batcher = new GroupCommit(ws);
  // A pack the server's own placing found poisoned is named as one a push found: the actor is
  // the account whose read of the state placed it (docs/SERVER.md "What a pull from the server brings").
  poisoned.record = (p) =>
    batcher.add({
      draft: { action: 'server.store.poisoned', target: { type: 'store', name: store!.url }, params: { ...p } },
      outcome: 'failed',
      reason: p.reason,
      context: ws.auditContext(),
    });
  const localActor = opts.local ? ws.actor() : null;
  let peerKey: Buffer | undefined;
  // `cairn ui` is one process on its own workspace: it registers nothing in the workspace's
  // database, and a claim of an earlier boot there is a dead process's.
  const processes = opts.local
    ? { id: randomUUID(), alive: async () => false, leaseLeftMs: async () => 0, close: async () => {} }
    : await processLease(ws.meta.db, leaseOf(opts.env));
  return {
    services,
    identity,
    origin: ws.config.audit.origin,
    workspaceId: ws.config.workspace.id,
    root: ws.root,
    verifierKey: formatVerifierKey(ws.config.audit.origin, ws.audit.keys.rawPublicKey),
    dialect: ws.meta.dialect,
    runCodeDir: join(jobs.jobsDir ?? ws.cairnDir, 'run-code'),
    jobs,
    runAs: (scope, fn) => scopes.run(scope, fn),
    contextFor: (scope) => scopes.run(scope, () => ws.auditContext()),
    contextHere: () => ws.auditContext(),
    recordRequest: (e) => batcher.add(e),
    idempotency: idempotencyStore(ws, processes),
    servedAlias: (env) => loadDeployConfig(ws.cairnDir)?.environments[env]?.alias ?? null,
    peerPseudonym: (address) => {
      peerKey ??= pseudonymKey(ws.cairnDir);
      return `peer:${createHmac('sha256', peerKey).update(`peer\0${address}`).digest('hex').slice(0, 24)}`;
    },
    store,
    localActor,
    sessions,
    async ready() {
      try {
        await sql`select 1`.execute(ws.meta.db);
        return true;
      } catch {
        return false;
      }
    },
    async close() {
      await batcher.drain();
      await processes.close();
      await store?.close();
      await ws.close();
    },
  };
}

/** The server's job accounts and browser sessions; on a refusal the workspace and store close. */
async function jobsAndSessions(
  ws: Workspace,
  store: ServerStore | null,
  opts: ServerOptions,
  { dataDir, fresh }: { dataDir: string; fresh: boolean },
): Promise<{ jobs: ServerJobs; sessions: SessionStore; rows: RowGuard | null }> {
  try {
    // After the store: a new data dir's folder store is among what the job user must not read.
    const jobs = opts.local ? {} : serverJobs(jobOptions(dataDir, fresh, opts, store?.url));
    // `cairn ui` has no browser sign-in and no accounts: nothing of them is kept in the user's workspace.
    if (opts.local) return { jobs, sessions: memorySessions(), rows: null };
    const keyMadeNow = !existsSync(join(ws.cairnDir, SESSION_KEY_FILE));
    const keys = await openSessionKeys(ws);
    const rows = rowGuard(ws, keys.rowKey);
    await sealRowsOnce(ws, rows, keyMadeNow);
    await sealClearSessions(ws, keys, rows);
    return { jobs, sessions: dbSessions(ws, keys, rows, leaseLocks(ws.meta.db, leaseOf(opts.env))), rows };
  } catch (err) {
    await store?.close();
    await ws.close();
    throw err;
  }
}

/**
 * The store is the data dir's remote `store` (remotes.json): `--store` sets it, a later start
 * without it keeps it, and a new data dir without it gets a folder store inside the data dir.
 */
async function openServerStore(
  ws: Workspace,
  opts: ServerOptions,
  onOwnPoisoned: (p: PoisonedPack) => Promise<void>,
): Promise<ServerStore> {
  const file = loadRemotesFile(ws.cairnDir);
  const kept = file.remotes.store;
  const url = opts.store ?? kept?.url ?? `file://${join(ws.root, 'store')}`;
  const endpoint = opts.storeEndpoint ?? (opts.store ? undefined : kept?.endpoint);
  const config = { url, ...(endpoint ? { endpoint } : {}) };
  if (!kept || kept.url !== config.url || kept.endpoint !== config.endpoint) {
    file.remotes.store = remoteConfigFrom(url, endpoint ? { endpoint } : {}).config;
    await saveRemotesFile(ws.cairnDir, file);
  }
  const env = opts.env ?? process.env;
  const ownPacks = ownPackLists(ws);
  return createServerStore(await openBackend(config, {}, env), {
    plans: dbUploadPlans(ws),
    // Shared by every server process on this database (docs/SERVER.md "Several server processes").
    locks: leaseLocks(ws.meta.db, leaseOf(env)),
    // The versions this server imported, each vouched by a verified log: what its store shows.
    vouched: async () =>
      new Set(
        (await ws.meta.db.selectFrom('dataset_versions').select('digest').execute()).map((r) => `sha256:${r.digest}`),
      ),
    ownLog: ws.config.workspace.id,
    // What the served state lists of evaluations: the server's, of the model versions it lists.
    evaluations: (ids) =>
      inChunks(ids, (chunk) =>
        ws.meta.db.selectFrom('model_evaluations').selectAll().where('version_id', 'in', chunk).execute(),
      ),
    // What the served state lists of the runs trained here: finished, not imported, with their
    // outputs (the server's own versions) and the model versions registered from them;
    // servedState keeps those whose inputs it lists too.
    trainedRuns: async (versionIds) => trainedRuns(ws, versionIds, ownPacks),
    ownPack: (id) => readFile(ws.packs.packPath(id)),
    onOwnPoisoned,
    // What the store's state is written from after each import: the server's own rows, only
    // those the state could name (a server with many runs has far more lineage than the store).
    recorded: async (want) => {
      const db = ws.meta.db;
      const versions = await inChunks(want.versions, (ids) =>
        db.selectFrom('dataset_versions').selectAll().where('id', 'in', ids).execute(),
      );
      const datasetIds = [...new Set(versions.map((v) => v.dataset_id))];
      const modelVersions = await inChunks(want.modelVersions, (ids) =>
        db.selectFrom('model_versions').selectAll().where('id', 'in', ids).execute(),
      );
      const modelIds = [...new Set(modelVersions.map((v) => v.model_id))];
      const [datasets, tags, lineage, reports, documents, models] = await Promise.all([
        inChunks(datasetIds, (ids) => db.selectFrom('datasets').selectAll().where('id', 'in', ids).execute()),
        inChunks(datasetIds, (ids) =>
          db.selectFrom('dataset_tags').selectAll().where('dataset_id', 'in', ids).execute(),
        ),
        inChunks(want.lineage, (ids) => db.selectFrom('lineage_edges').selectAll().where('id', 'in', ids).execute()),
        inChunks(want.reports, (ids) => db.selectFrom('reports').selectAll().where('id', 'in', ids).execute()),
        inChunks(want.documents, (ids) => db.selectFrom('documents').selectAll().where('digest', 'in', ids).execute()),
        inChunks(modelIds, (ids) => db.selectFrom('models').selectAll().where('id', 'in', ids).execute()),
      ]);
      const runRows = await inChunks(want.runs, (ids) =>
        db.selectFrom('runs').selectAll().where('id', 'in', ids).execute(),
      );
      const runs = [];
      for (const { dir: _dir, metrics_offset: _offset, ...row } of runRows)
        runs.push({ ...row, ...(await runRecord(db, row.id)) });
      return { datasets, versions, tags, lineage, reports, documents, models, modelVersions, runs };
    },
  });
}

/**
 * The finished runs this server trained (no `run_imports` row), with their parameters and points,
 * the lineage edges that touch them, and their outputs the state does not list (`versionIds`).
 */
async function trainedRuns(
  ws: Workspace,
  versionIds: readonly string[],
  packsOf: (v: { id: string; digest: string }) => Promise<string[] | null>,
): Promise<TrainedRuns> {
  const db = ws.meta.db;
  const rows = await db
    .selectFrom('runs')
    .selectAll()
    .where('status', 'in', [...TRAVELLING_RUNS])
    .where('reused_from', 'is', null)
    .where('id', 'not in', db.selectFrom('run_imports').select('run_id'))
    .execute();
  const runs = [];
  for (const { dir: _dir, metrics_offset: _offset, ...row } of rows)
    runs.push({ ...row, ...(await runRecord(db, row.id)) });
  const ids = runs.map((r) => r.id);
  const lineage = [
    ...(await inChunks(ids, (c) => db.selectFrom('lineage_edges').selectAll().where('dst_id', 'in', c).execute())),
    ...(await inChunks(ids, (c) => db.selectFrom('lineage_edges').selectAll().where('src_id', 'in', c).execute())),
  ];
  const listed = new Set(versionIds);
  const unlisted = [...new Set(runs.flatMap((r) => (r.output_version_id ? [r.output_version_id] : [])))].filter(
    (id) => !listed.has(id),
  );
  return { runs, lineage, outputs: await ownOutputs(db, unlisted, packsOf) };
}

/**
 * The server's own output versions `ids` (but erased ones and those whose packs it lacks), with
 * their datasets and pack sizes, and the model versions registered from them with their models
 * and registration edges.
 */
async function ownOutputs(
  db: Workspace['meta']['db'],
  ids: readonly string[],
  packsOf: (v: { id: string; digest: string }) => Promise<string[] | null>,
): Promise<OwnOutputs> {
  const erased = new Set((await allErasures(db)).map((e) => e.version_id));
  const rows = (
    await inChunks(ids, (c) => db.selectFrom('dataset_versions').selectAll().where('id', 'in', c).execute())
  ).filter((v) => !erased.has(v.id));
  const versions = [];
  for (const v of rows) {
    const packs = await packsOf(v);
    if (packs?.length) versions.push({ ...v, packs });
  }
  const kept = versions.map((v) => v.id);
  const packIds = [...new Set(versions.flatMap((v) => v.packs))];
  const modelVersions = await inChunks(kept, (c) =>
    db.selectFrom('model_versions').selectAll().where('files_version_id', 'in', c).execute(),
  );
  const modelIds = [...new Set(modelVersions.map((m) => m.model_id))];
  const [datasets, packs, models, lineage] = await Promise.all([
    inChunks([...new Set(versions.map((v) => v.dataset_id))], (c) =>
      db.selectFrom('datasets').selectAll().where('id', 'in', c).execute(),
    ),
    inChunks(packIds, (c) => db.selectFrom('packs').select(['id', 'size']).where('id', 'in', c).execute()),
    inChunks(modelIds, (c) => db.selectFrom('models').selectAll().where('id', 'in', c).execute()),
    inChunks(
      modelVersions.map((m) => m.id),
      (c) => db.selectFrom('lineage_edges').selectAll().where('dst_id', 'in', c).execute(),
    ),
  ]);
  return {
    datasets,
    versions,
    packs: packs.map((p) => ({ id: p.id, size: Number(p.size) })),
    models,
    modelVersions,
    lineage,
  };
}

/**
 * The packs holding each of the server's own versions, by version id (null: some of its objects
 * are not in the workspace). Kept once found: a version's tree never changes.
 */
function ownPackLists(ws: Workspace): (v: { id: string; digest: string }) => Promise<string[] | null> {
  const known = new Map<string, string[]>();
  const load = treeLoader(ws);
  return async (v) => {
    const had = known.get(v.id);
    if (had) return had;
    try {
      const packs = await versionPacks(ws.meta.db, v.digest, load);
      known.set(v.id, packs);
      return packs;
    } catch (err) {
      if (isCairnError(err, 'MISSING_OBJECT')) return null;
      throw err;
    }
  };
}

/** The lease of a server process and of its store locks: how long a process that stops renewing holds them. */
function leaseOf(env: NodeJS.ProcessEnv = process.env): { leaseMs?: number } {
  const leaseMs = Number(env.CAIRN_STORE_LOCK_LEASE_MS) || undefined;
  return leaseMs ? { leaseMs } : {};
}

/** One query per 500 keys: far below SQLite's and PostgreSQL's limits on bound parameters. */
async function inChunks<T>(keys: readonly string[], q: (chunk: string[]) => Promise<T[]>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < keys.length; i += 500) out.push(...(await q(keys.slice(i, i + 500))));
  return out;
}

/**
 * Planned uploads in the metadata database (bookkeeping beside the log, like idempotency keys):
 * a restart mid-push, or another server process on the same database, finds the plan; a plan
 * is taken by deleting its row, so of two takes only one gets it.
 */
function dbUploadPlans(ws: Workspace): UploadPlans {
  const db = ws.meta.db;
  const row = (id: string, p: Pending) => {
    const { who, expires, multipartId, ...plan } = p;
    return {
      id,
      principal: who,
      plan: JSON.stringify(plan),
      multipart_id: multipartId ?? null,
      expires_at: new Date(expires).toISOString(),
      created_at: new Date().toISOString(),
    };
  };
  const plan = (r: { principal: string; plan: string; multipart_id: string | null; expires_at: string }): Pending => ({
    ...(JSON.parse(r.plan) as PlannedObject),
    who: r.principal,
    expires: Date.parse(r.expires_at),
    ...(r.multipart_id ? { multipartId: r.multipart_id } : {}),
  });
  const takeRow = async (id: string, principal?: string) => {
    let q = db.selectFrom('upload_plans').selectAll().where('id', '=', id);
    if (principal !== undefined) q = q.where('principal', '=', principal);
    const r = await q.executeTakeFirst();
    if (!r) return null;
    const gone = await db.deleteFrom('upload_plans').where('id', '=', id).executeTakeFirst();
    return Number(gone.numDeletedRows) === 1 ? r : null;
  };
  return {
    put: async (id, p) => void (await db.insertInto('upload_plans').values(row(id, p)).execute()),
    take: async (id, who) => {
      const r = await takeRow(id, who);
      return r ? plan(r) : null;
    },
    expire: async (now) => {
      const old = await db
        .selectFrom('upload_plans')
        .select('id')
        .where('expires_at', '<', new Date(now).toISOString())
        .execute();
      const out: Array<{ id: string; plan: Pending }> = [];
      for (const { id } of old) {
        const r = await takeRow(id);
        if (r) out.push({ id, plan: plan(r) });
      }
      return out;
    },
    liveMultipartIds: async () =>
      new Set(
        (
          await db.selectFrom('upload_plans').select('multipart_id').where('multipart_id', 'is not', null).execute()
        ).map((r) => r.multipart_id!),
      ),
  };
}

/**
 * Browser sessions in the metadata database, by the SHA-256 of their ids (a reader of the
 * database gets no usable session); expired ones are swept as sessions start. Refresh tokens are
 * kept sealed to their row (`keys`: the data dir's session key, never the database's); a renewal
 * runs under the session's lease lock (`locks`, shared by every server process on the database)
 * and writes only over the generation it read.
 */
function dbSessions(ws: Workspace, keys: SessionKeys, rows: RowGuard, locks: StoreLocks): SessionStore {
  const db = ws.meta.db;
  return {
    async put(idHash, s) {
      await db.deleteFrom('browser_sessions').where('expires_at', '<', new Date().toISOString()).execute();
      await db
        .insertInto('browser_sessions')
        .values({ ...sessionRow(idHash, s, keys, rows), created_at: new Date().toISOString() })
        .execute();
    },
    async get(idHash) {
      const r = await db.selectFrom('browser_sessions').selectAll().where('id_hash', '=', idHash).executeTakeFirst();
      if (!r) return null;
      // A session row the server did not write (inserted, or its claims or expiry edited, with SQL) signs nobody in.
      if (!rows.verify('browser_sessions', sealedFields.browser_sessions(r), r.row_mac)) {
        await rows.forged('browser_sessions', idHash);
        return null;
      }
      const { principal, expires_at, generation } = r;
      return { principal, ...readClaims(idHash, r.claims, keys), expires: Date.parse(expires_at), generation };
    },
    async delete(idHash) {
      const r = await db.deleteFrom('browser_sessions').where('id_hash', '=', idHash).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },
    async replace(idHash, before, next) {
      const r = await db
        .updateTable('browser_sessions')
        .set({ ...sessionRow(idHash, next, keys, rows), generation: (before.generation ?? 0) + 1 })
        .where('id_hash', '=', idHash)
        .where('generation', '=', before.generation ?? 0)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) === 1;
    },
    exclusive: (idHash, fn) => locks.run(`browser-session:${idHash}`, fn),
    sealKey: async () => keys.stateKey,
  };
}

/** A session's row as the server writes it: its columns, sealed. */
function sessionRow(idHash: string, s: SessionRecord, keys: SessionKeys, rows: RowGuard) {
  const row = {
    id_hash: idHash,
    principal: s.principal,
    claims: JSON.stringify(keptClaims(idHash, s, keys)),
    expires_at: new Date(s.expires).toISOString(),
  };
  return { ...row, row_mac: rows.mac('browser_sessions', sealedFields.browser_sessions(row)) };
}

/**
 * A session's claims column: the claims alone (as rows before the re-check kept them), or with
 * the refresh token and the time of the next re-check, wrapped and marked. Marked 3: the refresh
 * token sealed to the row; 2 (servers before sealing): in the clear, still read, and sealed at
 * the next start (sealClearSessions).
 */
function keptClaims(idHash: string, s: SessionRecord, keys: SessionKeys): unknown {
  if (s.refreshToken === undefined && s.recheckAt === undefined) return s.claims;
  return {
    cairnSession: 3,
    claims: s.claims,
    ...(s.refreshToken !== undefined ? { refreshToken: keys.seal(idHash, s.refreshToken) } : {}),
    recheckAt: s.recheckAt,
  };
}

/** What a claims column holds; a refresh token that does not open for this row (moved from another, sealed with another key) is none. */
function readClaims(
  idHash: string,
  text: string,
  keys: SessionKeys,
): Pick<SessionRecord, 'claims' | 'refreshToken' | 'recheckAt'> {
  const v = JSON.parse(text) as Record<string, unknown>;
  if (v.cairnSession !== 2 && v.cairnSession !== 3) return { claims: v as SessionRecord['claims'] };
  const token =
    typeof v.refreshToken !== 'string'
      ? null
      : v.cairnSession === 3
        ? keys.open(idHash, v.refreshToken)
        : v.refreshToken;
  return {
    claims: v.claims as SessionRecord['claims'],
    ...(token !== null ? { refreshToken: token } : {}),
    ...(typeof v.recheckAt === 'number' ? { recheckAt: v.recheckAt } : {}),
  };
}

/**
 * The data dir's session key, checked against the one the database's sessions were sealed with
 * (recorded by the first server process on it): a process with another key file would read every
 * session's refresh token as none and end the sessions one by one, so it does not start. Then
 * sessions a server from before sealing left in the clear are sealed, each only if unchanged.
 */
async function openSessionKeys(ws: Workspace): Promise<SessionKeys> {
  const db = ws.meta.db;
  const kept = () =>
    db.selectFrom('browser_sessions').select('claims').where('id_hash', '=', KEY_CHECK_ROW).executeTakeFirst();
  const before = await kept();
  const raw = readSessionKey(ws.cairnDir, !before);
  const hint = `copy ${SESSION_KEY_FILE} from the data dir of a server already on this database; if it is lost, run \`cairn server reseal --data-dir <dir>\` on the host (everyone signs in again in the browser; tokens keep working)`;
  if (!raw)
    throw new CairnError(
      'CONFIG_INVALID',
      `the data dir has no ${SESSION_KEY_FILE}, and this database's sessions are sealed with one`,
      { hint },
    );
  const keys = sessionKeys(raw);
  await db
    .insertInto('browser_sessions')
    .values({
      id_hash: KEY_CHECK_ROW,
      principal: '',
      claims: JSON.stringify(keys.check),
      expires_at: '9999-12-31T23:59:59.999Z',
      created_at: new Date().toISOString(),
    })
    .onConflict((oc) => oc.column('id_hash').doNothing())
    .execute();
  const check = await kept();
  if (!check || !sameCheck(JSON.parse(check.claims) as string, keys))
    throw new CairnError(
      'CONFIG_INVALID',
      `${SESSION_KEY_FILE} is not the key this database's sessions are sealed with`,
      { hint },
    );
  return keys;
}

/**
 * Seals the refresh tokens rows of a server before sealing hold in the clear (a row renewed
 * meanwhile is left to its writer); only rows the server wrote (a row without its seal is not
 * made one by being rewritten here).
 */
async function sealClearSessions(ws: Workspace, keys: SessionKeys, rows: RowGuard): Promise<void> {
  const db = ws.meta.db;
  const clear = await db
    .selectFrom('browser_sessions')
    .selectAll()
    .where('claims', 'like', '%"cairnSession":2%')
    .execute();
  for (const r of clear) {
    if (!rows.verify('browser_sessions', sealedFields.browser_sessions(r), r.row_mac)) continue;
    const s = { principal: r.principal, ...readClaims(r.id_hash, r.claims, keys), expires: Date.parse(r.expires_at) };
    await db
      .updateTable('browser_sessions')
      .set({ ...sessionRow(r.id_hash, s, keys, rows), generation: r.generation + 1 })
      .where('id_hash', '=', r.id_hash)
      .where('generation', '=', r.generation)
      .execute();
  }
}

/**
 * Bookkeeping rows beside the log (not state the log vouches for): the server's own table.
 * While a claim runs, `response` says which server process holds it (`pending:<boot>`) and, once
 * its write committed, the event it appended (`committed:<boot>:<index>`), written in the write's
 * own transaction. Several server processes may share the database (docs/SERVER.md "Several server
 * processes"): a claim of another process is taken over only once that process is dead (its
 * lease, `processes`); a claim of a dead one is either safe to run again (nothing committed) or
 * known to have taken effect: never run twice, never stuck. Whoever holds the claim is also the
 * only one whose write may commit under it (`committed` checks, in the write's transaction, that
 * the row still names this process): a process that stalled past its lease and was taken over
 * cannot commit the write a second time.
 */
/** How long an Idempotency-Key and its answer are kept (docs/SERVER.md "Bad input"). */
const IDEMPOTENCY_KEY_TTL_MS = 24 * 3600_000;

/**
 * Keys live a day: a client retries within seconds, and answers kept for ever grew the database
 * with every write. Swept as keys are claimed, at most once a minute per process, in the
 * background (a failed sweep is tried again a minute later). Returns when it started.
 */
function forgetOldKeys(db: Workspace['meta']['db']): number {
  const now = Date.now();
  void db
    .deleteFrom('idempotency_keys')
    .where('created_at', '<', new Date(now - IDEMPOTENCY_KEY_TTL_MS).toISOString())
    .execute()
    .catch(() => {});
  return now;
}

function idempotencyStore(
  ws: Workspace,
  processes: Pick<ProcessLease, 'id' | 'alive' | 'leaseLeftMs'>,
): IdempotencyStore {
  const db = ws.meta.db;
  const boot = processes.id;
  const pending = `pending:${boot}`;
  // Claims a request of this process is running now. A claim of this process's boot that is not
  // here was abandoned (its request lost the database): like a dead process's, it can be taken over.
  const inflight = new Set<string>();
  const k = (principal: string, key: string) => JSON.stringify([principal, key]);
  const takeOver = (holder: string, principal: string, key: string) =>
    takeOverClaim({ db, boot, inflight, processes }, holder, principal, key);
  // The claim's row as long as this process holds it (running, or committed by it).
  const mine = (principal: string, key: string) => (eb: ExpressionBuilder<Database, 'idempotency_keys'>) =>
    eb.and([
      eb('principal', '=', principal),
      eb('key', '=', key),
      eb('status', '=', 0),
      eb.or([eb('response', '=', pending), eb('response', 'like', `committed:${boot}:%`)]),
    ]);
  // A claim is no longer running here only once its row says so (an answer is kept after it is
  // sent): a retry that comes in meanwhile is told to wait, not that the write was lost to a crash.
  const settled = async (principal: string, key: string, write: { execute(): Promise<unknown> }) => {
    try {
      await write.execute();
    } finally {
      inflight.delete(k(principal, key));
    }
  };
  let swept = 0;
  return {
    async claim(principal, key, requestDigest) {
      if (Date.now() - swept > 60_000) swept = forgetOldKeys(db);
      const inserted = await db
        .insertInto('idempotency_keys')
        .values({
          principal,
          key,
          request_digest: requestDigest,
          status: 0,
          response: pending,
          created_at: new Date().toISOString(),
        })
        .onConflict((oc) => oc.columns(['principal', 'key']).doNothing())
        .executeTakeFirst();
      if (Number(inserted.numInsertedOrUpdatedRows ?? 0) === 1) {
        inflight.add(k(principal, key));
        return { state: 'new' };
      }
      const row = await db
        .selectFrom('idempotency_keys')
        .selectAll()
        .where('principal', '=', principal)
        .where('key', '=', key)
        .executeTakeFirst();
      if (!row) return { state: 'busy' };
      if (row.request_digest !== requestDigest) return { state: 'conflict' };
      if (row.status !== 0) return { state: 'done', status: row.status, response: row.response };
      return takeOver(row.response, principal, key);
    },
    complete: (principal, key, status, response) =>
      // Only while the claim is still this process's: a process that took it over answers it.
      settled(principal, key, db.updateTable('idempotency_keys').set({ status, response }).where(mine(principal, key))),
    async committed(tx, principal, key, index) {
      const r = await tx.db
        .updateTable('idempotency_keys')
        .set({ response: `committed:${boot}:${index}` })
        .where(mine(principal, key))
        .executeTakeFirst();
      // Another process took the claim over (this one stalled past its lease): its write is the
      // one that runs, so this one must not commit (throwing here rolls this write back).
      if (Number(r.numUpdatedRows ?? 0) !== 1) throw takenOver(key);
    },
    abandon(principal, key) {
      inflight.delete(k(principal, key));
    },
    release: (principal, key) => settled(principal, key, db.deleteFrom('idempotency_keys').where(mine(principal, key))),
  };
}

function takenOver(key: string): CairnError {
  return new CairnError(
    'IDEMPOTENCY_CONFLICT',
    `the request with Idempotency-Key ${key} was taken over by another server process`,
    { hint: 'retry: the answer is that process’s', data: { running: true } },
  );
}

/**
 * A claim whose request is not running here: a live process's is busy; a dead one's committed
 * write took effect (the claim is taken over to answer so); a dead one's pending one runs again.
 */
async function takeOverClaim(
  o: {
    db: Workspace['meta']['db'];
    boot: string;
    inflight: Set<string>;
    processes: Pick<ProcessLease, 'alive' | 'leaseLeftMs'>;
  },
  holder: string,
  principal: string,
  key: string,
): Promise<Claim> {
  const id = JSON.stringify([principal, key]);
  const [kind, by, index] = holder.split(':');
  if (by === o.boot && o.inflight.has(id)) return { state: 'busy' };
  if (by === o.boot && kind === 'committed') return { state: 'lost', index: Number(index) };
  if (by === o.boot) {
    // Abandoned by a request of this process (the row already says pending:<boot>).
    o.inflight.add(id);
    return { state: 'new' };
  }
  // Another process's request may still be running it (a retry that reached this process while
  // the first attempt runs there): the client waits and asks again.
  // The client is told how long that process's lease has left: dead (another host's, with no pid
  // to ask), its claim is taken over by a retry after that, so the client must not give up before.
  if (by !== undefined && (await o.processes.alive(by)))
    return { state: 'busy', retryAfterMs: await o.processes.leaseLeftMs(by) };
  // Its process is dead: take the claim over (once, if several retry), to run it again or, if it
  // committed, to answer that it took effect.
  const taken = await o.db
    .updateTable('idempotency_keys')
    .set({ response: kind === 'committed' ? `committed:${o.boot}:${index}` : `pending:${o.boot}` })
    .where('principal', '=', principal)
    .where('key', '=', key)
    .where('response', '=', holder)
    .where('status', '=', 0)
    .executeTakeFirst();
  if (Number(taken.numUpdatedRows ?? 0) !== 1) return { state: 'busy' };
  if (kind === 'committed') return { state: 'lost', index: Number(index) };
  o.inflight.add(id);
  return { state: 'new' };
}

/** The job-user decision's inputs: the flags, else CAIRN_JOB_USER / CAIRN_ALLOW_ROOT_JOBS=1. */
function jobOptions(dataDir: string, fresh: boolean, opts: ServerOptions, storeUrl?: string): JobUserOptions {
  const env = opts.env ?? process.env;
  const jobUser = opts.jobUser ?? env.CAIRN_JOB_USER;
  // A folder store outside the data dir holds every project's objects: as private as the data dir.
  const storeDir = storeUrl?.startsWith('file://') ? fileURLToPath(storeUrl) : null;
  return {
    dataDir,
    fresh,
    ...(storeDir && !storeDir.startsWith(`${dataDir}/`) ? { elsewhere: [storeDir] } : {}),
    uid: process.getuid?.() ?? -1,
    umask: process.umask(),
    ...(jobUser ? { jobUser } : {}),
    allowRootJobs: opts.allowRootJobs ?? env.CAIRN_ALLOW_ROOT_JOBS === '1',
  };
}

/**
 * CAIRN_ACTOR means nothing to a server: identities come from credentials. The server's own
 * events (init, checkpoints) are recorded as the account that runs it.
 */
function serverEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { CAIRN_ACTOR: _ignored, CAIRN_WORKSPACE: _ws, ...rest } = env;
  return rest;
}

/**
 * Gathers request events for a moment and appends them in one transaction: hundreds of reads
 * per second become a few commits, and each request still answers only after its event is
 * durable (so a served read is never missing from the log).
 *
 * Where the log groups commits itself (PostgreSQL), each event goes straight to it: its queue
 * takes the events that arrived while the previous append ran as soon as that one is
 * acknowledged, where gathering them here first cost every append a turn of the event loop
 * more (the server's and the log's batching, one after the other), and every read waits for
 * about one and a half appends.
 */
type PendingEvent = { e: RequestEvent; done: () => void; fail: (err: unknown) => void };

class GroupCommit {
  #pending: PendingEvent[] = [];
  #running: Promise<void> | null = null;
  readonly #direct = new Set<Promise<unknown>>();

  constructor(private readonly ws: Workspace) {}

  add(e: RequestEvent): Promise<void> {
    if (this.ws.audit.groupsCommits) {
      const p = this.#append([{ e }]).then(() => {});
      const tracked = p.catch(() => {}).finally(() => this.#direct.delete(tracked));
      this.#direct.add(tracked);
      return p;
    }
    return new Promise<void>((done, fail) => {
      this.#pending.push({ e, done, fail });
      this.#running ??= this.#flush();
    });
  }

  async drain(): Promise<void> {
    while (this.#running || this.#direct.size > 0) await Promise.all([this.#running, ...this.#direct]);
  }

  async #flush(): Promise<void> {
    // Let the requests arriving in this tick join the batch.
    await new Promise((r) => setImmediate(r));
    while (this.#pending.length > 0) {
      const taken = this.#pending.splice(0, 500);
      // One append per guard: a generation that moved fails only the requests checked against it.
      const byGuard = new Map<number | null, PendingEvent[]>();
      for (const b of taken) {
        const k = b.e.guard ?? null;
        byGuard.set(k, [...(byGuard.get(k) ?? []), b]);
      }
      await Promise.all([...byGuard.values()].map((batch) => this.#appendBatch(batch)));
    }
    this.#running = null;
  }

  async #appendBatch(batch: PendingEvent[]): Promise<void> {
    try {
      await this.#append(batch);
      for (const b of batch) b.done();
    } catch (err) {
      if (isCairnError(err, 'IDENTITY_MOVED')) {
        for (const b of batch) b.fail(err);
        return;
      }
      // One request's event may be refused (a credential in its query): it must not fail the
      // requests that happened to share its batch, so each is appended on its own.
      for (const b of batch) await this.#append([b]).then(b.done, b.fail);
    }
  }

  #append(items: ReadonlyArray<{ e: RequestEvent }>) {
    const guard = items[0]?.e.guard;
    return this.ws.audit.recordMany(
      items.map(({ e }) => ({
        draft: e.draft,
        outcome: e.outcome,
        context: e.context,
        ...(e.reason ? { reason: e.reason } : {}),
      })),
      guard === undefined ? {} : { guard },
    );
  }
}

export type { AuditActor, RequestScope };
