import { promises as fsp } from 'node:fs';
import { dirname } from 'node:path';
import { CairnError, ioError } from '../core/errors.js';
import type { PackRecord } from '../meta/repos/chunks.js';
import { fsyncDir } from '../storage/objects/durable.js';
import { checkPack, verifyBlob } from '../storage/pack/reader.js';
import { DEFAULT_MAX_GET_BYTES, type RemoteBackend } from './backends/port.js';
import type { TransferDeps, TransferOptions } from './deps.js';
import { packListError, packListFault, type CoverSource, type Located, type PackListFault } from './pack-cover.js';
import { packKey } from './remote-layout.js';
import { runTransfers } from './runner.js';
import type { RemoteState } from './state.js';

/** A pack fetched and verified, still under its temporary name: placed only once the pull is not refused. */
interface Staged {
  record: PackRecord;
  tmp: string;
}

export interface FetchedPacks {
  /** Pack rows to record: fetched, and adopted from an interrupted pull. */
  records: PackRecord[];
  counts: { needed: number; fetched: number; resumed: number; present: number };
  bytes: number;
  /** Fetched packs not yet in place (placePacks or discardPacks). */
  staged: Staged[];
}

/**
 * Fetches the packs of `chosen` that the store lacks, each verified blob by blob, and leaves them
 * under their temporary names: the pack-list check reads them there, so a refused pull leaves the
 * store as it was. Packs a failed or killed pull already placed (whole and verified, but not
 * recorded) are checked again and adopted instead of fetched a second time; when a fetch fails,
 * the packs that arrived whole are placed, so the next pull adopts them.
 */
export async function fetchPacks(
  deps: TransferDeps,
  data: RemoteBackend,
  remote: RemoteState,
  chosen: RemoteState['versions'],
  opts: { jobs: number; bwlimit: number | undefined; progress: TransferOptions['progress'] },
): Promise<FetchedPacks> {
  const needed = [...new Set(chosen.flatMap((v) => v.packs))].sort();
  const have = new Set((await deps.meta.db.selectFrom('packs').select('id').execute()).map((p) => p.id));
  const sizes = new Map(remote.packs.map((p) => [p.id, p.size]));
  const missing = needed.filter((id) => !have.has(id));
  const onDisk = await deps.packs.list();
  const records: PackRecord[] = [];
  for (const id of missing.filter((x) => onDisk.has(x))) {
    const check = await checkPack(deps.packs.packPath(id), id);
    if (!check.error && !check.badBlobs.length)
      records.push({
        id,
        size: onDisk.get(id)!,
        entries: check.entries.map((e) => ({ id: e.id, offset: e.offset, length: e.length, kind: e.kind })),
      });
  }
  const adopted = new Set(records.map((p) => p.id));
  const fetch = missing.filter((id) => !adopted.has(id));
  const total = fetch.reduce((n, id) => n + (sizes.get(id) ?? 0), 0);
  let got = 0;
  const staged: Staged[] = [];
  await deps.packs.ensure();
  opts.progress?.update(0, total, `${fetch.length} pack(s)`);
  try {
    await runTransfers(
      fetch.map((id) => ({
        bytes: sizes.get(id) ?? 0,
        run: async () => {
          try {
            staged.push(await fetchPack(deps, data, id, packBound(sizes.get(id))));
          } catch (err) {
            throw nameVersions(err, id, remote, chosen);
          }
        },
      })),
      {
        jobs: opts.jobs,
        ...(opts.bwlimit ? { bwlimit: opts.bwlimit } : {}),
        onBytes: (n) => opts.progress?.update((got += n), total),
      },
    );
  } catch (err) {
    await placePacks(deps, staged);
    throw err;
  }
  return {
    records: [...records, ...staged.map((s) => s.record)],
    counts: {
      needed: needed.length,
      fetched: staged.length,
      resumed: adopted.size,
      present: needed.length - missing.length,
    },
    bytes: staged.reduce((n, s) => n + s.record.size, 0),
    staged,
  };
}

/** Renames verified packs into place (a pack another pull placed meanwhile is the same bytes). */
export async function placePacks(deps: TransferDeps, staged: readonly Staged[]): Promise<void> {
  for (const s of staged) {
    const dest = deps.packs.packPath(s.record.id);
    try {
      await fsp.mkdir(dirname(dest), { recursive: true });
      await fsp.rename(s.tmp, dest);
      await fsyncDir(dirname(dest));
    } catch (err) {
      await fsp.rm(s.tmp, { force: true }).catch(() => {});
      throw ioError(err, 'rename', dest);
    }
  }
}

/** Removes fetched packs of a refused pull: the store keeps nothing of it. */
export async function discardPacks(staged: readonly Staged[]): Promise<void> {
  await Promise.all(staged.map((s) => fsp.rm(s.tmp, { force: true }).catch(() => {})));
}

