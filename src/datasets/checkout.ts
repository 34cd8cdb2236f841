import * as fs from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { formatDigest } from '../core/digest.js';
import { CairnError, ioError } from '../core/errors.js';
import { checkRelPath, inReservedDir } from '../core/paths.js';
import { materialize, type LinkMode } from '../storage/checkout/materialize.js';
import { checkoutFresh } from '../storage/checkout/fresh.js';
import { planCheckout, type Present, type Wanted } from '../storage/checkout/plan.js';
import { processAlive } from '../storage/locks/locks.js';
import { loadStatCache, nowMs, saveStatCache, type StatEntry } from '../storage/statcache/stat-cache.js';
import { checkSymlink, fileChunks } from '../storage/tree/node.js';
import { checkTreeLinks } from '../storage/tree/links.js';
import { listFlat } from '../storage/tree/list.js';
import type { DatasetDeps } from './deps.js';
import { resolveVersion } from './resolve.js';
import { assertNotErased } from './erased.js';
import { treeLoader } from './trees.js';
import { workingState } from './workdir.js';

export interface CheckoutInput {
  ref: string;
  dir: string;
  force?: boolean;
  link?: LinkMode;
  onProgress?: (bytes: number, total: number) => void;
}

export interface CheckoutResult {
  ref: string;
  digest: string;
  target: string;
  written: number;
  removed: number;
  unchanged: number;
  untracked: string[];
  bytes: number;
  method: string;
}

export async function checkoutVersion(
  deps: DatasetDeps & { root?: string },
  input: CheckoutInput,
): Promise<CheckoutResult> {
  const r = await resolveVersion(deps.meta.db, input.ref);
  const target = resolve(input.dir);
  const st = existingDirectory(input.dir, target);
  const where = placeInWorkspace(deps.root, target);
  const digest = formatDigest(r.version.digest);
  return deps.audit.audited(
    {
      action: 'dataset.checkout',
      target: { type: 'dataset', name: r.dataset.name, version: r.version.number, digest },
      inputs: [digest],
      params: where !== null ? { dir: where } : { dir: null, outsideWorkspace: true },
    },
    async (commit, draft) => {
      refuseReservedTarget(input.dir, target);
      await assertNotErased(deps.meta.db, r.version.digest, r.ref);
      if (!st || fs.readdirSync(target).length === 0) return checkoutIntoEmpty(deps, input, r, target, commit, draft);
      const load = treeLoader(deps);
      const listing = await listFlat(r.version.digest, load);
      const wanted = wantedOf(listing);
      if (!st) fs.mkdirSync(target, { recursive: true });
      const record = loadStatCache(deps.cacheDir, target);
      const { present, carried } = await presentIn(deps, target, record);
      const tracked = await trackedBy(record?.version ?? null, load);
      const plan = planCheckout(wanted, present, tracked, input.force === true);
      if (plan.conflicts.length > 0) throw localChanges(input.dir, plan.conflicts);
      for (const p of plan.remove) {
        const abs = join(target, p);
        try {
          fs.rmSync(abs, { force: true });
          pruneEmptyParents(target, dirname(abs));
        } catch (err) {
          throw ioError(err, 'remove', abs);
        }
      }
      const total = plan.write.reduce((n, w) => n + (w.entry.type === 'file' ? w.entry.size : 0), 0);
      let done = 0;
      const stats = await materialize(target, plan.write, {
        pool: deps.pool,
        index: deps.index,
        packs: deps.packs,
        fileCacheDir: join(deps.cacheDir, 'files'),
        link: input.link ?? 'auto',
        onProgress: (b) => {
          done += b;
          input.onProgress?.(done, total);
        },
      });
      rememberCheckout(
        deps.cacheDir,
        target,
        { digest: r.version.digest, dataset: r.dataset.name, ref: r.ref },
        listing,
        wanted,
        carried,
      );
      await commit(async () => {
        const counts = { written: stats.files, removed: plan.remove.length, bytes: stats.bytes, method: stats.method };
        draft.params = { ...draft.params, ...counts };
      });
      return {
        ref: r.ref,
        digest,
        target,
        written: plan.write.filter((w) => w.entry.type !== 'dir').length,
        removed: plan.remove.length,
        unchanged: plan.unchanged,
        untracked: plan.untracked,
        bytes: stats.bytes,
        method: stats.method,
      };
    },
  );
}

