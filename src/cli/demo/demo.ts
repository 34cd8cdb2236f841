import type { OptionsOf } from '../table/define.js';
import type { demo } from './commands.js';
import { spawnSync } from 'node:child_process';
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { packageRoot } from '../../core/package-root.js';
import { CairnError } from '../../core/errors.js';
import { demoData } from '../../demo/index.js';
import { commandContext } from '../context.js';

const BIN = join(packageRoot(), 'bin', 'cairn.js');

/**
 * The whole product on real data, through the real CLI: every step is a `cairn` command run
 * as a user would type it, in a throwaway workspace.
 */
export async function run(opts: OptionsOf<typeof demo>): Promise<void> {
  const { out } = commandContext(opts);
  const data = demoData();
  const base = opts.dir ? resolve(opts.dir) : mkdtempSync(join(tmpdir(), 'cairn-demo-'));
  mkdirSync(base, { recursive: true });
  const project = join(base, 'project');
  mkdirSync(project, { recursive: true });
  const log: Array<{ step: string; command: string; ok: boolean; ms: number }> = [];
  // The demo acts as a named engineer so its audit trail reads like a real one.
  const env = { ...process.env, CAIRN_ACTOR: process.env.CAIRN_ACTOR ?? 'demo@cairn.example', CAIRN_NO_PROGRESS: '1' };

  const cairnAs = (actor: string, step: string, args: string[]): string => {
    const saved = env.CAIRN_ACTOR;
    env.CAIRN_ACTOR = actor;
    try {
      return cairn(step, args);
    } finally {
      env.CAIRN_ACTOR = saved;
    }
  };
  const cairn = (step: string, args: string[], expect: 'ok' | 'fail' = 'ok'): string => {
    out.note(`\n── ${step}\n$ cairn ${args.map((a) => (/[\s']/.test(a) ? `'${a}'` : a)).join(' ')}`);
    const t0 = Date.now();
    const r = spawnSync(process.execPath, [BIN, ...args], {
      cwd: project,
      env,
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    });
    const ms = Date.now() - t0;
    const text = `${r.stdout}${r.stderr}`.trimEnd();
    out.note(
      text
        .split('\n')
        .map((l) => `  ${l}`)
        .join('\n'),
    );
    const ok = r.status === 0;
    log.push({ step, command: `cairn ${args.join(' ')}`, ok: ok === (expect === 'ok'), ms });
    if (ok !== (expect === 'ok')) {
      throw new CairnError(
        'CHECK_FAILED',
        `demo step "${step}" ${expect === 'ok' ? 'failed' : 'unexpectedly succeeded'} (exit ${r.status})`,
        { data: { step } },
      );
    }
    return r.stdout;
  };

  const files = (name: string, text: string) => {
    const p = join(base, name);
    writeFileSync(p, text);
    return p;
  };
  const d: Demo = { env, cairn, cairnAs, files, base, project, data };
  try {
    out.note(`Cairn demo in ${base}\nData: ${data.emails} (SpamAssassin e-mails), ${data.flights} (3M flights)`);
    versioningChapter(d);
    flightsPrepChapter(d);
    emailsPrepChapter(d);
    trainingChapter(d);
    const candidates = modelsChapter(d);
    gateChapter(d, candidates);
    releaseChapter(d);
    recordsChapter(d);
    out.result({ workspace: project, kept: opts.keep === true || opts.dir !== undefined, steps: log });
    out.say(
      `\ndemo finished: ${log.length} steps passed${opts.keep || opts.dir ? `; workspace kept in ${project}` : ''}`,
    );
  } finally {
    if (!opts.keep && !opts.dir) rmSync(base, { recursive: true, force: true });
  }
}

interface Candidates {
  /** The folder of the gate example. */
  gate: string;
}

interface Demo {
  env: NodeJS.ProcessEnv;
  cairn(step: string, args: string[], expect?: 'ok' | 'fail'): string;
  cairnAs(actor: string, step: string, args: string[]): string;
  files(name: string, text: string): string;
  base: string;
  project: string;
  data: ReturnType<typeof demoData>;
}