/**
 * Refuses the pull when a chosen version's pack list does not match its tree (docs/REMOTES.md
 * "Integrity, end to end"): every object its tree reaches must be here already or in one of its
 * listed packs, and every pack fetched for it must hold one. Fetched packs are read where they
 * were staged. A version whose root is not here and that lists no pack never comes here: the
 * pull took it as erased (a verified event vouches) or refused it before fetching anything.
 */
export async function checkPackLists(
  deps: TransferDeps,
  remote: RemoteState,
  chosen: RemoteState['versions'],
  fetched: FetchedPacks,
  remoteName: string,
): Promise<void> {
  const byPack = new Map(fetched.records.map((p) => [p.id, p.entries]));
  const tmpOf = new Map(fetched.staged.map((s) => [s.record.id, s.tmp]));
  const src: CoverSource = {
    held: async (ids) => deps.index.locate(ids),
    entries: async (id) => byPack.get(id) ?? null,
    read: (loc) => (tmpOf.has(loc.packId) ? readStaged(tmpOf.get(loc.packId)!, loc) : deps.reader.read(loc)),
  };
  const names = new Map(remote.datasets.map((d) => [d.id, d.name]));
  const faults: PackListFault[] = [];
  for (const v of chosen) {
    const rootHere = (await deps.index.has([v.digest])).size > 0;
    // Nothing fetched for it and its root already here: it was checked whole when it came (or was made).
    if (rootHere && !v.packs.some((p) => byPack.has(p))) continue;
    const fault = await packListFault(
      { version: `${names.get(v.dataset_id) ?? v.dataset_id}@v${v.number}`, digest: v.digest, packs: v.packs },
      src,
    );
    if (fault) faults.push(fault);
  }
  if (faults.length) throw packListError(faults, remoteName);
}

async function readStaged(path: string, loc: Located): Promise<Buffer> {
  const fh = await fsp.open(path, 'r');
  try {
    const buf = Buffer.alloc(loc.length);
    const { bytesRead } = await fh.read(buf, 0, loc.length, loc.offset);
    if (bytesRead !== loc.length)
      throw new CairnError('CORRUPT_OBJECT', `blob ${loc.id} is truncated in pack ${loc.packId}`, {
        data: { blob: loc.id, pack: loc.packId },
      });
    verifyBlob(buf, loc);
    return buf;
  } finally {
    await fh.close();
  }
}

/**
 * The most a pack's download may send: the size the state records for it (a remote that sends
 * more is cut off there, IO_ERROR `data.tooLarge`, and nothing of it is kept), or the backend's
 * default where the state records none or nonsense (an older or hand-written state: the pack's
 * digest still decides what is kept).
 */
export function packBound(recorded: unknown): number {
  return typeof recorded === 'number' && Number.isSafeInteger(recorded) && recorded >= 0
    ? Math.min(recorded, DEFAULT_MAX_GET_BYTES)
    : DEFAULT_MAX_GET_BYTES;
}

/** Downloads one pack to a temporary file and checks every blob; it stays there until placed. */
async function fetchPack(deps: TransferDeps, data: RemoteBackend, id: string, maxBytes: number): Promise<Staged> {
  const body = await data.get(packKey(id), { maxBytes });
  const tmp = deps.packs.newTempPath();
  try {
    await fsp.writeFile(tmp, body, { flag: 'wx' });
    const fh = await fsp.open(tmp, 'r+');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    const check = await checkPack(tmp, id);
    if (check.error || check.badBlobs.length) {
      throw new CairnError(
        'CORRUPT_OBJECT',
        `pack ${id} from the remote is corrupt: ${check.error?.message ?? `${check.badBlobs.length} blob(s) do not match their digest`}`,
        {
          data: { pack: id, badBlobs: check.badBlobs.slice(0, 20) },
          hint: 'nothing was stored; push the pack again from a workspace that holds it intact',
        },
      );
    }
    return {
      tmp,
      record: {
        id,
        size: body.length,
        entries: check.entries.map((e) => ({ id: e.id, offset: e.offset, length: e.length, kind: e.kind })),
      },
    };
  } catch (err) {
    await fsp.rm(tmp, { force: true }).catch(() => {});
    throw err instanceof CairnError ? err : ioError(err, 'write', tmp);
  }
}

/** A bad pack on the remote: say which versions it breaks, since that is what the user asked for. */
function nameVersions(err: unknown, packId: string, remote: RemoteState, chosen: RemoteState['versions']): unknown {
  if (!(err instanceof CairnError)) return err;
  if (err.code !== 'CORRUPT_OBJECT' && err.code !== 'NOT_FOUND' && err.data.tooLarge !== true) return err;
  const names = new Map(remote.datasets.map((d) => [d.id, d.name]));
  const hit = chosen
    .filter((v) => v.packs.includes(packId))
    .map((v) => `${names.get(v.dataset_id) ?? v.dataset_id}@v${v.number}`);
  return new CairnError(
    err.code === 'NOT_FOUND' ? 'MISSING_OBJECT' : err.code,
    `${err.message} (needed by ${hit.join(', ')})`,
    { ...(err.hint ? { hint: err.hint } : {}), cause: err, data: { ...err.data, pack: packId, versions: hit } },
  );
}
