import { join } from 'node:path';
import { formatDigest } from '../core/digest.js';
import { CairnError } from '../core/errors.js';
import { recordVersion, resolveDataset, resolveVersion, treeLoader, extensionStats } from '../datasets/index.js';
import { edgesInto } from '../meta/repos/lineage.js';
import { erasureOfDigest } from '../meta/repos/retention.js';
import { composeVersion } from '../storage/compose/compose.js';
import { acquireShared } from '../storage/locks/locks.js';
import type { FlatEntry } from '../storage/tree/build.js';
import { listFlat } from '../storage/tree/list.js';
import { fileChunks, type FileEntry } from '../storage/tree/node.js';
import { finishErasure, recordErasure, refuseHeld, type EraseDeps } from './erase.js';
import { eraseOnRemotes, type RemoteErasure } from '../transfer/index.js';
import { impactOf, type ImpactList } from './impact.js';
import { requireReason } from './retention.js';
import {
  planSubjectErasure,
  subjectMatcher,
  type CandidateVersion,
  type FileHit,
  type VersionPlan,
} from './subject-plan.js';
import { contentRules, fileKind, searchFile, type ContentRule } from './subject-rows.js';
import { resolveTarget, targetOf } from './target.js';

export interface SubjectEraseOptions {
  subject: string;
  /** A path pattern with `{subject}` (docs/COMPLIANCE.md "Erasure by subject"). */
  key?: string;
  /** Find the subject (a value the PII scanner recognizes) inside tables and texts. */
  scan?: boolean;
  /** Find the subject as the value of this column of tables. */
  column?: string;
  reason?: string;
  dryRun?: boolean;
  /** Leave the remotes as they are (they stay listed, to be cleaned by a later run without it). */
  localOnly?: boolean;
}

export interface SubjectEraseResult {
  dryRun: boolean;
  /** Versions that held files of the subject: each replaced by a version without them, then erased. */
  versions: Array<{
    ref: string;
    digest: string;
    remove: Array<{ path: string; sha256: string; why: 'path' | 'content' | 'scan' }>;
    /** Tables rewritten without the subject's rows: which rows (1-based data rows) of how many. */
    rewrite: Array<{ path: string; sha256: string; rows: number[]; total: number }>;
    kept: number;
    /** The new version without the subject's files (null when nothing else was in it, or on a dry run). */
    replacement: { ref: string; digest: string } | null;
  }>;
  untouched: string[];
  /** Rows of the subject removed from tables, over all versions. */
  rowsRemoved: number;
  /**
   * Every version erased, by ref: the replaced ones and any other version naming the very same
   * bytes (content addressing), which is erased with them and gets no replacement of its own.
   */
  erased: string[];
  /** Everything built from the versions erased: what to retrain or withdraw. */
  impact: ImpactList;
  /** Removed files whose bytes stay, because a version the erasure does not reach holds identical bytes. */
  keptShared: Array<{ path: string; sha256: string }>;
  remotes: string[];
  /** What erasure did (or, on a dry run, would do) on each configured remote. */
  remoteErasure: RemoteErasure[];
  checkouts: string[];
  gc: { packsDeleted: number; packsRepacked: number; blobsDropped: number; bytesFreed: number } | null;
}

/**
 * Erasure by subject: the files of one data subject leave every version that holds them — the
 * named dataset's versions (or the one named) and every dataset version derived from them by
 * lineage. Each such version is **replaced and erased**: a new version of the same dataset
 * without the subject's files (the same upstream lineage, recorded as an ordinary
 * `dataset.version.create`), then the old version's erasure (its signed `dataset.erase` event,
 * its bytes purged by gc). Versions are immutable and named by their digest, so a version
 * cannot lose files and keep its name; erasing it keeps every old digest in the log resolvable
 * to a record and never to content again.
 *
 * Order, so a crash leaves no half state: holds are checked for every version first (nothing
 * happens when one is held); replacements are written (packs, then one audited write each);
 * erasures are recorded; gc purges. A rerun finds the replacements already recorded (same
 * digest) and the erasures done, and finishes with gc.
 */
