import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CairnError } from '../core/errors.js';
import { checkoutVersion } from '../datasets/index.js';
import type { DatasetDeps } from '../datasets/index.js';
import { treeLoader } from '../datasets/index.js';
import { openRemote, pickRemote, pull, readState, versionPacks, type RemotesPort } from '../transfer/index.js';
import { resolveModel } from './registry.js';

/**
 * `cairn.lock`: the models a product uses, pinned by digest, committed to the product's
 * repository. A digest names the exact bytes, so a lock can only be satisfied by them.
 */
export interface LockFile {
  format: 'cairn.lock/v1';
  models: Record<string, { ref: string; digest: string }>;
}

export function readLock(path: string): LockFile {
  let l: LockFile;
  try {
    l = JSON.parse(readFileSync(path, 'utf8')) as LockFile;
  } catch (err) {
    throw new CairnError('INVALID_INPUT', `cannot read ${path}: ${(err as Error).message}`);
  }
  if (l?.format !== 'cairn.lock/v1' || !l.models || typeof l.models !== 'object')
    throw new CairnError('INVALID_INPUT', `${path} is not a cairn.lock/v1 file`);
  for (const [n, e] of Object.entries(l.models)) {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/.test(n) || !/^sha256:[0-9a-f]{64}$/.test(e?.digest ?? ''))
      throw new CairnError(
        'INVALID_INPUT',
        `${path}: entry ${JSON.stringify(n)} needs a model name and a sha256 digest`,
      );
  }
  return l;
}

/** Pins a model version in a lock file (creating it), replacing that model's previous pin. */
export async function lockModel(deps: Pick<DatasetDeps, 'meta'>, ref: string, path: string): Promise<LockFile> {
  const m = await resolveModel(deps, ref);
  const lock: LockFile = existsSync(path) ? readLock(path) : { format: 'cairn.lock/v1', models: {} };
  lock.models[m.model.name] = { ref: m.ref, digest: `sha256:${m.version.digest}` };
  lock.models = Object.fromEntries(Object.entries(lock.models).sort(([a], [b]) => (a < b ? -1 : 1)));
  writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
  return lock;
}

/**
 * Materializes every locked model into `<dir>/<name>/`, verifying each chunk on the way; a
 * model not in this workspace is pulled from the remote by its digest first. Anything that
 * does not match its pin is an error, never a silent substitute.
 */
export async function fetchLocked(
  deps: DatasetDeps & { cairnDir: string; remotes: RemotesPort },
  lockPath: string,
  dir: string,
  opts: { remote?: string } = {},
): Promise<Array<{ name: string; digest: string; dir: string; files: number; pulled: boolean }>> {
  const lock = readLock(lockPath);
  const out = [];
  for (const [name, e] of Object.entries(lock.models)) {
    const hex = e.digest.slice(7);
    let local = await deps.meta.db
      .selectFrom('dataset_versions as v')
      .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
      .select(['d.name', 'v.number'])
      .where('v.digest', '=', hex)
      .executeTakeFirst();
    let pulled = false;
    // Metadata alone (a clone) is not enough: every object of the version must be here.
    const havePacks = async () =>
      versionPacks(deps.meta.db, hex, treeLoader(deps)).then(
        () => true,
        () => false,
      );
    if (!local || !(await havePacks())) {
      const { config } = pickRemote(deps.remotes.load(), opts.remote);
      const r = await openRemote(deps, config);
      const state = await readState(r.data).finally(() => r.close());
      const v = state?.versions.find((x) => x.digest === hex);
      const d = v && state!.datasets.find((x) => x.id === v.dataset_id);
      if (!v || !d)
        throw new CairnError(
          'NOT_FOUND',
          `${name} is pinned to ${e.digest}, which neither this workspace nor the remote holds`,
          { hint: 'push the model from the workspace that registered it' },
        );
      await pull(
        { ...deps, workspaceId: 'fetch' },
        [`${d.name}@sha256:${hex}`],
        opts.remote ? { remote: opts.remote } : {},
      );
      local = { name: d.name, number: v.number };
      pulled = true;
    }
    const target = join(resolve(dir), name);
    const c = await checkoutVersion(deps, { ref: `${local.name}@sha256:${hex}`, dir: target, force: true });
    if (c.digest !== e.digest)
      throw new CairnError('CORRUPT_OBJECT', `${name}: materialized ${c.digest}, pinned ${e.digest}`);
    out.push({ name, digest: e.digest, dir: target, files: c.written + c.unchanged, pulled });
  }
  return out;
}