type Audited = Parameters<Parameters<DatasetDeps['audit']['audited']>[1]>;

/** Nothing there to compare, remove or protect: written folder by folder, no listing held (issue 16). */
async function checkoutIntoEmpty(
  deps: DatasetDeps,
  input: CheckoutInput,
  r: Awaited<ReturnType<typeof resolveVersion>>,
  target: string,
  commit: Audited[0],
  draft: Audited[1],
): Promise<CheckoutResult> {
  fs.mkdirSync(target, { recursive: true });
  let total = 0;
  let done = 0;
  const out = await checkoutFresh(target, r.version.digest, treeLoader(deps, { cache: false }), {
    pool: deps.pool,
    index: deps.index,
    packs: deps.packs,
    fileCacheDir: join(deps.cacheDir, 'files'),
    link: input.link ?? 'auto',
    cacheDir: deps.cacheDir,
    meta: { dataset: r.dataset.name, ref: r.ref },
    onTotal: (t) => {
      total = t;
    },
    onProgress: (b) => {
      done += b;
      input.onProgress?.(done, total);
    },
  });
  await commit(async () => {
    draft.params = { ...draft.params, written: out.files, removed: 0, bytes: out.bytes, method: out.method };
  });
  return {
    ref: r.ref,
    digest: formatDigest(r.version.digest),
    target,
    written: out.files + out.symlinks,
    removed: 0,
    unchanged: 0,
    untracked: [],
    bytes: out.bytes,
    method: out.method,
  };
}

type Listing = Awaited<ReturnType<typeof listFlat>>;

/** The target's stat when it exists (it must be a directory), else null. */
function existingDirectory(given: string, target: string): fs.Stats | null {
  let st: fs.Stats | null = null;
  try {
    st = fs.statSync(target);
  } catch {
    st = null;
  }
  if (st && !st.isDirectory())
    throw new CairnError('USAGE', `${given} exists and is not a directory`, {
      hint: 'check out into a new or existing directory',
    });
  return st;
}

/**
 * The target relative to the workspace, or null outside it: a directory outside is recorded only
 * as such, since absolute paths often hold a person's name (home directories) and events may
 * carry no personal data but the actor's id.
 */
function placeInWorkspace(root: string | undefined, target: string): string | null {
  if (root === undefined) return null;
  const rel = relative(root, target);
  return rel.startsWith('..') || isAbsolute(rel) ? null : rel || '.';
}

/** What the version holds, refused whole if unsafe before the disk is touched (not halfway through writing it). */
function wantedOf(listing: Listing): Wanted[] {
  const wanted: Wanted[] = [];
  for (const d of listing.dirs) wanted.push({ path: d, type: 'dir' });
  for (const { path, entry: e } of listing.files)
    wanted.push({ path, type: 'file', digest: e.digest, size: e.size, mode: e.mode, chunks: fileChunks(e) });
  for (const l of listing.symlinks) wanted.push({ path: l.path, type: 'symlink', target: l.target });
  for (const w of wanted) {
    checkRelPath(w.path);
    if (w.type === 'symlink') checkSymlink(w.path, w.target);
  }
  checkTreeLinks(listing.symlinks);
  return wanted;
}

/** What the target holds now (hashed where the stat cache cannot vouch for it). */
async function presentIn(deps: DatasetDeps, target: string, record: ReturnType<typeof loadStatCache>) {
  const present = new Map<string, Present>();
  let carried = new Map<string, StatEntry>();
  if (fs.readdirSync(target).length === 0) return { present, carried };
  const work = await workingState(deps.pool, target, record);
  for (const [p, w] of work.entries) {
    // What a killed checkout left: its temporary files, never under a final name.
    if (w.type === 'file' && isStaleCheckoutTemp(p)) {
      fs.rmSync(join(target, p), { force: true });
      continue;
    }
    present.set(p, w.type === 'file' ? { type: 'file', digest: w.digest, mode: w.mode } : w);
  }
  carried = work.cache.entries;
  return { present, carried };
}

