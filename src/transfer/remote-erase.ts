import { isCairnError } from '../core/errors.js';
import { treeLoader } from '../datasets/index.js';
import { allErasures } from '../meta/repos/retention.js';
import { acquireShared } from '../storage/locks/locks.js';
import type { TransferDeps } from './deps.js';
import { openRemote, type OpenedRemote } from './open-remote.js';
import { DEFAULT_JOBS } from './deps.js';
import { uploadAuditLog, uploadPacks, withOwnLogEntry } from './push.js';
import { checkDescriptor, packKey, readRemoteCheckpoint, readState, writeState } from './remote-layout.js';
import { pickRemote, type RemoteConfig } from './remotes-file.js';
import type { RemoteState } from './state.js';
import { versionPacks } from './state-db.js';

/** What erasure did (or, on a dry run, would do) on one remote. */
export interface RemoteErasure {
  remote: string;
  url: string;
  /**
   * `cleaned`: erased bytes were deleted now; `clean`: the remote held none; `pending`: the
   * remote could not be reached or refused (rerun `data erase` to retry); `planned`: a dry run.
   */
  status: 'cleaned' | 'clean' | 'pending' | 'planned';
  /** Erased versions (digests) whose packs the remote listed. */
  versions: string[];
  /** Packs deleted from the remote (all their blobs were erased, or live blobs were re-sent first). */
  packsDeleted: number;
  /** Packs sent so that live versions that shared a deleted pack keep every blob they need. */
  packsSent: number;
  /**
   * Packs left because a live version on the remote needs them and this workspace cannot
   * re-send its blobs (it does not hold that version): they may still hold erased bytes.
   */
  kept: Array<{ pack: string; neededBy: string[] }>;
  error?: { code: string; message: string };
}

/** The pure part: which packs go, which live versions are repointed, which packs must stay. */
export interface RemotePlan {
  dirty: string[];
  drop: string[];
  repoint: Map<string, string[]>;
  kept: Array<{ pack: string; neededBy: string[] }>;
}

/**
 * Plans erasure on a remote from its state and the local store. A version whose digest was
 * erased here loses its packs; a live version that shares one of them is repointed to the packs
 * that hold its blobs here (gc repacked them without the erased blobs) when this workspace holds
 * it whole (`localPacks` returns null otherwise), and a pack any live version still needs is
 * never deleted.
 */
export async function planRemoteErasure(
  state: RemoteState,
  erasedDigests: ReadonlySet<string>,
  localPacks: (digest: string) => Promise<string[] | null>,
): Promise<RemotePlan> {
  const dirty = state.versions.filter((v) => erasedDigests.has(v.digest) && v.packs.length > 0);
  const candidates = new Set(dirty.flatMap((v) => v.packs));
  const repoint = new Map<string, string[]>();
  const needs = new Map<string, string[]>();
  const nameOf = new Map(state.datasets.map((d) => [d.id, d.name]));
  // A pack a repointed version still lists here holds live blobs only: gc rewrites every pack
  // with erased blobs under a new id. It stays, and is no cause for concern.
  const live = new Set<string>();
  for (const v of state.versions) {
    if (erasedDigests.has(v.digest) || !v.packs.some((p) => candidates.has(p))) continue;
    const here = await localPacks(v.digest);
    if (here) {
      repoint.set(v.id, here);
      for (const p of here) live.add(p);
    } else
      for (const p of v.packs)
        if (candidates.has(p))
          needs.set(p, [...(needs.get(p) ?? []), `${nameOf.get(v.dataset_id) ?? '?'}@v${v.number}`]);
  }
  for (const p of live) needs.delete(p);
  return {
    dirty: [...new Set(dirty.map((v) => v.digest))].sort(),
    drop: [...candidates].filter((p) => !needs.has(p) && !live.has(p)).sort(),
    repoint,
    kept: [...needs].map(([pack, neededBy]) => ({ pack, neededBy })).sort((a, b) => a.pack.localeCompare(b.pack)),
  };
}