/** Datasets: add, inspect, tag, check out, edit, status, a new version, diff, lineage. */
function versioningChapter(d: Demo) {
  const { cairn, project, data } = d;
  cairn('create a workspace', ['init']);
  cairn('version the e-mail corpus (~6,000 real messages, labelled by folder)', [
    'data',
    'add',
    data.emails,
    '--name',
    'emails',
    '-m',
    'SpamAssassin public corpus',
  ]);
  cairn('version 3 million real flights (Parquet)', [
    'data',
    'add',
    data.flights,
    '--name',
    'flights',
    '-m',
    'vega-datasets flights-3m',
  ]);
  cairn('list datasets', ['data', 'ls']);
  cairn('inspect a version', ['data', 'show', 'emails@v1', '--limit', '5']);
  cairn('give it a stable name', ['data', 'tag', 'emails@v1', 'raw']);
  cairn('materialize it into a working directory', ['data', 'checkout', 'emails@raw', 'work/emails']);

  const work = join(project, 'work', 'emails');
  rmSync(join(work, 'hard-ham-1'), { recursive: true });
  const first = join(work, 'spam-1', '00001.7848dde101aa985090474a91ec93fcf0.txt');
  try {
    appendFileSync(first, '\n[label reviewed]\n');
  } catch {
    writeFileSync(join(work, 'spam-1', 'reviewed.txt'), 'label reviewed\n');
  }
  writeFileSync(join(work, 'README.txt'), 'SpamAssassin corpus without the hard-ham set.\n');
  cairn('see what changed in the working directory', ['data', 'status', 'work/emails', '--name', 'emails']);
  cairn('record the edit as v2 (only changed bytes are stored)', [
    'data',
    'add',
    'work/emails',
    '--name',
    'emails',
    '-m',
    'drop hard-ham-1, review one label',
  ]);
  cairn('compare the versions', ['data', 'diff', 'emails@v1', 'emails@v2']);
  cairn('a derived dataset, with its lineage', [
    'data',
    'add',
    'work/emails/spam-1',
    '--name',
    'emails/spam-sample',
    '--from',
    'emails@v2',
    '-m',
    'spam only',
  ]);
  cairn('where it came from, and what was built from v2', ['lineage', 'emails@v2']);
  // v2 holds the edits above, so switching back to v1 would lose nothing; an edit made
  // after that add is what a checkout must not overwrite.
  appendFileSync(join(work, 'README.txt'), 'An edit not yet added.\n');
  cairn('refuse a checkout over local edits', ['data', 'checkout', 'emails@v1', 'work/emails'], 'fail');
}

/** Data preparation on 3 million flights: profile, validate, clean, split. */
function flightsPrepChapter(d: Demo) {
  const { cairn, files, base } = d;
  cairn('profile 3 million flights in one scan', ['data', 'profile', 'flights']);
  const flightsSuite = join(base, 'flights-suite.yaml');
  cairn('infer a starting validation suite from the data', ['data', 'suite', 'infer', 'flights', '-o', flightsSuite]);
  const strict = files(
    'flights-rules.yaml',
    [
      'suite: flights-rules',
      'checks:',
      '  - row_count: {min: 1000000}',
      '  - not_null: [date, delay, distance, origin, destination]',
      '  - range: {column: distance, min: 1, max: 6000}',
      '  - range: {column: delay, min: -120, max: 1440, mostly: 0.999}',
      '  - regex: {column: origin, pattern: "[A-Z]{3}"}',
      '  - sql: {name: no-round-trips, predicate: "origin <> destination"}',
      '',
    ].join('\n'),
  );
  cairn('validate against the inferred suite and a hand-written one', [
    'data',
    'validate',
    'flights',
    '--suite',
    flightsSuite,
  ]);
  cairn('…the rules (a warning-free pass, or exit 1 with every failure listed)', [
    'data',
    'validate',
    'flights',
    '--suite',
    strict,
    '--html',
    join(base, 'flights-report.html'),
  ]);
  const flightsRecipe = files(
    'flights-recipe.yaml',
    ['recipe: flights-clean', 'steps:', '  - filter: "delay BETWEEN -120 AND 1440"', '  - drop_duplicates:', ''].join(
      '\n',
    ),
  );
  cairn('clean: drop implausible delays and duplicate rows (a new version, lineage via the recipe)', [
    'data',
    'clean',
    'flights',
    '--recipe',
    flightsRecipe,
    '--name',
    'flights-clean',
  ]);
  cairn('split 80/20 by the documented hash, leakage-checked', [
    'data',
    'split',
    'flights-clean',
    '--name',
    'flights',
    '--ratios',
    'train=0.8,test=0.2',
  ]);
}

