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
  ReportsTable,
} from '../meta/schema.js';
import {
  emptyState,
  mergeState,
  type EvaluationStateRow,
  type RemoteState,
  modelEdgeTravels,
  TRAVELLING_RUNS,
  type RunStateRow,
} from '../transfer/index.js';

/**
 * The store's `meta/state.json` on a team server is the server's own record (docs/SERVER.md
 * "Store state"): a push proposes a state, the server imports what verified logs vouch for,
 * and then writes the state from its own rows. Nothing of a proposal reaches the state except
 * through a row the import recorded, so a contributor cannot squat a dataset name, list a
 * version nobody vouched for, or move another workspace's audit entry.
 */

/** The server's rows after an import: what it recorded, whoever proposed it. */
export interface RecordedRows {
  datasets: Array<Selectable<DatasetsTable>>;
  versions: Array<Selectable<DatasetVersionsTable>>;
  tags: Array<Selectable<DatasetTagsTable>>;
  lineage: Array<Selectable<LineageEdgesTable>>;
  reports: Array<Selectable<ReportsTable>>;
  documents: Array<Selectable<DocumentsTable>>;
  /** Model versions as recorded (their registrant the account that pushed them), and their models. */
  models: Array<Selectable<ModelsTable>>;
  modelVersions: Array<Selectable<ModelVersionsTable>>;
  /** Runs as recorded (their author the account that pushed them), with their parameters and points. */
  runs: RunStateRow[];
}

/** The keys of the rows a new state could name: those the server's state or the candidate mention. */
export interface RecordedWanted {
  versions: string[];
  modelVersions: string[];
  runs: string[];
  lineage: string[];
  reports: string[];
  documents: string[];
}

export function recordedWanted(previous: RemoteState, candidate: RemoteState): RecordedWanted {
  const ids = <T>(list: (s: RemoteState) => T[], key: (x: T) => string) => [
    ...new Set([...list(previous), ...list(candidate)].map(key)),
  ];
  return {
    versions: ids(
      (s) => s.versions,
      (v) => v.id,
    ),
    modelVersions: ids(
      (s) => s.modelVersions,
      (v) => v.id,
    ),
    runs: ids(
      (s) => s.runs,
      (r) => r.id,
    ),
    lineage: ids(
      (s) => s.lineage,
      (e) => e.id,
    ),
    reports: ids(
      (s) => s.reports,
      (r) => r.id,
    ),
    documents: ids(
      (s) => s.documents,
      (d) => d.digest,
    ),
  };
}

/** An audit log the import verified: its size and root are the verifier's, not a client's. */
export interface VerifiedLog {
  workspace: string;
  origin: string;
  size: number;
  root: string;
}

export type AuditEntry = RemoteState['audit'][number];

export function auditKeyOf(workspace: string): string {
  return `audit/${workspace}/`;
}

/**
 * What an import reads: the server's state with the proposal merged in. Conflicts with what the
 * server recorded are refused (DIVERGED); audit entries come from the server's state, except
 * that the pushing account may extend the entries of the workspaces whose bundles it owns
 * (`owns`), at those bundles' own key. Entries for others' logs that differ from the server's
 * are refused (PERMISSION_DENIED), so a proposal cannot point a log at a bogus size. Pure.
 */
export function candidateState(
  server: RemoteState,
  proposal: RemoteState,
  owns: (workspace: string) => boolean,
): RemoteState {
  checkAuditEntries(server, proposal, owns);
  const merged = mergeState(server, { ...ownPart(server, proposal), audit: [] });
  if (merged.conflicts.length)
    throw new CairnError(
      'DIVERGED',
      `the push conflicts with the server's store: ${merged.conflicts.map((c) => c.what).join(', ')}`,
      { hint: 'versions are immutable: use another dataset name', data: { conflicts: merged.conflicts } },
    );
  const audit = new Map(server.audit.map((a) => [a.workspace, a]));
  for (const a of proposal.audit)
    if (owns(a.workspace) && a.size > (audit.get(a.workspace)?.size ?? -1)) audit.set(a.workspace, a);
  // A version the server lists keeps the pack list the server recorded: a proposal cannot send
  // readers of someone else's version to other packs.
  const packsOf = new Map(server.versions.map((v) => [v.id, v.packs]));
  return {
    ...merged.state,
    versions: merged.state.versions.map((v) => (packsOf.has(v.id) ? { ...v, packs: packsOf.get(v.id)! } : v)),
    audit: [...audit.values()].sort((a, b) => (a.workspace < b.workspace ? -1 : a.workspace > b.workspace ? 1 : 0)),
  };
}

