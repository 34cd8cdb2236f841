import { join } from 'node:path';
import { CairnError } from '../core/errors.js';
import { blobsLocate } from '../meta/repos/chunks.js';
import type { WriteTx } from '../meta/write-tx.js';
import { fileChunks } from '../storage/tree/node.js';
import type { TreeLoader } from '../storage/tree/walk.js';
import { emptyState, type RemoteState, type VersionRow } from './state.js';
import type { ReadDb } from '../meta/read-db.js';
import { allErasures } from '../meta/repos/retention.js';
import { modelEdgeTravels } from './vouch.js';
import { runRecord, writeMetricPoints } from '../compute/index.js';
import { isoUtc } from '../core/time.js';
import type { ImportedRun } from './vouch-runs.js';
import type { ImportedEvaluation } from './vouch-evaluations.js';

/** The statuses of a run that travels: ended by an event of its own (reused and refused runs are the ledger's). */
export const TRAVELLING_RUNS = ['completed', 'failed', 'cancelled', 'timeout', 'node_fail'] as const;

/** Every blob a version needs: its trees and its files' chunks. */
export async function versionBlobs(rootId: string, load: TreeLoader): Promise<Set<string>> {
  const blobs = new Set<string>();
  const visit = async (id: string): Promise<void> => {
    if (blobs.has(id)) return;
    blobs.add(id);
    const node = await load(id);
    const subs: Array<Promise<void>> = [];
    for (const e of node.entries) {
      if (e.type === 'file') for (const c of fileChunks(e)) blobs.add(c);
      else if (e.type === 'dir') subs.push(visit(e.tree));
    }
    await Promise.all(subs);
  };
  await visit(rootId);
  return blobs;
}

/** The packs holding a version's blobs (each blob's recorded location). */
export async function versionPacks(db: ReadDb, rootId: string, load: TreeLoader): Promise<string[]> {
  const blobs = [...(await versionBlobs(rootId, load))];
  const where = await blobsLocate(db, blobs);
  const missing = blobs.filter((b) => !where.has(b));
  if (missing.length) {
    throw new CairnError(
      'MISSING_OBJECT',
      `${missing.length} object(s) of version sha256:${rootId} are not in the local store`,
      {
        data: { blobs: missing.slice(0, 20) },
        hint: 'pull the version first (cairn pull), or run cairn fsck',
      },
    );
  }
  return [...new Set([...where.values()].map((l) => l.pack_id))].sort();
}

/**
 * The local metadata of `versionIds` (all versions when null) as a remote state: rows
 * verbatim, plus lineage edges, reports and documents that mention them, and each version's
 * pack list.
 */
