import type { ColumnType, Insertable, Selectable } from 'kysely';

/**
 * The one metadata schema, shared by SQLite and PostgreSQL. Times are ISO-8601 UTC strings
 * with milliseconds (they sort as text); digests are bare lowercase hex; JSON documents are
 * stored as canonical JSON text so both engines return byte-identical values.
 */
export interface Database {
  datasets: DatasetsTable;
  dataset_versions: DatasetVersionsTable;
  dataset_tags: DatasetTagsTable;
  packs: PacksTable;
  blobs: BlobsTable;
  lineage_edges: LineageEdgesTable;
  audit_events: AuditEventsTable;
  audit_nodes: AuditNodesTable;
  audit_head: AuditHeadTable;
  audit_checkpoints: AuditCheckpointsTable;
  reports: ReportsTable;
  documents: DocumentsTable;
  runs: RunsTable;
  run_params: RunParamsTable;
  run_metrics: RunMetricsTable;
  run_imports: RunImportsTable;
  evaluation_imports: EvaluationImportsTable;
  run_metric_summaries: RunMetricSummariesTable;
  run_metric_blocks: RunMetricBlocksTable;
  projects: ProjectsTable;
  models: ModelsTable;
  model_versions: ModelVersionsTable;
  model_aliases: ModelAliasesTable;
  model_alias_events: ModelAliasEventsTable;
  model_policies: ModelPoliciesTable;
  model_approvals: ModelApprovalsTable;
  model_evaluations: ModelEvaluationsTable;
  deployments: DeploymentsTable;
  outbox: OutboxTable;
  principals: PrincipalsTable;
  api_tokens: ApiTokensTable;
  role_grants: RoleGrantsTable;
  idempotency_keys: IdempotencyKeysTable;
  upload_plans: UploadPlansTable;
  store_locks: StoreLocksTable;
  browser_sessions: BrowserSessionsTable;
  identity_generation: IdentityGenerationTable;
  version_holds: VersionHoldsTable;
  version_erasures: VersionErasuresTable;
}

