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
import { formatDuration } from '../format.js';
import {
  added,
  blockedLines,
  changes,
  count,
  majorityBaseline,
  metric,
  modelTable,
  paramsLine,
  signed,
  interval,
  type AddResult,
  type CheckOutcome,
  type ParamDiff,
} from './story.js';

const BIN = join(packageRoot(), 'bin', 'cairn.js');

/** The hand-written rules the flights must follow (validate fails listing every broken rule). */
const FLIGHT_RULES = `suite: flights-rules
checks:
  - row_count: {min: 1000000}
  - not_null: [date, delay, distance, origin, destination]
  - range: {column: distance, min: 1, max: 6000}
  - range: {column: delay, min: -120, max: 1440, mostly: 0.999}
  - regex: {column: origin, pattern: "[A-Z]{3}"}
  - sql: {name: no-round-trips, predicate: "origin <> destination"}
`;

const FLIGHT_RECIPE = `recipe: flights-clean
steps:
  - filter: "delay BETWEEN -120 AND 1440"
  - drop_duplicates:
`;

const EMAIL_SUITE = `suite: emails
files:
  - types: {}
  - size: {max: 10MB}
  - duplicates: {severity: warn}
  - pii: {extensions: [.txt], severity: warn}
`;

const EMAIL_RECIPE = `recipe: emails-redacted
files:
  - select: {include: ["*/*.txt"]}
  - drop_duplicates:
  - redact_pii: {extensions: [.txt], kinds: [email, phone, card, iban]}
`;

/** Each `cairn` command the demo ran, for --json and for the log. */
interface Step {
  section: number;
  step: string;
  command: string;
  ok: boolean;
  ms: number;
}

/** What a reader (or the web UI's walkthrough) needs to find the demo's models again. */
interface FlightModel {
  ref: string;
  run: string;
  runName: string;
  features: string;
  accuracy?: number;
  rocAuc?: number;
  gate?: 'passed' | 'blocked' | 'not evaluated';
}

interface Summary {
  majority: { label: string; accuracy: number; rows: number };
  models: FlightModel[];
  blocked: { ref: string; failed: CheckOutcome[] } | null;
  production: string | null;
  deployment: { id: string; ref: string; env: string } | null;
  release: string | null;
}

/**
 * The whole product on real data, through the real CLI: every step is a `cairn` command run
 * as a user would type it, in a throwaway workspace. stdout tells the story in numbered
 * sections, one line per result; every command's full output goes to demo.log beside the
 * workspace, so the story stays readable and nothing is hidden.
 */
export async function run(opts: OptionsOf<typeof demo>): Promise<void> {
  const { out } = commandContext(opts);
  const data = demoData();
  const base = opts.dir ? resolve(opts.dir) : mkdtempSync(join(tmpdir(), 'cairn-demo-'));
  mkdirSync(base, { recursive: true });
  const project = join(base, 'project');
  mkdirSync(project, { recursive: true });
  const logFile = join(base, 'demo.log');
  writeFileSync(logFile, `cairn demo, ${new Date().toISOString()}\n`);
  const kept = opts.keep === true || opts.dir !== undefined;
  const steps: Step[] = [];
  const started = Date.now();
  // The demo acts as a named engineer so its audit trail reads like a real one.
  const env = { ...process.env, CAIRN_ACTOR: process.env.CAIRN_ACTOR ?? 'demo@cairn.example', CAIRN_NO_PROGRESS: '1' };
  let section = 0;
  const cairn = runner({ project, env, logFile, steps, section: () => section });

  const files = (name: string, text: string) => {
    const p = join(base, name);
    writeFileSync(p, text);
    return p;
  };
  const say = (text: string) => out.say(text);
  const chapter = (title: string, why: string) => {
    section++;
    say(`\n${section}. ${title}\n   ${why}`);
  };
  const d: Demo = {
    env,
    cairn,
    files,
    base,
    project,
    data,
    chapter,
    done: (text) => say(`   ✓ ${text}`),
    refused: (text) => say(`   ✗ ${text}`),
    detail: (text) => say(`       ${text}`),
  };

  say(`Cairn demo: real data through real \`cairn\` commands, in a throwaway workspace`);
  say(`   workspace  ${project}${kept ? '' : '  (removed at the end; --keep keeps it)'}`);
  say(`   log        ${logFile}  (every command with its full output)`);
  let ok = false;
  try {
    versioningChapter(d);
    editingSteps(d);
    flightsPrepChapter(d);
    emailsPrepChapter(d);
    trainingChapter(d);
    const summary = modelsChapter(d);
    gateChapter(d, summary);
    releaseChapter(d, summary);
    recordsChapter(d);
    ok = true;
    const seconds = (Date.now() - started) / 1000;
    say(`\nDone: ${steps.length} commands in ${formatDuration(seconds * 1000)}.`);
    if (kept) {
      say(`The workspace is kept (summary: ${join(base, 'demo.json')}); explore it next:`);
      for (const line of nextSteps(project, summary, await commandExists('ui'))) say(`   ${line}`);
    } else {
      say(`The workspace ${project} is removed; run \`cairn demo --keep\` to explore it afterwards.`);
    }
    const result = { workspace: project, log: logFile, kept, seconds, steps, ...summary };
    // A kept workspace carries its own summary, so a walkthrough (or a test) can find the
    // demo's models, runs and deployment without parsing the story.
    if (kept) writeFileSync(join(base, 'demo.json'), `${JSON.stringify(result, null, 2)}\n`);
    out.result(result);
  } finally {
    if (ok && !kept) rmSync(base, { recursive: true, force: true });
    else if (!ok) out.note(`cairn demo: stopped; the workspace and its log are kept for a look: ${base}`);
  }
}