/** Data preparation on the e-mails: validate, redact, stratified split. */
function emailsPrepChapter(d: Demo) {
  const { cairn, files } = d;
  const emailSuite = files(
    'emails-suite.yaml',
    [
      'suite: emails',
      'files:',
      '  - types: {}',
      '  - size: {max: 10MB}',
      '  - duplicates: {severity: warn}',
      '  - pii: {extensions: [.txt], severity: warn}',
      '',
    ].join('\n'),
  );
  cairn('validate the e-mails: file types, sizes, duplicates, personal data', [
    'data',
    'validate',
    'emails@raw',
    '--suite',
    emailSuite,
  ]);
  const emailRecipe = files(
    'emails-recipe.yaml',
    [
      'recipe: emails-redacted',
      'files:',
      '  - select: {include: ["*/*.txt"]}',
      '  - drop_duplicates:',
      '  - redact_pii: {extensions: [.txt], kinds: [email, phone, card, iban]}',
      '',
    ].join('\n'),
  );
  cairn('clean: keep the messages, redact every e-mail address and phone number', [
    'data',
    'clean',
    'emails@raw',
    '--recipe',
    emailRecipe,
    '--name',
    'emails-redacted',
  ]);
  cairn('split stratified by label (the folder), with near-duplicate detection', [
    'data',
    'split',
    'emails-redacted',
    '--name',
    'emails',
    '--ratios',
    'train=0.8,test=0.2',
    '--stratify',
    'label',
    '--labels',
    'folder',
  ]);
}

/** A training run on the split just made, then the same run as a cache hit. */
function trainingChapter(d: Demo) {
  const { cairn, project } = d;
  // A training run on the split just made: the repo's spam example, run locally.
  const trainDir = join(project, 'train');
  mkdirSync(trainDir, { recursive: true });
  for (const f of ['train.py', 'cairn.yaml'])
    copyFileSync(join(packageRoot(), 'examples', 'spam-python', f), join(trainDir, f));
  const spec = join(trainDir, 'cairn.yaml');
  cairn('plan a training run: will it hit the cache, and why not', ['run', 'plan', spec, '--set', 'params.epochs=10']);
  cairn('train a spam classifier on the redacted split (local backend; metrics logged by the job)', [
    'run',
    spec,
    '--set',
    'params.epochs=10',
  ]);
  cairn('the same run again is a cache hit: nothing executes', ['run', spec, '--set', 'params.epochs=10']);
  cairn('runs, and the GPU time they used (none here) and saved', ['run', 'ls']);
  cairn('the trained model version and everything it came from', ['lineage', 'runs/spam-logreg', '--up']);
}

/** Features and three trained candidates, registered as versions of one model. */
function modelsChapter(d: Demo): Candidates {
  const { cairn, project } = d;
  // A gated release: features from the flights splits, three trained models, the gate
  // blocks the worse one, a second person approves the better one, it is promoted,
  // released, verified, deployed, and rolled back.
  const gate = join(project, 'gate');
  mkdirSync(gate, { recursive: true });
  for (const f of ['featurize.mjs', 'train.mjs', 'featurize.yaml', 'train.yaml', 'gate.yaml'])
    copyFileSync(join(packageRoot(), 'examples', 'flight-gate', f), join(gate, f));
  copyFileSync(join(packageRoot(), 'examples', 'flight-gate', 'deploy.json'), join(project, '.cairn', 'deploy.json'));
  const feat = join(gate, 'featurize.yaml');
  const trainSpec = join(gate, 'train.yaml');
  cairn('featurize the flights training split (a run whose output is a dataset)', [
    'run',
    feat,
    '--set',
    'name=features-train',
  ]);
  cairn('…and the test split', ['run', feat, '--set', 'name=features-test', '--set', 'inputs.flights=flights/test']);
  const trained = (step: string, sets: string[]) =>
    (JSON.parse(cairn(step, ['run', trainSpec, ...sets, '--json'])) as { id: string }).id;
  const baseline = trained('train a baseline delay classifier (exported to ONNX)', ['--set', 'params.epochs=10']);
  const worse = trained('train a candidate that ignores the time of day', ['--set', 'params.hour=false']);
  const better = trained('train a candidate for longer', ['--set', 'params.epochs=60']);
  const sig = (id: string) => join(project, '.cairn', 'runs', id, 'out', 'model', 'signature.json');
  cairn('register the three as versions of one model', [
    'model',
    'register',
    'flight-late',
    '--from-run',
    baseline,
    '--signature',
    sig(baseline),
  ]);
  cairn('…', ['model', 'register', 'flight-late', '--from-run', worse, '--signature', sig(worse)]);
  cairn('…', ['model', 'register', 'flight-late', '--from-run', better, '--signature', sig(better)]);
  return { gate };
}

