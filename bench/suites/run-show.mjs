// Benchmark suite "run-show": a run with 10,000,000 metric points (issue 10, item 15).
//
//   a  ingestion of the 10^7-point metrics file (MetricsTailer, with the per-metric summaries
//      kept on ingest), in a fresh Node process                          info (points/s, RSS)
//   b  `cairn run show <id> --json`, the whole command in a fresh process:
//      the run's summary with every metric's count, last, min, max       target < 1 s
//      (peer: the same command on a run of the same workspace without metrics, so the ratio
//      is what the 10^7 points cost on top of start-up and opening the workspace)
//   c  `cairn run metrics <id> train/loss --buckets 500 --json`: one metric's curve,
//      downsampled by the database                                       info
//
// Before the summaries, `run show` read every point and built each metric's list by copying
// it per point (quadratic), then `Math.min(...points)` overflowed the stack at about 150,000
// points: at 10^7 it could not answer at all.
//
// Drives the compiled modules in dist/ and bin/cairn.js (run `npm run build` first).
// --scale X shrinks the file to X x 10^7 points (at least 100,000); --repeat/--warmup as usual.
import path from 'node:path';
import { closeSync, existsSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runCmd, median, min, max, du } from '../lib/measure.mjs';

const FULL_POINTS = 10_000_000;
const NAMES = [
  'train/loss',
  'train/accuracy',
  'train/lr',
  'train/grad_norm',
  'val/loss',
  'val/accuracy',
  'gpu/util',
  'gpu/mem_gb',
];
const RUN_ID = '01936d9e-0000-7000-8000-00000000a10e';
const EMPTY_RUN_ID = '01936d9e-0000-7000-8000-00000000e417';
const REQUIRED = ['compute/metrics/ingest.js', 'app/workspace.js', 'bundle/main.js'];
const TARGET_S = 1;

export const suite = {
  name: 'run-show',
  description:
    'a run with 10^7 metric points: ingestion with summaries, `cairn run show --json` (target < 1 s), one downsampled curve',
  async run(ctx) {
    const log = ctx.log;
    const dist = path.join(ctx.repoRoot, 'dist');
    const missing = REQUIRED.filter((f) => !existsSync(path.join(dist, f)));
    if (missing.length) {
      const msg = `Cairn is not built (missing dist/${missing[0]}): run \`npm run build\``;
      return { results: { error: { message: msg } }, rows: errorRows(msg), notes: [msg] };
    }
    const points = Math.max(100_000, Math.round(FULL_POINTS * ctx.scale));
    const ws = path.join(ctx.work, 'ws');
    const runDir = path.join(ctx.work, 'run');
    mkdirSync(ws, { recursive: true });
    mkdirSync(runDir, { recursive: true });
    const file = path.join(runDir, 'metrics.jsonl');
    const gen = generate(file, points);
    log(`run-show: generated ${fmtN(points)} points, ${(gen.bytes / 2 ** 20).toFixed(0)} MiB`);
    const results = { points, fileBytes: gen.bytes };

    // a. ingestion (once: it builds the run the next two read)
    const ing = await child(['ingest', ws, runDir, ctx.repoRoot]);
    results.ingest = ing;
    if (ing.error) return { results, rows: buildRows(results), notes: notes(results, ctx) };
    results.ingest.dbBytes = (await du(path.join(ws, '.cairn'))).bytes;
    log(
      `run-show: ingested at ${fmtRate(ing.pointsPerS)} (${ing.wallS.toFixed(1)} s, peak RSS ${fmtMiB(ing.peakRssKiB)})`,
    );

    // b, c. whole commands, fresh processes
    const cli = path.join(ctx.repoRoot, 'bin', 'cairn.js');
    const env = { CAIRN_ACTOR: 'bench@example.com', CAIRN_NO_PROGRESS: '1' };
    const timeCommand = async (label, args, check) => {
      const runs = [];
      const warmup = ctx.warmup ?? 1;
      for (let r = 0; r < warmup + ctx.repeat; r++) {
        const out = await runCmd([process.execPath, cli, ...args, '--json'], { cwd: ws, env });
        if (!out.ok)
          return { error: { message: `cairn ${args.join(' ')} exited ${out.code}: ${out.stderr.slice(-400)}` } };
        const problem = check(JSON.parse(out.stdout));
        if (problem) return { error: { message: problem } };
        if (r >= warmup) runs.push({ wallS: out.wallS, peakRssKiB: out.peakRssKiB });
        log(`run-show: ${label}: ${out.wallS.toFixed(3)} s${r < warmup ? ' (warm-up)' : ''}`);
      }
      const t = runs.map((x) => x.wallS);
      return { wallS: median(t), min: min(t), max: max(t), peakRssKiB: max(runs.map((x) => x.peakRssKiB)), runs };
    };
    results.show = await timeCommand('run show --json', ['run', 'show', RUN_ID], (d) => {
      const loss = d.metrics?.find((m) => m.name === 'train/loss');
      const total = (d.metrics ?? []).reduce((n, m) => n + m.points, 0);
      return total !== points
        ? `run show counted ${total} points, expected ${points}`
        : !loss
          ? 'run show lists no train/loss'
          : null;
    });
    results.showEmpty = await timeCommand(
      'run show --json (a run without metrics)',
      ['run', 'show', EMPTY_RUN_ID],
      (d) => (d.metrics?.length ? 'the empty run has metrics' : null),
    );
    results.curve = await timeCommand(
      'run metrics train/loss --buckets 500',
      ['run', 'metrics', RUN_ID, 'train/loss', '--buckets', '500'],
      (d) =>
        d.buckets?.length !== 500
          ? `expected 500 buckets, got ${d.buckets?.length}`
          : d.buckets.reduce((n, b) => n + b.count, 0) !== points / NAMES.length
            ? 'bucket counts do not add up'
            : null,
    );
    return { results, rows: buildRows(results), details: detailRows(results), notes: notes(results, ctx) };
  },
};