interface Ran {
  stdout: string;
  /** The command's --json document. */
  json<T>(): T;
}

function parseJson<T>(stdout: string, command: string): T {
  try {
    return JSON.parse(stdout) as T;
  } catch {
    throw new CairnError('INTERNAL', `the demo could not read the JSON output of: ${command}`);
  }
}

/**
 * Runs `cairn` as a child process in the demo workspace, as a user would type it. Its full
 * output goes to the log; a step that does not end as expected stops the demo with the
 * command and the tail of its output.
 */
function runner(r: {
  project: string;
  env: NodeJS.ProcessEnv;
  logFile: string;
  steps: Step[];
  section: () => number;
}): Demo['cairn'] {
  return (step, args, expect = 'ok') => {
    const shown = `cairn ${args.map((a) => (/[\s'"]/.test(a) ? `'${a}'` : a)).join(' ')}`;
    const t0 = Date.now();
    const p = spawnSync(process.execPath, [BIN, ...args], {
      cwd: r.project,
      env: r.env,
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
    });
    const ms = Date.now() - t0;
    const text = `${p.stdout ?? ''}${p.stderr ?? ''}`.trimEnd();
    const exit = p.status ?? p.signal;
    appendFileSync(r.logFile, `\n── ${r.section()}. ${step}\n$ ${shown}\n${text}\n[exit ${exit}, ${ms} ms]\n`);
    const asExpected = (p.status === 0) === (expect === 'ok');
    r.steps.push({ section: r.section(), step, command: shown, ok: asExpected, ms });
    if (!asExpected) {
      const tail = text.split('\n').slice(-15).join('\n');
      throw new CairnError(
        'CHECK_FAILED',
        `demo step "${step}" ${expect === 'ok' ? 'failed' : 'unexpectedly succeeded'} (exit ${exit})\n$ ${shown}\n${tail}`,
        { data: { step, command: shown }, hint: `the full output of every step is in ${r.logFile}` },
      );
    }
    return { stdout: p.stdout, json: <T>() => parseJson<T>(p.stdout, shown) };
  };
}

/** The commands that answer the questions the story raises, aligned with what each shows. */
function nextSteps(project: string, s: Summary, hasUi: boolean): string[] {
  const [a, b, c] = s.models as [FlightModel, FlightModel, FlightModel];
  const rows: Array<[string, string]> = [
    [`cd ${project}`, ''],
    ...(hasUi ? [['cairn ui', 'the web UI over this workspace'] as [string, string]] : []),
    [`cairn run compare ${a.runName} ${b.runName} ${c.runName}`, "the three flight models' runs"],
    [`cairn model show ${s.blocked?.ref ?? b.ref}`, "the gate's stored verdict on the blocked model"],
    [`cairn lineage model:${s.deployment?.ref ?? c.ref} --up`, 'from the flights data to the deployed model'],
    ['cairn audit verify', 'check the audit log end to end'],
  ];
  const width = Math.max(...rows.map(([cmd]) => cmd.length));
  return rows.map(([cmd, why]) => (why ? `${cmd.padEnd(width)}  # ${why}` : cmd));
}

