import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { AuditLog } from '../audit/log/audit-log.js';
import type { AuditActor, AuditContext } from '../audit/event.js';
import { CairnError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import { urlSecret } from '../core/url-secrets.js';
import { isoUtc, systemClock, type Clock } from '../core/time.js';
import { openMetaStore, type MetaStore } from '../meta/open.js';
import type { WriteTx } from '../meta/write-tx.js';
import { blobsLocate, blobsPresent } from '../meta/repos/chunks.js';
import type { BlobIndex } from '../storage/blob-index.js';
import { LocalPackDir } from '../storage/objects/local-packs.js';
import { PackReader } from '../storage/pack/reader.js';
import { WorkerPool } from '../storage/workers/pool.js';
import { CLIENT_VERSION } from './version.js';
import { CONFIG_FILE, defaultConfig, loadConfig, saveConfig, type WorkspaceConfig } from './config.js';
import { resolveActor } from './identity.js';
import { createSigningKey, keptCheckpointFile, loadLogKeys, saveReleaseTokenConfig } from './keys.js';
import type { Pkcs11KeyConfig } from './pkcs11.js';
import { saveMetadataPassword, splitPassword, withMetadataPassword } from './metadata-password.js';
import { witnessAfterWrite, witnessFiles, witnessTimeoutMs } from './witnessing.js';
import type { WitnessFiles } from '../audit/witness/index.js';

export const CAIRN_DIR = '.cairn';

/** Everything a command needs, wired once: the composition root of the embedded mode. */
export interface Workspace {
  /** The project folder that holds .cairn/. */
  root: string;
  cairnDir: string;
  config: WorkspaceConfig;
  meta: MetaStore;
  audit: AuditLog;
  packs: LocalPackDir;
  reader: PackReader;
  index: BlobIndex;
  pool: WorkerPool;
  clock: Clock;
  actor(): AuditActor;
  /** Who, where and how for the next audit event (a server's per-request identity included). */
  auditContext(): AuditContext;
  cacheDir: string;
  locksDir: string;
  /** Where the log's witness config and cosigned checkpoints live, and how long a witness may take. */
  witnessing: { files: WitnessFiles; timeoutMs: number };
  close(): Promise<void>;
}

export interface OpenOptions {
  cwd?: string;
  /** The command line being run, recorded in audit events (e.g. "data add"). */
  command?: string;
  clock?: Clock;
  env?: NodeJS.ProcessEnv;
  /**
   * A server's per-request identity: when it returns one, it replaces the workspace's own actor
   * (CAIRN_ACTOR, config, git) for the events and checks of that request.
   */
  scope?: () => RequestScope | undefined;
  /**
   * Concurrent audited writes share one transaction (a team server): on PostgreSQL every commit
   * waits for a disk flush while holding the log's head, which caps one-transaction-per-write at
   * the disk's flush rate. SQLite keeps one transaction per write (its commits do not wait for
   * the disk: synchronous=NORMAL).
   */
  groupCommit?: boolean;
}

export interface RequestScope {
  actor: AuditActor;
  command: string;
  client?: string;
  /** Runs inside each audited write of the request, in its transaction (`index`: the event it appended). */
  inCommit?: (tx: WriteTx, index: number) => Promise<void>;
  /**
   * Told each time an event is drafted in this scope (its context taken): the server records a
   * request that ended without one, so that every request leaves an event.
   */
  onEvent?: () => void;
}

/** Walks up from `start` like git does. */
export function findWorkspaceRoot(start: string): string | null {
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, CAIRN_DIR, CONFIG_FILE))) return dir;
    const parent = dirname(dir);
    if (parent === dir) return null;
    dir = parent;
  }
}

export async function initWorkspace(
  dir: string,
  opts: OpenOptions & {
    metadataUrl?: string;
    pkcs11?: Pkcs11KeyConfig;
    /** With pkcs11: the labels of the release key pair (Ed25519) and the OMS key pair (P-256) in the same token. */
    releaseKeyLabels?: { keyLabel: string; omsKeyLabel: string };
  } = {},
): Promise<Workspace> {
  const root = resolve(opts.cwd ?? process.cwd(), dir);
  const cairnDir = join(root, CAIRN_DIR);
  if (existsSync(join(cairnDir, CONFIG_FILE))) {
    throw new CairnError('WORKSPACE_EXISTS', `${root} already has a Cairn workspace`, { data: { root } });
  }
  if (existsSync(cairnDir)) {
    throw new CairnError('WORKSPACE_EXISTS', `${cairnDir} exists but is not a complete workspace`, {
      hint: 'remove it (after checking what is inside) and run `cairn init` again',
    });
  }
  // A database password is kept out of config.json: in keys/, owner-only (docs/CONFIG.md).
  const metadata = opts.metadataUrl ? splitPassword(opts.metadataUrl) : null;
  const leak = metadata ? urlSecret(metadata.url) : null;
  if (leak)
    throw new CairnError('USAGE', `the metadata URL cannot be stored: ${leak}`, {
      hint: 'give the password in the URL (user:password@host), in CAIRN_METADATA_PASSWORD or in PGPASSWORD; nothing else secret may be in it',
    });
  const clock = opts.clock ?? systemClock;
  mkdirSync(root, { recursive: true });
  // Owner-only: .cairn holds the metadata database, the keys, run and hook logs.
  mkdirSync(cairnDir, { mode: 0o700 });
  mkdirSync(join(cairnDir, 'objects'), { recursive: true });
  mkdirSync(join(cairnDir, 'cache'), { recursive: true });
  mkdirSync(join(cairnDir, 'locks'), { recursive: true });
  const id = uuidv7();
  const config = defaultConfig(id, isoUtc(clock.now()), metadata?.url);
  const keyEnv = opts.env ?? process.env;
  await (async () => {
    await createSigningKey(cairnDir, opts.pkcs11 ? { config: opts.pkcs11, env: keyEnv } : undefined);
    if (opts.pkcs11 && opts.releaseKeyLabels)
      await saveReleaseTokenConfig(
        cairnDir,
        {
          module: opts.pkcs11.module,
          tokenLabel: opts.pkcs11.tokenLabel,
          pinEnv: opts.pkcs11.pinEnv,
          ...opts.releaseKeyLabels,
        },
        keyEnv,
      );
  })().catch((err: unknown) => {
    // Nothing of a workspace that cannot sign may stay behind: init can simply be run again.
    rmSync(cairnDir, { recursive: true, force: true });
    throw err;
  });
  if (metadata?.password) await saveMetadataPassword(cairnDir, metadata.password);
  // The config is written last: its presence is what marks a complete workspace.
  await saveConfig(cairnDir, config);
  const ws = await openAt(root, config, opts);
  await ws.audit.record(
    { action: 'workspace.init', target: { type: 'workspace', name: id }, params: { metadata: ws.meta.dialect } },
    'ok',
  );
  return ws;
}

