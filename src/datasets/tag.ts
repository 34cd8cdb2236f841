import { formatDigest } from '../core/digest.js';
import { CairnError } from '../core/errors.js';
import { checkTagName } from '../core/names.js';
import { formatRef } from '../core/refs.js';
import { isoUtc } from '../core/time.js';
import { findTag, setTag, versionById } from '../meta/repos/datasets.js';
import type { DatasetDeps } from './deps.js';
import { resolveVersion } from './resolve.js';

export interface TagResult {
  dataset: string;
  tag: string;
  ref: string;
  digest: string;
  movedFrom: string | null;
}

/** Tags are stable names for versions; moving one needs --force and is audited as such. */
export async function tagVersion(
  deps: DatasetDeps,
  ref: string,
  tagName: string,
  opts: { force?: boolean } = {},
): Promise<TagResult> {
  const tag = checkTagName(tagName);
  const r = await resolveVersion(deps.meta.db, ref);
  const target = {
    type: 'dataset',
    name: r.dataset.name,
    version: r.version.number,
    digest: formatDigest(r.version.digest),
  };
  return deps.audit.audited(
    { action: 'dataset.tag', target, params: { tag, force: opts.force === true } },
    async (commit, draft) => {
      const existing = await findTag(deps.meta.db, r.dataset.id, tag);
      let movedFrom: string | null = null;
      if (existing) {
        if (existing.version_id === r.version.id) {
          return { dataset: r.dataset.name, tag, ref: r.ref, digest: target.digest, movedFrom: null };
        }
        const prev = await versionById(deps.meta.db, existing.version_id);
        movedFrom = prev ? formatRef(r.dataset.name, prev.number) : null;
        if (!opts.force) {
          throw new CairnError('ALREADY_EXISTS', `tag ${tag} already points to ${movedFrom}`, {
            data: { tag, current: movedFrom },
            hint: `pass --force to move it to ${r.ref}`,
          });
        }
      }
      await commit(async (tx) => {
        await setTag(tx, {
          dataset_id: r.dataset.id,
          tag,
          version_id: r.version.id,
          created_at: isoUtc(deps.clock.now()),
          created_by: deps.actor().id,
        });
        draft.outputs = [target.digest];
        if (movedFrom) draft.params = { ...draft.params, movedFrom };
      });
      return { dataset: r.dataset.name, tag, ref: r.ref, digest: target.digest, movedFrom };
    },
  );
}