export async function localState(
  db: ReadDb,
  versionIds: readonly string[] | null,
  load: TreeLoader,
  onVersion?: (done: number, total: number) => void,
): Promise<RemoteState> {
  let versions: VersionRow[] = await db
    .selectFrom('dataset_versions')
    .selectAll()
    .orderBy('dataset_id')
    .orderBy('number')
    .execute();
  if (versionIds) {
    const want = new Set(versionIds);
    versions = versions.filter((v) => want.has(v.id));
  }
  const datasetIds = new Set(versions.map((v) => v.dataset_id));
  const ids = new Set(versions.map((v) => v.id));
  const s = emptyState();
  s.datasets = (await db.selectFrom('datasets').selectAll().orderBy('name').execute()).filter((d) =>
    datasetIds.has(d.id),
  );
  let done = 0;
  // An erased version's record travels (other rows point at it), its bytes are gone on purpose.
  const erased = new Set((await allErasures(db)).map((e) => e.version_id));
  for (const v of versions) {
    s.versions.push({ ...v, packs: erased.has(v.id) ? [] : await versionPacks(db, v.digest, load) });
    onVersion?.(++done, versions.length);
  }
  s.tags = (await db.selectFrom('dataset_tags').selectAll().execute()).filter((t) => ids.has(t.version_id));
  // Model versions whose files travel (every one, on a whole push): rows verbatim, card included.
  s.modelVersions = (
    await db.selectFrom('model_versions').selectAll().orderBy('model_id').orderBy('number').execute()
  ).filter((m) => ids.has(m.files_version_id));
  const modelIds = new Set(s.modelVersions.map((m) => m.model_id));
  const modelVersionIds = new Set(s.modelVersions.map((m) => m.id));
  s.models = (await db.selectFrom('models').selectAll().orderBy('name').execute()).filter((m) => modelIds.has(m.id));
  // Lineage between pushed versions (and their recipes): an edge to a version left behind
  // would point nowhere on the other side. Of a model version's edges only its registration's.
  s.lineage = (await db.selectFrom('lineage_edges').selectAll().orderBy('id').execute()).filter(
    (e) =>
      (e.dst_type !== 'dataset_version' || ids.has(e.dst_id)) &&
      (e.src_type !== 'dataset_version' || ids.has(e.src_id)) &&
      modelEdgeTravels(e, (id) => modelVersionIds.has(id)),
  );
  s.reports = (await db.selectFrom('reports').selectAll().orderBy('id').execute()).filter((r) => ids.has(r.version_id));
  s.runs = await localRuns(db, versionIds ? ids : null);
  // Evaluations of the model versions that travel, on a test set that travels too (every one on a
  // whole push): the receiving side refuses one whose test set it would not hold.
  s.evaluations = (await db.selectFrom('model_evaluations').selectAll().orderBy('id').execute()).filter(
    (e) =>
      modelVersionIds.has(e.version_id) && (!versionIds || (e.data_version_id !== null && ids.has(e.data_version_id))),
  );
  s.documents = await db.selectFrom('documents').selectAll().orderBy('digest').execute();
  const packIds = new Set(s.versions.flatMap((v) => v.packs));
  s.packs = (await db.selectFrom('packs').select(['id', 'size']).orderBy('id').execute())
    .filter((p) => packIds.has(p.id))
    .map((p) => ({ id: p.id, size: Number(p.size) }));
  return s;
}

/**
 * The finished runs that travel: every one on a whole push, else those whose output version is
 * pushed. Their inputs need not be: the receiving side refuses a run whose inputs it lacks.
 */
async function localRuns(db: ReadDb, outputs: ReadonlySet<string> | null): Promise<RemoteState['runs']> {
  const rows = await db
    .selectFrom('runs')
    .selectAll()
    .where('status', 'in', [...TRAVELLING_RUNS])
    .orderBy('id')
    .execute();
  const out: RemoteState['runs'] = [];
  for (const { dir: _dir, metrics_offset: _offset, ...row } of rows) {
    if (outputs && !(row.output_version_id && outputs.has(row.output_version_id))) continue;
    out.push({ ...row, ...(await runRecord(db, row.id)) });
  }
  return out;
}

/**
 * Writes the rows of `remote` this workspace lacks (inside the caller's audited transaction).
 * The caller has already checked for conflicts with mergeState; rows that exist are skipped.
 */