/**
 * Takes the bytes of every version erased here off every configured remote (after the local
 * erasure committed and gc ran). Crash-safe without a journal, because the remote's own state
 * says what is left to do: (1) the packs live versions need instead of a shared pack are sent;
 * (2) the state is written with those versions repointed (the erased versions still list their
 * packs, so a crash here is found again by a rerun); (3) the packs are deleted; (4) the state is
 * written with the erased versions listing none. Each remote cleaned is one `remote.erase`
 * event; a remote that fails is `pending` (a `failed` event) and the others go on.
 */
export async function eraseOnRemotes(
  deps: TransferDeps,
  opts: {
    dryRun?: boolean;
    /** Digests (bare hex) a dry run treats as erased already. */ also?: readonly string[];
  } = {},
): Promise<RemoteErasure[]> {
  const names = Object.keys(deps.remotes.load().remotes).sort();
  if (names.length === 0) return [];
  const erased = new Set([...(await allErasures(deps.meta.db)).map((e) => e.digest), ...(opts.also ?? [])]);
  const lock = acquireShared(deps.locksDir, 'erase on remotes');
  try {
    const out: RemoteErasure[] = [];
    for (const name of names) out.push(await eraseOnRemote(deps, name, erased, opts.dryRun === true));
    return out;
  } finally {
    lock.release();
  }
}

async function eraseOnRemote(
  deps: TransferDeps,
  name: string,
  erased: ReadonlySet<string>,
  dryRun: boolean,
): Promise<RemoteErasure> {
  const { config } = pickRemote(deps.remotes.load(), name);
  const base: RemoteErasure = {
    remote: name,
    url: config.url,
    status: 'pending',
    versions: [],
    packsDeleted: 0,
    packsSent: 0,
    kept: [],
  };
  const localPacks = localPacksOf(deps, erased);
  let audited = false;
  try {
    const r = await openRemote(deps, config);
    try {
      base.url = r.plain.url;
      // A remote that answers "no Cairn remote here" may be a wrong mount or bucket: clean only
      // if this workspace never pushed to it, else pending (its bytes may be somewhere we cannot see).
      const descriptor = await checkDescriptor(r, null).catch(async (err: unknown) => {
        if (isCairnError(err) && err.code === 'NOT_FOUND' && !(await pushedTo(deps, name))) return null;
        throw err;
      });
      if (!descriptor) return { ...base, status: dryRun ? 'planned' : 'clean' };
      const state = await readState(r.data);
      const plan = state ? await planRemoteErasure(state, erased, localPacks) : null;
      if (!state || !plan || plan.dirty.length === 0) return { ...base, status: dryRun ? 'planned' : 'clean' };
      const result = { ...base, versions: plan.dirty.map((d) => `sha256:${d}`), kept: plan.kept };
      if (dryRun) {
        const send = new Set([...plan.repoint.values()].flat());
        return { ...result, status: 'planned', packsDeleted: plan.drop.length, packsSent: send.size };
      }
      // From here a failure is logged by audited() itself.
      audited = true;
      return await deps.audit.audited(
        {
          action: 'remote.erase',
          target: { type: 'remote', name },
          params: { url: r.plain.url, versions: result.versions },
        },
        async (commit, draft) => {
          // The remote witnesses this log (as for a push): the log that vouches for the erasure
          // must extend what the remote holds of it, or nothing is changed there.
          const theirs = await readRemoteCheckpoint(r.data, deps.workspaceId, state);
          const witnessed = theirs ? await deps.audit.witness(theirs, `on remote ${name}`) : null;
          const sent = await applyRemotePlan(deps, r, config, state, plan, erased, witnessed);
          const done = {
            ...result,
            status: 'cleaned' as const,
            packsDeleted: plan.drop.length,
            packsSent: sent,
          };
          draft.params = {
            ...draft.params,
            packsDeleted: done.packsDeleted,
            packsSent: done.packsSent,
            packsKept: done.kept.length,
          };
          await commit(async () => {});
          return done;
        },
      );
    } finally {
      await r.close();
    }
  } catch (err) {
    return pending(deps, base, err, !dryRun && !audited);
  }
}