/** Whether this build has a command (the web UI ships separately from some builds). */
async function commandExists(path: string): Promise<boolean> {
  const { COMMAND_TABLE } = await import('../command-table.js');
  return COMMAND_TABLE.some((c) => ('spec' in c ? c.spec.path : c.path) === path);
}

interface Demo {
  env: NodeJS.ProcessEnv;
  cairn(step: string, args: string[], expect?: 'ok' | 'fail'): Ran;
  files(name: string, text: string): string;
  base: string;
  project: string;
  data: ReturnType<typeof demoData>;
  chapter(title: string, why: string): void;
  /** A step's result, one line. */
  done(text: string): void;
  /** Something Cairn refused, on purpose. */
  refused(text: string): void;
  /** An indented line under the previous one. */
  detail(text: string): void;
}

/** Datasets: add, inspect, tag, check out, edit, status, a new version, diff, lineage. */
function versioningChapter(d: Demo) {
  const { cairn, data, done } = d;
  d.chapter(
    'Version the raw data',
    'Datasets are stored by content, like Git for data: every version has a digest, and bytes already stored are not stored again.',
  );
  cairn('create a workspace', ['init']);
  const emails = cairn('version the e-mail corpus (~6,000 real messages, labelled by folder)', [
    'data',
    'add',
    data.emails,
    '--name',
    'emails',
    '-m',
    'SpamAssassin public corpus',
    '--json',
  ]).json<AddResult>();
  done(`added ${added(emails, '(SpamAssassin e-mails, labelled by folder)')}`);
  const flights = cairn('version 3 million real flights (Parquet)', [
    'data',
    'add',
    data.flights,
    '--name',
    'flights',
    '-m',
    'vega-datasets flights-3m',
    '--json',
  ]).json<AddResult>();
  done(`added ${added(flights, '(3 million US flights of 2001, one Parquet file)')}`);
  cairn('list datasets', ['data', 'ls']);
  cairn('inspect a version', ['data', 'show', 'emails@v1', '--limit', '5']);
  cairn('give it a stable name', ['data', 'tag', 'emails@v1', 'raw']);
  cairn('materialize it into a working directory', ['data', 'checkout', 'emails@raw', 'work/emails']);
}

/** Edit the checkout, see the change, record it as a new version, and refuse to lose an edit. */
function editingSteps(d: Demo) {
  const { cairn, project, done, refused } = d;
  const work = join(project, 'work', 'emails');
  rmSync(join(work, 'hard-ham-1'), { recursive: true });
  const first = join(work, 'spam-1', '00001.7848dde101aa985090474a91ec93fcf0.txt');
  try {
    appendFileSync(first, '\n[label reviewed]\n');
  } catch {
    writeFileSync(join(work, 'spam-1', 'reviewed.txt'), 'label reviewed\n');
  }
  writeFileSync(join(work, 'README.txt'), 'SpamAssassin corpus without the hard-ham set.\n');
  const status = cairn('see what changed in the working directory', [
    'data',
    'status',
    'work/emails',
    '--name',
    'emails',
    '--json',
  ]).json<{ added: string[]; removed: string[]; modified: string[] }>();
  done(
    `tagged emails@v1 "raw", checked it out to work/emails and edited it: ${changes({
      added: status.added.length,
      removed: status.removed.length,
      modified: status.modified.length,
    })}`,
  );
  const v2 = cairn('record the edit as v2 (only changed bytes are stored)', [
    'data',
    'add',
    'work/emails',
    '--name',
    'emails',
    '-m',
    'drop hard-ham-1, review one label',
    '--json',
  ]).json<AddResult>();
  const diff = cairn('compare the versions', ['data', 'diff', 'emails@v1', 'emails@v2', '--json']).json<{
    added: unknown[];
    removed: unknown[];
    modified: unknown[];
  }>();
  done(
    `recorded ${added(v2)}; diff v1 → v2: ${changes({
      added: diff.added.length,
      removed: diff.removed.length,
      modified: diff.modified.length,
    })}`,
  );
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
  done('derived emails/spam-sample from emails@v2; `cairn lineage emails@v2` links the two');
  // v2 holds the edits above, so switching back to v1 would lose nothing; an edit made
  // after that add is what a checkout must not overwrite.
  appendFileSync(join(work, 'README.txt'), 'An edit not yet added.\n');
  cairn('refuse a checkout over local edits', ['data', 'checkout', 'emails@v1', 'work/emails'], 'fail');
  refused('refused to check out emails@v1 over an edit not yet added: nothing was overwritten');
}