/** Lines as the SDKs write them: 8 metric names per step, a time on every point; xorshift32 values. */
function generate(file, points) {
  const fd = openSync(file, 'w');
  let x = 0x2545f491;
  const t0 = Date.parse('2026-11-27T00:00:00.000Z');
  let bytes = 0;
  let parts = [];
  const flush = () => {
    const buf = Buffer.from(parts.join(''));
    writeSync(fd, buf);
    bytes += buf.length;
    parts = [];
  };
  for (let i = 0; i < points; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    const step = Math.floor(i / NAMES.length);
    parts.push(
      `{"kind":"metric","name":"${NAMES[i % NAMES.length]}","value":${x / 2 ** 32},"step":${step},"time":"${new Date(t0 + step * 250).toISOString()}"}\n`,
    );
    if (parts.length >= 10_000) flush();
  }
  flush();
  closeSync(fd);
  return { bytes };
}

// ---------------------------------------------------------------------------------------------
// Child mode: `node bench/suites/run-show.mjs --child ingest <ws> <runDir> <repoRoot>` prints one JSON line.

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

async function childMain([phase, dir, runDir, repoRoot]) {
  if (phase !== 'ingest') throw new Error(`unknown phase ${phase}`);
  const mod = (f) => import(pathToFileURL(path.join(repoRoot, 'dist', f)).href);
  const { initWorkspace } = await mod('app/workspace.js');
  const { MetricsTailer } = await mod('compute/metrics/ingest.js');
  const ws = await initWorkspace(dir, { command: 'bench', env: process.env });
  try {
    // A finished run (nothing for `run show` to catch up on) whose metrics file is ingested here.
    await ws.meta.db.insertInto('runs').values(runRow(runDir)).execute();
    await ws.meta.db
      .insertInto('runs')
      .values({ ...runRow(path.join(runDir, 'empty')), id: EMPTY_RUN_ID })
      .execute();
    const tailer = new MetricsTailer({
      db: ws.meta.db,
      runId: RUN_ID,
      file: path.join(runDir, 'metrics.jsonl'),
      saveOffset: async (trx, offset) =>
        trx.updateTable('runs').set({ metrics_offset: offset }).where('id', '=', RUN_ID).execute(),
    });
    const t0 = process.hrtime.bigint();
    const r = await tailer.ingestOnce({ final: true });
    const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
    return { wallS, points: r.metrics, pointsPerS: r.metrics / wallS };
  } finally {
    await ws.close();
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === SELF && process.argv[2] === '--child') {
  childMain(process.argv.slice(3)).then(
    (out) => process.stdout.write(`${JSON.stringify(out)}\n`),
    (e) => {
      process.stdout.write(`${JSON.stringify({ error: { message: String(e?.stack ?? e) } })}\n`);
      process.exitCode = 1;
    },
  );
}

function runRow(dir) {
  const spec = {
    spec: { name: 'bench', params: {} },
    specPath: '/dev/null',
    codeDir: dir,
    command: 'true',
    inputs: [],
    keyInput: {
      command: 'true',
      code: { commit: null, dirty: null },
      inputs: {},
      params: {},
      environment: { image: null, lockfile: null, vars: {} },
    },
  };
  return {
    id: RUN_ID,
    run_key: 'bench',
    name: 'bench',
    project: 'default',
    spec_digest: 'bench',
    spec: JSON.stringify(spec),
    backend: 'local',
    backend_id: null,
    status: 'completed',
    reason: null,
    exit_code: 0,
    priority: 0,
    gpus: 0,
    cpus: 1,
    memory_mb: 0,
    time_limit_s: 0,
    created_at: '2026-11-27T00:00:00.000Z',
    created_by: 'bench@example.com',
    started_at: '2026-11-27T00:00:00.000Z',
    ended_at: '2026-11-27T08:00:00.000Z',
    restarts: 0,
    code_commit: null,
    code_dirty: null,
    env_digest: null,
    dir,
    output_version_id: null,
    reused_from: null,
    usage: '{}',
  };
}

const num = (x) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const fmtRate = (x) => (num(x) == null ? '—' : `${Math.round(x).toLocaleString('en-US')} points/s`);
const fmtN = (x) => Number(x).toLocaleString('en-US');
const fmtMiB = (kib) => (num(kib) == null ? '—' : `${(kib / 1024).toFixed(0)} MiB`);
const fmtS = (s) => (num(s) == null ? '—' : `${s.toFixed(3)} s`);

function errorRows(msg) {
  return ['ingest', 'run show', 'curve'].map((m) => ({
    metric: m,
    cairn: `error: ${msg}`,
    peer: '—',
    ratio: '—',
    target: '—',
    pass: 'error',
  }));
}

function buildRows(r) {
  const n = fmtN(r.points);
  const err = (x) => `error: ${x.error.message.slice(0, 200)}`;
  return [
    {
      id: 'ingest',
      metric: `ingestion of ${n} points with per-metric summaries (MetricsTailer → SQLite)`,
      cairn: r.ingest?.error ? err(r.ingest) : fmtRate(r.ingest?.pointsPerS),
      peer: '—',
      ratio: '—',
      target: 'info',
      pass: r.ingest?.error ? 'error' : 'info',
      values: r.ingest,
    },
    {
      id: 'show',
      metric: `\`cairn run show --json\` of a run with ${n} points, whole command`,
      cairn: !r.show ? '—' : r.show.error ? err(r.show) : fmtS(r.show.wallS),
      peer: !r.showEmpty || r.showEmpty.error ? '—' : `${fmtS(r.showEmpty.wallS)} (a run without metrics)`,
      ratio:
        num(r.show?.wallS) != null && num(r.showEmpty?.wallS) != null
          ? `${(r.show.wallS / r.showEmpty.wallS).toFixed(2)}×`
          : '—',
      target: `< ${TARGET_S} s`,
      pass: !r.show ? 'n/a' : r.show.error ? 'error' : r.show.wallS < TARGET_S ? 'pass' : 'FAIL',
      values: r.show,
    },
    {
      id: 'curve',
      metric: `\`cairn run metrics <id> train/loss --buckets 500 --json\` (${fmtN(r.points / NAMES.length)} points → 500 buckets), whole command`,
      cairn: !r.curve ? '—' : r.curve.error ? err(r.curve) : fmtS(r.curve.wallS),
      peer: '—',
      ratio: '—',
      target: 'info',
      pass: !r.curve ? 'n/a' : r.curve.error ? 'error' : 'info',
      values: r.curve,
    },
  ];
}

function detailRows(r) {
  const d = [];
  if (r.ingest && !r.ingest.error)
    d.push({
      tool: 'cairn',
      what: `ingestOnce, ${fmtN(r.points)} points`,
      time: `${r.ingest.wallS.toFixed(1)} s`,
      rss: fmtMiB(r.ingest.peakRssKiB),
      more: `${fmtRate(r.ingest.pointsPerS)}; .cairn ${(r.ingest.dbBytes / 2 ** 20).toFixed(0)} MiB`,
    });
  for (const [k, what] of [
    ['show', 'run show --json'],
    ['showEmpty', 'run show --json, a run without metrics'],
    ['curve', 'run metrics train/loss --buckets 500 --json'],
  ]) {
    const x = r[k];
    if (x && !x.error)
      d.push({
        tool: 'cairn',
        what,
        time: fmtS(x.wallS),
        rss: fmtMiB(x.peakRssKiB),
        more: `${x.runs.length} runs: ${x.runs.map((y) => y.wallS.toFixed(3)).join(', ')} s`,
      });
  }
  return d;
}

function notes(r, ctx) {
  const n = [
    `The file: ${fmtN(r.points)} metric lines as the SDKs write them (8 names per step, a time on every point), ${(r.fileBytes / 2 ** 20).toFixed(0)} MiB, ingested once into a fresh workspace (SQLite) as a finished run; then each command runs in a fresh process (start-up, opening the workspace, catching up on active runs, the query, JSON output).`,
    "Before per-metric summaries, `run show` built each metric's point list by copying it per point (quadratic) and took Math.min(...points), which overflows the stack at about 150,000 points: at this size it could not answer.",
  ];
  if (ctx.scale !== 1) n.push(`Scaled run: ${fmtN(r.points)} points instead of 10,000,000.`);
  return n;
}
