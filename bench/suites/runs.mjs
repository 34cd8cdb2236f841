// Benchmark suite "runs": finding and comparing runs among 10,000 (issue 13).
//
//   a  `cairn run ls --json` (newest 50), whole command                          info
//   b  `cairn run ls --filter 'metrics.acc > 0.9 and params.lr < 0.01' --sort -metrics.acc
//       --columns params.lr,metrics.acc --limit 20 --json`, whole command        target < 0.5 s
//   c  `cairn run compare <3 names> --json`, whole command                       target < 0.5 s
//   d  the same two queries in-process (findRuns / compareRuns on an open workspace),
//      to separate the query from Node's start-up and opening the workspace   info
//   e  `cairn repro --json` of an up-to-date 20-stage pipeline (a chain of 10 and 10 stages
//      fanning out of its first), in a git repository, whole command             target < 1 s
//      (the pipeline is run once for real first: 20 audited runs on the local backend)
//   peer: `cairn run ls --json` on a workspace with one run (start-up + open: the floor)
//
// The fixture: 10,000 finished runs inserted as rows (runs, 5 params each, 3 metric summaries
// each) straight into a fresh workspace's SQLite in 500-row transactions, without jobs or audit
// events — what `run ls` and `run compare` read, in seconds instead of hours. (Submitting 10,000
// real runs would measure the local backend, not the finder.)
//
// Drives the compiled modules in dist/ and bin/cairn.js (run `npm run build` first).
// --scale X shrinks to X × 10,000 runs (at least 500).
import path from 'node:path';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runCmd, median, min, max } from '../lib/measure.mjs';

const FULL_RUNS = 10_000;
const TARGET_S = 0.5;
const FILTER = 'metrics.acc > 0.9 and params.lr < 0.01';
const REQUIRED = ['compute/runs/find/list.js', 'app/workspace.js', 'bundle/main.js'];

export const suite = {
  name: 'runs',
  description: '`cairn run ls` with a filter/sort/columns and `cairn run compare` among 10,000 runs (target < 0.5 s)',
  async run(ctx) {
    const log = ctx.log;
    const dist = path.join(ctx.repoRoot, 'dist');
    const missing = REQUIRED.filter((f) => !existsSync(path.join(dist, f)));
    if (missing.length) {
      const msg = `Cairn is not built (missing dist/${missing[0]}): run \`npm run build\``;
      return { results: { error: { message: msg } }, rows: [], notes: [msg] };
    }
    const runs = Math.max(500, Math.round(FULL_RUNS * ctx.scale));
    const ws = path.join(ctx.work, 'ws');
    const one = path.join(ctx.work, 'one');
    mkdirSync(ws, { recursive: true });
    mkdirSync(one, { recursive: true });
    const results = { runs };
    results.fixture = await child(['fixture', ws, String(runs), ctx.repoRoot]);
    if (results.fixture.error) return { results, rows: rows(results), notes: [results.fixture.error.message] };
    log(`runs: ${runs} runs inserted in ${results.fixture.wallS.toFixed(1)} s`);
    results.oneFixture = await child(['fixture', one, '1', ctx.repoRoot]);
    const names = results.fixture.compare;

    const cli = process.env.CAIRN_BENCH_CLI ?? path.join(ctx.repoRoot, 'bin', 'cairn.js');
    const env = { CAIRN_ACTOR: 'bench@example.com', CAIRN_NO_PROGRESS: '1' };
    const timeCommand = async (label, cwd, args, check) => {
      const times = [];
      const rss = [];
      for (let r = 0; r < (ctx.warmup ?? 1) + ctx.repeat; r++) {
        const out = await runCmd([process.execPath, cli, ...args, '--json'], { cwd, env });
        if (!out.ok)
          return { error: { message: `cairn ${args.join(' ')} exited ${out.code}: ${out.stderr.slice(-400)}` } };
        const problem = check(JSON.parse(out.stdout));
        if (problem) return { error: { message: problem } };
        if (r >= (ctx.warmup ?? 1)) {
          times.push(out.wallS);
          rss.push(out.peakRssKiB);
        }
        log(`runs: ${label}: ${out.wallS.toFixed(3)} s`);
      }
      return { wallS: median(times), min: min(times), max: max(times), peakRssKiB: max(rss), times };
    };
    results.lsPlain = await timeCommand('run ls', ws, ['run', 'ls'], (d) =>
      d.runs?.length === 50 ? null : `run ls listed ${d.runs?.length}`,
    );
    results.lsFilter = await timeCommand(
      'run ls --filter --sort --columns',
      ws,
      [
        'run',
        'ls',
        '--filter',
        FILTER,
        '--sort',
        '-metrics.acc',
        '--columns',
        'params.lr,metrics.acc',
        '--limit',
        '20',
      ],
      (d) =>
        d.matched !== results.fixture.expectedMatches
          ? `matched ${d.matched}, expected ${results.fixture.expectedMatches}`
          : d.runs.some((r, i) => i && r.values['metrics.acc'] > d.runs[i - 1].values['metrics.acc'])
            ? 'not sorted'
            : null,
    );
    results.compare = await timeCommand('run compare', ws, ['run', 'compare', ...names], (d) =>
      d.runs?.length === names.length && d.metrics?.length === 3 ? null : 'compare returned the wrong shape',
    );
    results.floor = await timeCommand('run ls (one run)', one, ['run', 'ls'], (d) =>
      d.runs?.length === 1 ? null : 'expected one run',
    );
    results.inProcess = await child(['query', ws, FILTER, names.join(','), ctx.repoRoot]);
    results.repro = await reproBench(ctx, cli, env, timeCommand);
    return { results, rows: rows(results), details: details(results), notes: notes(results) };
  },
};