export async function importState(
  tx: WriteTx,
  remote: RemoteState,
  runs: {
    cairnDir: string;
    imported: readonly ImportedRun[];
    now: Date;
    importedEvaluations?: readonly ImportedEvaluation[];
  } = {
    cairnDir: '',
    imported: [],
    now: new Date(0),
  },
): Promise<{ datasets: number; versions: number; modelVersions: number; runs: number; evaluations: number }> {
  const db = tx.db;
  let datasets = 0;
  let versions = 0;
  let modelVersions = 0;
  const haveDatasets = new Set((await db.selectFrom('datasets').select('id').execute()).map((d) => d.id));
  for (const d of remote.datasets) {
    if (haveDatasets.has(d.id)) continue;
    await db.insertInto('datasets').values(d).execute();
    datasets++;
  }
  const haveVersions = new Set((await db.selectFrom('dataset_versions').select('id').execute()).map((v) => v.id));
  // Parents first: a version's parent_id must exist when it is inserted.
  const ordered = [...remote.versions].sort((a, b) => a.number - b.number);
  for (const { packs: _packs, ...v } of ordered) {
    if (haveVersions.has(v.id)) continue;
    await db.insertInto('dataset_versions').values(v).execute();
    versions++;
  }
  // Models after the dataset versions their files are in; lineage after the model versions.
  const haveModels = new Set((await db.selectFrom('models').select('id').execute()).map((m) => m.id));
  for (const m of remote.models) {
    if (haveModels.has(m.id)) continue;
    await db.insertInto('models').values(m).execute();
  }
  const haveModelVersions = new Set((await db.selectFrom('model_versions').select('id').execute()).map((v) => v.id));
  for (const v of remote.modelVersions) {
    if (haveModelVersions.has(v.id)) continue;
    await db.insertInto('model_versions').values(v).execute();
    modelVersions++;
  }
  const importedRuns = await importRuns(tx, remote, runs);
  const evaluations = await importEvaluations(tx, remote, runs.importedEvaluations ?? [], runs.now);
  for (const t of remote.tags) {
    await db
      .insertInto('dataset_tags')
      .values(t)
      .onConflict((oc) =>
        oc
          .columns(['dataset_id', 'tag'])
          .doUpdateSet({ version_id: t.version_id, created_at: t.created_at, created_by: t.created_by })
          .where('dataset_tags.created_at', '<', t.created_at),
      )
      .execute();
  }
  for (const e of remote.lineage)
    await db
      .insertInto('lineage_edges')
      .values(e)
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  for (const r of remote.reports)
    await db
      .insertInto('reports')
      .values(r)
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  for (const d of remote.documents)
    await db
      .insertInto('documents')
      .values(d)
      .onConflict((oc) => oc.column('digest').doNothing())
      .execute();
  return { datasets, versions, modelVersions, runs: importedRuns, evaluations };
}

/**
 * Inserts the evaluations planEvaluationImport accepted (after the versions they name): the row
 * as the plan rebuilt it, its lineage (the version evaluated, the test set), and where it came
 * from (`evaluation_imports`), which marks it as not this side's own verdict.
 */
async function importEvaluations(
  tx: WriteTx,
  remote: RemoteState,
  imported: readonly ImportedEvaluation[],
  now: Date,
): Promise<number> {
  const db = tx.db;
  const provenance = new Map(imported.map((e) => [e.evaluation, e]));
  const have = new Set((await db.selectFrom('model_evaluations').select('id').execute()).map((e) => e.id));
  let n = 0;
  for (const row of remote.evaluations) {
    const from = provenance.get(row.id);
    if (have.has(row.id) || !from) continue;
    await db.insertInto('model_evaluations').values(row).execute();
    await db
      .insertInto('evaluation_imports')
      .values({
        evaluation_id: row.id,
        origin: from.origin,
        workspace: from.workspace,
        event_index: from.index,
        author: from.author,
        imported_by: from.registrant,
        imported_at: isoUtc(now),
      })
      .execute();
    n++;
  }
  return n;
}

/**
 * Inserts the runs planImport accepted (after the dataset versions they name): the row as the
 * plan rebuilt it, its parameters and points, and where it came from (`run_imports`). Its files
 * (logs, checkpoints) stay on the machine that ran it: its folder here is empty.
 */
async function importRuns(
  tx: WriteTx,
  remote: RemoteState,
  o: { cairnDir: string; imported: readonly ImportedRun[]; now: Date },
): Promise<number> {
  const db = tx.db;
  const provenance = new Map(o.imported.map((r) => [r.run, r]));
  const have = new Set((await db.selectFrom('runs').select('id').execute()).map((r) => r.id));
  let n = 0;
  for (const { params, metrics, ...row } of remote.runs) {
    const from = provenance.get(row.id);
    if (have.has(row.id) || !from) continue;
    await db
      .insertInto('runs')
      .values({ ...row, dir: join(o.cairnDir, 'runs', row.id), metrics_offset: 0 })
      .execute();
    if (params.length)
      await db
        .insertInto('run_params')
        .values(params.map((p) => ({ run_id: row.id, ...p })))
        .execute();
    await writeMetricPoints(db, row.id, metrics);
    await db
      .insertInto('run_imports')
      .values({
        run_id: row.id,
        origin: from.origin,
        workspace: from.workspace,
        event_index: from.index,
        author: from.author,
        imported_by: from.registrant,
        record_vouched: from.claim.metricsDigest ? 1 : 0,
        imported_at: isoUtc(o.now),
      })
      .execute();
    n++;
  }
  return n;
}