/** The baseline goes live; the gate blocks the worse candidate; a second person approves the better one. */
function gateChapter(d: Demo, { gate }: Candidates) {
  const { cairn, cairnAs, base } = d;
  cairn('the baseline goes live first', ['model', 'alias', 'set', 'flight-late@v1', 'production']);
  cairn('production now needs the gate passed and one approval by someone else', [
    'model',
    'policy',
    'set',
    'flight-late',
    '--alias',
    'production',
    '--require-suite',
    'gate',
    '--approvals',
    '1',
  ]);
  const gateSuite = join(gate, 'gate.yaml');
  cairn(
    'evaluate the worse candidate: the regression gate blocks it',
    ['model', 'evaluate', 'flight-late@v2', '--suite', gateSuite, '--data', 'runs/features-test'],
    'fail',
  );
  cairn('evaluate the better candidate (ONNX Runtime; paired bootstrap against production)', [
    'model',
    'evaluate',
    'flight-late@v3',
    '--suite',
    gateSuite,
    '--data',
    'runs/features-test',
    '--html',
    join(base, 'gate-report.html'),
  ]);
  cairn('metrics side by side, with deltas and confidence intervals', [
    'model',
    'compare',
    'flight-late@v1',
    'flight-late@v2',
    'flight-late@v3',
    '--data',
    'runs/features-test',
    '--suite',
    gateSuite,
    '--metric',
    'roc_auc',
    '--metric',
    'accuracy',
  ]);
  cairn(
    'the author may not approve their own model',
    ['model', 'approve', 'flight-late@v3', '--for', 'production'],
    'fail',
  );
  cairnAs('reviewer@cairn.example', 'a second person approves it', [
    'model',
    'approve',
    'flight-late@v3',
    '--for',
    'production',
  ]);
  cairn('promote: the policy is met', ['model', 'promote', 'flight-late@v3', '--to', 'production']);
}

/** Promote, release, verify offline, deploy, roll back. */
function releaseChapter(d: Demo) {
  const { env, cairn, base, project } = d;
  const rel = join(base, 'release-flight-late-v3');
  cairn('write a signed release bundle (provenance, card, evaluations, audit proofs)', [
    'release',
    'create',
    'flight-late@v3',
    '--out',
    rel,
  ]);
  cairn('verify it offline with the publisher key', [
    'release',
    'verify',
    rel,
    '--key',
    join(project, '.cairn', 'keys', 'release.pub'),
  ]);
  (env as Record<string, string>).CAIRN_DEPLOY_TARGET = join(base, 'serving');
  cairn('deploy to production (hook + health check)', ['deploy', 'flight-late@v3', '--env', 'production']);
  // v1 went live before the policy existed: putting it back is refused until someone says why.
  cairn(
    'roll back: v1 never passed the gate, so the alias policy refuses it',
    ['model', 'rollback', 'flight-late', '--alias', 'production'],
    'fail',
  );
  cairn('roll back anyway, with a reason the audit log keeps', [
    'model',
    'rollback',
    'flight-late',
    '--alias',
    'production',
    '--override',
    'v3 misbehaves in production; v1 is the known quantity',
  ]);
  cairn('what was live, and when', ['model', 'history', 'flight-late', '--alias', 'production']);
  cairn('deployment metrics from the record', ['dora', '--model', 'flight-late']);
}

/** What the record shows: lineage, fsck, the audit trail and its proofs. */
function recordsChapter(d: Demo) {
  const { cairn, base } = d;
  cairn('the lineage of a training set: where every row came from', ['lineage', 'flights/train', '--up']);
  cairn('…and everything built from the raw e-mails', ['lineage', 'emails@raw', '--down']);
  cairn('re-hash every stored object', ['fsck']);
  cairn('the audit trail', ['audit', 'log']);
  const trusted = join(base, 'trusted-checkpoint.txt');
  cairn('export a signed checkpoint to keep elsewhere', ['audit', 'checkpoint', '--out', trusted]);
  const vkey = (
    JSON.parse(cairn('read the verifier key', ['audit', 'checkpoint', '--json'])) as { verifierKey: string }
  ).verifierKey;
  const proof = join(base, 'proof.json');
  cairn('prove one event is in the log', ['audit', 'prove', '1', '--out', proof]);
  cairn('check that proof without the workspace', ['audit', 'verify-proof', proof, '--key', vkey]);
  const bundle = join(base, 'audit-export');
  cairn('export the log as a self-contained bundle', ['audit', 'export', bundle]);
  cairn('verify the bundle offline', ['audit', 'verify', '--bundle', bundle, '--key', vkey]);
  cairn('verify the log, its checkpoints and every object it names', [
    'audit',
    'verify',
    '--against',
    trusted,
    '--key',
    vkey,
    '--artifacts',
  ]);
}
