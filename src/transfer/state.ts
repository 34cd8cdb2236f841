import type { Selectable } from 'kysely';
import { CairnError } from '../core/errors.js';
import type {
  DatasetsTable,
  DatasetTagsTable,
  DatasetVersionsTable,
  DocumentsTable,
  LineageEdgesTable,
  ModelsTable,
  ModelVersionsTable,
  ModelEvaluationsTable,
  ReportsTable,
  RunsTable,
} from '../meta/schema.js';
import type { RecordedParam, RecordedPoint } from '../compute/index.js';

export const STATE_FORMAT = 'cairn.remote-state/v1';

export type VersionRow = Selectable<DatasetVersionsTable>;
export type ModelStateRow = Selectable<ModelsTable>;
export type ModelVersionStateRow = Selectable<ModelVersionsTable>;
/** An evaluation as it travels (docs/REMOTES.md "Evaluations"): its row verbatim, report included. */
export type EvaluationStateRow = Selectable<ModelEvaluationsTable>;
/**
 * A finished run as it travels (docs/REMOTES.md "Runs"): its row verbatim (but the folder of its
 * files, `dir`, and the ingestion offset, which are the origin machine's) with its parameters and
 * metric points.
 */
export type RunStateRow = Omit<Selectable<RunsTable>, 'dir' | 'metrics_offset'> & {
  params: RecordedParam[];
  metrics: RecordedPoint[];
};

/**
 * What a remote knows besides bytes: the metadata rows of every version pushed to it (copied
 * verbatim, ids included, so lineage and reports keep pointing at the right rows), which packs
 * each version needs, and the audit log each pushing workspace left there.
 */
export interface RemoteState {
  format: typeof STATE_FORMAT;
  datasets: Array<Selectable<DatasetsTable>>;
  versions: Array<VersionRow & { packs: string[] }>;
  tags: Array<Selectable<DatasetTagsTable>>;
  lineage: Array<Selectable<LineageEdgesTable>>;
  reports: Array<Selectable<ReportsTable>>;
  documents: Array<Selectable<DocumentsTable>>;
  packs: Array<{ id: string; size: number }>;
  /**
   * Registered model versions (docs/REMOTES.md "Model versions"): the model rows and the version
   * rows verbatim (card included), each pointing at a dataset version of `versions` that holds its
   * files. Aliases, approvals and releases never travel: they are each side's own decisions.
   * Absent in states written before models travelled (read as empty).
   */
  models: ModelStateRow[];
  modelVersions: ModelVersionStateRow[];
  /**
   * Finished runs (docs/REMOTES.md "Runs"), imported only as far as a verified event vouches for
   * them. Absent in states written before runs travelled (read as empty).
   */
  runs: RunStateRow[];
  /**
   * Evaluations of the model versions listed (docs/REMOTES.md "Evaluations"), imported only when a
   * verified `model.evaluate` event vouches for exactly their report, verdict, version, test set
   * and author. Absent in states written before evaluations travelled (read as empty).
   */
  evaluations: EvaluationStateRow[];
  /** Per workspace that pushed: where its audit log lies on the remote and how far it reached. */
  audit: Array<{ workspace: string; origin: string; size: number; root: string; key: string }>;
}

export function emptyState(): RemoteState {
  return {
    format: STATE_FORMAT,
    datasets: [],
    versions: [],
    tags: [],
    lineage: [],
    reports: [],
    documents: [],
    packs: [],
    models: [],
    modelVersions: [],
    runs: [],
    evaluations: [],
    audit: [],
  };
}