/** The remote left as it was: why, in the result and (unless a dry run or already logged) as a `failed` event. */
async function pending(deps: TransferDeps, base: RemoteErasure, err: unknown, log: boolean): Promise<RemoteErasure> {
  const code = isCairnError(err) ? err.code : 'IO_ERROR';
  const message = (err as Error).message ?? String(err);
  if (log)
    await deps.audit.record(
      { action: 'remote.erase', target: { type: 'remote', name: base.remote }, params: { url: base.url } },
      'failed',
      `${code}: ${message}`,
    );
  return { ...base, error: { code, message } };
}

/** The packs holding a live version's blobs here; null when it is erased or not held whole. */
function localPacksOf(deps: TransferDeps, erased: ReadonlySet<string>) {
  const load = treeLoader(deps);
  return async (digest: string): Promise<string[] | null> => {
    if (erased.has(digest)) return null;
    try {
      return await versionPacks(deps.meta.db, digest, load);
    } catch (err) {
      if (isCairnError(err) && (err.code === 'MISSING_OBJECT' || err.code === 'NOT_FOUND')) return null;
      throw err;
    }
  };
}

/** The steps, in the order that makes a rerun find what is left (eraseOnRemotes). Returns the packs sent. */
async function applyRemotePlan(
  deps: TransferDeps,
  r: OpenedRemote,
  config: RemoteConfig,
  state: RemoteState,
  plan: RemotePlan,
  erased: ReadonlySet<string>,
  witnessed: Parameters<typeof uploadAuditLog>[2],
): Promise<number> {
  const send = [...new Set([...plan.repoint.values()].flat())].sort();
  const sizes = await packSizes(deps, send);
  const { missing } = await uploadPacks(
    deps,
    r,
    send.map((id) => ({ id, size: sizes.get(id) ?? 0 })),
    { jobs: config.jobs ?? DEFAULT_JOBS, bwlimit: config.bwlimit, progress: undefined },
  );
  const repointed: RemoteState = {
    ...state,
    versions: state.versions.map((v) => (plan.repoint.has(v.id) ? { ...v, packs: plan.repoint.get(v.id)! } : v)),
    packs: mergePacks(state.packs, send, sizes),
  };
  // This log, with the `dataset.erase` events, goes up before any pack goes: a pull believes a
  // version listed without data only when a verified log on the remote vouches for its erasure.
  const audit = await uploadAuditLog(deps, r, witnessed);
  const logged = withOwnLogEntry(deps, repointed, audit).state;
  await writeState(r.data, logged);
  for (const p of plan.drop) await r.data.delete(packKey(p));
  const gone = new Set(plan.drop);
  const kept = new Set(plan.kept.map((k) => k.pack));
  await writeState(r.data, {
    ...logged,
    // An erased version keeps its record and loses its packs, but for those kept for a live
    // version: listed still, so the next run finds them and says so again.
    versions: logged.versions.map((v) =>
      erased.has(v.digest) ? { ...v, packs: v.packs.filter((p) => kept.has(p)) } : v,
    ),
    packs: logged.packs.filter((p) => !gone.has(p.id)),
  });
  return missing.length;
}

function mergePacks(
  have: RemoteState['packs'],
  add: readonly string[],
  sizes: ReadonlyMap<string, number>,
): RemoteState['packs'] {
  const m = new Map(have.map((p) => [p.id, p]));
  for (const id of add) if (!m.has(id)) m.set(id, { id, size: sizes.get(id) ?? 0 });
  return [...m.values()].sort((a, b) => a.id.localeCompare(b.id));
}

async function packSizes(deps: TransferDeps, ids: readonly string[]): Promise<Map<string, number>> {
  if (ids.length === 0) return new Map();
  const rows = await deps.meta.db.selectFrom('packs').select(['id', 'size']).where('id', 'in', ids).execute();
  return new Map(rows.map((r) => [r.id, Number(r.size)]));
}

async function pushedTo(deps: TransferDeps, name: string): Promise<boolean> {
  const row = await deps.meta.db
    .selectFrom('audit_events')
    .select('idx')
    .where('action', '=', 'remote.push')
    .where('outcome', '=', 'ok')
    .where('target_name', '=', name)
    .executeTakeFirst();
  return row !== undefined;
}
