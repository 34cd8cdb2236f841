/**
 * The team server's JSON API, `/api/v1` (docs/SERVER.md): one table that the server mounts
 * (routes, validation, roles, the OpenAPI document) and the CLI's HTTP client calls, so the two
 * cannot drift apart. Bodies and queries are closed: an unknown field is a 400, not ignored.
 */
export type Role = 'viewer' | 'contributor' | 'approver' | 'admin';

export type Schema =
  | { type: 'string'; minLength?: number; maxLength?: number; enum?: readonly string[]; pattern?: string }
  | { type: 'integer'; minimum?: number; maximum?: number }
  | { type: 'number' }
  | { type: 'boolean' }
  | { type: 'array'; items: Schema; maxItems?: number }
  | { type: 'object'; properties: Record<string, Schema>; required?: readonly string[]; additionalProperties: false }
  | { type: ['number', 'null'] }
  | { type: 'object'; additionalProperties: true };

export interface Operation {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Fastify-style path under /api/v1, `:name` for path parameters. */
  path: string;
  /** The weakest role that may call it (on the resource's project). */
  role: Role;
  summary: string;
  params?: Record<string, Schema>;
  query?: Record<string, Schema>;
  body?: Record<string, Schema>;
  required?: readonly string[];
  /** A larger body limit than the server's default (run submissions carry their code). */
  bodyLimit?: number;
}

const str: Schema = { type: 'string', minLength: 1, maxLength: 1024 };
const name: Schema = { type: 'string', minLength: 1, maxLength: 256 };
const int = (minimum = 0, maximum = 1_000_000_000): Schema => ({ type: 'integer', minimum, maximum });
const bool: Schema = { type: 'boolean' };
const role: Schema = { type: 'string', enum: ['viewer', 'contributor', 'approver', 'admin', 'none'] };

const sha256Text: Schema = { type: 'string', pattern: '^sha256:[0-9a-f]{64}$' };
const storeKey: Schema = { type: 'string', minLength: 1, maxLength: 512, pattern: '^[0-9A-Za-z_./-]+$' };

/**
 * The data plane (docs/SERVER.md "Data plane"): the server's object store is a Cairn remote that
 * clients push to and pull from through these calls; pack bytes travel on the URLs `plan` and
 * `download` hand out (presigned S3 URLs, or the server's own upload route for a folder store).
 */
function storeOperations() {
  return {
    'store.list': {
      method: 'GET',
      path: '/store/list',
      role: 'viewer',
      summary: "Keys and sizes of the store's objects under a prefix.",
      query: { prefix: { type: 'string', maxLength: 512, pattern: '^[0-9A-Za-z_./-]*$' } },
    },
    'store.plan': {
      method: 'POST',
      path: '/store/plan',
      role: 'contributor',
      summary: 'Which packs the store lacks, each with where to upload it (a presigned URL for S3).',
      body: {
        objects: {
          type: 'array',
          maxItems: 10_000,
          items: {
            type: 'object',
            properties: {
              key: storeKey,
              size: int(0, 2 ** 40),
              sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
              md5: { type: 'string', pattern: '^[A-Za-z0-9+/]{22}==$' },
              // A multipart upload (S3 stores): the part size and each part's MD5, pinned in its URL.
              parts: {
                type: 'object',
                properties: {
                  partBytes: int(5 * 1024 * 1024, 5 * 1024 ** 3),
                  md5: { type: 'array', maxItems: 10_000, items: { type: 'string', pattern: '^[A-Za-z0-9+/]{22}==$' } },
                },
                required: ['partBytes', 'md5'],
                additionalProperties: false,
              },
            },
            required: ['key', 'size', 'sha256'],
            additionalProperties: false,
          },
        },
      },
      required: ['objects'],
    },
    'store.commit': {
      method: 'POST',
      path: '/store/commit',
      role: 'contributor',
      summary: 'Checks uploaded packs against their plan and moves them into place.',
      body: { uploads: { type: 'array', items: str, maxItems: 10_000 } },
      required: ['uploads'],
    },
    'store.download': {
      method: 'POST',
      path: '/store/download',
      role: 'viewer',
      summary: 'Where to download packs from (presigned URLs for S3).',
      body: { keys: { type: 'array', items: storeKey, maxItems: 10_000 } },
      required: ['keys'],
    },
    'store.import': {
      method: 'POST',
      path: '/store/import',
      role: 'contributor',
      summary: "Imports what a push left in the store (verifying the pushed audit logs) into the server's metadata.",
      body: { versions: { type: 'array', items: sha256Text, maxItems: 100_000 } },
      required: ['versions'],
    },
  } as const satisfies Record<string, Operation>;
}

