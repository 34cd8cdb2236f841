import { formatDigest } from '../../core/digest.js';
import { extensionStats } from '../../datasets/index.js';
import { storeReport } from '../../datasets/index.js';
import { profileTable, type TableProfile } from '../tables/profile.js';
import { viewVersion, withStoreLock, withTable, type DataprepDeps, type VersionView } from './context.js';

export interface FilesProfile {
  format: 'files';
  files: number;
  bytes: number;
  extensions: Array<{ ext: string; files: number; bytes: number }>;
  sizes: { min: number; p50: number; p95: number; max: number };
  topFolders: Array<{ folder: string; files: number }>;
}

export interface ProfileResult {
  ref: string;
  digest: string;
  kind: 'table' | 'files';
  profile: TableProfile | FilesProfile;
  reportDigest: string;
}

/** A collection's shape from its listing alone (no file is read). */
export function profileFiles(view: VersionView): FilesProfile {
  const sizes = view.listing.files.map((f) => f.entry.size).sort((a, b) => a - b);
  const q = (p: number) => (sizes.length ? sizes[Math.min(sizes.length - 1, Math.floor(p * sizes.length))]! : 0);
  const folders = new Map<string, number>();
  for (const f of view.listing.files) {
    const top = f.path.includes('/') ? f.path.slice(0, f.path.indexOf('/')) : '.';
    folders.set(top, (folders.get(top) ?? 0) + 1);
  }
  return {
    format: 'files',
    files: sizes.length,
    bytes: sizes.reduce((n, s) => n + s, 0),
    extensions: extensionStats(
      view.listing.files.map((f) => ({ path: f.path, size: f.entry.size })),
      20,
    ),
    sizes: { min: sizes[0] ?? 0, p50: q(0.5), p95: q(0.95), max: sizes[sizes.length - 1] ?? 0 },
    topFolders: [...folders]
      .map(([folder, files]) => ({ folder, files }))
      .sort((a, b) => b.files - a.files)
      .slice(0, 20),
  };
}

/** Profiles a version in one scan and stores the profile with it. */
export async function profileVersion(
  deps: DataprepDeps,
  ref: string,
  opts: { file?: string } = {},
): Promise<ProfileResult> {
  return withStoreLock(deps, 'data profile', () => profileVersionLocked(deps, ref, opts));
}

async function profileVersionLocked(
  deps: DataprepDeps,
  ref: string,
  opts: { file?: string } = {},
): Promise<ProfileResult> {
  const view = await viewVersion(deps, ref, opts.file);
  const v = view.resolved;
  const digest = formatDigest(v.version.digest);
  return deps.audit.audited(
    {
      action: 'dataset.profile',
      target: { type: 'dataset', name: v.dataset.name, version: v.version.number, digest },
      inputs: [digest],
    },
    async (commit, draft) => {
      const profile: TableProfile | FilesProfile = view.table
        ? await withTable(deps, view, {}, ({ engine, table }) => profileTable(engine, table))
        : profileFiles(view);
      const kind = view.table ? 'table' : 'files';
      const summary =
        'rows' in profile
          ? { kind, rows: profile.rows, columns: profile.columns.length }
          : { kind, files: profile.files, bytes: profile.bytes };
      const reportDigest = await commit(async (tx) => {
        const d = await storeReport(tx, deps, v.version.id, { kind: 'profile', summary, body: profile });
        // Reports live in the metadata, not the object store: named in params, so that
        // `audit verify --artifacts` only looks for stored objects among outputs.
        draft.params = { ...summary, report: formatDigest(d) };
        return d;
      });
      return { ref: v.ref, digest, kind, profile, reportDigest: formatDigest(reportDigest) };
    },
  );
}
