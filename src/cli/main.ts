import { Command, CommanderError, Option } from 'commander';
import { CairnError, errorCatalogue, ioError, isCairnError, type ErrorCode } from '../core/errors.js';
import { CLIENT_VERSION } from '../app/version.js';
import type { GlobalOptions } from './context.js';
import { guardOutput } from './output.js';

type Opts = Record<string, unknown> & GlobalOptions;

/**
 * Command handlers are imported on use: `cairn data status` must not pay for loading the
 * code of every other command (start-up time is part of its 0.3 s budget).
 */
function lazy(load: () => Promise<{ run: (...args: never[]) => Promise<void> }>) {
  return async (...args: unknown[]) => {
    const cmd = args[args.length - 1] as Command;
    const positional = args.slice(0, -2);
    const opts = cmd.optsWithGlobals() as Opts;
    const mod = await load();
    await (mod.run as (...a: unknown[]) => Promise<void>)(...positional, opts);
  };
}

export function buildProgram(): Command {
  const program = new Command('cairn')
    .description('Versioned data, reproducible training and a forensic audit trail for ML engineers')
    .version(CLIENT_VERSION, '-V, --version')
    .option('--json', 'print one JSON document on stdout (no progress bars)')
    .option('--workspace <dir>', 'use the workspace in <dir> instead of searching from the current directory')
    .exitOverride();
  program.configureOutput({ outputError: () => {} });

  program
    .command('init [dir]')
    .description('create a workspace (.cairn/) in dir (default: the current directory)')
    .option(
      '--metadata-url <url>',
      'metadata database: sqlite:<file> (default) or postgres://user@host:port/db?schema=name',
    )
    .action(lazy(() => import('./workspace/init.js')));

  const data = program.command('data').description('versioned datasets');
  data
    .command('add <path>')
    .description('snapshot a file or directory as the next immutable version of a dataset')
    .requiredOption('--name <dataset>', 'dataset name (letters, digits, . _ - and / between parts)')
    .option('-m, --message <text>', 'what changed and why', '')
    .option(
      '--from <ref>',
      'a dataset version this one was derived from (repeatable; recorded as lineage)',
      collect,
      [],
    )
    .action(lazy(() => import('./data/add.js')));
  data
    .command('ls')
    .description('list datasets')
    .action(lazy(() => import('./data/ls.js')));
  data
    .command('log <name>')
    .description('versions of a dataset, newest first')
    .action(lazy(() => import('./data/log.js')));
  data
    .command('show <ref>')
    .description('a version: files, sizes, digests, stats, parents')
    .option('--limit <n>', 'list at most n files', parseCount, 100)
    .option('--all', 'list every file')
    .action(lazy(() => import('./data/show.js')));
  data
    .command('diff <from> <to>')
    .description('added, removed and modified paths between two versions')
    .action(lazy(() => import('./data/diff.js')));
  data
    .command('checkout <ref> <dir>')
    .description('materialize a version into a directory')
    .option('--force', 'overwrite local changes')
    .addOption(
      new Option('--link <mode>', 'how files are placed')
        .choices(['auto', 'copy', 'reflink', 'hardlink'])
        .default('auto'),
    )
    .action(lazy(() => import('./data/checkout.js')));
  data
    .command('tag <ref> <tag>')
    .description('give a version a stable name (dataset@tag)')
    .option('--force', 'move the tag if it points elsewhere')
    .action(lazy(() => import('./data/tag.js')));
  data
    .command('status <path>')
    .description("what changed in a directory since the dataset's latest version")
    .requiredOption('--name <dataset>', 'dataset to compare with')
    .action(lazy(() => import('./data/status.js')));

  data
    .command('report <ref>')
    .description('print a report stored with a version (the newest, or of --kind)')
    .addOption(new Option('--kind <kind>', 'which report').choices(['profile', 'validation', 'clean', 'leakage']))
    .action(lazy(() => import('./data/report.js')));
  data
    .command('profile <ref>')
    .description('per-column statistics (or file statistics) in one scan, stored with the version')
    .option('--file <path>', 'profile one tabular file of the version')
    .action(lazy(() => import('./dataprep/profile.js')));
  data
    .command('validate <ref>')
    .description('run a validation suite; exit 1 when an error-severity check fails')
    .requiredOption('--suite <file>', 'suite YAML (docs/DATAPREP.md)')
    .option('--junit <file>', 'also write a JUnit XML report')
    .option('--html <file>', 'also write an HTML report')
    .option('--file <path>', 'validate one tabular file of the version')
    .option('--profile', 'also profile the version from the same load and store the profile (as data profile)')
    .action(lazy(() => import('./dataprep/validate.js')));
  data
    .command('suite')
    .description('validation suites')
    .command('infer <ref>')
    .description('write a starting suite inferred from the data')
    .option('-o, --out <file>', 'write the suite to a file (default: stdout)')
    .option('--file <path>', 'infer from one tabular file of the version')
    .action(lazy(() => import('./dataprep/suite-infer.js')));
  data
    .command('clean <ref>')
    .description('apply a cleaning recipe; the result is the next version of --name')
    .requiredOption('--recipe <file>', 'recipe YAML (docs/DATAPREP.md)')
    .requiredOption('--name <dataset>', 'dataset to record the result in')
    .option('-m, --message <text>', 'version message')
    .option('--file <path>', 'clean one tabular file of the version')
    .action(lazy(() => import('./dataprep/clean.js')));
  data
    .command('split <ref>')
    .description('deterministic train/test splits as versions <name>/<split>, with a leakage report')
    .requiredOption('--name <dataset>', 'base name; splits become <name>/<split>')
    .requiredOption('--ratios <list>', 'e.g. train=0.8,test=0.2')
    .option('--key <cols>', "columns whose values decide a row's split (default: all)")
    .option('--stratify <col>', 'keep class ratios equal (files: stratify by label)')
    .option('--group <col>', 'never split a group (files: a manifest column)')
    .option('--time <col>', 'every test row later than every train row')
    .option('--cutoff <time>', 'fixed time cut-off(s) for --time (stable when rows are added)')
    .option('--seed <n>', 'hash seed', parseCount, 0)
    .option('--text <col>', 'check this text column for near-duplicates across splits')
    .addOption(
      new Option('--labels <from>', 'file collections: where labels come from').choices(['folder', 'manifest']),
    )
    .option('--manifest <path>', 'file collections: manifest (CSV or JSONL) inside the version')
    .option('--allow-leakage', 'record the splits even if the leakage report has errors (audited)')
    .option('--file <path>', 'split one tabular file of the version')
    .action(lazy(() => import('./dataprep/split.js')));

  const remote = program
    .command('remote')
    .description('where versions are pushed to and pulled from (S3, a shared filesystem, SSH)');
  remote
    .command('add <name> <url>')
    .description('add a remote: s3://bucket/prefix, file:///shared/path or ssh://user@host/path')
    .option('--endpoint <url>', 'S3: a custom endpoint (MinIO, Ceph, …); path-style addressing')
    .option('--region <region>', 'S3: the region (default AWS_REGION or us-east-1)')
    .option('--encrypt', 'encrypt client-side (AES-256-GCM) with a new key kept in the workspace')
    .option('--key-file <file>', 'encrypt with the key in this backup file (from `cairn remote key`)')
    .option('--jobs <n>', 'parallel transfers (default 4)', parsePositive)
    .option(
      '--bwlimit <rate>',
      'bandwidth limit over all transfers, e.g. 50M or 10MiB (bytes per second)',
      parseRateOption,
    )
    .option('--identity-file <file>', 'SSH: private key (default ~/.ssh/id_ed25519, then id_rsa, then the agent)')
    .option('--known-hosts <file>', 'SSH: known_hosts file (default ~/.ssh/known_hosts)')
    .option('--force', 'replace a remote of that name')
    .action(lazy(() => import('./remote/add.js')));
  remote
    .command('ls')
    .description('list remotes (* marks the default)')
    .action(lazy(() => import('./remote/ls.js')));
  remote
    .command('rm <name>')
    .description('remove a remote from this workspace (its data stays)')
    .action(lazy(() => import('./remote/rm.js')));
  remote
    .command('default <name>')
    .description('make a remote the default for push and pull')
    .action(lazy(() => import('./remote/default.js')));
  remote
    .command('key <name>')
    .description("print an encrypted remote's key for backup (keep it secret)")
    .action(lazy(() => import('./remote/key.js')));
  program
    .command('push [refs...]')
    .description(
      'upload versions (all, or the refs named) with their metadata and the audit log; only missing packs move',
    )
    .option('--remote <name>', 'the remote (default: the default remote)')
    .option('--jobs <n>', 'parallel transfers', parsePositive)
    .option('--bwlimit <rate>', 'bandwidth limit, e.g. 50M (bytes per second)', parseRateOption)
    .action(lazy(() => import('./transfer/push.js')));
  program
    .command('pull [refs...]')
    .description(
      "bring a remote's metadata and the packs of versions (all, or the refs named) into the local store, verified",
    )
    .option('--remote <name>', 'the remote (default: the default remote)')
    .option('--jobs <n>', 'parallel transfers', parsePositive)
    .option('--bwlimit <rate>', 'bandwidth limit, e.g. 50M (bytes per second)', parseRateOption)
    .option('--metadata-only', 'import versions, tags and lineage; fetch no data')
    .option('--materialize', 'also place each named version read-only in the shared cluster cache and print its path')
    .option('--cache <dir>', 'the shared cluster cache (default CAIRN_CACHE)')
    .action(lazy(() => import('./transfer/pull.js')));
  program
    .command('clone <url> <dir>')
    .description(
      'start a workspace from a remote: metadata, versions and verified audit logs (data is pulled on demand)',
    )
    .option('--name <remote>', 'what to call the remote', 'origin')
    .option('--endpoint <url>', 'S3: a custom endpoint')
    .option('--region <region>', 'S3: the region')
    .option('--key-file <file>', 'the key of an encrypted remote (its backup line)')
    .option('--identity-file <file>', 'SSH: private key')
    .option('--known-hosts <file>', 'SSH: known_hosts file')
    .action(lazy(() => import('./transfer/clone.js')));

  const run = program
    .command('run')
    .description('training runs on this machine or a Slurm cluster: cached by run key, queued by quota, audited');
  const specOptions = (c: Command) =>
    c
      .option(
        '--set <key=value>',
        'override the spec: params.<name>, inputs.<name>, resources.gpus|cpus, backend, priority, project (repeatable)',
        collect,
        [],
      )
      .addOption(new Option('--backend <backend>', 'where the job runs').choices(['local', 'slurm']));
  specOptions(
    run
      .command('submit [spec]', { isDefault: true })
      .description('run a spec (default cairn.yaml); waits for the end unless --detach'),
  )
    .option('--force', 'run even if an identical run finished (cache hit)')
    .option('--detach', 'return once submitted; follow with cairn run wait / logs -f')
    .action(lazy(() => import('./run/submit.js')));
  specOptions(
    run
      .command('plan [spec]')
      .description('say what `cairn run` would do: cache hit or not, and why; quota and budget'),
  )
    .option('--force', 'plan as with --force')
    .action(lazy(() => import('./run/plan.js')));
  run
    .command('ls')
    .description('runs, newest first')
    .option('--project <name>', 'only this project')
    .option('--status <status>', 'only runs in this state (queued, pending, running, completed, failed, …)')
    .option('--limit <n>', 'at most n runs', parseCount, 50)
    .action(lazy(() => import('./run/ls.js')));
  run
    .command('show <id>')
    .description('a run: spec, code, inputs, params, metrics, usage, output')
    .action(lazy(() => import('./run/show.js')));
  run
    .command('metrics <id> [name]')
    .description("a run's metrics summarized, or one metric's curve in buckets (min, max, mean)")
    .option('--buckets <n>', 'buckets of the curve (1 to 100000)', parseCount, 100)
    .action(lazy(() => import('./run/metrics.js')));
  run
    .command('logs <id>')
    .description("a run's stdout (or --stderr)")
    .option('-f, --follow', 'keep printing until the run ends')
    .option('--stderr', 'stderr instead of stdout')
    .action(lazy(() => import('./run/logs.js')));
  run
    .command('cancel <id>')
    .description('cancel a run (SIGTERM, grace period, SIGKILL); waits for it to stop')
    .option('--no-wait', 'return at once')
    .action(lazy(() => import('./run/cancel.js')));
  run
    .command('wait <id>')
    .description('wait until a run ends; exit 1 unless it completed')
    .option('--timeout <seconds>', 'give up after this long', parseCount)
    .action(lazy(() => import('./run/wait.js')));
  run
    .command('why <id>')
    .description('why a run waits (quota, resources, the backend) or how it ended, machine-readable with --json')
    .action(lazy(() => import('./run/why.js')));
  const compute = program.command('compute').description('GPU usage, quotas and budgets');
  compute
    .command('usage')
    .description('GPU-hours, cost, idle GPU-hours and GPU-hours saved by cache hits')
    .addOption(new Option('--by <what>', 'group by').choices(['project', 'user', 'run']).default('project'))
    .option('--since <age|time>', 'only runs created since (12h, 7d, 4w or an ISO time)')
    .action(lazy(() => import('./compute/usage.js')));
  const project = compute.command('project').description("projects' GPU quotas and budgets");
  project
    .command('set <name>')
    .description('set a GPU quota (concurrent GPUs) and a budget (GPU-hours per period); "none" removes one')
    .option('--gpu-quota <n>', 'concurrent GPUs')
    .option('--budget <gpu-hours>', 'GPU-hours per period')
    .addOption(new Option('--period <period>', 'budget period').choices(['day', 'week', 'month']))
    .action(lazy(() => import('./compute/project-set.js')));
  project
    .command('ls')
    .description('projects and their limits')
    .action(lazy(() => import('./compute/project-ls.js')));

  program
    .command('sdk')
    .description('the SDKs jobs log through')
    .command('paths')
    .description('where the Python helper, the Node SDK and the bundled datasets are')
    .action(lazy(() => import('./sdk/paths.js')));
  const model = program
    .command('model')
    .description('the model registry: versions, cards, aliases with policies, approvals, rollback');
  model
    .command('register <name>')
    .description('register an immutable model version from a finished run or a folder')
    .option('--from-run <run>', 'the run whose outputs are the model')
    .option('--path <dir>', 'a folder (or file) holding the model')
    .option('--format <format>', 'onnx, pytorch, safetensors, numpy, … (default: from the files)')
    .option('--signature <file>', 'JSON input/output signature: {"inputs": [...], "outputs": [...]}')
    .option('--intended-use <file>', 'Markdown for the card: intended use, slices, limitations')
    .option('-m, --message <text>', 'message for the files version (--path)')
    .action(lazy(() => import('./model/register.js')));
  model
    .command('ls')
    .description('models with their versions and aliases')
    .action(lazy(() => import('./model/ls.js')));
  model
    .command('show <ref>')
    .description('a version: digest, run, metrics, evaluations, approvals, aliases')
    .action(lazy(() => import('./model/show.js')));
  model
    .command('versions <name>')
    .description('versions of a model, newest first')
    .action(lazy(() => import('./model/versions.js')));
  model
    .command('card <ref>')
    .description('the model card (Markdown; JSON with --json)')
    .action(lazy(() => import('./model/card.js')));
  model
    .command('verify <ref>')
    .description('re-hash every file of a version; one changed byte fails it')
    .action(lazy(() => import('./model/verify.js')));
  model
    .command('evaluate <ref>')
    .description(
      'run an evaluation suite (metrics, non-regression, slices, fairness, latency, size, schema, smoke, commands); exit 1 on failure',
    )
    .requiredOption('--suite <file>', 'the evaluation suite (YAML)')
    .requiredOption('--data <ref>', 'the dataset version to evaluate on')
    .option('--junit <file>', 'also write a JUnit report')
    .option('--html <file>', 'also write an HTML report')
    .action(lazy(() => import('./model/evaluate.js')));
  model
    .command('compare <refs...>')
    .description('metrics of several versions side by side, with deltas to the first and paired bootstrap CIs')
    .requiredOption('--data <ref>', 'the dataset version')
    .requiredOption(
      '--suite <file>',
      'a suite naming the data columns and predictor (its metric checks are the default metrics)',
    )
    .option('--metric <name>', 'a metric to compare (repeatable)', collect, [])
    .action(lazy(() => import('./model/compare.js')));
  model
    .command('lock <ref>')
    .description('pin a model version by digest in a cairn.lock file (for the product repository)')
    .option('--file <path>', 'the lock file', 'cairn.lock')
    .action(lazy(() => import('./model/lock.js')));
  const alias = model.command('alias').description('aliases (staging, production, …)');
  alias
    .command('set <ref> <alias>')
    .description("point an alias at a version (the alias's policy applies)")
    .action(lazy(() => import('./model/alias-set.js')));
  alias
    .command('rm <name> <alias>')
    .description('remove an alias')
    .action(lazy(() => import('./model/alias-rm.js')));
  model
    .command('promote <ref>')
    .description('move an alias to a version if its policy is met; else exit 1 listing what is not')
    .requiredOption('--to <alias>', 'the alias')
    .action(lazy(() => import('./model/promote.js')));
  model
    .command('approve <ref>')
    .description('approve a version for an alias (not your own)')
    .requiredOption('--for <alias>', 'the alias')
    .action(lazy(() => import('./model/approve.js')));
  model
    .command('rollback <name>')
    .description('move an alias back to its previous version')
    .requiredOption('--alias <alias>', 'the alias')
    .action(lazy(() => import('./model/rollback.js')));
  model
    .command('history <name>')
    .description('every alias move; with --at, what was live then')
    .option('--alias <alias>', 'one alias')
    .option('--at <time>', 'an ISO time')
    .action(lazy(() => import('./model/history.js')));
  model
    .command('policy')
    .description("aliases' promotion policies")
    .command('set <name>')
    .description('suites that must have passed and approvals needed before promotion to an alias')
    .requiredOption('--alias <alias>', 'the alias')
    .option('--require-suite <suite>', 'an evaluation suite that must have passed (repeatable)', collect, [])
    .option('--approvals <n>', 'approvals needed', parseCount, 1)
    .option('--allow-self-approval', 'let the people who trained or registered it approve')
    .action(lazy(() => import('./model/policy-set.js')));

  program
    .command('fetch')
    .description(
      "materialize and verify the models a cairn.lock pins (pulling them by digest if needed): for the product's CI",
    )
    .option('--lock <file>', 'the lock file', 'cairn.lock')
    .option('--dir <dir>', 'where the models go (one folder each)', 'models')
    .option('--remote <name>', 'the remote to pull from')
    .action(lazy(() => import('./fetch/fetch.js')));
  const release = program
    .command('release')
    .description('signed release bundles: files, manifest, card, evaluations, SLSA provenance, audit proofs');
  release
    .command('create <ref>')
    .description('write a release bundle for a model version')
    .requiredOption('--out <dir>', 'a new or empty folder')
    .action(lazy(() => import('./release/create.js')));
  release
    .command('verify <dir>')
    .description('check a release bundle offline: every file, the signatures, the statement, the audit proofs')
    .option('--key <pem>', "the publisher's trusted public key (PEM file)")
    .option('--audit-key <vkey>', "the publisher's audit verifier key (name+hash+key)")
    .action(lazy(() => import('./release/verify.js')));
  const deploy = program
    .command('deploy')
    .description(
      'deploy a model version to an environment of .cairn/deploy.json (exit 1 unless it succeeded); ls, outbox flush',
    )
    .argument('<ref>', 'the model version (spam, spam@v3, spam@staging, spam@sha256:…)')
    .option('--env <env>', 'the environment (required)')
    .action(lazy(() => import('./deploy/deploy.js')));
  deploy
    .command('ls')
    .description('deployments, newest first')
    .option('--env <env>', 'only this environment')
    .option('--model <name>', 'only this model')
    .option('--limit <n>', 'at most n deployments', parseCount)
    .action(lazy(() => import('./deploy/ls.js')));
  deploy
    .command('outbox')
    .description('webhook deliveries')
    .command('flush')
    .description('one attempt for every webhook delivery that is due (backoff; given up after 15 attempts)')
    .action(lazy(() => import('./deploy/outbox-flush.js')));
  program
    .command('dora')
    .description('DORA metrics from recorded deployments: frequency, lead time, change failure rate, time to restore')
    .option('--model <name>', 'only this model')
    .option('--since <age|time>', 'start of the window (30d, 12w or an ISO time)', '30d')
    .option('--until <time>', 'end of the window (default now)')
    .action(lazy(() => import('./deploy/dora.js')));
  program
    .command('fsck')
    .description('re-hash every stored object; name corrupt or missing ones and the versions they break')
    .action(lazy(() => import('./store/fsck.js')));
  program
    .command('gc')
    .description('delete stored objects nothing references')
    .option('--dry-run', 'only report what would be deleted')
    .action(lazy(() => import('./store/gc.js')));

  const audit = program.command('audit').description('the tamper-evident audit log');
  audit
    .command('log')
    .description('list events')
    .option('--actor <id>', 'only this account id')
    .option('--action <action>', 'only this action (a trailing * matches a prefix, e.g. dataset.*)')
    .option('--target <name>', 'only events on this target name')
    .option('--outcome <outcome>', 'ok, failed or denied')
    .option('--since <time>', 'ISO time or age such as 7d, 12h')
    .option('--until <time>', 'ISO time or age')
    .option('--limit <n>', 'at most n events (newest)', parseCount)
    .action(lazy(() => import('./audit/log.js')));
  audit
    .command('show <index>')
    .description('one event, exactly as logged')
    .action(lazy(() => import('./audit/show.js')));
  audit
    .command('verify')
    .description('recompute the Merkle tree, check every checkpoint signature and the hash chain')
    .option('--against <file>', 'a checkpoint exported earlier (trusted state)')
    .option('--key <vkey>', 'trusted verifier key (text or file); required with --against')
    .option('--artifacts', 're-hash every stored object an event names')
    .option('--deep', 'also parse every entry fully and require canonical JSON (slower)')
    .option('--bundle <dir>', 'verify an exported bundle instead of the workspace (no workspace needed)')
    .action(lazy(() => import('./audit/verify.js')));
  audit
    .command('prove <index>')
    .description('inclusion proof of an event plus a signed checkpoint, verifiable offline')
    .option('--out <file>', 'write the proof to a file')
    .action(lazy(() => import('./audit/prove.js')));
  audit
    .command('export <dir>')
    .description('self-contained bundle: entries, checkpoints, public key, proofs')
    .action(lazy(() => import('./audit/export.js')));
  audit
    .command('checkpoint')
    .description('sign a checkpoint of the current log (and export it)')
    .option('--out <file>', 'also write the signed checkpoint to this file (keep it outside the workspace)')
    .action(lazy(() => import('./audit/checkpoint.js')));
  audit
    .command('verify-proof <file>')
    .description('check a proof written by `audit prove` (no workspace needed)')
    .option('--key <vkey>', 'trusted verifier key (text or file); default: the key the proof names')
    .action(lazy(() => import('./audit/verify-proof.js')));

  program
    .command('lineage <ref>')
    .description('where a version came from (--up) and what was built from it (--down)')
    .option('--up', 'only ancestors')
    .option('--down', 'only descendants')
    .action(lazy(() => import('./lineage/lineage.js')));

  program
    .command('demo')
    .description('run Cairn end to end on real data in a throwaway workspace')
    .option('--dir <dir>', 'where to create the demo workspace (default: a new temp directory)')
    .option('--keep', 'keep the demo workspace afterwards')
    .action(lazy(() => import('./demo/demo.js')));

  return program;
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

function parsePositive(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 64)
    throw new CairnError('USAGE', `expected a whole number from 1 to 64, got ${JSON.stringify(v)}`);
  return n;
}