interface Validation {
  ok: boolean;
  errors: number;
  warnings: number;
  checks: Array<{ name: string; status: string; message: string; severity: string }>;
}

function validationLine(v: Validation): string {
  const passed = v.checks.filter((c) => c.status === 'passed').length;
  const warned = v.checks.filter((c) => c.status !== 'passed' && c.severity === 'warn');
  return `${passed} of ${v.checks.length} checks passed${warned.length ? `; warning: ${warned.map((c) => c.message).join('; ')}` : ''}`;
}

/** Data preparation on 3 million flights: profile, validate, clean, split. */
function flightsPrepChapter(d: Demo) {
  const { cairn, files, base, done } = d;
  d.chapter(
    'Check and prepare 3 million flights',
    'Before anything trains on data, check it against written rules; every cleaning step makes a new version that remembers its recipe.',
  );
  const profile = cairn('profile 3 million flights in one scan', ['data', 'profile', 'flights', '--json']).json<{
    profile: { rows: number; columns: Array<{ name: string; min?: unknown; max?: unknown }> };
  }>();
  const date = profile.profile.columns.find((c) => c.name === 'date');
  done(
    `profiled flights@v1 in one scan: ${count(profile.profile.rows)} rows, ${profile.profile.columns.length} columns${
      date?.min ? `, ${String(date.min).slice(0, 10)} to ${String(date.max).slice(0, 10)}` : ''
    }`,
  );
  const flightsSuite = join(base, 'flights-suite.yaml');
  cairn('infer a starting validation suite from the data', ['data', 'suite', 'infer', 'flights', '-o', flightsSuite]);
  const strict = files('flights-rules.yaml', FLIGHT_RULES);
  const inferred = cairn('validate against the inferred suite and a hand-written one', [
    'data',
    'validate',
    'flights',
    '--suite',
    flightsSuite,
    '--json',
  ]).json<Validation>();
  const rules = cairn('…the rules (a warning-free pass, or exit 1 with every failure listed)', [
    'data',
    'validate',
    'flights',
    '--suite',
    strict,
    '--html',
    join(base, 'flights-report.html'),
    '--json',
  ]).json<Validation>();
  done(`validated: a suite inferred from the data, ${validationLine(inferred)}`);
  done(`…and hand-written rules (flights-rules.yaml), ${validationLine(rules)}`);
  const flightsRecipe = files('flights-recipe.yaml', FLIGHT_RECIPE);
  const clean = cairn('clean: drop implausible delays and duplicate rows (a new version, lineage via the recipe)', [
    'data',
    'clean',
    'flights',
    '--recipe',
    flightsRecipe,
    '--name',
    'flights-clean',
    '--json',
  ]).json<{
    ref: string;
    report: { rowsIn: number; rowsOut: number; steps: Array<{ kind: string; rowsIn: number; rowsOut: number }> };
  }>();
  done(
    `cleaned into ${clean.ref}: ${count(clean.report.rowsIn)} → ${count(clean.report.rowsOut)} rows (${clean.report.steps
      .map((s) => `${s.kind} dropped ${count(s.rowsIn - s.rowsOut)}`)
      .join(', ')})`,
  );
  const split = cairn('split 80/20 by the documented hash, leakage-checked', [
    'data',
    'split',
    'flights-clean',
    '--name',
    'flights',
    '--ratios',
    'train=0.8,test=0.2',
    '--json',
  ]).json<SplitResult>();
  done(`split 80/20 by a hash of each row: ${splitLine(split)}`);
}

interface SplitResult {
  splits: Array<{ name: string; ref: string; size: number }>;
  leakage: { ok: boolean; checked: string[]; findings: Array<{ kind: string; severity: string; count: number }> };
}

function splitLine(s: SplitResult): string {
  const parts = s.splits.map((x) => `${x.ref} ${count(x.size)}`).join(', ');
  const found = s.leakage.findings.map((f) => `${count(f.count)} ${f.kind} pair(s) across splits (${f.severity})`);
  return `${parts}; leakage check (${s.leakage.checked.join(', ')}): ${found.length ? found.join(', ') : 'none found'}`;
}

