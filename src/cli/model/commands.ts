// The model commands' declarations: arguments and options, once (see ../table/define.ts).
import { spec, flag, text, required, parsed, list } from '../table/define.js';
import { parseCount } from '../table/parsers.js';

export const modelRegister = spec({
  path: 'model register',
  args: ['name'],
  description: 'register an immutable model version from a finished run or a folder',
  options: {
    fromRun: text('--from-run <run>', 'the run whose outputs are the model'),
    path: text('--path <dir>', 'a folder (or file) holding the model'),
    format: text('--format <format>', 'onnx, pytorch, safetensors, numpy, … (default: from the files)'),
    signature: text('--signature <file>', 'JSON input/output signature: {"inputs": [...], "outputs": [...]}'),
    intendedUse: text('--intended-use <file>', 'Markdown for the card: intended use, slices, limitations'),
    message: text('-m, --message <text>', 'message for the files version (--path)'),
  },
});

export const modelLs = spec({
  path: 'model ls',
  args: [],
  description: 'models with their versions and aliases',
  options: {},
});

export const modelShow = spec({
  path: 'model show',
  args: ['ref'],
  description: 'a version: digest, run, metrics, evaluations, approvals, aliases',
  options: {},
});

export const modelVersions = spec({
  path: 'model versions',
  args: ['name'],
  description: 'versions of a model, newest first',
  options: {},
});

export const modelCard = spec({
  path: 'model card',
  args: ['ref'],
  description: 'the model card (Markdown; JSON with --json)',
  options: {},
});

export const modelVerify = spec({
  path: 'model verify',
  args: ['ref'],
  description: 're-hash every file of a version; one changed byte fails it',
  options: {},
});

export const modelEvaluate = spec({
  path: 'model evaluate',
  args: ['ref'],
  description:
    'run an evaluation suite (metrics, non-regression, slices, fairness, latency, size, schema, smoke, commands); exit 1 on failure; signed in to a server, the server runs it on its own copy of the version and data, and only such verdicts count for its alias policies',
  options: {
    suite: required('--suite <file>', 'the evaluation suite (YAML)'),
    data: required('--data <ref>', 'the dataset version to evaluate on'),
    junit: text('--junit <file>', 'also write a JUnit report'),
    html: text('--html <file>', 'also write an HTML report'),
  },
});

export const modelCompare = spec({
  path: 'model compare',
  args: ['refs...'],
  description: 'metrics of several versions side by side, with deltas to the first and paired bootstrap CIs',
  options: {
    data: required('--data <ref>', 'the dataset version'),
    suite: required(
      '--suite <file>',
      'a suite naming the data columns and predictor (its metric checks are the default metrics)',
    ),
    metric: list('--metric <name>', 'a metric to compare (repeatable)'),
  },
});

export const modelLock = spec({
  path: 'model lock',
  args: ['ref'],
  description: 'pin a model version by digest in a cairn.lock file (for the product repository)',
  options: {
    file: text('--file <path>', 'the lock file', 'cairn.lock'),
  },
});

export const modelAliasSet = spec({
  path: 'model alias set',
  args: ['ref', 'alias'],
  description: "point an alias at a version (the alias's policy applies)",
  options: {},
});

export const modelAliasRm = spec({
  path: 'model alias rm',
  args: ['name', 'alias'],
  description: 'remove an alias',
  options: {},
});

export const modelPromote = spec({
  path: 'model promote',
  args: ['ref'],
  description: 'move an alias to a version if its policy is met; else exit 1 listing what is not',
  options: {
    to: required('--to <alias>', 'the alias'),
  },
});

export const modelApprove = spec({
  path: 'model approve',
  args: ['ref'],
  description: 'approve a version for an alias (not your own)',
  options: {
    for: required('--for <alias>', 'the alias'),
  },
});

export const modelRollback = spec({
  path: 'model rollback',
  args: ['name'],
  description: 'move an alias back to its previous version',
  options: {
    alias: required('--alias <alias>', 'the alias'),
    override: text(
      '--override <reason>',
      "put back a version that does not meet the alias's policy (audited with the reason)",
    ),
  },
});

export const modelHistory = spec({
  path: 'model history',
  args: ['name'],
  description: 'every alias move; with --at, what was live then',
  options: {
    alias: text('--alias <alias>', 'one alias'),
    at: text('--at <time>', 'an ISO time'),
  },
});

export const modelPolicySet = spec({
  path: 'model policy set',
  args: ['name'],
  description: 'suites that must have passed and approvals needed before promotion to an alias',
  options: {
    alias: required('--alias <alias>', 'the alias'),
    requireSuite: list('--require-suite <suite>', 'an evaluation suite that must have passed (repeatable)'),
    approvals: parsed('--approvals <n>', 'approvals needed', parseCount, 1),
    allowSelfApproval: flag('--allow-self-approval', 'let the people who trained or registered it approve'),
    acceptImportedEvaluations: flag(
      '--accept-imported-evaluations',
      'count evaluations that came by push, pull or clone (by default only those run here, or by the server, count)',
    ),
  },
});