/**
 * Compliance on the team server (docs/COMPLIANCE.md "On a team server"). Placing or lifting a
 * legal hold is an approver's decision: it overrides other people's erasure requests, the same
 * weight as approving a promotion. Erasure is admin only: it destroys bytes every project member
 * may depend on and cannot be undone, so it sits with the role that already manages accounts.
 */
function complianceOperations() {
  const reason: Schema = { type: 'string', minLength: 1, maxLength: 4096 };
  return {
    'compliance.dossier': {
      method: 'GET',
      path: '/compliance/dossier',
      role: 'viewer',
      summary: 'The EU AI Act Annex IV dossier of a model version, built on the server; returns its files (UTF-8).',
      query: { ref: str },
      required: ['ref'],
    },
    'compliance.holds': {
      method: 'GET',
      path: '/compliance/holds',
      role: 'viewer',
      summary: 'Legal holds and retention periods, of one version or all, lifted ones included.',
      query: { ref: str },
    },
    'compliance.hold': {
      method: 'POST',
      path: '/compliance/holds',
      role: 'approver',
      summary:
        'Places a legal hold (or, with retainUntil, a retention period) on a dataset version or model:<name>@vN.',
      body: { ref: str, reason, retainUntil: { type: 'string', minLength: 10, maxLength: 64 } },
      required: ['ref', 'reason'],
    },
    'compliance.releaseHold': {
      method: 'POST',
      path: '/compliance/holds/release',
      role: 'approver',
      summary: "Lifts a version's active legal holds (or the one named); retention periods only lapse.",
      body: { ref: str, reason, holdId: str },
      required: ['ref', 'reason'],
    },
    'compliance.erase': {
      method: 'POST',
      path: '/compliance/erasures',
      role: 'admin',
      summary: "Erases a version's bytes on the server (refused while held) and returns the impact list.",
      body: { ref: str, reason, localOnly: bool },
      required: ['ref', 'reason'],
    },
    // A POST even for the dry run: the subject's id must not end up in a URL or a request log.
    'compliance.eraseSubject': {
      method: 'POST',
      path: '/compliance/erasures/subject',
      role: 'admin',
      summary:
        "Erases one data subject's files and table rows from a dataset (or version) and every version derived from it; dryRun only plans.",
      body: {
        ref: str,
        subject: { type: 'string', minLength: 1, maxLength: 512 },
        key: str,
        scan: bool,
        column: str,
        reason,
        dryRun: bool,
        localOnly: bool,
      },
      required: ['ref', 'subject'],
    },
  } as const satisfies Record<string, Operation>;
}

export const API_VERSION = 'v1';
export const API_PREFIX = '/api/v1';

