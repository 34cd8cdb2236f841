/**
 * The current rows the audit log vouches for, as the reconciler compares them: joined to the
 * names and numbers events use (an event says `flights@v3`, a row says a UUID), digests as
 * bare lowercase hex. Built by the shell (read-state-rows.ts) inside the same database snapshot
 * as the log entries; built by hand in tests.
 */
export interface StateRows {
  datasetVersions: Array<{ dataset: string; number: number; digest: string; author: string }>;
  /** `number`/`digest` are null when the tag points at a version that does not exist. */
  datasetTags: Array<{ dataset: string; tag: string; number: number | null; digest: string | null }>;
  /** `filesDigest`: the digest of the dataset version holding the files (null if that row is gone). */
  modelVersions: Array<{
    model: string;
    number: number;
    digest: string;
    author: string;
    run: string | null;
    format: string;
    filesDigest: string | null;
  }>;
  /** `number`/`digest` are null when the alias points at a version that does not exist. */
  aliases: Array<{ model: string; alias: string; versionId: string; number: number | null; digest: string | null }>;
  /** The alias history (`model_alias_events`), oldest first per alias (by time, then id); `versionId` null: removed. */
  aliasHistory: Array<{
    model: string;
    alias: string;
    versionId: string | null;
    number: number | null;
    digest: string | null;
  }>;
  approvals: Array<{ model: string; number: number | null; alias: string; approver: string }>;
  /** `policy`: the stored JSON text. */
  policies: Array<{ model: string; alias: string; policy: string }>;
  /** `reportDigest`: SHA-256 (hex) of the stored report, which the event names. */
  evaluations: Array<{
    id: string;
    model: string;
    number: number | null;
    suite: string;
    suiteDigest: string;
    passed: boolean;
    reportDigest: string;
  }>;
  deployments: Array<{
    id: string;
    model: string;
    number: number | null;
    digest: string | null;
    env: string;
    alias: string | null;
    status: string;
    by: string;
  }>;
  /** `outputDigest`: the digest of the run's output version (null when it has none or that row is gone). */
  runs: Array<{
    id: string;
    runKey: string;
    name: string;
    project: string;
    specDigest: string;
    author: string;
    status: string;
    outputDigest: string | null;
    reusedFrom: string | null;
    humanName: string | null;
    tags: string;
    note: string | null;
    /** Its `run_imports` row: where it came from, when it came by pull or push (absent: not read). */
    imported?: { origin: string; index: number; author: string } | null;
    /** The digests (hex) of its metric points and of its parameters as stored (absent: not read). */
    record?: { metricsDigest: string; paramsDigest: string };
  }>;
  /** Release records (lineage edges `released`): `release` is the edge's target id, `<keyid>:<manifest hash>`. */
  releases: Array<{ model: string; number: number | null; release: string }>;
  /** A team server's accounts (`principals`): `groups` as stored (JSON text). Absent: none. */
  accounts?: Array<{ name: string; kind: string; groups: string; disabled: boolean }>;
  /** Legal holds and retention periods (`version_holds`) on `name@vN`; `reasonDigest`: SHA-256 (hex) of the reason. Absent: none. */
  holds?: Array<{
    id: string;
    version: string;
    kind: string;
    until: string | null;
    reasonDigest: string;
    released: boolean;
  }>;
  /** Role grants (`role_grants`). Absent: none. */
  grants?: Array<{ subject: string; project: string; role: string }>;
  /** API tokens (`api_tokens`) with their account's name; `secretCheck`: SHA-256 (hex) of the stored hash. Absent: none. */
  tokens?: Array<{ id: string; user: string; expires: string | null; revoked: boolean; secretCheck: string }>;
}

/** The tables (and what a key looks like in each), in the order problems are reported. */
export const STATE_TABLES = {
  dataset_versions: 'name@vN',
  dataset_tags: 'name@tag',
  model_versions: 'model@vN',
  model_aliases: 'model@alias',
  model_alias_events: 'model@alias #n (the n-th move)',
  model_approvals: 'model@vN alias by approver',
  model_policies: 'model@alias',
  model_evaluations: 'evaluation id (report digest)',
  deployments: 'deployment id',
  runs: 'run id',
  releases: 'model@vN release id',
  version_holds: 'hold id',
  principals: 'account name',
  role_grants: 'subject on project',
  api_tokens: 'token id',
} as const;

export type StateTable = keyof typeof STATE_TABLES;

export function emptyStateRows(): StateRows {
  return {
    datasetVersions: [],
    datasetTags: [],
    modelVersions: [],
    aliases: [],
    aliasHistory: [],
    approvals: [],
    policies: [],
    evaluations: [],
    deployments: [],
    runs: [],
    releases: [],
  };
}