/** A git project with a 20-stage pipeline: stage s0, a chain s1…s9 after it, and f1…f10 each after s0. */
async function reproBench(ctx, cli, env, timeCommand) {
  const dir = path.join(ctx.work, 'pipeline');
  mkdirSync(path.join(dir, 'src'), { recursive: true });
  const sh = (argv) => runCmd(argv, { cwd: dir, env });
  const stages = ['stages:'];
  const add = (name, deps) =>
    stages.push(
      `  ${name}:`,
      `    command: sh src/stage.sh ${name}`,
      '    code: [src/stage.sh]',
      ...(deps.length ? [`    deps: [${deps.join(', ')}]`] : []),
    );
  add('s0', []);
  for (let i = 1; i < 10; i++) add(`s${i}`, [i === 1 ? 's0' : `s${i - 1}`]);
  for (let i = 1; i <= 10; i++) add(`f${i}`, ['s0']);
  writeFileSync(path.join(dir, 'cairn.yaml'), `${stages.join('\n')}\n`);
  writeFileSync(path.join(dir, 'src', 'stage.sh'), 'echo "$1" > "$CAIRN_OUTPUT_DIR/out.txt"\n');
  writeFileSync(path.join(dir, '.gitignore'), '.cairn/\ncairn.lock\n');
  for (const argv of [
    ['git', 'init', '-q'],
    ['git', 'add', '-A'],
    ['git', '-c', 'user.email=b@example.com', '-c', 'user.name=b', 'commit', '-qm', 'pipeline'],
    [process.execPath, cli, 'init'],
  ]) {
    const r = await sh(argv);
    if (!r.ok) return { error: { message: `${argv.join(' ')}: ${r.stderr.slice(-300)}` } };
  }
  const first = await sh([process.execPath, cli, 'repro', '--json']);
  if (!first.ok) return { error: { message: `first repro failed: ${first.stderr.slice(-300)}` } };
  ctx.log(`runs: first repro of 20 stages (all run): ${first.wallS.toFixed(2)} s`);
  const timed = await timeCommand('repro (20 stages, up to date)', dir, ['repro'], (d) =>
    d.stages?.length === 20 && d.stages.every((s) => s.status === 'up-to-date')
      ? null
      : 'not every stage was up to date',
  );
  return { ...timed, firstS: first.wallS };
}

// ---------------------------------------------------------------------------------------------
// Child mode: `node bench/suites/runs.mjs --child <phase> …` prints one JSON line.

const SELF = fileURLToPath(import.meta.url);

async function child(args) {
  const r = await runCmd([process.execPath, SELF, '--child', ...args], {
    env: { CAIRN_ACTOR: 'bench@example.com', CAIRN_NO_PROGRESS: '1' },
  });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  try {
    return { ...JSON.parse(line), peakRssKiB: r.peakRssKiB };
  } catch {
    return { error: { message: `child ${args[0]} failed (exit ${r.code}): ${r.stderr.slice(-500)}` } };
  }
}

/** xorshift32 in [0, 1): the same runs on every machine. */
function rng(seed) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
}

