import { canonicalJson } from '../core/canonical-json.js';
import { sha256Hex } from '../core/digest.js';
import { uuidv7 } from '../core/ids.js';
import { isoUtc } from '../core/time.js';
import { recordPacks, type PackRecord } from '../meta/repos/chunks.js';
import { createDataset, findDataset, insertVersion, latestVersion, nextVersionNumber } from '../meta/repos/datasets.js';
import { addEdges } from '../meta/repos/lineage.js';
import { insertReport, putDocument } from '../meta/repos/reports.js';
import type { WriteTx } from '../meta/write-tx.js';
import type { DatasetDeps } from './deps.js';
import type { VersionStats } from './stats.js';

/** A document (suite, recipe) that made a version; stored by digest and named by lineage edges. */
export interface MadeBy {
  kind: 'recipe' | 'suite' | 'split';
  name: string;
  body: string;
}

export interface NewVersion {
  name: string;
  message: string;
  rootId: string;
  stats: VersionStats;
  packs: readonly PackRecord[];
  /** Versions this one was built from (lineage edges into it). */
  inputs?: Array<{ versionId: string; relation: string }>;
  madeBy?: MadeBy;
  /** Reports stored with the new version (profile, leakage, cleaning…). */
  reports?: Array<{ kind: string; summary: unknown; body: unknown }>;
}

export interface RecordedVersion {
  versionId: string;
  datasetId: string;
  number: number;
  madeByDigest: string | null;
}

/**
 * Inside an audited transaction: records packs, the dataset (if new), the next version
 * number, lineage edges (via the document that made it, by digest) and reports — the one
 * place every capability that produces versions goes through.
 */
export async function recordVersion(
  tx: WriteTx,
  deps: Pick<DatasetDeps, 'clock' | 'actor'>,
  v: NewVersion,
): Promise<RecordedVersion> {
  const now = isoUtc(deps.clock.now());
  const actor = deps.actor().id;
  await recordPacks(tx, v.packs, now);
  let ds = await findDataset(tx.db, v.name);
  if (!ds) {
    ds = { id: uuidv7(), name: v.name, created_at: now, created_by: actor };
    await createDataset(tx, ds);
  }
  const number = await nextVersionNumber(tx, ds.id);
  const parent = await latestVersion(tx.db, ds.id);
  const versionId = uuidv7();
  await insertVersion(tx, {
    id: versionId,
    dataset_id: ds.id,
    number,
    digest: v.rootId,
    parent_id: parent?.id ?? null,
    message: v.message,
    author: actor,
    created_at: now,
    file_count: v.stats.files,
    total_bytes: v.stats.bytes,
    new_bytes: v.stats.newBytes,
    stats: canonicalJson(v.stats),
  });
  let madeByDigest: string | null = null;
  if (v.madeBy) {
    madeByDigest = sha256Hex(v.madeBy.body);
    await putDocument(tx, {
      digest: madeByDigest,
      kind: v.madeBy.kind,
      name: v.madeBy.name,
      body: v.madeBy.body,
      created_at: now,
    });
  }
  await addEdges(
    tx,
    (v.inputs ?? []).map((i) => ({
      id: uuidv7(),
      src_type: 'dataset_version',
      src_id: i.versionId,
      dst_type: 'dataset_version',
      dst_id: versionId,
      relation: i.relation,
      via_type: v.madeBy ? v.madeBy.kind : null,
      via_id: madeByDigest,
      created_at: now,
    })),
  );
  for (const r of v.reports ?? []) await storeReport(tx, deps, versionId, r);
  return { versionId, datasetId: ds.id, number, madeByDigest };
}

export async function storeReport(
  tx: WriteTx,
  deps: Pick<DatasetDeps, 'clock' | 'actor'>,
  versionId: string,
  r: { kind: string; summary: unknown; body: unknown },
): Promise<string> {
  const body = canonicalJson(r.body);
  const digest = sha256Hex(body);
  await insertReport(tx, {
    id: uuidv7(),
    version_id: versionId,
    kind: r.kind,
    digest,
    created_at: isoUtc(deps.clock.now()),
    created_by: deps.actor().id,
    summary: canonicalJson(r.summary),
    body,
  });
  return digest;
}
