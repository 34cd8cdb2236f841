import { CairnError } from '../core/errors.js';
import { formatRef, parseRef } from '../core/refs.js';
import {
  findDataset,
  findTag,
  latestVersion,
  versionById,
  versionByNumber,
  versionsByDigestPrefix,
} from '../meta/repos/datasets.js';
import type { DatasetRow, DatasetVersionRow } from '../meta/schema.js';
import type { ReadDb } from '../meta/read-db.js';

export interface ResolvedVersion {
  dataset: DatasetRow;
  version: DatasetVersionRow;
  /** Canonical ref, e.g. flights@v3. */
  ref: string;
}

export async function resolveDataset(db: ReadDb, name: string): Promise<DatasetRow> {
  const ds = await findDataset(db, name);
  if (!ds) {
    throw new CairnError('NOT_FOUND', `no dataset named ${JSON.stringify(name)}`, {
      data: { dataset: name },
      hint: 'list datasets with `cairn data ls`',
    });
  }
  return ds;
}

export async function resolveVersion(db: ReadDb, refText: string): Promise<ResolvedVersion> {
  const ref = parseRef(refText);
  const dataset = await resolveDataset(db, ref.dataset);
  const sel = ref.selector;
  let version: DatasetVersionRow | undefined;
  switch (sel.kind) {
    case 'latest':
      version = await latestVersion(db, dataset.id);
      if (!version)
        throw new CairnError('NOT_FOUND', `dataset ${dataset.name} has no versions`, {
          hint: `add one with \`cairn data add <path> --name ${dataset.name}\``,
        });
      break;
    case 'number':
      version = await versionByNumber(db, dataset.id, sel.number);
      if (!version)
        throw new CairnError('NOT_FOUND', `${dataset.name} has no version v${sel.number}`, {
          hint: `see \`cairn data log ${dataset.name}\``,
        });
      break;
    case 'tag': {
      const t = await findTag(db, dataset.id, sel.tag);
      version = t ? await versionById(db, t.version_id) : undefined;
      if (!version)
        throw new CairnError('NOT_FOUND', `${dataset.name} has no tag ${JSON.stringify(sel.tag)}`, {
          hint: `see \`cairn data log ${dataset.name}\``,
        });
      break;
    }
    case 'digest': {
      const found = await versionsByDigestPrefix(db, dataset.id, sel.prefix);
      if (found.length === 0) {
        throw new CairnError('NOT_FOUND', `${dataset.name} has no version with digest sha256:${sel.prefix}…`, {
          hint: `see the digests with \`cairn data log ${dataset.name}\``,
        });
      }
      if (new Set(found.map((v) => v.digest)).size > 1) {
        throw new CairnError(
          'AMBIGUOUS_REF',
          `sha256:${sel.prefix} matches ${found.length} versions of ${dataset.name}`,
          {
            data: { matches: found.map((v) => formatRef(dataset.name, v.number)) },
            hint: 'give more hex digits',
          },
        );
      }
      // The same content added twice has one digest; the latest such version answers.
      version = found[found.length - 1];
      break;
    }
  }
  return { dataset, version: version!, ref: formatRef(dataset.name, version!.number) };
}
