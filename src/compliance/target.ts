import { formatDigest } from '../core/digest.js';
import { CairnError } from '../core/errors.js';
import { resolveVersion } from '../datasets/index.js';
import type { ReadDb } from '../meta/read-db.js';

/** The dataset version a hold or an erasure acts on: a dataset ref, or `model:name@vN` (its files). */
export interface VersionTarget {
  /** What the user named, normalized (`flights@v3`, `model flight-late@v3`). */
  ref: string;
  versionId: string;
  dataset: string;
  number: number;
  /** Bare hex root digest. */
  digest: string;
  createdAt: string;
}

export async function resolveTarget(db: ReadDb, ref: string): Promise<VersionTarget> {
  if (!ref.startsWith('model:')) {
    const v = await resolveVersion(db, ref);
    return {
      ref: v.ref,
      versionId: v.version.id,
      dataset: v.dataset.name,
      number: Number(v.version.number),
      digest: v.version.digest,
      createdAt: v.version.created_at,
    };
  }
  const m = /^model:([^@]+)@v(\d+)$/.exec(ref);
  if (!m)
    throw new CairnError('INVALID_REF', `${JSON.stringify(ref)} is not model:<name>@v<N>`, {
      hint: 'name a model version by number, e.g. model:flight-late@v3 (aliases move; a hold must not)',
    });
  const row = await db
    .selectFrom('model_versions as mv')
    .innerJoin('models as m', 'm.id', 'mv.model_id')
    .select(['mv.files_version_id', 'mv.number'])
    .where('m.name', '=', m[1]!)
    .where('mv.number', '=', Number(m[2]))
    .executeTakeFirst();
  if (!row)
    throw new CairnError('NOT_FOUND', `model ${m[1]} has no version v${m[2]}`, {
      hint: `see cairn model versions ${m[1]}`,
    });
  const files = await db
    .selectFrom('dataset_versions as v')
    .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
    .select(['v.id', 'v.number', 'v.digest', 'v.created_at', 'd.name'])
    .where('v.id', '=', row.files_version_id)
    .executeTakeFirstOrThrow();
  return {
    ref: `model ${m[1]}@v${m[2]} (files ${files.name}@v${files.number})`,
    versionId: files.id,
    dataset: files.name,
    number: Number(files.number),
    digest: files.digest,
    createdAt: files.created_at,
  };
}

export function targetOf(t: VersionTarget) {
  return { type: 'dataset', name: t.dataset, version: t.number, digest: formatDigest(t.digest) };
}