/** The files the previous checkout wrote here (so the user's own edits can be told apart), if known. */
async function trackedBy(prevDigest: string | null, load: ReturnType<typeof treeLoader>) {
  if (!prevDigest) return null;
  const tracked = new Map<string, string>();
  try {
    const prev = await listFlat(prevDigest, load);
    for (const f of prev.files) tracked.set(f.path, f.entry.digest);
    for (const l of prev.symlinks) tracked.set(l.path, `->${l.target}`);
  } catch {
    return null;
  }
  return tracked;
}

function localChanges(dir: string, conflicts: Array<{ path: string; reason: string }>): CairnError {
  const shown = conflicts.slice(0, 5).map((c) => `${c.path} (${c.reason})`);
  return new CairnError(
    'LOCAL_CHANGES',
    `checkout would overwrite ${conflicts.length} local change(s) in ${dir}: ${shown.join(', ')}${conflicts.length > 5 ? ', …' : ''}`,
    {
      data: { conflicts },
      hint: 'commit them as a new version with `cairn data add`, move them away, or pass --force to overwrite',
    },
  );
}

/** Remembers what the directory now holds, so status and the next checkout are cheap and can tell our files from the user's edits. */
function rememberCheckout(
  cacheDir: string,
  target: string,
  version: { digest: string; dataset: string; ref: string },
  listing: Listing,
  wanted: readonly Wanted[],
  carried: Map<string, StatEntry>,
): void {
  const started = nowMs();
  const entries = new Map<string, StatEntry>();
  for (const w of wanted) {
    if (w.type !== 'file') continue;
    const prev = carried.get(w.path);
    if (prev && prev.digest === w.digest) {
      entries.set(w.path, prev);
      continue;
    }
    const s = fs.lstatSync(join(target, w.path));
    entries.set(w.path, {
      ino: s.ino,
      size: s.size,
      mtimeMs: s.mtimeMs,
      ctimeMs: s.ctimeMs,
      mode: w.mode,
      digest: w.digest,
      ...(w.chunks.length > 1 ? { chunks: w.chunks } : {}),
    });
  }
  saveStatCache(cacheDir, {
    v: 2,
    root: target,
    scannedAtMs: started,
    version: version.digest,
    links: listing.symlinks.map((l) => [l.path, l.target] as [string, string]),
    dirs: listing.dirs,
    meta: { dataset: version.dataset, ref: version.ref },
    entries,
  });
}

/**
 * A workspace's `.cairn` (its database, signing key and store) is never a checkout target, nor
 * anything inside it, however it is named: through `..`, or through a symlink to it.
 */
function refuseReservedTarget(given: string, target: string): void {
  let real = target;
  for (let p = target; ; p = dirname(p)) {
    try {
      real = join(fs.realpathSync(p), relative(p, target));
      break;
    } catch {
      if (dirname(p) === p) break;
    }
  }
  if (inReservedDir(target) || inReservedDir(real)) {
    throw new CairnError(
      'PATH_UNSAFE',
      `refusing to check out into ${given}: it is inside a .cairn directory, which holds a workspace's metadata`,
      {
        data: { dir: given },
        hint: 'check out into another directory',
      },
    );
  }
}

/** A temporary file of a checkout whose process is gone (materialize names them). */
function isStaleCheckoutTemp(path: string): boolean {
  const m = /^\.cairn-tmp-(\d+)-[0-9a-f]{12}$/.exec(path.slice(path.lastIndexOf('/') + 1));
  return m !== null && Number(m[1]) !== process.pid && !processAlive(Number(m[1]));
}

function pruneEmptyParents(root: string, dir: string): void {
  while (dir.startsWith(root) && dir !== root) {
    try {
      fs.rmdirSync(dir);
    } catch {
      return;
    }
    dir = dirname(dir);
  }
}
