/**
 * The closed list of audit actions. An event with any other action is rejected when written
 * and flagged when verified. Later capabilities extend this list (and docs/AUDIT.md) — never
 * rename or reuse an entry, because old logs must keep verifying.
 */
export const auditActions = {
  'workspace.init': 'A workspace was created (its signing key was generated).',
  'dataset.version.create': 'A file or directory was snapshotted as the next immutable version of a dataset.',
  'dataset.tag': 'A tag was set on, or moved to, a dataset version.',
  'dataset.checkout': 'A dataset version was materialized into a directory.',
  'dataset.profile': 'A version was profiled; the profile is stored with it.',
  'dataset.validate':
    'A version was checked against a suite; the report is stored with it (outcome failed when an error-severity check failed).',
  'dataset.suite.infer': 'A starting suite was inferred from a version.',
  'dataset.clean': 'A recipe made a new version from a version (lineage via the recipe digest).',
  'dataset.split':
    'A version was split into one version per split, with a leakage report (params record --allow-leakage).',
  'dataset.hold':
    'A legal hold (params kind hold) or a retention period (kind retention, until) was put on a dataset version (or the files of a model version): erasure is refused while it lasts.',
  'dataset.hold.release': 'A legal hold was lifted (params: hold id); retention periods are not released, they lapse.',
  'dataset.erase':
    'The bytes of a version were erased on purpose (GDPR Art. 17): params name the reason and every run, model, release and deployment built from it; denied while a hold or retention period lasts. Events keep only digests, so the log still verifies.',
  'store.gc': 'Unreferenced packs were deleted from the object store.',
  'store.fsck': 'The object store was re-hashed; the outcome says whether it was intact.',
  'store.repair':
    "The blob index was restored from the packs' own indexes (`fsck --repair`): params count the rows restored and moved and name the packs recorded.",
  'keys.create':
    'A signing key was made (params: purpose, keyid; for the release key also the OMS key hint). Appended before the key is put in place.',
  'keys.rotate':
    "The log's audit key was handed over to a new one (params: purpose audit, from and to vkeys, statement: the key transition signed by the old key and countersigned by the new one); checkpoints that cover it are signed by the new key. With purpose release: the release key was handed over (from and to keyids, statement: a DSSE transition signed by both keys).",
  'audit.export': 'The audit log was exported as a self-contained bundle.',
  'remote.add': 'A remote was added (or re-added) to the workspace; params name its URL and whether it is encrypted.',
  'remote.remove': 'A remote was removed from the workspace (nothing on the remote is deleted).',
  'remote.push': 'Packs, metadata and the audit log were uploaded to a remote; params count versions, packs and bytes.',
  'remote.erase':
    'The packs of versions erased in this workspace were deleted from a remote (live versions sharing one were re-sent first); params count packs deleted, sent and kept.',
  'remote.pull':
    'Metadata and the packs of versions were downloaded from a remote and verified; params count versions, packs and bytes.',
  'workspace.clone': 'A workspace was started from a remote; params name the remote and the audit logs it verified.',
  'run.import':
    "A team server's import of a push brought runs of one project (target): params.importedRuns names those runs only, as the import's remote.pull does, so a reader of that project verifies them without the others.",
  'run.submit':
    'A run was submitted (run key, inputs, code commit, params, resources); denied when it would exceed its budget.',
  'run.start': 'A submitted run started on its backend.',
  'run.finish': 'A run completed; its outputs became a version (lineage: inputs → run → output).',
  'run.fail': 'A run ended without success: non-zero exit, time limit, node failure or a lost job.',
  'run.cancel': 'A run was cancelled (its job got SIGTERM and the grace period).',
  'run.reuse': 'A run was not executed: a finished run with the same run key was reused (cache hit).',
  'run.policy': 'A utilization policy acted on a run (idle GPUs flagged, checkpoint signalled, run stopped).',
  'project.set': "A project's GPU quota or budget was set.",
  'model.register': 'A model version was registered (from a run or files), with its card; lineage run → model.',
  'model.verify': "A model version's files were re-hashed from the store; failed when any differs.",
  'model.policy.set': "An alias's promotion policy was set (suites, approvals, separate approver).",
  'model.approve': 'A model version was approved for an alias; denied for a self-approval.',
  'model.promote': "An alias was moved to a model version; denied when the alias's policy was not met.",
  'model.alias.remove': 'An alias was removed from a model.',
  'model.rollback': 'An alias was moved back to the version it pointed at before.',
  'model.release':
    'A release bundle was written for a model version (files, manifest, card, evaluations, signed provenance, audit proofs).',
  'model.evaluate':
    'A model version was evaluated by a suite on a dataset version; the verdict and its evidence are stored (failed when a check failed).',
  'model.deploy':
    'A model version was deployed to an environment: recorded when it starts (status pending) and when it ends (succeeded; failed or rolled_back with outcome failed); denied when the alias the environment serves refuses the version.',
  'server.user.add': 'A person or service account was added to the team server (params: kind, groups).',
  'server.user.disable': 'An account was disabled: none of its tokens is accepted any more.',
  'server.token.create':
    'An API token was issued to an account (params: token id, expiry, secretCheck: SHA-256 of the stored hash); only its hash is stored.',
  'server.token.revoke': 'An API token was revoked.',
  'server.grant': 'A role on a project was granted to (or, with role none, taken from) a user or group.',
  'server.read':
    'A read request was served to an authenticated identity (params: operation); recorded in batches with the requests around it.',
  'server.store.plan':
    'A push asked which packs the store lacks and was handed where to upload them (params: packs, missing, bytes, direct).',
  'server.store.commit':
    'Uploaded packs were checked against their plan (size and digest) and moved into place in the store; failed when they did not match (nothing kept).',
  'server.store.poisoned':
    "A held pack another account uploaded failed the check against its name (index digest, every blob's digest) when someone was about to rely on it, and was removed (params: key, uploader, reason).",
  'server.store.download': 'A pull was handed where to download packs from (params: keys, bytes, direct).',
  'server.store.write':
    "A push wrote an object of the store's layout through the server: a streamed pack, the merged state or its workspace's audit bundle (params: key, bytes).",
  'server.signin':
    'A person signed in with OpenID Connect in a browser (authorization code + PKCE); actor auth oidc, credential the OpenID subject.',
  'server.denied':
    'A request was refused before reaching a service (no or bad credentials, an expired or revoked token, a missing role: outcome denied), or failed before any service recorded it (a name that does not exist, a store route refusing a key, an Idempotency-Key reused for another request: outcome failed): params status, reason the code and message.',
  'server.row.forged':
    "A row the server authorizes from (an account, token, grant or browser session) does not carry the server's seal: written or edited in the database by someone without the data dir's key. It is not acted on (params: table, key).",
  'server.keys.reseal':
    "The server's session key was replaced (`cairn server reseal` on the host, after it was lost or leaked): every account, token and grant the log vouched for was sealed again with the new key, and every browser session ended (params: accounts, tokens, grants, sessions).",
  'audit.witness.config':
    "The log's witnesses or its k-of-n witness policy changed (params: op add, remove or policy; url, vkey, policy).",
  'audit.timestamp.config':
    "The log's RFC 3161 timestamp authority was set or removed (params: url, CA certificate digest).",
} as const;

export type AuditAction = keyof typeof auditActions;

export function isAuditAction(s: string): s is AuditAction {
  return Object.prototype.hasOwnProperty.call(auditActions, s);
}

export const auditOutcomes = ['ok', 'failed', 'denied'] as const;
export type AuditOutcome = (typeof auditOutcomes)[number];