export const operations = {
  whoami: {
    method: 'GET',
    path: '/whoami',
    role: 'viewer',
    summary:
      'The authenticated identity, its role on the default project, the protected aliases and the server it talks to.',
  },
  'datasets.list': { method: 'GET', path: '/datasets', role: 'viewer', summary: 'Datasets with their latest version.' },
  'datasets.log': {
    method: 'GET',
    path: '/datasets/log',
    role: 'viewer',
    summary: "A dataset's versions, newest first.",
    query: { name },
    required: ['name'],
  },
  'datasets.show': {
    method: 'GET',
    path: '/versions/show',
    role: 'viewer',
    summary: 'One version and its files.',
    query: { ref: str, limit: int(1, 100_000) },
    required: ['ref'],
  },
  'datasets.diff': {
    method: 'GET',
    path: '/versions/diff',
    role: 'viewer',
    summary: 'What changed between two versions.',
    query: { from: str, to: str },
    required: ['from', 'to'],
  },
  'datasets.report': {
    method: 'GET',
    path: '/versions/report',
    role: 'viewer',
    summary: 'A stored report (profile, validation, split) of a version.',
    query: { ref: str, kind: name },
    required: ['ref'],
  },
  'datasets.tag': {
    method: 'POST',
    path: '/versions/tags',
    role: 'contributor',
    summary: 'Sets (or with force, moves) a tag.',
    body: { ref: str, tag: name, force: bool },
    required: ['ref', 'tag'],
  },
  'runs.submit': {
    method: 'POST',
    path: '/runs',
    role: 'contributor',
    summary:
      "Submits a run to the server's backends: the spec and its code folder's files (base64); quotas and budgets are the team's.",
    body: {
      spec: { type: 'string', minLength: 1, maxLength: 1_000_000 },
      specName: name,
      files: { type: 'object', additionalProperties: true },
      sets: { type: 'array', items: str, maxItems: 1000 },
      backend: { type: 'string', enum: ['local', 'slurm'] },
      force: bool,
    },
    required: ['spec', 'specName', 'files'],
    bodyLimit: 96 * 1024 * 1024,
  },
  'runs.logs': {
    method: 'GET',
    path: '/runs/:id/logs',
    role: 'viewer',
    summary: "A run's stdout (or stderr) from a byte offset, and whether the run has ended.",
    params: { id: str },
    query: { stderr: bool, offset: int() },
  },
  'runs.find': {
    method: 'GET',
    path: '/runs/find',
    role: 'viewer',
    summary: 'Runs filtered, sorted and cut, with chosen params and metrics as columns (`run ls`).',
    query: {
      project: name,
      status: name,
      filter: str,
      sort: str,
      columns: { type: 'string', minLength: 1, maxLength: 16_384 },
      limit: int(1, 1_000_000),
      offset: int(),
    },
  },
  'runs.fields': {
    method: 'GET',
    path: '/runs/fields',
    role: 'viewer',
    summary: 'The names of the params and metrics runs recorded (columns and axes to choose from).',
    query: { project: name },
  },
  'runs.curves': {
    method: 'GET',
    path: '/runs/curves',
    role: 'viewer',
    summary: "One metric's curve for each of several runs, downsampled on the server (the UI's compare).",
    query: {
      ids: { type: 'string', minLength: 1, maxLength: 65_536 },
      name,
      buckets: int(1, 100_000),
      x: { type: 'string', enum: ['step', 'time'] },
    },
    required: ['ids', 'name'],
  },
  'runs.compare': {
    method: 'GET',
    path: '/runs/compare',
    role: 'viewer',
    summary: 'Runs side by side: differing params, metrics, durations, GPU-hours (`run compare`).',
    // A hundred run ids (the UI's compare) are 3,700 characters.
    query: { refs: { type: 'string', minLength: 1, maxLength: 65_536 }, lowerIsBetter: str, higherIsBetter: str },
    required: ['refs'],
  },
  'runs.tail': {
    method: 'GET',
    path: '/runs/:id/tail',
    role: 'viewer',
    summary: "The last lines of a run's stdout or stderr.",
    params: { id: str },
    query: { stream: { type: 'string', enum: ['stdout', 'stderr'] }, lines: int(1, 10_000) },
  },
  'runs.list': {
    method: 'GET',
    path: '/runs',
    role: 'viewer',
    summary: 'Runs, newest first.',
    query: { project: name, status: name, limit: int(1, 100_000) },
  },
  'runs.show': {
    method: 'GET',
    path: '/runs/:id',
    role: 'viewer',
    summary: 'A run brought up to date with its backend.',
    params: { id: str },
  },
  'runs.metrics': {
    method: 'GET',
    path: '/runs/:id/metrics',
    role: 'viewer',
    summary: "A run's metric summaries.",
    params: { id: str },
  },
  'runs.metricSeries': {
    method: 'GET',
    path: '/runs/:id/metrics/:name',
    role: 'viewer',
    summary: 'A metric curve, downsampled on the server.',
    params: { id: str, name },
    query: { buckets: int(1, 100_000) },
  },
  'runs.why': {
    method: 'GET',
    path: '/runs/:id/why',
    role: 'viewer',
    summary: 'Why a run waits, was refused or ended as it did.',
    params: { id: str },
  },
  'runs.cancel': {
    method: 'POST',
    path: '/runs/:id/cancel',
    role: 'contributor',
    summary: 'Cancels a run.',
    params: { id: str },
    body: { wait: bool },
  },
  'models.list': { method: 'GET', path: '/models', role: 'viewer', summary: 'Registered models.' },
  'models.versions': {
    method: 'GET',
    path: '/models/:name/versions',
    role: 'viewer',
    summary: "A model's versions.",
    params: { name },
  },
  'models.show': {
    method: 'GET',
    path: '/model-versions/show',
    role: 'viewer',
    summary: 'One model version with its aliases, evaluations and approvals.',
    query: { ref: str },
    required: ['ref'],
  },
  'models.card': {
    method: 'GET',
    path: '/model-versions/card',
    role: 'viewer',
    summary: "A version's model card.",
    query: { ref: str },
    required: ['ref'],
  },
  'models.evaluations': {
    method: 'GET',
    path: '/model-versions/evaluations',
    role: 'viewer',
    summary: "A version's evaluations with their reports (verdicts, confidence intervals, slices).",
    query: { ref: str },
    required: ['ref'],
  },
  'models.readiness': {
    method: 'GET',
    path: '/model-versions/readiness',
    role: 'viewer',
    summary: "An alias's policy and the conditions a version does not meet for it yet.",
    query: { ref: str, alias: name },
    required: ['ref', 'alias'],
  },
  'models.verify': {
    method: 'POST',
    path: '/model-versions/verify',
    role: 'contributor',
    summary: "Re-hashes a version's files against the logged digest.",
    body: { ref: str },
    required: ['ref'],
  },
  'models.evaluate': {
    method: 'POST',
    path: '/model-versions/evaluations',
    role: 'contributor',
    summary:
      "Runs an evaluation suite on the server against a version and a test set from its store; stores the verdict as the server's own.",
    // suite: the suite file's text; suiteName: its file name (named in errors, as the local command does).
    body: {
      ref: str,
      data: str,
      suite: { type: 'string', minLength: 1, maxLength: 262_144 },
      suiteName: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[^/\\\\\\x00-\\x1f]+$' },
    },
    required: ['ref', 'data', 'suite', 'suiteName'],
  },
  'models.history': {
    method: 'GET',
    path: '/models/:name/history',
    role: 'viewer',
    summary: 'Every move of the aliases, or where they pointed at a time.',
    params: { name },
    query: { alias: name, at: str },
  },
  'models.register': {
    method: 'POST',
    path: '/models/:name/versions',
    role: 'contributor',
    summary: "Registers a version from a finished run's outputs on the server (files on a laptop travel by push).",
    params: { name },
    body: {
      fromRun: str,
      format: name,
      signature: { type: 'object', additionalProperties: true },
      intendedUse: { type: 'string', maxLength: 262_144 },
    },
    required: ['fromRun'],
  },
  'models.setPolicy': {
    method: 'PUT',
    path: '/models/:name/aliases/:alias/policy',
    role: 'approver',
    summary: "Sets an alias's promotion policy.",
    params: { name, alias: name },
    body: {
      suites: { type: 'array', items: name, maxItems: 100 },
      approvals: int(0, 100),
      separateApprover: bool,
      acceptImported: bool,
    },
    required: ['suites', 'approvals', 'separateApprover'],
  },
  'models.approve': {
    method: 'POST',
    path: '/model-versions/approvals',
    role: 'approver',
    summary: 'Approves a version for an alias (never your own).',
    body: { ref: str, alias: name },
    required: ['ref', 'alias'],
  },
  'models.promote': {
    method: 'POST',
    path: '/model-versions/promotions',
    role: 'contributor',
    summary: 'Moves an alias to a version when its policy is met (protected aliases need approver).',
    body: { ref: str, alias: name, how: { type: 'string', enum: ['promote', 'set'] } },
    required: ['ref', 'alias'],
  },
  'models.removeAlias': {
    method: 'DELETE',
    path: '/models/:name/aliases/:alias',
    role: 'contributor',
    summary: 'Removes an alias (protected aliases need approver).',
    params: { name, alias: name },
  },
  'models.rollback': {
    method: 'POST',
    path: '/models/:name/aliases/:alias/rollback',
    role: 'contributor',
    summary: 'Moves an alias back to its previous version (protected aliases need approver).',
    params: { name, alias: name },
    // expect: the version (name@vN) the caller checked it returns to; another answers 409 ALIAS_MOVED.
    body: { override: { type: 'string', minLength: 1, maxLength: 2048 }, expect: str },
  },
  'releases.create': {
    method: 'POST',
    path: '/releases',
    role: 'contributor',
    summary: 'Writes a signed release bundle of a version on the server and returns its files (base64).',
    body: { ref: str },
    required: ['ref'],
  },
  'deployments.list': {
    method: 'GET',
    path: '/deployments',
    role: 'viewer',
    summary: 'Deployments, newest first.',
    query: { env: name, model: name, limit: int(1, 100_000) },
  },
  'deployments.deploy': {
    method: 'POST',
    path: '/deployments',
    role: 'contributor',
    summary: 'Deploys a version to an environment (through the alias the environment serves).',
    body: { ref: str, env: name },
    required: ['ref', 'env'],
  },
  'deployments.dora': {
    method: 'GET',
    path: '/dora',
    role: 'viewer',
    summary: 'DORA metrics of deployments.',
    query: { model: name, since: str, until: str },
  },
  'audit.events': {
    method: 'GET',
    path: '/audit/events',
    role: 'viewer',
    summary: 'Verified events matching filters.',
    query: { actor: str, action: str, target: str, outcome: name, since: str, until: str, limit: int(1, 100_000) },
  },
  'audit.event': {
    method: 'GET',
    path: '/audit/events/:index',
    role: 'viewer',
    summary: 'One event as logged.',
    params: { index: int() },
  },
  'audit.prove': {
    method: 'GET',
    path: '/audit/events/:index/proof',
    role: 'viewer',
    summary: "An event's inclusion proof in a signed checkpoint.",
    params: { index: int() },
  },
  'audit.checkpoint': {
    method: 'GET',
    path: '/audit/checkpoint',
    role: 'viewer',
    summary: 'The latest signed checkpoint and, with since, its consistency proof from that size.',
    query: { since: int() },
  },
  'audit.verify': {
    method: 'POST',
    path: '/audit/verify',
    role: 'viewer',
    summary: 'Runs audit verify on the server.',
    body: { deep: bool, artifacts: bool },
  },
  'audit.bundle': {
    method: 'GET',
    path: '/audit/bundle',
    role: 'viewer',
    summary: 'The whole log with checkpoints and proofs, to verify on the client.',
  },
  'lineage.of': {
    method: 'GET',
    path: '/lineage',
    role: 'viewer',
    summary: 'The lineage graph around a version.',
    query: { ref: str, direction: { type: 'string', enum: ['up', 'down', 'both'] } },
    required: ['ref'],
  },
  'compute.usage': {
    method: 'GET',
    path: '/compute/usage',
    role: 'viewer',
    summary: 'GPU-hours and cost by project, user or run; with interval, also per day, week or month.',
    query: {
      by: { type: 'string', enum: ['project', 'user', 'run'] },
      since: str,
      interval: { type: 'string', enum: ['day', 'week', 'month'] },
    },
  },
  'compute.budgets': {
    method: 'GET',
    path: '/compute/budgets',
    role: 'viewer',
    summary: "Projects' GPU-hour budgets with what this period has used or committed.",
  },
  'compute.projects': {
    method: 'GET',
    path: '/compute/projects',
    role: 'viewer',
    summary: "Projects' quotas and budgets.",
  },
  'compute.setProject': {
    method: 'PUT',
    path: '/compute/projects/:name',
    role: 'admin',
    summary: "Sets a project's GPU quota and budget (one ledger for the team).",
    params: { name },
    body: {
      gpuQuota: { type: ['number', 'null'] },
      budgetGpuHours: { type: ['number', 'null'] },
      period: { type: 'string', enum: ['month', 'week', 'day'] },
    },
  },
  'accounts.list': {
    method: 'GET',
    path: '/accounts',
    role: 'admin',
    summary: 'People and service accounts with their grants.',
  },
  'accounts.add': {
    method: 'POST',
    path: '/accounts',
    role: 'admin',
    summary: 'Adds a person or service account.',
    body: {
      name,
      kind: { type: 'string', enum: ['user', 'service'] },
      email: str,
      groups: { type: 'array', items: name, maxItems: 100 },
      role,
      project: name,
    },
    required: ['name'],
  },
  'accounts.disable': {
    method: 'POST',
    path: '/accounts/:name/disable',
    role: 'admin',
    summary: 'Disables an account (its tokens stop working).',
    params: { name },
  },
  'grants.set': {
    method: 'PUT',
    path: '/grants',
    role: 'admin',
    summary: 'Grants a role on a project to user:<name> or group:<name> (role none removes it).',
    body: { subject: str, project: name, role },
    required: ['subject', 'project', 'role'],
  },
  'tokens.list': {
    method: 'GET',
    path: '/tokens',
    role: 'admin',
    summary: 'API tokens (never their secrets).',
    query: { user: name },
  },
  'tokens.create': {
    method: 'POST',
    path: '/tokens',
    role: 'admin',
    summary: 'Issues a token; the secret is in this answer only.',
    body: { user: name, expires: { type: 'string', pattern: '^(\\d+[dhm]|never)$' }, label: str },
    required: ['user'],
  },
  'tokens.revoke': {
    method: 'DELETE',
    path: '/tokens/:id',
    role: 'admin',
    summary: 'Revokes a token.',
    params: { id: str },
  },
  ...storeOperations(),
  ...complianceOperations(),
} as const satisfies Record<string, Operation>;

export type OperationId = keyof typeof operations;

/** What a call carries: path parameters, query and body, all plain JSON. */
export interface CallInput {
  params?: Record<string, string | number>;
  query?: Record<string, string | number | boolean | undefined>;
  body?: Record<string, unknown>;
}
