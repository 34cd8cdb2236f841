import { statSync } from 'node:fs';
import { resolve, sep } from 'node:path';
import { formatDigest } from '../core/digest.js';
import { CairnError, ioError } from '../core/errors.js';
import { RESERVED_NAMES } from '../core/paths.js';
import { checkDatasetName } from '../core/names.js';
import { formatRef } from '../core/refs.js';
import { listPacks } from '../meta/repos/chunks.js';
import { findDataset, latestVersion } from '../meta/repos/datasets.js';
import type { BlobIndex } from '../storage/blob-index.js';
import { recoverInterrupted, type AdoptedPack } from '../storage/objects/recover.js';
import { recordVersion } from './record.js';
import { ingest, type IngestProgress } from '../storage/ingest/ingest.js';
import { acquireShared } from '../storage/locks/locks.js';
import { openPriorCache } from '../storage/statcache/stream.js';
import { scanLinks } from '../storage/ingest/scan.js';
import { checkTreeLinks } from '../storage/tree/links.js';
import type { DatasetDeps } from './deps.js';
import { resolveVersion, type ResolvedVersion } from './resolve.js';
import type { VersionStats } from './stats.js';

export interface AddInput {
  source: string;
  name: string;
  message?: string;
  /** Refs of dataset versions this one was derived from (lineage edges). */
  from?: string[];
  onProgress?: (p: IngestProgress) => void;
}

export interface AddResult {
  ref: string;
  dataset: string;
  version: number;
  digest: string;
  files: number;
  bytes: number;
  newBytes: number;
  newChunks: number;
  packs: number;
  filesFromCache: number;
  /** True when the content equals the latest version: nothing new was recorded. */
  unchanged: boolean;
}

export async function addVersion(deps: DatasetDeps, input: AddInput): Promise<AddResult> {
  const name = checkDatasetName(input.name);
  const source = checkedSource(input.source);
  const inputs: ResolvedVersion[] = [];
  for (const ref of input.from ?? []) inputs.push(await resolveVersion(deps.meta.db, ref));
  const message = input.message ?? '';

  const lock = acquireShared(deps.locksDir, 'data add');
  try {
    return await deps.audit.audited(
      {
        action: 'dataset.version.create',
        target: { type: 'dataset', name },
        inputs: inputs.map((i) => formatDigest(i.version.digest)),
      },
      async (commit, draft) => {
        const existing = await findDataset(deps.meta.db, name);
        const latest = existing ? await latestVersion(deps.meta.db, existing.id) : undefined;
        const statCache = openPriorCache(deps.cacheDir, source);
        // Before a byte is stored: a link chain that leaves the tree refuses the whole add.
        checkTreeLinks(scanLinks(source));
        // What killed writers left: their sealed packs are checked and reused (recorded with
        // this version), their temporary files removed, so repeated kills never grow the store.
        const recovered = await recoverInterrupted(
          deps.packs,
          deps.pool,
          new Set((await listPacks(deps.meta.db)).map((p) => p.id)),
        );
        const result = await ingest(
          {
            packs: deps.packs,
            index: withAdopted(deps.index, recovered.adopted),
            pool: deps.pool,
            packTarget: deps.config.storage.pack_size_mib * 1024 * 1024,
          },
          {
            source,
            statCache,
            statCacheDir: deps.cacheDir,
            ...(input.onProgress ? { onProgress: input.onProgress } : {}),
          },
        );
        const rootId = result.tree.rootId;
        const base = {
          dataset: name,
          digest: formatDigest(rootId),
          files: result.tree.files,
          bytes: result.tree.bytes,
          filesFromCache: result.filesFromCache,
        };
        if (latest && latest.digest === rootId && inputs.length === 0) {
          // The fresh cache (the same version) first: discarding afterwards leaves it in place.
          result.saveStatCache();
          await result.discard();
          const unchanged = { newBytes: 0, newChunks: 0, packs: 0, unchanged: true };
          return { ...base, ref: formatRef(name, latest.number), version: latest.number, ...unchanged };
        }
        const version = { name, message, rootId, inputs, adopted: recovered.adopted };
        const number = await recordIngested(deps, commit, draft, version, result);
        result.saveStatCache();
        return {
          ...base,
          ref: formatRef(name, number),
          version: number,
          newBytes: result.newBytes,
          newChunks: result.newChunks,
          packs: result.packs.length,
          unchanged: false,
        };
      },
    );
  } finally {
    lock.release();
  }
}