export interface PrincipalsTable {
  id: string;
  name: string;
  /** 'user' (a person) or 'service' (a pipeline's account). */
  kind: string;
  email: string | null;
  /** JSON array of group names; grants to a group apply to its members. */
  groups: string;
  created_at: string;
  created_by: string;
  disabled_at: string | null;
  /** The server's MAC over the row's authorizing columns, bound to its key (migration 0018); null: not sealed. */
  row_mac: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface ApiTokensTable {
  id: string;
  principal_id: string;
  /** sha256 hex of the token's secret part; the secret itself is shown once and never stored. */
  secret_hash: string;
  label: string | null;
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  /** The server's MAC over the row's authorizing columns, bound to its key (migration 0018); null: not sealed. */
  row_mac: ColumnType<string | null, string | null | undefined, string | null>;
}

/** A single row (id 1): incremented by every identity change (migration 0009). */
export interface IdentityGenerationTable {
  id: number;
  n: number;
}

export interface RoleGrantsTable {
  /** 'user:<name>' or 'group:<name>'. */
  subject: string;
  /** A project name, or '*' for every project. */
  project: string;
  role: string;
  granted_at: string;
  granted_by: string;
  /** The server's MAC over the row's authorizing columns, bound to its key (migration 0018); null: not sealed. */
  row_mac: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface IdempotencyKeysTable {
  principal: string;
  key: string;
  request_digest: string;
  status: number;
  response: string;
  created_at: string;
}

/** A lease on a named lock shared by the server processes of one database (migration 0014). */
export interface StoreLocksTable {
  name: string;
  holder: string;
  expires_at: number;
}

/** A planned upload of the team server (migration 0012): the plan as JSON, used once. */
export interface UploadPlansTable {
  id: string;
  principal: string;
  plan: string;
  multipart_id: string | null;
  expires_at: string;
  created_at: string;
}

/** A browser session of the team server (migration 0012), by the SHA-256 of its id. */
export interface BrowserSessionsTable {
  id_hash: string;
  principal: string;
  /** JSON: the claims, and (sealed to this row) the refresh token and the next re-check's time. */
  claims: string;
  expires_at: string;
  created_at: string;
  /** Bumped by every renewal: a renewal writes only over the generation it read (migration 0017). */
  generation: ColumnType<number, number | undefined, number>;
  /** The server's MAC over the row's authorizing columns, bound to its key (migration 0018); null: not sealed. */
  row_mac: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface ModelsTable {
  id: string;
  name: string;
  created_at: string;
  created_by: string;
}

export interface ModelVersionsTable {
  id: string;
  model_id: string;
  number: number;
  /** Root tree digest of the model's files (bare hex): the version's identity. */
  digest: string;
  /** The dataset version (`models/<name>@vN` or a run's output) that holds the files. */
  files_version_id: string;
  format: string;
  /** JSON input/output signature, or null. */
  signature: string | null;
  run_id: string | null;
  /** The model card as canonical JSON (the Markdown is rendered from it). */
  card: string;
  created_at: string;
  created_by: string;
}

export interface ModelAliasesTable {
  model_id: string;
  alias: string;
  version_id: string;
  set_at: string;
  set_by: string;
}

/** Append-only: every alias move, so "what was live at time T" has an answer. */
export interface ModelAliasEventsTable {
  id: string;
  model_id: string;
  alias: string;
  /** null when the alias was removed. */
  version_id: string | null;
  previous_version_id: string | null;
  /** set | promote | rollback | remove */
  action: string;
  at: string;
  by: string;
}

export interface ModelPoliciesTable {
  model_id: string;
  alias: string;
  /** JSON: { suites: string[], approvals: number, separateApprover: boolean } */
  policy: string;
  set_at: string;
  set_by: string;
}

export interface ModelApprovalsTable {
  id: string;
  version_id: string;
  alias: string;
  approver: string;
  at: string;
}

export interface ModelEvaluationsTable {
  id: string;
  version_id: string;
  suite: string;
  suite_digest: string;
  data_version_id: string | null;
  /** 1 or 0 */
  passed: number;
  report: string;
  at: string;
  by: string;
}

/** An evaluation that came by pull, clone or push: the log event that vouches for it, who ran it there, who brought it. */
export interface EvaluationImportsTable {
  evaluation_id: string;
  /** The origin (signed-note name) of the log whose `model.evaluate` event vouches for it. */
  origin: string;
  workspace: string | null;
  event_index: number;
  /** Who ran it there. */
  author: string;
  /** Who brought it here: the account that pushed it to a team server, or the author on a pull. */
  imported_by: string;
  imported_at: string;
}

export interface RunsTable {
  id: string;
  /** SHA-256 of code + inputs + params + environment + command (docs/COMPUTE.md). */
  run_key: string;
  name: string;
  project: string;
  spec_digest: string;
  /** The resolved spec, canonical JSON. */
  spec: string;
  backend: string;
  backend_id: string | null;
  /** queued | pending | running | completed | failed | cancelled | timeout | node_fail | reused | refused */
  status: string;
  reason: string | null;
  exit_code: number | null;
  priority: number;
  gpus: number;
  cpus: number;
  memory_mb: number;
  time_limit_s: number;
  created_at: string;
  created_by: string;
  started_at: string | null;
  ended_at: string | null;
  restarts: number;
  code_commit: string | null;
  /** Digest of uncommitted changes (null when clean). */
  code_dirty: string | null;
  env_digest: string | null;
  /** Folder with the job's files (stdout, stderr, metrics, outputs, checkpoints). */
  dir: string;
  output_version_id: string | null;
  /** For a cache hit: the finished run whose results were reused. */
  reused_from: string | null;
  /** Canonical JSON: wall, CPU, memory, GPU seconds, utilization samples (or null = unavailable). */
  usage: string;
  /** Bytes of the run's metrics file already ingested (saved with the rows they produced). */
  metrics_offset: ColumnType<number, number | undefined, number>;
  /** A name people type (`brave-otter-07`): given with --name or generated from the id (0008). */
  human_name: string | null;
  /** Canonical JSON object of tag → value. */
  tags: ColumnType<string, string | undefined, string>;
  note: string | null;
}

/** A run imported from another workspace's log (migration 0015; docs/REMOTES.md "Runs"). */
export interface RunImportsTable {
  run_id: string;
  /** The origin (signed-note name) of the log whose event vouches for the run. */
  origin: string;
  workspace: string | null;
  /** Index, in that log, of the event that submitted the run. */
  event_index: number;
  /** Who submitted it there. */
  author: string;
  /** Who brought it here: the account that pushed it to a team server, or the author on a pull. */
  imported_by: string;
  /** 1 when its metrics and logged parameters were vouched for (and imported); 0 when only what it was submitted with. */
  record_vouched: number;
  imported_at: string;
}

export interface RunParamsTable {
  run_id: string;
  name: string;
  /** JSON text of the value. */
  value: string;
}

export interface RunMetricsTable {
  run_id: string;
  name: string;
  step: number | null;
  value: number;
  time: string;
}

/**
 * Per (run, metric): kept on ingest in the transaction that adds the points, so a summary
 * never disagrees with the points it covers. The last point is the one with the highest step
 * (none ranks lowest), then the latest time, then the later ingested.
 */
export interface RunMetricSummariesTable {
  run_id: string;
  name: string;
  points: number;
  min_value: number;
  max_value: number;
  /** Lowest step logged (null: no point had one). */
  first_step: number | null;
  /** Earliest time logged. */
  first_time: string;
  last_value: number;
  last_step: number | null;
  last_time: string;
}

/**
 * Per (run, metric, level, block): the stepped points with block·2^level ≤ step < (block+1)·2^level,
 * summed up; kept on ingest in the transaction that adds the points (migration 0011).
 */
export interface RunMetricBlocksTable {
  run_id: string;
  name: string;
  level: number;
  block: number;
  points: number;
  first_step: number;
  last_step: number;
  min_value: number;
  max_value: number;
  sum_value: number;
}

export interface ProjectsTable {
  name: string;
  /** Concurrent GPUs; null = unlimited. */
  gpu_quota: number | null;
  /** GPU-hours per period; null = unlimited. */
  budget_gpu_hours: number | null;
  /** day | week | month */
  budget_period: string;
  created_at: string;
}

export interface ReportsTable {
  id: string;
  version_id: string;
  /** profile | validation | leakage | clean | checks … */
  kind: string;
  /** SHA-256 (hex) of `body`. */
  digest: string;
  created_at: string;
  created_by: string;
  /** Canonical JSON: the few numbers a listing shows. */
  summary: string;
  /** Canonical JSON of the whole report. */
  body: string;
}

export interface DocumentsTable {
  /** SHA-256 (hex) of `body`. */
  digest: string;
  /** suite | recipe */
  kind: string;
  /** The file name it came from, for people. */
  name: string;
  body: string;
  created_at: string;
}

export interface DatasetsTable {
  id: string;
  name: string;
  created_at: string;
  created_by: string;
}

export interface DatasetVersionsTable {
  id: string;
  dataset_id: string;
  number: number;
  /** Root tree digest (hex): the version's identity. */
  digest: string;
  parent_id: string | null;
  message: string;
  author: string;
  created_at: string;
  file_count: number;
  total_bytes: number;
  new_bytes: number;
  /** Canonical JSON with the rest of the statistics. */
  stats: string;
}

export interface DatasetTagsTable {
  dataset_id: string;
  tag: string;
  version_id: string;
  created_at: string;
  created_by: string;
}

export interface PacksTable {
  id: string;
  size: number;
  blob_count: number;
  created_at: string;
}

export interface BlobsTable {
  id: string;
  pack_id: string;
  offset: number;
  length: number;
  /** 1 = file chunk, 2 = tree node (docs/FORMAT.md). */
  kind: number;
}

export interface LineageEdgesTable {
  id: string;
  src_type: string;
  src_id: string;
  dst_type: string;
  dst_id: string;
  relation: string;
  via_type: string | null;
  via_id: string | null;
  created_at: string;
}

export interface AuditEventsTable {
  idx: number;
  event_id: string;
  time: string;
  actor: string;
  action: string;
  target_type: string;
  target_name: string | null;
  outcome: string;
  leaf_hash: string;
  /** The exact canonical JSON bytes (as UTF-8 text) that the Merkle leaf commits to. */
  entry: string;
}

export interface AuditNodesTable {
  level: number;
  idx: number;
  hash: string;
}

export interface AuditHeadTable {
  id: number;
  size: number;
  last_leaf: string | null;
  frontier: string;
}

export interface AuditCheckpointsTable {
  size: number;
  root: string;
  note: string;
  created_at: string;
}

export type DatasetRow = Selectable<DatasetsTable>;
export type DatasetVersionRow = Selectable<DatasetVersionsTable>;
export type NewDatasetVersion = Insertable<DatasetVersionsTable>;
export type AuditEventRow = Selectable<AuditEventsTable>;
export type AuditCheckpointRow = Selectable<AuditCheckpointsTable>;
export type LineageEdgeRow = Selectable<LineageEdgesTable>;

/** One deployment of a model version to an environment (docs/DEPLOY.md). */
export interface DeploymentsTable {
  id: string;
  model_id: string;
  version_id: string;
  env: string;
  /** The alias the environment served when the deployment started, or null. */
  alias: string | null;
  /** pending | succeeded | failed | rolled_back */
  status: string;
  started_at: string;
  ended_at: string | null;
  by: string;
  /** JSON: what the deploy hook did (command exit status, webhook attempts…), or null while pending. */
  hook: string | null;
  /** JSON: the health check's result, or null while pending. */
  health: string | null;
  error: string | null;
  /** The version the environment served before (its alias's version, else its last successful deployment). */
  previous_version_id: string | null;
}

/** Webhook deliveries, written in the transaction that records their deployment; delivered with retries. */
export interface OutboxTable {
  id: string;
  deployment_id: string;
  url: string;
  /** The exact JSON bytes (as UTF-8 text) that are POSTed and signed. */
  body: string;
  /** `sha256=<HMAC-SHA256 hex of body>`: the X-Cairn-Signature header. */
  signature: string;
  attempts: ColumnType<number, number | undefined, number>;
  /** When the next attempt is due; null once delivered or given up. */
  next_attempt_at: string | null;
  last_error: string | null;
  delivered_at: string | null;
  created_at: string;
}

/** A legal hold or retention period on a dataset version (a model version's files are one). */
export interface VersionHoldsTable {
  id: string;
  version_id: string;
  /** 'hold' (until released) or 'retention' (until `retain_until` lapses; cannot be released early). */
  kind: string;
  reason: string;
  /** ISO time a retention period ends; null for a hold. */
  retain_until: string | null;
  created_at: string;
  created_by: string;
  released_at: string | null;
  released_by: string | null;
  release_reason: string | null;
}

/** A version whose bytes were erased on purpose (GDPR Art. 17); the version row and its events stay. */
export interface VersionErasuresTable {
  version_id: string;
  /** The version's root tree digest (bare hex), so every reader can refuse it by digest. */
  digest: string;
  reason: string;
  erased_at: string;
  erased_by: string;
}