/** Data preparation on the e-mails: validate, redact, stratified split. */
function emailsPrepChapter(d: Demo) {
  const { cairn, files, done } = d;
  d.chapter(
    'Prepare the e-mails',
    'Personal data is found and redacted before training, and the split keeps the spam/ham mix equal on both sides.',
  );
  const emailSuite = files('emails-suite.yaml', EMAIL_SUITE);
  const v = cairn('validate the e-mails: file types, sizes, duplicates, personal data', [
    'data',
    'validate',
    'emails@raw',
    '--suite',
    emailSuite,
    '--json',
  ]).json<Validation>();
  done(`validated emails@raw: ${validationLine(v)}`);
  const emailRecipe = files('emails-recipe.yaml', EMAIL_RECIPE);
  const clean = cairn('clean: keep the messages, redact every e-mail address and phone number', [
    'data',
    'clean',
    'emails@raw',
    '--recipe',
    emailRecipe,
    '--name',
    'emails-redacted',
    '--json',
  ]).json<{
    ref: string;
    report: { steps: Array<{ kind: string; filesOut: number; details?: { counts?: Record<string, number> } }> };
  }>();
  const steps = clean.report.steps;
  const redacted = Object.entries(steps.find((x) => x.kind === 'redact_pii')?.details?.counts ?? {})
    .filter(([, n]) => n > 0)
    .map(([kind, n]) => `${count(n)} ${kind}`);
  done(
    `cleaned into ${clean.ref}: kept ${count(steps.at(-1)?.filesOut ?? 0)} messages, redacted ${redacted.join(', ') || 'nothing'}`,
  );
  const split = cairn('split stratified by label (the folder), with near-duplicate detection', [
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
    '--json',
  ]).json<SplitResult>();
  done(`split stratified by label: ${splitLine(split)}`);
}

interface Lineage {
  root: string;
  nodes: Array<{ key: string; type: string; ref?: string }>;
}

/** "runs/x@v1 ← emails/train@v1, emails-redacted@v1, emails@v1": the versions, not the run ids. */
function lineageLine(l: Lineage): string {
  const ref = (k: string) => l.nodes.find((n) => n.key === k)?.ref ?? k;
  const up = l.nodes.filter((n) => n.key !== l.root && n.type === 'dataset_version' && n.ref).map((n) => n.ref);
  return `${ref(l.root)} ← ${up.length ? up.join(', ') : '(nothing recorded)'}`;
}

interface RunResult {
  id: string;
  humanName: string;
  status: string;
  params: Record<string, unknown>;
  reusedFrom: string | null;
  metrics?: Array<{ name: string; last: number }>;
}

function lastMetric(r: RunResult, name: string): number | undefined {
  return r.metrics?.find((m) => m.name === name)?.last;
}

/** A training run on the split just made, then the same run as a cache hit. */
function trainingChapter(d: Demo) {
  const { cairn, project, done } = d;
  d.chapter(
    'Train, and reuse what was already trained',
    'A run records its code, data, params and metrics; the same run again is answered from the cache instead of training twice.',
  );
  const trainDir = join(project, 'train');
  mkdirSync(trainDir, { recursive: true });
  for (const f of ['train.py', 'cairn.yaml'])
    copyFileSync(join(packageRoot(), 'examples', 'spam-python', f), join(trainDir, f));
  const spec = join(trainDir, 'cairn.yaml');
  cairn('plan a training run: will it hit the cache, and why not', ['run', 'plan', spec, '--set', 'params.epochs=10']);
  const first = cairn('train a spam classifier on the redacted split (local backend; metrics logged by the job)', [
    'run',
    spec,
    '--set',
    'params.epochs=10',
    '--json',
  ]).json<RunResult>();
  const acc = lastMetric(first, 'test_accuracy');
  const again = cairn('the same run again is a cache hit: nothing executes', [
    'run',
    spec,
    '--set',
    'params.epochs=10',
    '--json',
  ]).json<RunResult>();
  done(
    `trained a spam classifier in Python (run ${first.humanName})${acc !== undefined ? `, test accuracy ${metric(acc)}` : ''}; the same command again: ${again.status === 'reused' ? 'a cache hit, nothing ran' : again.status}`,
  );
  cairn('runs, and the GPU time they used (none here) and saved', ['run', 'ls']);
  const lin = cairn('the trained model version and everything it came from', [
    'lineage',
    'runs/spam-logreg',
    '--up',
    '--json',
  ]).json<Lineage>();
  done(`lineage: ${lineageLine(lin)}`);
}