export async function eraseSubject(
  deps: EraseDeps,
  ref: string,
  opts: SubjectEraseOptions,
): Promise<SubjectEraseResult> {
  const reason = opts.dryRun ? (opts.reason ?? '') : requireReason(opts.reason, 'an erasure');
  const { plan, impact, replacements } = await planAndReplace(deps, ref, opts);
  const versions = plan.versions.map((v) => ({
    ref: v.ref,
    digest: formatDigest(v.digest),
    remove: v.remove,
    rewrite: v.rewrite,
    kept: v.keep.length,
    replacement: replacements.get(v.versionId) ?? null,
  }));
  const base = {
    versions,
    untouched: plan.untouched,
    impact,
    rowsRemoved: plan.versions.reduce((n, v) => n + rowsOf(v), 0),
  };
  if (opts.dryRun) {
    const also = plan.versions.map((v) => v.digest);
    const remoteErasure = opts.localOnly ? [] : await eraseOnRemotes(deps, { dryRun: true, also });
    return { dryRun: true, ...base, erased: [], keptShared: [], remotes: [], remoteErasure, checkouts: [], gc: null };
  }

  const recorded = [];
  for (const v of plan.versions) {
    const rep = replacements.get(v.versionId) ?? null;
    recorded.push(
      // Counts and digests only: the rows' numbers could single the subject out of a table.
      await recordErasure(deps, v.ref, reason, {
        bySubject: true,
        filesRemoved: v.remove.length,
        tablesRewritten: v.rewrite.length,
        rowsRemoved: rowsOf(v),
        replacement: rep ? rep.digest : null,
      }),
    );
  }
  const gc = await deps.admin.gc({ purge: true });
  const finished = await Promise.all(recorded.map((r) => finishErasure(deps, r, gc)));
  // Only the subject's files count as kept: the rest of each old version lives on in its replacement.
  const removed = plan.versions.flatMap((v) => [...v.remove, ...v.rewrite]);
  const kept = new Set(finished.flatMap((f) => f.keptShared.map((k) => k.sha256)));
  const seen = new Set<string>();
  return {
    dryRun: false,
    ...base,
    erased: [...new Set(finished.flatMap((f) => f.versions))].sort(),
    keptShared: removed
      .filter((f) => kept.has(formatDigest(f.sha256)) && !seen.has(f.path) && seen.add(f.path))
      .map((f) => ({ path: f.path, sha256: formatDigest(f.sha256) })),
    remotes: [...new Set(finished.flatMap((f) => f.remotes))].sort(),
    // After the local erasure committed and gc repacked: the remotes get the repacked packs.
    remoteErasure: opts.localOnly ? [] : await eraseOnRemotes(deps),
    checkouts: [...new Set(finished.flatMap((f) => f.checkouts))].sort(),
    gc: {
      packsDeleted: gc.packsDeleted,
      packsRepacked: gc.packsRepacked,
      blobsDropped: gc.blobsDropped,
      bytesFreed: gc.bytesFreed,
    },
  };
}

const rowsOf = (v: VersionPlan) => v.rewrite.reduce((n, w) => n + w.rows.length, 0);

/**
 * Under the store's shared lock (gc waits): the versions searched, their files' contents
 * searched, the plan, the holds checked, the impact list, and (unless a dry run) the
 * replacements written and recorded.
 */
async function planAndReplace(deps: EraseDeps, ref: string, opts: SubjectEraseOptions) {
  if (opts.key === undefined && !opts.scan && opts.column === undefined)
    throw new CairnError('USAGE', 'erasure by subject needs --key <pattern>, --scan or --column <name>', {
      hint: "e.g. --key 'users/{subject}/**', or --scan for an e-mail address, or --column user_id",
    });
  const rules = contentRules(opts.subject, opts);
  const matches = opts.key === undefined ? () => false : subjectMatcher(opts.key, opts.subject);
  const lock = acquireShared(deps.locksDir, 'data erase --subject');
  try {
    const candidates = await gatherCandidates(deps, ref);
    const found = await searchContents(deps, candidates, matches, rules);
    const plan = planSubjectErasure(candidates, matches, found.hits);
    await refuseAnyHeld(deps, plan.versions);
    const impact = impactOf(await Promise.all(plan.versions.map((v) => deps.lineage.of(v.ref, 'down'))));
    const replacements = new Map<string, { ref: string; digest: string } | null>();
    if (!opts.dryRun)
      for (const v of plan.versions) {
        const rewritten = new Map(v.rewrite.map((w) => [w.path, found.bytes.get(w.sha256)!]));
        replacements.set(v.versionId, await replace(deps, v.ref, new Set(v.keep.map((k) => k.path)), rewritten));
      }
    return { plan, impact, replacements };
  } finally {
    lock.release();
  }
}