function parseRateOption(v: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmg]?)(i?b)?(?:\/s)?$/i.exec(v.trim());
  if (!m) throw new CairnError('USAGE', `expected a rate like 50M or 2.5MiB/s, got ${JSON.stringify(v)}`);
  const unit = m[2]!.toLowerCase();
  const base = m[3]?.toLowerCase() === 'ib' ? 1024 : 1000;
  const mult = unit === 'k' ? base : unit === 'm' ? base ** 2 : unit === 'g' ? base ** 3 : 1;
  return Math.max(1, Math.round(Number(m[1]) * mult));
}

function parseCount(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new CairnError('USAGE', `expected a whole number, got ${JSON.stringify(v)}`);
  return n;
}

/** The single error boundary of the CLI: every failure becomes a code, a message and an exit status. */
export async function main(argv: string[]): Promise<void> {
  guardOutput();
  const program = buildProgram();
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
  } catch (err) {
    process.exitCode = report(err, json);
  }
}

function report(err: unknown, json: boolean): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return 0;
    // Help shown because no command was given (`cairn`, `cairn data`) is a usage error.
    if (err.code === 'commander.help')
      return err.exitCode === 0
        ? 0
        : emit(new CairnError('USAGE', 'no command given', { hint: 'the usage above lists the commands' }), json);
    const msg = err.message.replace(/^error: /, '');
    return emit(new CairnError('USAGE', msg, { hint: 'run `cairn --help` or `cairn <command> --help`' }), json);
  }
  if (isCairnError(err)) return emit(err, json);
  // A file that is missing, unreadable or in the way is the user's to fix, not a bug: every
  // Node system error that escaped its command is an IO_ERROR naming the path.
  const sys = systemError(err);
  if (sys) return emit(sys, json);
  const e = err as Error;
  const wrapped = new CairnError('INTERNAL', e?.message ?? String(err), {
    hint: 'this is a bug in Cairn; please report it with the command you ran (set CAIRN_DEBUG=1 for a stack trace)',
  });
  if (process.env.CAIRN_DEBUG) process.stderr.write(`${e?.stack ?? String(err)}\n`);
  return emit(wrapped, json);
}