export async function fixture(dir, n, repoRoot) {
  const mod = (f) => import(pathToFileURL(path.join(repoRoot, 'dist', f)).href);
  const { initWorkspace } = await mod('app/workspace.js');
  const { humanRunName } = await mod('core/run-names.js');
  const ws = await initWorkspace(dir, { command: 'bench', env: process.env });
  const next = rng(13);
  const t0 = process.hrtime.bigint();
  let expectedMatches = 0;
  const names = [];
  try {
    for (let start = 0; start < n; start += 500) {
      const runs = [];
      const params = [];
      const sums = [];
      for (let i = start; i < Math.min(n, start + 500); i++) {
        const id = `01936d9e-${(i >>> 16).toString(16).padStart(4, '0')}-7${(i & 0xfff).toString(16).padStart(3, '0')}-8000-${i.toString(16).padStart(12, '0')}`;
        const created = new Date(Date.UTC(2026, 10, 1) + i * 60_000);
        const lr = [0.1, 0.03, 0.01, 0.003, 0.001][Math.floor(next() * 5)];
        const acc = Math.round(next() * 1000) / 1000;
        if (acc > 0.9 && lr < 0.01) expectedMatches++;
        const name = humanRunName(id);
        if (i < 3) names.push(id);
        runs.push(runRow(id, name, created, dir, i));
        for (const [k, v] of Object.entries({
          lr,
          batch: 32 << (i % 3),
          opt: i % 2 ? 'adam' : 'sgd',
          seed: i,
          epochs: 10,
        }))
          params.push({ run_id: id, name: k, value: JSON.stringify(v) });
        for (const [k, v] of Object.entries({ acc, loss: 1 - acc, f1: acc * 0.9 }))
          sums.push({
            run_id: id,
            name: k,
            points: 100,
            min_value: v / 2,
            max_value: v,
            first_step: 0,
            first_time: created.toISOString(),
            last_value: v,
            last_step: 99,
            last_time: created.toISOString(),
          });
      }
      await ws.meta.db.transaction().execute(async (tx) => {
        await tx.insertInto('runs').values(runs).execute();
        for (let j = 0; j < params.length; j += 2000)
          await tx
            .insertInto('run_params')
            .values(params.slice(j, j + 2000))
            .execute();
        await tx.insertInto('run_metric_summaries').values(sums).execute();
      });
    }
    return { wallS: Number(process.hrtime.bigint() - t0) / 1e9, expectedMatches, compare: names };
  } finally {
    await ws.close();
  }
}

function runRow(id, humanName, created, dir, i) {
  return {
    id,
    run_key: `bench-${i}`,
    name: i % 4 ? 'train' : 'finetune',
    project: 'default',
    spec_digest: 'bench',
    spec: '{}',
    backend: 'local',
    backend_id: null,
    status: 'completed',
    reason: null,
    exit_code: 0,
    priority: 0,
    gpus: i % 3,
    cpus: 1,
    memory_mb: 0,
    time_limit_s: 0,
    created_at: created.toISOString(),
    created_by: 'bench@example.com',
    started_at: created.toISOString(),
    ended_at: new Date(created.getTime() + 1_800_000).toISOString(),
    restarts: 0,
    code_commit: null,
    code_dirty: null,
    env_digest: null,
    dir: path.join(dir, 'runs', id),
    output_version_id: null,
    reused_from: null,
    usage: '{}',
    human_name: humanName,
    tags: '{}',
    note: null,
  };
}

