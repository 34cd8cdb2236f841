import type { TreeLoader } from '../storage/tree/walk.js';
import { formatDigest } from '../core/digest.js';
import { CairnError } from '../core/errors.js';
import { formatRef } from '../core/refs.js';
import { listDatasets, tagsOf, versionById, versionsOf, type DatasetSummary } from '../meta/repos/datasets.js';
import { edgesInto } from '../meta/repos/lineage.js';
import { reportsOf } from '../meta/repos/reports.js';
import type { DatasetVersionRow } from '../meta/schema.js';
import { walkTree } from '../storage/tree/walk.js';
import type { DatasetDeps } from './deps.js';
import { resolveDataset, resolveVersion } from './resolve.js';
import type { VersionStats } from './stats.js';
import { treeLoader } from './trees.js';
import { erasureOfDigest } from '../meta/repos/retention.js';

export interface VersionInfo {
  ref: string;
  dataset: string;
  version: number;
  digest: string;
  message: string;
  author: string;
  created: string;
  files: number;
  bytes: number;
  newBytes: number;
  tags: string[];
  parent: string | null;
  derivedFrom: string[];
  stats: VersionStats;
  /** Reports stored with the version (profiles, validations, leakage, cleaning), oldest first. */
  reports: Array<{ kind: string; digest: string; created: string; by: string; summary: unknown }>;
}

export async function listAll(deps: DatasetDeps): Promise<DatasetSummary[]> {
  return listDatasets(deps.meta.db);
}

async function info(
  deps: DatasetDeps,
  name: string,
  v: DatasetVersionRow,
  tags: Map<string, string[]>,
): Promise<VersionInfo> {
  const parent = v.parent_id ? await versionById(deps.meta.db, v.parent_id) : undefined;
  const derived: string[] = [];
  for (const e of await edgesInto(deps.meta.db, 'dataset_version', v.id)) {
    if (e.src_type !== 'dataset_version') continue;
    const src = await versionById(deps.meta.db, e.src_id);
    if (src) {
      const ds = await deps.meta.db
        .selectFrom('datasets')
        .select('name')
        .where('id', '=', src.dataset_id)
        .executeTakeFirst();
      derived.push(formatRef(ds?.name ?? '?', src.number));
    }
  }
  return {
    ref: formatRef(name, v.number),
    dataset: name,
    version: v.number,
    digest: formatDigest(v.digest),
    message: v.message,
    author: v.author,
    created: v.created_at,
    files: Number(v.file_count),
    bytes: Number(v.total_bytes),
    newBytes: Number(v.new_bytes),
    tags: tags.get(v.id) ?? [],
    parent: parent ? formatRef(name, parent.number) : null,
    derivedFrom: derived,
    stats: JSON.parse(v.stats) as VersionStats,
    reports: (await reportsOf(deps.meta.db, v.id)).map((r) => ({
      kind: r.kind,
      digest: formatDigest(r.digest),
      created: r.created_at,
      by: r.created_by,
      summary: JSON.parse(r.summary) as unknown,
    })),
  };
}

async function tagMap(deps: DatasetDeps, datasetId: string): Promise<Map<string, string[]>> {
  const m = new Map<string, string[]>();
  for (const t of await tagsOf(deps.meta.db, datasetId)) m.set(t.version_id, [...(m.get(t.version_id) ?? []), t.tag]);
  return m;
}

export async function logOf(deps: DatasetDeps, name: string): Promise<VersionInfo[]> {
  const ds = await resolveDataset(deps.meta.db, name);
  const tags = await tagMap(deps, ds.id);
  const out: VersionInfo[] = [];
  for (const v of await versionsOf(deps.meta.db, ds.id)) out.push(await info(deps, ds.name, v, tags));
  return out;
}

export interface ShownFile {
  path: string;
  type: 'file' | 'symlink';
  size: number | null;
  digest: string | null;
  mode?: string;
  target?: string;
  chunks?: number;
}

export async function showVersion(
  deps: DatasetDeps,
  ref: string,
  opts: { limit?: number; load?: TreeLoader } = {},
): Promise<VersionInfo & { listing: ShownFile[]; truncated: boolean; erased?: { at: string; by: string } }> {
  const r = await resolveVersion(deps.meta.db, ref);
  const base = await info(deps, r.dataset.name, r.version, await tagMap(deps, r.dataset.id));
  // An erased version's record stays showable; its file listing went with its trees.
  const erased = await erasureOfDigest(deps.meta.db, r.version.digest);
  if (erased) return { ...base, listing: [], truncated: false, erased: { at: erased.erased_at, by: erased.erased_by } };
  const limit = opts.limit ?? Infinity;
  const listing: ShownFile[] = [];
  let truncated = false;
  // `load`: where the trees are when not in this store (a team server reads a pushed version's from its store).
  for await (const e of walkTree(r.version.digest, opts.load ?? treeLoader(deps))) {
    if (e.type === 'dir') continue;
    if (listing.length >= limit) {
      truncated = true;
      break;
    }
    listing.push(
      e.type === 'file'
        ? {
            path: e.path,
            type: 'file',
            size: e.size,
            digest: formatDigest(e.digest),
            mode: e.mode,
            chunks: e.chunks?.length ?? (e.size > 0 ? 1 : 0),
          }
        : { path: e.path, type: 'symlink', size: null, digest: null, target: e.target },
    );
  }
  return { ...base, listing, truncated };
}

/** The newest stored report of a kind (or of any kind) for a version, in full. */
export async function reportOf(
  deps: DatasetDeps,
  ref: string,
  kind?: string,
): Promise<{ ref: string; kind: string; digest: string; created: string; by: string; body: unknown }> {
  const r = await resolveVersion(deps.meta.db, ref);
  const rows = await reportsOf(deps.meta.db, r.version.id);
  const pick = [...rows].reverse().find((x) => !kind || x.kind === kind);
  if (!pick) {
    throw new CairnError('NOT_FOUND', `${r.ref} has no ${kind ? `${kind} ` : ''}report`, {
      hint: 'reports are made by data profile, validate, clean and split',
      data: { kinds: [...new Set(rows.map((x) => x.kind))] },
    });
  }
  const full = await deps.meta.db
    .selectFrom('reports')
    .select('body')
    .where('id', '=', pick.id)
    .executeTakeFirstOrThrow();
  return {
    ref: r.ref,
    kind: pick.kind,
    digest: formatDigest(pick.digest),
    created: pick.created_at,
    by: pick.created_by,
    body: JSON.parse(full.body) as unknown,
  };
}