/** Features and three trained candidates that differ in one param, registered as versions of one model. */
function modelsChapter(d: Demo): Summary {
  const { cairn, project, done } = d;
  d.chapter(
    'Three flight-delay models that differ in one thing',
    'Will a flight arrive late? Three logistic regressions on the same 200,000 flights differ only in the `features` param, so any gap between their scores comes from the features.',
  );
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
  const test = cairn('…and the test split', [
    'run',
    feat,
    '--set',
    'name=features-test',
    '--set',
    'inputs.flights=flights/test',
    '--json',
  ]).json<RunResult>();
  const rows = Number(test.params.rows);
  const majority = majorityBaseline(Number(test.params.late_share), { positive: 'late', negative: 'on time' });
  done(
    "featurized both splits: distance, hour of day, and recent = how late the same airport's flights of 1 to 4 hours before ran",
  );
  done(
    `${(100 * Number(test.params.late_share)).toFixed(1)} % of the ${count(rows)} test flights arrive late, so always saying "${majority.label}" scores accuracy ${metric(majority.accuracy)}: the bar to beat`,
  );
  const variants: Array<{ features: string; step: string }> = [
    { features: 'distance,hour', step: 'train a baseline: distance and hour of day (exported to ONNX)' },
    { features: 'distance', step: 'train a candidate that ignores the time of day' },
    { features: 'distance,hour,recent', step: "train a candidate that also sees the airport's recent delays" },
  ];
  const models: FlightModel[] = [];
  for (const v of variants) {
    const r = cairn(v.step, ['run', trainSpec, '--set', `params.features=${v.features}`, '--json']).json<RunResult>();
    const sig = join(project, '.cairn', 'runs', r.id, 'out', 'model', 'signature.json');
    const reg = cairn(`register run ${r.humanName} as a version of flight-late`, [
      'model',
      'register',
      'flight-late',
      '--from-run',
      r.id,
      '--signature',
      sig,
      '--json',
    ]).json<{ ref?: string; version?: number }>();
    const ref = reg.ref ?? `flight-late@v${reg.version ?? models.length + 1}`;
    models.push({ ref, run: r.id, runName: r.humanName, features: v.features });
    done(`trained run ${r.humanName} with features=${v.features}, registered as ${ref}`);
  }
  const cmp = cairn("compare the three models' runs", ['run', 'compare', ...models.map((m) => m.run), '--json']).json<{
    params: ParamDiff[];
  }>();
  done(`cairn run compare: ${paramsLine(cmp.params)}`);
  return {
    majority: { ...majority, rows },
    models,
    blocked: null,
    production: null,
    deployment: null,
    release: null,
  };
}

interface EvalReport {
  model: string;
  passed: boolean;
  checks: Array<CheckOutcome & { kind: string; evidence: Record<string, unknown> }>;
  metrics: Record<string, number>;
}

/** The baseline goes live; the gate blocks the worse candidate; a second person approves the better one. */
function gateChapter(d: Demo, s: Summary) {
  const { cairn, base, project, done, refused, detail } = d;
  const [v1, v2, v3] = s.models as [FlightModel, FlightModel, FlightModel];
  d.chapter(
    'The release gate',
    'Production takes a model only if it passes gate.yaml (thresholds; no regression against production, judged by a bootstrap CI; latency; size; schema) and a second person approves it.',
  );
  cairn('the baseline goes live first', ['model', 'alias', 'set', v1.ref, 'production']);
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
  done(`${v1.ref} goes live; from now on production needs the gate passed and one approval by someone else`);
  const gateSuite = join(project, 'gate', 'gate.yaml');
  const worse = cairn(
    'evaluate the worse candidate: the regression gate blocks it',
    ['model', 'evaluate', v2.ref, '--suite', gateSuite, '--data', 'runs/features-test', '--json'],
    'fail',
  ).json<{ error: { data: { report: EvalReport } } }>().error.data.report;
  const failed = worse.checks.filter((c) => !c.passed);
  refused(`${v2.ref} (features=${v2.features}) is blocked: ${failed.length} of ${worse.checks.length} checks failed`);
  for (const line of blockedLines(worse.checks)) detail(line);
  s.blocked = { ref: v2.ref, failed: failed.map(({ name, passed, message }) => ({ name, passed, message })) };
  const better = cairn('evaluate the better candidate (ONNX Runtime; paired bootstrap against production)', [
    'model',
    'evaluate',
    v3.ref,
    '--suite',
    gateSuite,
    '--data',
    'runs/features-test',
    '--html',
    join(base, 'gate-report.html'),
    '--json',
  ]).json<EvalReport>();
  const nr = better.checks.find((c) => c.kind === 'non_regression');
  done(
    `${v3.ref} (features=${v3.features}) passes all ${better.checks.length} checks${nr ? `; ${nr.message.split(';')[0]}` : ''}`,
  );
  comparison(d, s, gateSuite);
  approval(d, v3);
}