export function parseState(buf: Buffer): RemoteState {
  let s: RemoteState;
  try {
    s = JSON.parse(buf.toString('utf8')) as RemoteState;
  } catch (err) {
    throw new CairnError('CORRUPT_OBJECT', `the remote's meta/state.json is not JSON: ${(err as Error).message}`);
  }
  if (s?.format !== STATE_FORMAT)
    throw new CairnError(
      'UNSUPPORTED',
      `the remote's state has format ${JSON.stringify(s?.format)}; this Cairn reads ${STATE_FORMAT}`,
      { hint: 'upgrade Cairn' },
    );
  for (const k of ['datasets', 'versions', 'tags', 'lineage', 'reports', 'documents', 'packs', 'audit'] as const) {
    if (!Array.isArray(s[k])) throw new CairnError('CORRUPT_OBJECT', `the remote's state has no ${k} list`);
  }
  // States written before model versions travelled have no such lists.
  for (const k of ['models', 'modelVersions', 'runs', 'evaluations'] as const) {
    if (s[k] === undefined) s[k] = [];
    if (!Array.isArray(s[k])) throw new CairnError('CORRUPT_OBJECT', `the remote's state has a malformed ${k} list`);
  }
  for (const m of s.modelVersions) {
    if (
      !m ||
      typeof m.id !== 'string' ||
      typeof m.model_id !== 'string' ||
      !Number.isSafeInteger(m.number) ||
      !/^[0-9a-f]{64}$/.test(m.digest) ||
      typeof m.files_version_id !== 'string' ||
      typeof m.card !== 'string'
    )
      throw new CairnError(
        'CORRUPT_OBJECT',
        `the remote's state lists a malformed model version (${JSON.stringify(m?.id)})`,
      );
  }
  for (const r of s.runs) {
    if (
      !r ||
      typeof r.id !== 'string' ||
      typeof r.status !== 'string' ||
      typeof r.spec !== 'string' ||
      !Array.isArray(r.params) ||
      !Array.isArray(r.metrics)
    )
      throw new CairnError('CORRUPT_OBJECT', `the remote's state lists a malformed run (${JSON.stringify(r?.id)})`);
  }
  for (const e of s.evaluations) {
    if (
      !e ||
      typeof e.id !== 'string' ||
      typeof e.version_id !== 'string' ||
      typeof e.report !== 'string' ||
      typeof e.suite !== 'string' ||
      typeof e.by !== 'string' ||
      (e.passed !== 0 && e.passed !== 1)
    )
      throw new CairnError(
        'CORRUPT_OBJECT',
        `the remote's state lists a malformed evaluation (${JSON.stringify(e?.id)})`,
      );
  }
  for (const v of s.versions) {
    if (!/^[0-9a-f]{64}$/.test(v.digest) || !Array.isArray(v.packs) || v.packs.some((p) => !/^[0-9a-f]{64}$/.test(p))) {
      throw new CairnError('CORRUPT_OBJECT', `the remote's state lists a malformed version (${JSON.stringify(v.id)})`);
    }
  }
  return s;
}

export interface Conflict {
  what: string;
  ours: string;
  theirs: string;
}

/**
 * Merges `incoming` into `base`. Versions are immutable, so the same dataset name or version
 * number carrying different content is a conflict (reported, never overwritten); tags move,
 * so the newer assignment wins; everything else is a union by id. Pure, so push and pull
 * plan with it before touching anything.
 */
export function mergeState(
  base: RemoteState,
  incoming: RemoteState,
): {
  state: RemoteState;
  conflicts: Conflict[];
  added: { datasets: number; versions: number; modelVersions: number; runs: number };
} {
  const conflicts: Conflict[] = [];
  const datasets = mergeDatasets(base, incoming, conflicts);
  const nameOf = new Map([...base.datasets, ...incoming.datasets].map((d) => [d.id, d.name]));
  const versions = mergeVersions(base, incoming, nameOf, conflicts);
  const models = mergeModels(base, incoming, conflicts);
  const runs = mergeRuns(base, incoming, conflicts);
  const evaluations = mergeEvaluations(base, incoming, conflicts);
  const tags = new Map(base.tags.map((t) => [`${t.dataset_id}:${t.tag}`, t]));
  for (const t of incoming.tags) {
    const k = `${t.dataset_id}:${t.tag}`;
    const have = tags.get(k);
    if (!have || t.created_at > have.created_at) tags.set(k, t);
  }
  const union = <T>(a: T[], b: T[], key: (x: T) => string) => [
    ...new Map([...a, ...b].map((x) => [key(x), x])).values(),
  ];
  const audit = new Map(base.audit.map((a) => [a.workspace, a]));
  for (const a of incoming.audit) if ((audit.get(a.workspace)?.size ?? -1) <= a.size) audit.set(a.workspace, a);
  return {
    state: {
      format: STATE_FORMAT,
      datasets: byKey(datasets.merged.values(), (d) => d.name),
      versions: byKey(
        versions.merged.values(),
        (v) => `${nameOf.get(v.dataset_id) ?? ''}\u0000${String(v.number).padStart(12, '0')}`,
      ),
      tags: byKey(tags.values(), (t) => `${t.dataset_id}:${t.tag}`),
      lineage: byKey(
        union(base.lineage, incoming.lineage, (e) => e.id),
        (e) => e.id,
      ),
      reports: byKey(
        union(base.reports, incoming.reports, (r) => r.id),
        (r) => r.id,
      ),
      documents: byKey(
        union(base.documents, incoming.documents, (d) => d.digest),
        (d) => d.digest,
      ),
      packs: byKey(
        union(base.packs, incoming.packs, (p) => p.id),
        (p) => p.id,
      ),
      models: byKey(models.models.values(), (m) => m.name),
      modelVersions: byKey(
        models.versions.values(),
        (v) => `${models.nameOf.get(v.model_id) ?? ''}\u0000${String(v.number).padStart(12, '0')}`,
      ),
      runs: byKey(runs.runs.values(), (r) => r.id),
      evaluations: byKey(evaluations.values(), (e) => e.id),
      audit: byKey(audit.values(), (a) => a.workspace),
    },
    conflicts,
    added: { datasets: datasets.added, versions: versions.added, modelVersions: models.added, runs: runs.added },
  };
}