/**
 * What a proposal may add besides versions: tags of datasets the server does not list yet, and
 * lineage edges and reports that touch a version the server does not list yet. Tags, lineage and
 * reports of what the server already lists change through the server's own audited API, not by
 * a push that names someone else's dataset (a contributor moving another's `production` tag, or
 * hanging a made-up report on it). Pure.
 */
function ownPart(server: RemoteState, proposal: RemoteState): RemoteState {
  const listedDatasets = new Set(server.datasets.map((d) => d.id));
  const listedVersions = new Set(server.versions.map((v) => v.id));
  const fresh = new Set(proposal.versions.filter((v) => !listedVersions.has(v.id)).map((v) => v.id));
  const listedModelVersions = new Set(server.modelVersions.map((v) => v.id));
  const freshModels = new Set(proposal.modelVersions.filter((v) => !listedModelVersions.has(v.id)).map((v) => v.id));
  const listedRuns = new Set(server.runs.map((r) => r.id));
  const freshRuns = new Set(proposal.runs.filter((r) => !listedRuns.has(r.id)).map((r) => r.id));
  return {
    ...proposal,
    tags: proposal.tags.filter((t) => !listedDatasets.has(t.dataset_id) && fresh.has(t.version_id)),
    // A model version's registration edges come with it the first time only (files → version,
    // run → version); nobody's push hangs edges on a model version the server already lists.
    lineage: proposal.lineage.filter(
      (e) =>
        (e.src_type === 'dataset_version' && fresh.has(e.src_id) && e.dst_type !== 'model_version') ||
        (e.dst_type === 'dataset_version' && fresh.has(e.dst_id)) ||
        (e.dst_type === 'model_version' && freshModels.has(e.dst_id)) ||
        // A run's edges (inputs → run → output) come with it the first time only, as a model version's.
        (e.dst_type === 'run' && freshRuns.has(e.dst_id)) ||
        (e.src_type === 'run' && freshRuns.has(e.src_id)),
    ),
    reports: proposal.reports.filter((r) => fresh.has(r.version_id)),
  };
}

/**
 * An audit entry may only change for a workspace whose bundle the pushing account owns, and
 * only to that bundle's own key; stale or equal copies of others' entries (every client's
 * merged state carries them) change nothing and pass. Pure.
 */
export function checkAuditEntries(
  server: RemoteState,
  proposal: RemoteState,
  owns: (workspace: string) => boolean,
): void {
  const have = new Map(server.audit.map((a) => [a.workspace, a]));
  for (const a of proposal.audit) {
    const known = have.get(a.workspace);
    if (known && known.size >= a.size) continue;
    if (!owns(a.workspace) || a.key !== auditKeyOf(a.workspace))
      throw new CairnError(
        'PERMISSION_DENIED',
        `the push records workspace ${a.workspace}'s audit log (${a.size} events at ${a.key}), which ${owns(a.workspace) ? 'is not where its bundle lies' : 'this account did not push'}`,
        { hint: "push from your own workspace: only its log's entry may change", data: { workspace: a.workspace } },
      );
  }
}

/**
 * The store's new state, from the server's own rows: every version the server listed before or
 * the import looked at (the candidate) that the server has recorded with that id, dataset,
 * number and digest; its row, dataset, tags, reports and lineage as recorded; pack sizes as the
 * store holds them; audit entries as verified. A candidate version the import did not record
 * (nothing vouched for it) is simply not there. Pure.
 */