/** The absolute source path, refused when it is a workspace's metadata or cannot be read. */
function checkedSource(given: string): string {
  const source = resolve(given);
  // Skipped inside a tree, and never a source itself: a workspace's metadata is no dataset.
  if (isWorkspaceMetadata(source)) {
    throw new CairnError(
      'PATH_UNSAFE',
      `refusing to add ${given}: it is a workspace's metadata (.cairn holds its database, signing key and store)`,
      { data: { path: given } },
    );
  }
  try {
    statSync(source);
  } catch (err) {
    throw ioError(err, 'read', given);
  }
  return source;
}

type Ingested = Awaited<ReturnType<typeof ingest>>;
type Audited = Parameters<Parameters<DatasetDeps['audit']['audited']>[1]>;

/** Records the ingested tree as the next version in the audited transaction; on failure its new packs go. */
async function recordIngested(
  deps: DatasetDeps,
  commit: Audited[0],
  draft: Audited[1],
  v: { name: string; message: string; rootId: string; inputs: ResolvedVersion[]; adopted: readonly AdoptedPack[] },
  result: Ingested,
): Promise<number> {
  const stats: VersionStats = {
    files: result.tree.files,
    bytes: result.tree.bytes,
    dirs: result.tree.dirs,
    symlinks: result.tree.symlinks,
    chunks: result.chunkCount,
    newChunks: result.newChunks,
    newBytes: result.newBytes,
    extensions: result.extensions,
  };
  try {
    return await commit(async (tx) => {
      const { number: n } = await recordVersion(tx, deps, {
        name: v.name,
        message: v.message,
        rootId: v.rootId,
        stats,
        packs: [...v.adopted, ...result.packs],
        inputs: v.inputs.map((i) => ({ versionId: i.version.id, relation: 'derived_from' })),
      });
      draft.target = { type: 'dataset', name: v.name, version: n, digest: formatDigest(v.rootId) };
      draft.outputs = [formatDigest(v.rootId)];
      draft.params = { message: v.message, files: stats.files, bytes: stats.bytes, newBytes: stats.newBytes };
      return n;
    });
  } catch (err) {
    await result.discard();
    throw err;
  }
}

/** The index as it will be once the adopted packs are recorded with the new version. */
function withAdopted(index: BlobIndex, adopted: readonly AdoptedPack[]): BlobIndex {
  if (adopted.length === 0) return index;
  const ids = new Set(adopted.flatMap((p) => p.entries.map((e) => e.id)));
  return {
    has: async (want) => {
      const found = await index.has(want);
      for (const id of want) if (ids.has(id)) found.add(id);
      return found;
    },
    locate: (want) => index.locate(want),
    ...(index.knownPacks ? { knownPacks: (want: readonly string[]) => index.knownPacks!(want) } : {}),
  };
}

/**
 * `.cairn` itself, or anything in it other than the folders where Cairn writes what it then
 * snapshots itself (run outputs under `runs/`, work folders under `tmp/`).
 */
function isWorkspaceMetadata(abs: string): boolean {
  const parts = abs.split(sep);
  const at = parts.findIndex((p) => RESERVED_NAMES.has(p));
  if (at < 0) return false;
  const below = parts[at + 1];
  return below === undefined || (below !== 'runs' && below !== 'tmp');
}