/** The three models and the majority class side by side, with intervals against production. */
function comparison(d: Demo, s: Summary, gateSuite: string) {
  const { cairn, detail } = d;
  const [v1, v2, v3] = s.models as [FlightModel, FlightModel, FlightModel];
  const cmp = cairn('metrics side by side, with deltas and confidence intervals', [
    'model',
    'compare',
    v1.ref,
    v2.ref,
    v3.ref,
    '--data',
    'runs/features-test',
    '--suite',
    gateSuite,
    '--metric',
    'accuracy',
    '--metric',
    'roc_auc',
    '--json',
  ]).json<{
    rows: Array<{ metric: string; values: number[]; deltas: Array<{ value: number; lo: number; hi: number }> }>;
  }>();
  const acc = cmp.rows.find((r) => r.metric === 'accuracy')!;
  const auc = cmp.rows.find((r) => r.metric === 'roc_auc')!;
  s.models.forEach((m, i) => {
    m.accuracy = acc.values[i];
    m.rocAuc = auc.values[i];
    m.gate = i === 1 ? 'blocked' : i === 2 ? 'passed' : 'not evaluated';
  });
  for (const line of modelTable([
    {
      label: 'majority class',
      features: `always "${s.majority.label}"`,
      accuracy: s.majority.accuracy,
      rocAuc: 0.5,
      verdict: '',
    },
    ...s.models.map((m) => ({
      label: m.ref,
      features: m.features,
      accuracy: m.accuracy!,
      rocAuc: m.rocAuc!,
      verdict: m.gate === 'not evaluated' ? 'live before the gate' : m.gate!,
    })),
  ]))
    detail(line);
  const best = v3.accuracy! - s.majority.accuracy;
  detail(
    `(cairn model compare on the test split) ${v3.ref} beats the majority class by ${signed(best)} accuracy; against ${v1.ref}: ${signed(acc.deltas[2]!.value)} ${interval(acc.deltas[2]!.lo, acc.deltas[2]!.hi)} (95 % CI)`,
  );
}

/** Four eyes: the author may not approve their own model; a reviewer does, then it is promoted. */
function approval(d: Demo, v3: FlightModel) {
  const { cairn, done, refused } = d;
  const own = cairn(
    'the author may not approve their own model',
    ['model', 'approve', v3.ref, '--for', 'production', '--json'],
    'fail',
  ).json<{ error: { message: string } }>();
  refused(`self-approval refused: ${own.error.message}`);
  const saved = d.env.CAIRN_ACTOR;
  d.env.CAIRN_ACTOR = 'reviewer@cairn.example';
  try {
    cairn('a second person approves it', ['model', 'approve', v3.ref, '--for', 'production']);
  } finally {
    d.env.CAIRN_ACTOR = saved;
  }
  cairn('promote: the policy is met', ['model', 'promote', v3.ref, '--to', 'production']);
  done(`reviewer@cairn.example approved it; ${v3.ref} is promoted to production`);
}