export function buildStoreState(o: {
  previous: RemoteState;
  candidate: RemoteState;
  recorded: RecordedRows;
  verified: readonly VerifiedLog[];
  storePacks: ReadonlyMap<string, number>;
}): RemoteState {
  const rows = new Map(o.recorded.versions.map((v) => [v.id, v]));
  const packLists = new Map<string, string[]>();
  // The server's earlier list first: it wins over the candidate's for the same version.
  for (const v of [...o.candidate.versions, ...o.previous.versions]) {
    const row = rows.get(v.id);
    if (row && row.digest === v.digest && row.number === v.number && row.dataset_id === v.dataset_id)
      packLists.set(v.id, v.packs);
  }
  const s = emptyState();
  const datasetIds = new Set<string>();
  for (const [id, packs] of packLists) {
    const row = rows.get(id)!;
    datasetIds.add(row.dataset_id);
    s.versions.push({ ...row, packs });
  }
  const kept = (id: string) => packLists.has(id);
  const { modelVersions, models, keptModels } = recordedModels(o, kept);
  s.modelVersions = modelVersions;
  s.models = models;
  s.runs = recordedRuns(o, kept);
  const keptRuns = new Set(s.runs.map((r) => r.id));
  const names = new Map(o.recorded.datasets.map((d) => [d.id, d.name]));
  s.datasets = o.recorded.datasets.filter((d) => datasetIds.has(d.id)).sort(by((d) => d.name));
  s.versions.sort(by((v) => `${names.get(v.dataset_id) ?? ''}\u0000${String(v.number).padStart(12, '0')}`));
  s.tags = o.recorded.tags.filter((t) => kept(t.version_id)).sort(by((t) => `${t.dataset_id}:${t.tag}`));
  const mentioned = <T>(list: (st: RemoteState) => T[], key: (x: T) => string) =>
    new Set([...list(o.previous), ...list(o.candidate)].map(key));
  const edges = mentioned(
    (st) => st.lineage,
    (e) => e.id,
  );
  const ends = listedEnd({
    dataset_version: kept,
    model_version: keptModels.has.bind(keptModels),
    run: keptRuns.has.bind(keptRuns),
  });
  s.lineage = o.recorded.lineage
    .filter((e) => edges.has(e.id) && ends(e.src_type, e.src_id) && ends(e.dst_type, e.dst_id))
    .sort(by((e) => e.id));
  const reports = mentioned(
    (st) => st.reports,
    (r) => r.id,
  );
  s.reports = o.recorded.reports.filter((r) => reports.has(r.id) && kept(r.version_id)).sort(by((r) => r.id));
  const docs = mentioned(
    (st) => st.documents,
    (d) => d.digest,
  );
  s.documents = o.recorded.documents.filter((d) => docs.has(d.digest)).sort(by((d) => d.digest));
  const listedSize = new Map([...o.candidate.packs, ...o.previous.packs].map((p) => [p.id, p.size]));
  const packIds = new Set(s.versions.flatMap((v) => v.packs));
  s.packs = [...packIds]
    .flatMap((id) => {
      const size = o.storePacks.get(id) ?? listedSize.get(id);
      return size === undefined ? [] : [{ id, size }];
    })
    .sort(by((p) => p.id));
  const audit = new Map<string, AuditEntry>(o.previous.audit.map((a) => [a.workspace, a]));
  for (const l of o.verified) {
    const had = audit.get(l.workspace);
    if (had && had.size > l.size) continue;
    audit.set(l.workspace, {
      workspace: l.workspace,
      origin: l.origin,
      size: l.size,
      root: l.root,
      key: auditKeyOf(l.workspace),
    });
  }
  s.audit = [...audit.values()].sort(by((a) => a.workspace));
  return s;
}

/**
 * The model versions the new state lists: those the server's state or the candidate name that the
 * server recorded with that id, model, number and digest (its row, so its registrant: the account
 * that pushed), whose files version the state lists. Pure.
 */
