// Every command of the CLI, in the order help lists them. Declarations live beside their handlers
// (<folder>/commands.ts); bind() checks at compile time that each handler takes what its command declares.
import { bind, group, type BoundCommand, type GroupSpec } from './table/define.js';
import * as workspace from './workspace/commands.js';
import * as data from './data/commands.js';
import * as dataprep from './data/prep-commands.js';
import * as remote from './remote/commands.js';
import * as transfer from './transfer/commands.js';
import * as run from './run/commands.js';
import * as compute from './compute/commands.js';
import * as sdk from './sdk/commands.js';
import * as model from './model/commands.js';
import * as fetch from './fetch/commands.js';
import * as release from './release/commands.js';
import * as deploy from './deploy/commands.js';
import * as store from './store/commands.js';
import * as audit from './audit/commands.js';
import * as lineage from './lineage/commands.js';
import * as demo from './demo/commands.js';
import * as compliance from './compliance/commands.js';
import * as server from './server/commands.js';
import * as pipeline from './pipeline/commands.js';
import * as ui from './ui/commands.js';

export const COMMAND_TABLE: readonly (BoundCommand | GroupSpec)[] = [
  bind(workspace.init, () => import('./workspace/init.js')),
  group('data', 'versioned datasets'),
  bind(data.dataAdd, () => import('./data/add.js')),
  bind(data.dataLs, () => import('./data/ls.js')),
  bind(data.dataLog, () => import('./data/log.js')),
  bind(data.dataShow, () => import('./data/show.js')),
  bind(data.dataDiff, () => import('./data/diff.js')),
  bind(data.dataCheckout, () => import('./data/checkout.js')),
  bind(data.dataTag, () => import('./data/tag.js')),
  bind(data.dataStatus, () => import('./data/status.js')),
  bind(data.dataReport, () => import('./data/report.js')),
  bind(compliance.dataHold, () => import('./compliance/hold.js')),
  bind(compliance.dataReleaseHold, () => import('./compliance/release-hold.js')),
  bind(compliance.dataHolds, () => import('./compliance/holds.js')),
  bind(compliance.dataErase, () => import('./compliance/erase.js')),
  bind(dataprep.dataProfile, () => import('./data/profile.js')),
  bind(dataprep.dataValidate, () => import('./data/validate.js')),
  group('data suite', 'validation suites'),
  bind(dataprep.dataSuiteInfer, () => import('./data/suite-infer.js')),
  bind(dataprep.dataClean, () => import('./data/clean.js')),
  bind(dataprep.dataSplit, () => import('./data/split.js')),
  group('remote', 'where versions are pushed to and pulled from (S3, a shared filesystem, SSH)'),
  bind(remote.remoteAdd, () => import('./remote/add.js')),
  bind(remote.remoteLs, () => import('./remote/ls.js')),
  bind(remote.remoteRm, () => import('./remote/rm.js')),
  bind(remote.remoteDefault, () => import('./remote/default.js')),
  bind(remote.remoteKey, () => import('./remote/key.js')),
  bind(transfer.push, () => import('./transfer/push.js')),
  bind(transfer.pull, () => import('./transfer/pull.js')),
  bind(transfer.clone, () => import('./transfer/clone.js')),
  group('run', 'training runs on this machine or a Slurm cluster: cached by run key, queued by quota, audited'),
  bind(run.runSubmit, () => import('./run/submit.js')),
  bind(run.runPlan, () => import('./run/plan.js')),
  bind(run.runLs, () => import('./run/ls.js')),
  bind(run.runCompare, () => import('./run/compare.js')),
  bind(run.runShow, () => import('./run/show.js')),
  bind(run.runMetrics, () => import('./run/metrics.js')),
  bind(run.runLogs, () => import('./run/logs.js')),
  bind(run.runCancel, () => import('./run/cancel.js')),
  bind(run.runWait, () => import('./run/wait.js')),
  bind(run.runWhy, () => import('./run/why.js')),
  bind(pipeline.repro, () => import('./pipeline/repro.js')),
  bind(pipeline.dag, () => import('./pipeline/dag.js')),
  group('compute', 'GPU usage, quotas and budgets'),
  bind(compute.computeUsage, () => import('./compute/usage.js')),
  group('compute project', "projects' GPU quotas and budgets"),
  bind(compute.computeProjectSet, () => import('./compute/project-set.js')),
  bind(compute.computeProjectLs, () => import('./compute/project-ls.js')),
  group('sdk', 'the SDKs jobs log through'),
  bind(sdk.sdkPaths, () => import('./sdk/paths.js')),
  group('model', 'the model registry: versions, cards, aliases with policies, approvals, rollback'),
  bind(model.modelRegister, () => import('./model/register.js')),
  bind(model.modelLs, () => import('./model/ls.js')),
  bind(model.modelShow, () => import('./model/show.js')),
  bind(model.modelVersions, () => import('./model/versions.js')),
  bind(model.modelCard, () => import('./model/card.js')),
  bind(model.modelVerify, () => import('./model/verify.js')),
  bind(model.modelEvaluate, () => import('./model/evaluate.js')),
  bind(model.modelCompare, () => import('./model/compare.js')),
  bind(model.modelLock, () => import('./model/lock.js')),
  group('model alias', 'aliases (staging, production, …)'),
  bind(model.modelAliasSet, () => import('./model/alias-set.js')),
  bind(model.modelAliasRm, () => import('./model/alias-rm.js')),
  bind(model.modelPromote, () => import('./model/promote.js')),
  bind(model.modelApprove, () => import('./model/approve.js')),
  bind(model.modelRollback, () => import('./model/rollback.js')),
  bind(model.modelHistory, () => import('./model/history.js')),
  group('model policy', "aliases' promotion policies"),
  bind(model.modelPolicySet, () => import('./model/policy-set.js')),
  bind(fetch.fetch, () => import('./fetch/fetch.js')),
  group('release', 'signed release bundles: files, manifest, card, evaluations, SLSA provenance, audit proofs'),
  bind(release.releaseCreate, () => import('./release/create.js')),
  bind(release.releaseVerify, () => import('./release/verify.js')),
  bind(compliance.dossier, () => import('./compliance/dossier.js')),
  bind(deploy.deploy, () => import('./deploy/deploy.js')),
  bind(deploy.deployLs, () => import('./deploy/ls.js')),
  group('deploy outbox', 'webhook deliveries'),
  bind(deploy.deployOutboxFlush, () => import('./deploy/outbox-flush.js')),
  bind(deploy.dora, () => import('./deploy/dora.js')),
  bind(store.fsck, () => import('./store/fsck.js')),
  bind(store.gc, () => import('./store/gc.js')),
  group('audit', 'the tamper-evident audit log'),
  bind(audit.auditLog, () => import('./audit/log.js')),
  bind(audit.auditShow, () => import('./audit/show.js')),
  bind(audit.auditVerify, () => import('./audit/verify.js')),
  bind(audit.auditProve, () => import('./audit/prove.js')),
  bind(audit.auditExport, () => import('./audit/export.js')),
  bind(audit.auditCheckpoint, () => import('./audit/checkpoint.js')),
  bind(audit.auditVerifyProof, () => import('./audit/verify-proof.js')),
  bind(lineage.lineage, () => import('./lineage/lineage.js')),
  bind(demo.demo, () => import('./demo/demo.js')),
  bind(ui.ui, () => import('./ui/ui.js')),
  group('server', 'a team server: one Cairn with accounts, roles and one audit log (docs/SERVER.md)'),
  bind(server.serverStart, () => import('./server/start.js')),
  group('server user', 'people and service accounts'),
  bind(server.serverUserAdd, () => import('./server/user-add.js')),
  bind(server.serverUserLs, () => import('./server/user-ls.js')),
  bind(server.serverUserDisable, () => import('./server/user-disable.js')),
  group('server token', 'API tokens'),
  bind(server.serverTokenCreate, () => import('./server/token-create.js')),
  bind(server.serverTokenLs, () => import('./server/token-ls.js')),
  bind(server.serverTokenRevoke, () => import('./server/token-revoke.js')),
  bind(server.serverGrant, () => import('./server/grant.js')),
  bind(server.login, () => import('./server/login.js')),
  bind(server.logout, () => import('./server/logout.js')),
  bind(server.whoami, () => import('./server/whoami.js')),
];