/** Release, verify offline, deploy, roll back. */
function releaseChapter(d: Demo, s: Summary) {
  const { env, cairn, base, project, done, refused } = d;
  const v3 = s.models[2]!;
  d.chapter(
    'Release, deploy, roll back',
    'A release is a signed bundle anyone can verify offline; a deployment runs a hook and a health check; a rollback obeys the same policy as a promotion.',
  );
  const rel = join(base, 'release-flight-late-v3');
  cairn('write a signed release bundle (provenance, card, evaluations, audit proofs)', [
    'release',
    'create',
    v3.ref,
    '--out',
    rel,
  ]);
  const ver = cairn('verify it offline with the publisher key', [
    'release',
    'verify',
    rel,
    '--key',
    join(project, '.cairn', 'keys', 'release.pub'),
    '--json',
  ]).json<{ ok: boolean; filesChecked: number; proofsChecked: number }>();
  s.release = rel;
  done(
    `wrote a signed release of ${v3.ref} and verified it offline: ${ver.filesChecked} files, ${ver.proofsChecked} audit proofs`,
  );
  (env as Record<string, string>).CAIRN_DEPLOY_TARGET = join(base, 'serving');
  const dep = cairn('deploy to production (hook + health check)', [
    'deploy',
    v3.ref,
    '--env',
    'production',
    '--json',
  ]).json<{ id: string; version: string; env: string; status: string }>();
  s.deployment = { id: dep.id, ref: dep.version, env: dep.env };
  done(
    `deployed ${dep.version} to ${dep.env}: hook ran, health check ${dep.status === 'succeeded' ? 'passed' : dep.status}`,
  );
  // v1 went live before the policy existed: putting it back is refused until someone says why.
  const no = cairn(
    'roll back: v1 never passed the gate, so the alias policy refuses it',
    ['model', 'rollback', 'flight-late', '--alias', 'production', '--json'],
    'fail',
  ).json<{ error: { data: { unmet?: string[] } } }>();
  refused(`rollback to ${s.models[0]!.ref} refused by the alias policy: ${(no.error.data.unmet ?? []).join('; ')}`);
  const rb = cairn('roll back anyway, with a reason the audit log keeps', [
    'model',
    'rollback',
    'flight-late',
    '--alias',
    'production',
    '--override',
    'v3 misbehaves in production; v1 is the known quantity',
    '--json',
  ]).json<{ from: string; to: string }>();
  s.production = rb.to;
  done(`rolled back ${rb.from} → ${rb.to} with --override and a reason, kept in the audit log`);
  cairn('what was live, and when', ['model', 'history', 'flight-late', '--alias', 'production']);
  cairn('deployment metrics from the record', ['dora', '--model', 'flight-late']);
}

/** What the record shows: lineage, fsck, the audit trail and its proofs. */
function recordsChapter(d: Demo) {
  const { cairn, base, done } = d;
  d.chapter(
    'What the record shows',
    'Every step above is an event in a hash-chained, signed audit log that can be checked without trusting the workspace.',
  );
  cairn('the lineage of a training set: where every row came from', ['lineage', 'flights/train', '--up']);
  cairn('…and everything built from the raw e-mails', ['lineage', 'emails@raw', '--down']);
  const fsck = cairn('re-hash every stored object', ['fsck', '--json']).json<{
    ok: boolean;
    blobsChecked: number;
    bytesChecked: number;
  }>();
  done(
    `fsck re-hashed ${count(fsck.blobsChecked)} stored objects: ${fsck.ok ? 'all intact' : 'PROBLEMS FOUND (see the log)'}`,
  );
  cairn('the audit trail', ['audit', 'log']);
  const trusted = join(base, 'trusted-checkpoint.txt');
  cairn('export a signed checkpoint to keep elsewhere', ['audit', 'checkpoint', '--out', trusted]);
  const vkey = cairn('read the verifier key', ['audit', 'checkpoint', '--json']).json<{ verifierKey: string }>()
    .verifierKey;
  const proof = join(base, 'proof.json');
  cairn('prove one event is in the log', ['audit', 'prove', '1', '--out', proof]);
  cairn('check that proof without the workspace', ['audit', 'verify-proof', proof, '--key', vkey]);
  done('proved that event 1 (the first data add) is in the log, and checked the proof without the workspace');
  const bundle = join(base, 'audit-export');
  cairn('export the log as a self-contained bundle', ['audit', 'export', bundle]);
  cairn('verify the bundle offline', ['audit', 'verify', '--bundle', bundle, '--key', vkey]);
  const v = cairn('verify the log, its checkpoints and every object it names', [
    'audit',
    'verify',
    '--against',
    trusted,
    '--key',
    vkey,
    '--artifacts',
    '--json',
  ]).json<{ ok: boolean; size: number; checkpoints: number }>();
  done(
    `audit verify: ${count(v.size)} events, ${count(v.checkpoints)} signed checkpoints, every object they name: ${v.ok ? 'intact' : 'PROBLEMS FOUND'}; the exported bundle verifies offline too`,
  );
}