function recordedModels(
  o: { previous: RemoteState; candidate: RemoteState; recorded: RecordedRows },
  kept: (versionId: string) => boolean,
) {
  const modelRows = new Map(o.recorded.modelVersions.map((v) => [v.id, v]));
  const keptModels = new Set<string>();
  for (const v of [...o.candidate.modelVersions, ...o.previous.modelVersions]) {
    const row = modelRows.get(v.id);
    if (
      row &&
      row.digest === v.digest &&
      row.number === v.number &&
      row.model_id === v.model_id &&
      kept(row.files_version_id)
    )
      keptModels.add(v.id);
  }
  const modelIds = new Set([...keptModels].map((id) => modelRows.get(id)!.model_id));
  const models = o.recorded.models.filter((m) => modelIds.has(m.id)).sort(by((m) => m.name));
  const names = new Map(models.map((m) => [m.id, m.name]));
  const modelVersions = [...keptModels]
    .map((id) => modelRows.get(id)!)
    .sort(by((v) => `${names.get(v.model_id) ?? ''}\u0000${String(v.number).padStart(12, '0')}`));
  return { modelVersions, models, keptModels };
}

/**
 * The runs the new state lists: those the server's state or the candidate name that the server
 * recorded with that id, run key and status (its row, so its author: the account that pushed, and
 * the parameters and points it recorded), whose output version, if any, the state lists. Pure.
 */
function recordedRuns(
  o: { previous: RemoteState; candidate: RemoteState; recorded: RecordedRows },
  kept: (versionId: string) => boolean,
): RunStateRow[] {
  const rows = new Map(o.recorded.runs.map((r) => [r.id, r]));
  const out = new Map<string, RunStateRow>();
  for (const r of [...o.candidate.runs, ...o.previous.runs]) {
    const row = rows.get(r.id);
    if (
      row &&
      row.run_key === r.run_key &&
      row.status === r.status &&
      row.output_version_id === r.output_version_id &&
      (row.output_version_id === null || kept(row.output_version_id))
    )
      out.set(r.id, row);
  }
  return [...out.values()].sort(by((r) => r.id));
}

/** The runs the server trained itself (not imported), finished, with the lineage edges that touch them. */
export interface TrainedRuns {
  runs: readonly RunStateRow[];
  lineage: ReadonlyArray<RemoteState['lineage'][number]>;
  /** The server's own versions those runs wrote, and the model versions registered on it (`OwnOutputs`). */
  outputs?: OwnOutputs;
}

/**
 * What the server made itself that the stored state does not list: the output versions of the runs
 * it trained (their packs placed in the store, each created by a `dataset.version.create` of its
 * own log), their datasets, and the model versions registered on the server whose files the
 * served state lists, with their models and registration edges (`model.register` of its own log).
 */
export interface OwnOutputs {
  datasets: RemoteState['datasets'];
  versions: RemoteState['versions'];
  packs: RemoteState['packs'];
  models: RemoteState['models'];
  modelVersions: RemoteState['modelVersions'];
  lineage: RemoteState['lineage'];
}

/**
 * The state as the server serves it (docs/SERVER.md "What a pull from the server brings"): the
 * evaluations the server holds of the model versions it lists, each on a test set it lists (the
 * ones it ran, and those imported with a push); the finished runs it trained on its own machines
 * whose inputs and output it lists, with their edges (its `run.submit` and the event that ended
 * each vouch for them, as a laptop's log does for a pushed run); and the entry of its own log,
 * which vouches for all of these. The stored state carries none of them: evaluations and runs are
 * made between imports, and the server's log grows with every request. Pure.
 */
export function servedState(
  state: RemoteState,
  o: { evaluations: readonly EvaluationStateRow[]; ownLog: AuditEntry | null; trained?: TrainedRuns },
): RemoteState {
  const models = new Set(state.modelVersions.map((v) => v.id));
  const versions = new Set(state.versions.map((v) => v.id));
  const evaluations = o.evaluations
    .filter((e) => models.has(e.version_id) && e.data_version_id !== null && versions.has(e.data_version_id))
    .sort(by((e) => e.id));
  const audit = state.audit.filter((a) => a.workspace !== o.ownLog?.workspace);
  if (o.ownLog) audit.push(o.ownLog);
  const own = withOwnOutputs(state, o.trained?.outputs);
  const { runs, lineage } = withTrainedRuns(own, o.trained ?? { runs: [], lineage: [] });
  return {
    ...own,
    runs,
    lineage: withOwnModelEdges(own, runs, lineage, o.trained?.outputs),
    evaluations,
    audit: audit.sort(by((a) => a.workspace)),
  };
}