/**
 * Models by name and their versions by number, as datasets and versions are: a model version is
 * immutable, so the same `name@vN` with another id or digest is a conflict (DIVERGED), never
 * renumbered. The number is part of what the registering event vouches for, and of every
 * reference to the version (cards, releases, deployments), so it keeps the origin's. A model
 * name held by another model id is a conflict too (two workspaces that each started `spam` from
 * nothing): the second pulls the first's history and registers on top of it.
 */
function mergeModels(base: RemoteState, incoming: RemoteState, conflicts: Conflict[]) {
  const models = new Map(base.models.map((m) => [m.name, m]));
  const byId = new Map(base.models.map((m) => [m.id, m]));
  for (const m of incoming.models) {
    const have = models.get(m.name);
    const sameId = byId.get(m.id);
    if (sameId && sameId.name !== m.name) idRenamed(conflicts, 'model', sameId.name, m);
    else if (!have) models.set(m.name, m);
    else if (have.id !== m.id)
      conflicts.push({
        what: `model ${m.name}`,
        ours: `created ${m.created_at} by ${m.created_by}`,
        theirs: `created ${have.created_at} by ${have.created_by}`,
      });
  }
  const nameOf = new Map([...base.models, ...incoming.models].map((m) => [m.id, m.name]));
  const key = (v: ModelVersionStateRow) => `${v.model_id}@${v.number}`;
  const versions = new Map(base.modelVersions.map((v) => [key(v), v]));
  let added = 0;
  for (const v of incoming.modelVersions) {
    const have = versions.get(key(v));
    if (!have) {
      versions.set(key(v), v);
      added++;
    } else if (have.id !== v.id || have.digest !== v.digest) {
      conflicts.push({
        what: `model ${nameOf.get(v.model_id) ?? v.model_id}@v${v.number}`,
        ours: `sha256:${v.digest}`,
        theirs: `sha256:${have.digest}`,
      });
    }
    // Same id and digest: the base's row stays (a re-push changes nothing it recorded).
  }
  return { models, versions, nameOf, added };
}

/**
 * Runs by id (a UUIDv7 minted where the run was submitted): a finished run does not change, so the
 * same id with another run key, status or output is a conflict (DIVERGED); the same run again
 * keeps the base's row (a re-push changes nothing it recorded).
 */
function mergeRuns(base: RemoteState, incoming: RemoteState, conflicts: Conflict[]) {
  const runs = new Map(base.runs.map((r) => [r.id, r]));
  let added = 0;
  for (const r of incoming.runs) {
    const have = runs.get(r.id);
    if (!have) {
      runs.set(r.id, r);
      added++;
    } else if (
      have.run_key !== r.run_key ||
      have.status !== r.status ||
      have.output_version_id !== r.output_version_id
    ) {
      conflicts.push({
        what: `run ${r.id}`,
        ours: `${r.status}, output ${r.output_version_id ?? 'none'}`,
        theirs: `${have.status}, output ${have.output_version_id ?? 'none'}`,
      });
    }
  }
  return { runs, added };
}

/**
 * Evaluations by id: a stored verdict does not change, so the same id with another report is a
 * conflict (DIVERGED); the same evaluation again keeps the base's row.
 */