/** The workspace a command acts on: CAIRN_WORKSPACE, else the nearest one up from `start`. */
export function locateWorkspace(opts: Pick<OpenOptions, 'cwd' | 'env'> = {}): string {
  const start = opts.cwd ?? process.cwd();
  const root = opts.env?.CAIRN_WORKSPACE ? resolve(start, opts.env.CAIRN_WORKSPACE) : findWorkspaceRoot(start);
  if (!root || !existsSync(join(root, CAIRN_DIR, CONFIG_FILE))) {
    throw new CairnError('WORKSPACE_NOT_FOUND', `no Cairn workspace in ${resolve(start)} or any parent directory`, {
      hint: 'run `cairn init` in your project folder first',
    });
  }
  return root;
}

export async function openWorkspace(opts: OpenOptions = {}): Promise<Workspace> {
  const root = locateWorkspace(opts);
  return openAt(root, loadConfig(join(root, CAIRN_DIR)), opts);
}

async function openAt(root: string, config: WorkspaceConfig, opts: OpenOptions): Promise<Workspace> {
  const cairnDir = join(root, CAIRN_DIR);
  const url = config.metadata.url;
  const env = opts.env ?? process.env;
  const metaUrl =
    url.startsWith('sqlite:') && !isAbsolute(url.slice(7))
      ? `sqlite:${join(cairnDir, url.slice(7))}`
      : withMetadataPassword(url, cairnDir, env);
  const meta = await openMetaStore(metaUrl);
  const clock = opts.clock ?? systemClock;
  let actor: AuditActor | null = null;
  const own = () => (actor ??= resolveActor(config, env, root));
  const getActor = () => opts.scope?.()?.actor ?? own();
  const keys = loadLogKeys(cairnDir, config.audit.origin, env);
  const host = hostname();
  const context = (): AuditContext => {
    const scope = opts.scope?.();
    scope?.onEvent?.();
    return {
      actor: scope?.actor ?? own(),
      host,
      pid: process.pid,
      command: scope?.command ?? opts.command ?? 'api',
      client: scope?.client ?? `cairn/${CLIENT_VERSION}`,
      workspace: config.workspace.id,
    };
  };
  const audit = new AuditLog({
    db: meta.db,
    dialect: meta.dialect,
    context,
    clock,
    keys,
    kept: keptCheckpointFile(cairnDir),
    groupCommit: opts.groupCommit === true && meta.dialect === 'postgres',
    inCommit: async (tx, ev) => {
      await opts.scope?.()?.inCommit?.(tx, ev.index);
    },
  });
  const packs = new LocalPackDir(join(cairnDir, 'objects'));
  const reader = new PackReader(packs);
  const index = blobIndexOf(meta);
  const pool = new WorkerPool(config.storage.workers);
  const witnessing = { files: witnessFiles(cairnDir), timeoutMs: witnessTimeoutMs(env) };
  let closed = false;
  return {
    root,
    cairnDir,
    config,
    meta,
    audit,
    packs,
    reader,
    index,
    pool,
    clock,
    actor: getActor,
    auditContext: context,
    cacheDir: join(cairnDir, 'cache'),
    locksDir: join(cairnDir, 'locks'),
    witnessing,
    async close() {
      if (closed) return;
      closed = true;
      try {
        // Every command that appended leaves a signed checkpoint behind, sent to the witnesses.
        if (audit.appendedCount > 0) {
          await audit.checkpoint();
          await witnessAfterWrite(audit, witnessing, (m) => process.stderr.write(`${m}\n`));
        }
      } finally {
        await reader.close();
        await pool.close();
        await meta.close();
      }
    },
  };
}

/** Where stored blobs are, from the metadata database's chunk and pack tables. */
function blobIndexOf(meta: MetaStore): BlobIndex {
  return {
    has: (ids) => blobsPresent(meta.db, ids),
    locate: async (ids) => {
      const rows = await blobsLocate(meta.db, ids);
      return new Map(
        [...rows].map(([id, r]) => [
          id,
          { id, packId: r.pack_id, offset: Number(r.offset), length: Number(r.length), kind: r.kind },
        ]),
      );
    },
    knownPacks: async (ids) => {
      const out = new Set<string>();
      for (let i = 0; i < ids.length; i += 500) {
        const rows = await meta.db
          .selectFrom('packs')
          .select('id')
          .where('id', 'in', ids.slice(i, i + 500))
          .execute();
        for (const r of rows) out.add(r.id);
      }
      return out;
    },
  };
}