/**
 * The state with the server's own output versions and model versions added (`OwnOutputs`): a
 * version with packs whose dataset is given, unless the state lists its id, or another row under
 * its dataset's name or its `name@vN` (a pull would refuse the whole state as diverged); a model
 * version whose files version the result lists, on the same terms. Pure.
 */
function withOwnOutputs(state: RemoteState, own: OwnOutputs | undefined): RemoteState {
  if (!own || (!own.versions.length && !own.modelVersions.length)) return state;
  const datasets = new Map(state.datasets.map((d) => [d.id, d]));
  const datasetNamed = new Map(state.datasets.map((d) => [d.name, d.id]));
  const given = new Map(own.datasets.map((d) => [d.id, d]));
  const listed = new Set(state.versions.map((v) => v.id));
  const taken = new Set(state.versions.map((v) => `${v.dataset_id}@${v.number}`));
  const versions = [...state.versions];
  for (const v of [...own.versions].sort((a, b) => a.number - b.number)) {
    const d = datasets.get(v.dataset_id) ?? given.get(v.dataset_id);
    if (!d || listed.has(v.id) || !v.packs.length || taken.has(`${v.dataset_id}@${v.number}`)) continue;
    if ((datasetNamed.get(d.name) ?? d.id) !== d.id) continue;
    datasets.set(d.id, d);
    datasetNamed.set(d.name, d.id);
    listed.add(v.id);
    taken.add(`${v.dataset_id}@${v.number}`);
    versions.push(v);
  }
  const packIds = new Set(versions.flatMap((v) => v.packs));
  const packs = new Map(state.packs.map((p) => [p.id, p]));
  for (const p of own.packs) if (packIds.has(p.id) && !packs.has(p.id)) packs.set(p.id, p);
  const { models, modelVersions } = withOwnModels(state, own, listed);
  return {
    ...state,
    datasets: [...datasets.values()].sort(by((d) => d.name)),
    versions,
    packs: [...packs.values()].sort(by((p) => p.id)),
    models,
    modelVersions,
  };
}

/** withOwnOutputs' model versions: the state's, and the server's own whose files version is `listed`. Pure. */
function withOwnModels(
  state: RemoteState,
  own: OwnOutputs,
  listed: ReadonlySet<string>,
): Pick<RemoteState, 'models' | 'modelVersions'> {
  const models = new Map(state.models.map((m) => [m.id, m]));
  const modelNamed = new Map(state.models.map((m) => [m.name, m.id]));
  const given = new Map(own.models.map((m) => [m.id, m]));
  const have = new Set(state.modelVersions.map((v) => v.id));
  const taken = new Set(state.modelVersions.map((v) => `${v.model_id}@${v.number}`));
  const modelVersions = [...state.modelVersions];
  for (const v of own.modelVersions) {
    const m = models.get(v.model_id) ?? given.get(v.model_id);
    if (!m || have.has(v.id) || !listed.has(v.files_version_id) || taken.has(`${v.model_id}@${v.number}`)) continue;
    if ((modelNamed.get(m.name) ?? m.id) !== m.id) continue;
    models.set(m.id, m);
    modelNamed.set(m.name, m.id);
    have.add(v.id);
    taken.add(`${v.model_id}@${v.number}`);
    modelVersions.push(v);
  }
  return { models: [...models.values()].sort(by((m) => m.name)), modelVersions };
}

/**
 * The lineage with the registration edges of the server's own model versions added (files →
 * version, run → version), each whose ends the served state lists. Pure.
 */