function mergeEvaluations(base: RemoteState, incoming: RemoteState, conflicts: Conflict[]) {
  const out = new Map(base.evaluations.map((e) => [e.id, e]));
  for (const e of incoming.evaluations) {
    const have = out.get(e.id);
    if (!have) out.set(e.id, e);
    else if (have.report !== e.report || have.passed !== e.passed || have.version_id !== e.version_id)
      conflicts.push({
        what: `evaluation ${e.id}`,
        ours: `${e.suite} ${e.passed ? 'passed' : 'failed'}`,
        theirs: `${have.suite} ${have.passed ? 'passed' : 'failed'}`,
      });
  }
  return out;
}

function byKey<T>(xs: Iterable<T>, key: (x: T) => string): T[] {
  return [...xs].sort((x, y) => (key(x) < key(y) ? -1 : key(x) > key(y) ? 1 : 0));
}

/** Datasets by name: a name held by another dataset (another id) is a conflict. */
function mergeDatasets(base: RemoteState, incoming: RemoteState, conflicts: Conflict[]) {
  const merged = new Map(base.datasets.map((d) => [d.name, d]));
  const byId = new Map(base.datasets.map((d) => [d.id, d]));
  let added = 0;
  for (const d of incoming.datasets) {
    const have = merged.get(d.name);
    const sameId = byId.get(d.id);
    if (sameId && sameId.name !== d.name) idRenamed(conflicts, 'dataset', sameId.name, d);
    else if (!have) {
      merged.set(d.name, d);
      added++;
    } else if (have.id !== d.id) {
      conflicts.push({
        what: `dataset ${d.name}`,
        ours: `created ${d.created_at} by ${d.created_by}`,
        theirs: `created ${have.created_at} by ${have.created_by}`,
      });
    }
  }
  return { merged, added };
}

/**
 * One id under two names is a conflict: versions are filed by their dataset's (or model's) id, so
 * a state naming `prod`'s id `x2` would add its `x2@v2` — vouched for by a log that made `x2` —
 * as `prod@v2`, the latest of someone else's dataset (test/attack/hostile-dataset-id.test.ts).
 */
function idRenamed(
  conflicts: Conflict[],
  what: 'dataset' | 'model',
  ours: string,
  d: { id: string; name: string; created_at: string; created_by: string },
): void {
  conflicts.push({
    what: `${what} ${d.name}`,
    ours: `the id ${d.id} of ${what} ${d.name} (created ${d.created_at} by ${d.created_by})`,
    theirs: `the id of ${what} ${ours}`,
  });
}

/** Versions by dataset and number: other content under the same number is a conflict. */
function mergeVersions(
  base: RemoteState,
  incoming: RemoteState,
  nameOf: ReadonlyMap<string, string>,
  conflicts: Conflict[],
) {
  const versionKey = (v: VersionRow) => `${v.dataset_id}@${v.number}`;
  const merged = new Map(base.versions.map((v) => [versionKey(v), v]));
  let added = 0;
  for (const v of incoming.versions) {
    const have = merged.get(versionKey(v));
    if (!have) {
      merged.set(versionKey(v), v);
      added++;
    } else if (have.id !== v.id || have.digest !== v.digest) {
      conflicts.push({
        what: `${nameOf.get(v.dataset_id) ?? v.dataset_id}@v${v.number}`,
        ours: `sha256:${v.digest}`,
        theirs: `sha256:${have.digest}`,
      });
    } else if (v.packs.length && v.packs.join() !== have.packs.join()) {
      // Repacking (gc) moves blobs: the pusher's list is the one it just uploaded.
      merged.set(versionKey(v), v);
    }
  }
  return { merged, added };
}

export function divergedError(conflicts: readonly Conflict[], remote: string, direction: 'push' | 'pull'): CairnError {
  const lines = conflicts.slice(0, 10).map((c) => `${c.what}: here ${c.ours}, on ${remote} ${c.theirs}`);
  return new CairnError(
    'DIVERGED',
    `${remote} and this workspace disagree on ${conflicts.length} name(s):\n  ${lines.join('\n  ')}${conflicts.length > 10 ? '\n  …' : ''}`,
    {
      data: { conflicts },
      hint:
        direction === 'push'
          ? 'versions are immutable: add your data under another dataset name, or clone the remote and work from there'
          : 'the remote holds another dataset under the same name; pull into a fresh workspace (cairn clone) to compare',
    },
  );
}