/** Before anything is written: a hold on any version the erasure would touch refuses all of it. */
async function refuseAnyHeld(deps: EraseDeps, versions: ReadonlyArray<{ ref: string }>): Promise<void> {
  for (const v of versions) {
    const t = await resolveTarget(deps.meta.db, v.ref);
    const same = await deps.meta.db
      .selectFrom('dataset_versions')
      .select('id')
      .where('digest', '=', t.digest)
      .execute();
    await refuseHeld(
      deps,
      t,
      same.map((s) => s.id),
      { action: 'dataset.erase', target: targetOf(t), params: { bySubject: true } },
    );
  }
}

/**
 * The versions searched: the dataset's versions (or the one named), then every dataset version
 * lineage leads down to from them (splits, cleanings, derived versions), each once.
 */
async function gatherCandidates(deps: EraseDeps, ref: string): Promise<CandidateVersion[]> {
  const start: string[] = [];
  if (ref.includes('@')) start.push((await resolveVersion(deps.meta.db, ref)).ref);
  else {
    const ds = await resolveDataset(deps.meta.db, ref);
    const rows = await deps.meta.db
      .selectFrom('dataset_versions')
      .select('number')
      .where('dataset_id', '=', ds.id)
      .orderBy('number')
      .execute();
    for (const r of rows) start.push(`${ds.name}@v${r.number}`);
  }
  const refs = new Set(start);
  for (const s of start)
    for (const n of (await deps.lineage.of(s, 'down')).nodes) if (n.type === 'dataset_version') refs.add(n.ref);
  const out: CandidateVersion[] = [];
  const load = treeLoader(deps);
  for (const r of refs) {
    const v = await resolveVersion(deps.meta.db, r);
    const erased = (await erasureOfDigest(deps.meta.db, v.version.digest)) !== undefined;
    const files = erased
      ? []
      : (await listFlat(v.version.digest, load)).files.map((f) => ({ path: f.path, sha256: f.entry.digest }));
    out.push({ ref: v.ref, versionId: v.version.id, digest: v.version.digest, files, erased });
  }
  return out;
}

/**
 * The version's tree with only the kept files (and its symlinks), written as new tree nodes, and
 * the rewritten tables as new files in their old places (and modes).
 */
async function composeKept(
  deps: EraseDeps,
  digest: string,
  keep: ReadonlySet<string>,
  rewritten: ReadonlyMap<string, Buffer>,
) {
  const listing = await listFlat(digest, treeLoader(deps));
  const files = listing.files.filter((f) => keep.has(f.path));
  const added = listing.files
    .filter((f) => rewritten.has(f.path))
    .map((f) => ({ path: f.path, mode: f.entry.mode, bytes: rewritten.get(f.path)! }));
  const flat: FlatEntry[] = files.map(({ path, entry }: { path: string; entry: FileEntry }) => ({
    path,
    type: 'file',
    size: entry.size,
    mode: entry.mode,
    digest: entry.digest,
    chunks: fileChunks(entry),
  }));
  for (const l of listing.symlinks) flat.push({ path: l.path, type: 'symlink', target: l.target });
  const c = await composeVersion(
    { packs: deps.packs, index: deps.index, packTarget: deps.config.storage.pack_size_mib * 1024 * 1024 },
    flat,
    added,
  );
  return { c, files, added, total: listing.files.length };
}

/**
 * Writes the version without the subject's files (only tree nodes are new: the kept files are
 * referenced by their chunks) and records it, unless a version of the dataset with exactly that
 * content exists and is not erased (a rerun after a crash). Null when nothing would be left.
 */