async function query(dir, filter, names, repoRoot) {
  const mod = (f) => import(pathToFileURL(path.join(repoRoot, 'dist', f)).href);
  const { openWorkspace } = await mod('app/workspace.js');
  const { findRuns } = await mod('compute/runs/find/list.js');
  const { compareRuns } = await mod('compute/runs/find/compare.js');
  const ws = await openWorkspace({ cwd: dir, command: 'bench', env: process.env });
  const time = async (f) => {
    const ts = [];
    for (let r = 0; r < 6; r++) {
      const t0 = process.hrtime.bigint();
      await f();
      ts.push(Number(process.hrtime.bigint() - t0) / 1e9);
    }
    return median(ts.slice(1));
  };
  try {
    const ls = await time(() =>
      findRuns(ws, { filter, sort: '-metrics.acc', columns: ['params.lr', 'metrics.acc'], limit: 20 }),
    );
    const cmp = await time(() => compareRuns(ws, names.split(',')));
    return { lsS: ls, compareS: cmp };
  } finally {
    await ws.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === SELF && process.argv[2] === '--child') {
  const [phase, ...rest] = process.argv.slice(3);
  const go = phase === 'fixture' ? fixture(rest[0], Number(rest[1]), rest[2]) : query(...rest);
  go.then(
    (out) => process.stdout.write(`${JSON.stringify(out)}\n`),
    (e) => {
      process.stdout.write(`${JSON.stringify({ error: { message: String(e?.stack ?? e) } })}\n`);
      process.exitCode = 1;
    },
  );
}

// ---------------------------------------------------------------------------------------------

const num = (x) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const fmtS = (s) => (num(s) == null ? '—' : `${s.toFixed(3)} s`);
const err = (x) => `error: ${x.error.message.slice(0, 200)}`;

function targetRow(id, metric, r, floor) {
  return {
    id,
    metric,
    cairn: !r ? '—' : r.error ? err(r) : fmtS(r.wallS),
    peer: floor && !floor.error ? `${fmtS(floor.wallS)} (run ls, one run)` : '—',
    ratio: num(r?.wallS) != null && num(floor?.wallS) != null ? `${(r.wallS / floor.wallS).toFixed(2)}×` : '—',
    target: `< ${TARGET_S} s`,
    pass: !r ? 'n/a' : r.error ? 'error' : r.wallS < TARGET_S ? 'pass' : 'FAIL',
    values: r,
  };
}

function rows(r) {
  const n = r.runs.toLocaleString('en-US');
  return [
    {
      ...targetRow('ls', `\`cairn run ls --json\` (newest 50 of ${n}), whole command`, r.lsPlain, r.floor),
      target: 'info',
      pass: r.lsPlain?.error ? 'error' : 'info',
    },
    targetRow(
      'ls-filter',
      `\`cairn run ls --filter … --sort -metrics.acc --columns … --limit 20 --json\` over ${n} runs, whole command`,
      r.lsFilter,
      r.floor,
    ),
    targetRow('compare', `\`cairn run compare\` of 3 runs among ${n}, whole command`, r.compare, r.floor),
    {
      ...targetRow(
        'repro',
        '`cairn repro --json` of an up-to-date 20-stage pipeline (git project), whole command',
        r.repro,
        r.floor,
      ),
      target: '< 1 s',
      pass: !r.repro ? 'n/a' : r.repro.error ? 'error' : r.repro.wallS < 1 ? 'pass' : 'FAIL',
    },
    {
      id: 'in-process',
      metric: `the same filter/sort and compare in-process (findRuns / compareRuns), ${n} runs`,
      cairn: r.inProcess?.error ? err(r.inProcess) : `${fmtS(r.inProcess?.lsS)} / ${fmtS(r.inProcess?.compareS)}`,
      peer: '—',
      ratio: '—',
      target: 'info',
      pass: r.inProcess?.error ? 'error' : 'info',
      values: r.inProcess,
    },
  ];
}

function details(r) {
  const d = (what, x) =>
    x && !x.error
      ? {
          tool: 'cairn',
          what,
          time: fmtS(x.wallS),
          rss: `${Math.round(x.peakRssKiB / 1024)} MiB`,
          more: `runs: ${x.times.map((t) => t.toFixed(3)).join(', ')} s`,
        }
      : { tool: 'cairn', what, time: '—', rss: '—', more: x?.error?.message ?? '' };
  return [
    { tool: 'cairn', what: `fixture: ${r.runs} runs inserted`, time: fmtS(r.fixture?.wallS), rss: '—', more: '' },
    d('run ls', r.lsPlain),
    d('run ls --filter --sort --columns', r.lsFilter),
    d('run compare (3 runs)', r.compare),
    d('run ls on a workspace with one run', r.floor),
    d(`repro, 20 stages up to date (the first repro, running all 20: ${fmtS(r.repro?.firstS)})`, r.repro),
  ];
}

function notes(r) {
  return [
    `Fixture: ${r.runs} finished runs, 5 params and 3 metric summaries each, inserted as rows (no jobs, no audit events); ${r.fixture?.expectedMatches ?? '?'} match the filter \`${FILTER}\`.`,
    'Each command runs in a fresh process: Node start-up, opening the workspace (migrations check, catching up on active runs), the query, JSON output. The peer is the same `run ls` on a workspace with one run: what any command costs before its query.',
  ];
}