const SYSCALL_VERBS: Record<string, string> = {
  open: 'open',
  read: 'read',
  write: 'write',
  mkdir: 'create',
  rmdir: 'remove',
  unlink: 'remove',
  rename: 'rename',
  scandir: 'list',
  stat: 'find',
  lstat: 'find',
  copyfile: 'copy',
  symlink: 'link',
  link: 'link',
  chmod: 'change',
  access: 'access',
};

function systemError(err: unknown): CairnError | null {
  const sys = err as (NodeJS.ErrnoException & { dest?: string }) | null;
  if (
    !sys ||
    typeof sys !== 'object' ||
    typeof sys.code !== 'string' ||
    !/^E[A-Z0-9]+$/.test(sys.code) ||
    typeof sys.syscall !== 'string'
  )
    return null;
  return ioError(err, SYSCALL_VERBS[sys.syscall] ?? sys.syscall, sys.path ?? sys.dest ?? '(a file)');
}

/** What to do next, for errors raised without a hint of their own: every error says it. */
const FALLBACK_HINTS: Partial<Record<ErrorCode, string>> = {
  USAGE: 'run `cairn --help` or `cairn <command> --help`',
  INVALID_NAME:
    'use letters, digits, . _ - (and / between dataset name parts), starting each part with a letter or digit',
  INVALID_REF: 'write name, name@v3, name@<tag> or name@sha256:<at least 4 hex characters>',
  INVALID_INPUT: 'fix or remove the named input and run the command again',
  CONFIG_INVALID: 'fix .cairn/config.json (see docs/CONFIG.md)',
  WORKSPACE_NOT_FOUND: 'run `cairn init` in your project folder first',
  WORKSPACE_EXISTS: 'use the existing workspace, or choose another directory',
  NOT_FOUND: 'list datasets with `cairn data ls` and versions with `cairn data log <name>`',
  AMBIGUOUS_REF: 'give more hex digits of the digest',
  ALREADY_EXISTS: 'pass --force to replace it, or choose another name',
  PATH_UNSAFE: 'remove or replace the named path or link, then try again',
  IO_ERROR: 'check that the path exists and that you may read (and write) it',
  LOCAL_CHANGES: 'add them as a new version with `cairn data add`, move them away, or pass --force',
  CORRUPT_OBJECT: 'run `cairn fsck` to see every damaged file and version',
  MISSING_OBJECT: 'run `cairn fsck` to see every damaged file and version',
  PERMISSION_DENIED: 'ask an owner of the workspace for access',
  LOCKED: 'wait for the other command to finish and try again',
  CHECK_FAILED: 'the output above names what failed',
  AUDIT_INCONSISTENT: 'run `cairn audit verify` and restore the metadata from a backup',
  SIGNATURE_INVALID: 'check that you verify with the right key (--key)',
  POLICY_UNMET: 'meet the conditions listed above (cairn model evaluate, cairn model approve), then promote again',
  RUN_FAILED: 'read its output with cairn run logs <id> (and cairn run show <id>)',
  BUDGET_EXCEEDED: 'raise the budget (cairn compute project set), shorten the time limit, or wait for the next period',
  DIVERGED: 'versions are immutable: use another dataset name, or clone the remote and continue from there',
  DB_ERROR: 'check that the metadata database is reachable and has room, then retry',
  UNSUPPORTED: 'upgrade Cairn',
};

function emit(err: CairnError, json: boolean): number {
  const hint = err.hint ?? FALLBACK_HINTS[err.code] ?? 'see docs/CLI.md';
  if (json) {
    process.stdout.write(
      `${JSON.stringify({ error: { code: err.code, message: err.message, hint, data: err.data } }, null, 2)}\n`,
    );
  } else {
    process.stderr.write(`cairn: error[${err.code}]: ${err.message}\n`);
    process.stderr.write(`hint: ${hint}\n`);
  }
  return errorCatalogue[err.code].exit;
}