async function replace(
  deps: EraseDeps,
  ref: string,
  keep: ReadonlySet<string>,
  rewritten: ReadonlyMap<string, Buffer>,
): Promise<{ ref: string; digest: string } | null> {
  if (keep.size === 0 && rewritten.size === 0) return null;
  const v = await resolveVersion(deps.meta.db, ref);
  const { c, files, added, total } = await composeKept(deps, v.version.digest, keep, rewritten);
  const rootId = c.tree.rootId;
  const existing = await deps.meta.db
    .selectFrom('dataset_versions')
    .select(['number'])
    .where('dataset_id', '=', v.dataset.id)
    .where('digest', '=', rootId)
    .orderBy('number')
    .executeTakeFirst();
  if (existing && !(await erasureOfDigest(deps.meta.db, rootId))) {
    await c.discard();
    return { ref: `${v.dataset.name}@v${existing.number}`, digest: formatDigest(rootId) };
  }
  const upstream = (await edgesInto(deps.meta.db, 'dataset_version', v.version.id)).filter(
    (e) => e.src_type === 'dataset_version',
  );
  const message = rewritten.size
    ? `${v.ref} without the files and rows of an erased subject (${files.length + added.length} of ${total} files kept, ${added.length} of them rewritten without rows)`
    : `${v.ref} without the files of an erased subject (${files.length} of ${total} files kept)`;
  const stats = {
    files: c.tree.files,
    bytes: c.tree.bytes,
    dirs: c.tree.dirs,
    symlinks: c.tree.symlinks,
    chunks: c.chunkCount,
    newChunks: c.newChunks,
    newBytes: c.newBytes,
    extensions: extensionStats([
      ...files.map((f) => ({ path: f.path, size: f.entry.size })),
      ...added.map((a) => ({ path: a.path, size: a.bytes.length })),
    ]),
  };
  try {
    return await deps.audit.audited(
      {
        action: 'dataset.version.create',
        target: { type: 'dataset', name: v.dataset.name },
        inputs: [formatDigest(v.version.digest)],
      },
      (commit, draft) =>
        commit(async (tx) => {
          const r = await recordVersion(tx, deps, {
            name: v.dataset.name,
            message,
            rootId,
            stats,
            packs: c.packs,
            inputs: upstream.map((e) => ({ versionId: e.src_id, relation: e.relation })),
          });
          draft.target = { type: 'dataset', name: v.dataset.name, version: r.number, digest: formatDigest(rootId) };
          draft.outputs = [formatDigest(rootId)];
          draft.params = {
            message,
            files: stats.files,
            bytes: stats.bytes,
            newBytes: stats.newBytes,
            replaces: formatDigest(v.version.digest),
            tablesRewritten: added.length,
          };
          return { ref: `${v.dataset.name}@v${r.number}`, digest: formatDigest(rootId) };
        }),
    );
  } catch (err) {
    await c.discard();
    throw err;
  }
}

/**
 * Reads the files of the searched versions the path pattern does not already take, once per
 * distinct content, and searches them for the subject (subject-rows.ts). Returns what was found
 * by file digest, and the rewritten tables' bytes. A `--column` that no searched table has is
 * refused: a misspelt column would otherwise erase nothing and look like success.
 */
async function searchContents(
  deps: EraseDeps,
  candidates: readonly CandidateVersion[],
  matches: (path: string) => boolean,
  rules: readonly ContentRule[],
): Promise<{ hits: Map<string, FileHit>; bytes: Map<string, Buffer> }> {
  const hits = new Map<string, FileHit>();
  const bytes = new Map<string, Buffer>();
  if (rules.length === 0) return { hits, bytes };
  const tmp = join(deps.cacheDir, 'tmp');
  const seen = new Set<string>();
  const columns = new Set<string>();
  let tables = 0;
  for (const v of candidates) {
    if (v.erased) continue;
    const entries = new Map((await listFlat(v.digest, treeLoader(deps))).files.map((f) => [f.path, f.entry]));
    for (const f of v.files) {
      if (matches(f.path) || seen.has(f.sha256) || fileKind(f.path) === null) continue;
      seen.add(f.sha256);
      const r = await searchFile(f.path, await readEntry(deps, entries.get(f.path)!, f.path), rules, tmp);
      if (r.columns) {
        tables++;
        for (const c of r.columns) columns.add(c);
      }
      if (r.hit.type === 'file') hits.set(f.sha256, { type: 'file' });
      else if (r.hit.type === 'rows') {
        hits.set(f.sha256, { type: 'rows', rows: r.hit.rows, total: r.hit.total });
        bytes.set(f.sha256, r.hit.bytes);
      }
    }
  }
  for (const rule of rules)
    if (rule.kind === 'column' && tables > 0 && !columns.has(rule.column))
      throw new CairnError('INVALID_INPUT', `no table searched has a column ${JSON.stringify(rule.column)}`, {
        data: { columns: [...columns].sort().slice(0, 50) },
        hint: 'name a column the tables have (cairn data profile <ref>); nothing was erased',
      });
  return { hits, bytes };
}

/** A stored file's bytes, chunk by chunk from the packs. */
async function readEntry(deps: EraseDeps, e: FileEntry, path: string): Promise<Buffer> {
  const chunks = fileChunks(e);
  const locs = await deps.index.locate(chunks);
  const parts: Buffer[] = [];
  for (const id of chunks) {
    const loc = locs.get(id);
    if (!loc)
      throw new CairnError('MISSING_OBJECT', `chunk ${id} of ${path} is not in the store`, { data: { blob: id } });
    parts.push(await deps.reader.read(loc));
  }
  return Buffer.concat(parts);
}