function withOwnModelEdges(
  state: RemoteState,
  runs: readonly RunStateRow[],
  lineage: RemoteState['lineage'],
  own: OwnOutputs | undefined,
): RemoteState['lineage'] {
  if (!own?.lineage.length) return lineage;
  const versions = new Set(state.versions.map((v) => v.id));
  const models = new Set(state.modelVersions.map((v) => v.id));
  const runIds = new Set(runs.map((r) => r.id));
  const ends = listedEnd({
    dataset_version: versions.has.bind(versions),
    model_version: models.has.bind(models),
    run: runIds.has.bind(runIds),
  });
  const have = new Set(lineage.map((e) => e.id));
  const added = own.lineage.filter(
    (e) =>
      !have.has(e.id) &&
      e.dst_type === 'model_version' &&
      models.has(e.dst_id) &&
      modelEdgeTravels(e, () => true) &&
      ends(e.src_type, e.src_id),
  );
  return added.length ? [...lineage, ...added].sort(by((e) => e.id)) : lineage;
}

/**
 * The state's runs and lineage with the server's own finished runs added: each whose output (if
 * any) and every input the state lists, as for a pushed run (a pull could only refuse one whose
 * versions it cannot get); and their edges whose ends are listed. A run the state already lists
 * keeps its listed row. Pure.
 */
function withTrainedRuns(state: RemoteState, trained: TrainedRuns): Pick<RemoteState, 'runs' | 'lineage'> {
  if (!trained.runs.length) return { runs: state.runs, lineage: state.lineage };
  const versions = new Set(state.versions.map((v) => v.id));
  const listed = new Set(state.runs.map((r) => r.id));
  const added = trained.runs.filter(
    (r) =>
      !listed.has(r.id) &&
      (TRAVELLING_RUNS as readonly string[]).includes(r.status) &&
      r.reused_from === null &&
      (r.output_version_id === null || versions.has(r.output_version_id)) &&
      (specInputs(r.spec)?.every((id) => versions.has(id)) ?? false),
  );
  if (!added.length) return { runs: state.runs, lineage: state.lineage };
  const ids = new Set(added.map((r) => r.id));
  const runs = new Set([...listed, ...ids]);
  const models = new Set(state.modelVersions.map((v) => v.id));
  const ends = listedEnd({
    dataset_version: versions.has.bind(versions),
    model_version: models.has.bind(models),
    run: runs.has.bind(runs),
  });
  const edges = new Set(state.lineage.map((e) => e.id));
  const ofAdded = (e: RemoteState['lineage'][number]) =>
    (e.src_type === 'run' && ids.has(e.src_id)) || (e.dst_type === 'run' && ids.has(e.dst_id));
  const lineage = trained.lineage.filter(
    (e) => !edges.has(e.id) && ofAdded(e) && ends(e.src_type, e.src_id) && ends(e.dst_type, e.dst_id),
  );
  return {
    runs: [...state.runs, ...added].sort(by((r) => r.id)),
    lineage: [...state.lineage, ...lineage].sort(by((e) => e.id)),
  };
}

/** The ids of the versions a run's stored spec names as its inputs (null: it does not parse). */
function specInputs(spec: string): string[] | null {
  try {
    const inputs = (JSON.parse(spec) as { inputs?: unknown }).inputs;
    if (!Array.isArray(inputs)) return null;
    const ids = inputs.map((i) => (i as { versionId?: unknown } | null)?.versionId);
    return ids.every((id): id is string => typeof id === 'string') ? ids : null;
  } catch {
    return null;
  }
}

/**
 * A proposal without the entry of the server's own log: every client that pulled from the server
 * carries it in the state it pushes back, and only the server moves it (a client's copy changes
 * nothing, and refusing it would refuse every push after a pull). Pure.
 */
export function withoutLog(state: RemoteState, workspace: string | undefined): RemoteState {
  return workspace === undefined ? state : { ...state, audit: state.audit.filter((a) => a.workspace !== workspace) };
}

/** Whether an edge's end is a row the state lists (an edge to a row left out would point nowhere); other kinds pass. */
function listedEnd(listed: Record<string, (id: string) => boolean>): (type: string, id: string) => boolean {
  return (type, id) => listed[type]?.(id) ?? true;
}

function by<T>(key: (x: T) => string): (a: T, b: T) => number {
  return (a, b) => {
    const x = key(a);
    const y = key(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
}
