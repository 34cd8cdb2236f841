// Benchmark suite "metrics": ingestion of a run's metrics file (issue 6).
//
//   a  MetricsTailer.ingestOnce over a metrics file of 1,000,000 points into a fresh SQLite
//      workspace database, in a fresh Node process per run     target >= 50,000 points/s
//   b  parseMetricLines alone over the same file (what the database adds is a - b)     info
//
// Drives the compiled modules in dist/ (run `npm run build` first). --scale X shrinks the file
// to X x 1,000,000 points (at least 10,000); --warmup/--repeat as usual (median reported).
import path from 'node:path';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { runCmd, median, min, max, du } from '../lib/measure.mjs';

const FULL_POINTS = 1_000_000;
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
const PARAMS_EVERY = 50_000;
const RUN_ID = '01936d9e-0000-7000-8000-000000000001';
const REQUIRED = ['compute/metrics/ingest.js', 'compute/metrics/parse.js', 'app/workspace.js'];

export const suite = {
  name: 'metrics',
  description:
    'metric ingestion: MetricsTailer.ingestOnce of 1M JSON-lines points into SQLite (points/s), parse-only rate',
  async run(ctx) {
    const log = ctx.log;
    const dist = path.join(ctx.repoRoot, 'dist');
    const missing = REQUIRED.filter((f) => !existsSync(path.join(dist, f)));
    if (missing.length) {
      const msg = `Cairn is not built (missing dist/${missing[0]}): run \`npm run build\``;
      return { results: { error: { message: msg } }, rows: errorRows(msg), notes: [msg] };
    }
    const points = Math.max(10_000, Math.round(FULL_POINTS * ctx.scale));
    const file = path.join(ctx.work, 'metrics.jsonl');
    const gen = generate(file, points);
    log(
      `metrics: generated ${fmtN(points)} points + ${gen.params} param lines, ${(gen.bytes / 2 ** 20).toFixed(1)} MiB`,
    );
    const results = { points, paramLines: gen.params, fileBytes: gen.bytes };

    // a. ingestion, each run in a fresh process and a fresh workspace
    {
      const runs = [];
      let error = null;
      const warmup = ctx.warmup ?? 1;
      for (let r = 0; r < warmup + ctx.repeat; r++) {
        const ws = path.join(ctx.work, `ws-${r}`);
        mkdirSync(ws, { recursive: true });
        const out = await child(['ingest', ws, file, ctx.repoRoot]);
        if (out.error) {
          error = out.error;
          break;
        }
        if (out.points !== points) {
          error = { message: `ingested ${out.points} points, expected ${points}` };
          break;
        }
        const warm = r < warmup;
        if (!warm) runs.push({ ...out, dbBytes: (await du(path.join(ws, '.cairn'))).bytes });
        log(
          `metrics: ingestOnce: ${fmtRate(out.pointsPerS)} (${out.wallS.toFixed(2)} s, peak RSS ${fmtMiB(out.peakRssKiB)})${warm ? ' (warm-up)' : ''}`,
        );
      }
      const rates = runs.map((x) => x.pointsPerS);
      results.ingest = error
        ? { error }
        : {
            pointsPerS: median(rates),
            min: min(rates),
            max: max(rates),
            peakRssKiB: max(runs.map((x) => x.peakRssKiB)),
            dbBytes: runs[0]?.dbBytes ?? null,
            runs,
          };
    }

    // b. parse only
    {
      const out = await child(['parse', file, ctx.repoRoot]);
      results.parse = out;
      if (!out.error) log(`metrics: parseMetricLines: ${fmtRate(out.pointsPerS)}`);
    }

    return { results, rows: buildRows(results, ctx), details: detailRows(results), notes: notes(results, ctx) };
  },
};

/**
 * Lines as the SDKs write them: 8 metric names per step, a time on every point, and a param
 * update every 50,000 lines (so the upsert path runs too). Values from xorshift32: the same
 * bytes on every machine.
 */
function generate(file, points) {
  const fd = openSync(file, 'w');
  let x = 0x2545f491;
  const rand = () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 2 ** 32;
  };
  const t0 = Date.parse('2026-11-27T00:00:00.000Z');
  let bytes = 0;
  let params = 0;
  let parts = [];
  const flush = () => {
    const buf = Buffer.from(parts.join(''));
    writeSync(fd, buf);
    bytes += buf.length;
    parts = [];
  };
  parts.push(
    `{"kind":"param","name":"config","value":{"model":"resnet50","batch_size":256,"optimizer":{"name":"adamw","betas":[0.9,0.999]}}}\n`,
  );
  params++;
  for (let i = 0; i < points; i++) {
    if (i % PARAMS_EVERY === 0) {
      parts.push(`{"kind":"param","name":"lr","value":${(0.1 / (1 + i / PARAMS_EVERY)).toPrecision(6)}}\n`);
      params++;
    }
    const step = Math.floor(i / NAMES.length);
    const time = new Date(t0 + step * 250).toISOString();
    parts.push(
      `{"kind":"metric","name":"${NAMES[i % NAMES.length]}","value":${rand()},"step":${step},"time":"${time}"}\n`,
    );
    if (parts.length >= 10_000) flush();
  }
  flush();
  closeSync(fd);
  return { bytes, params };
}

// ---------------------------------------------------------------------------------------------
// Child mode: `node bench/suites/metrics.mjs --child <ingest|parse> …` prints one JSON line.

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

async function childMain([phase, ...rest]) {
  if (phase === 'ingest') {
    const [dir, file, repoRoot] = rest;
    const mod = (f) => import(pathToFileURL(path.join(repoRoot, 'dist', f)).href);
    const { initWorkspace } = await mod('app/workspace.js');
    const { MetricsTailer } = await mod('compute/metrics/ingest.js');
    const ws = await initWorkspace(dir, { command: 'bench', env: process.env });
    try {
      await ws.meta.db.insertInto('runs').values(runRow()).execute();
      const tailer = new MetricsTailer({ db: ws.meta.db, runId: RUN_ID, file });
      const t0 = process.hrtime.bigint();
      const r = await tailer.ingestOnce({ final: true });
      const wallS = secs(t0);
      const n = await ws.meta.db
        .selectFrom('run_metrics')
        .select((eb) => eb.fn.countAll().as('n'))
        .where('run_id', '=', RUN_ID)
        .executeTakeFirstOrThrow();
      if (Number(n.n) !== r.metrics) throw new Error(`tailer reported ${r.metrics} points, the table holds ${n.n}`);
      return { wallS, points: r.metrics, params: r.params, badCount: r.badCount, pointsPerS: r.metrics / wallS };
    } finally {
      await ws.close();
    }
  }
  if (phase === 'parse') {
    const [file, repoRoot] = rest;
    const { parseMetricLines } = await import(
      pathToFileURL(path.join(repoRoot, 'dist', 'compute/metrics/parse.js')).href
    );
    const data = readFileSync(file);
    const t0 = process.hrtime.bigint();
    let points = 0;
    let carry = '';
    // 1 MiB slices cut at newlines, as the tailer reads them.
    for (let off = 0; off < data.length;) {
      let end = Math.min(data.length, off + (1 << 20));
      if (end < data.length) end = data.lastIndexOf(0x0a, end - 1) + 1;
      const r = parseMetricLines(data.subarray(off, end), carry);
      carry = r.carry;
      for (const rec of r.records) if (rec.kind === 'metric') points++;
      off = end;
    }
    const wallS = secs(t0);
    return { wallS, points, pointsPerS: points / wallS };
  }
  throw new Error(`unknown phase ${phase}`);
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

function runRow() {
  return {
    id: RUN_ID,
    run_key: 'bench',
    name: 'bench',
    project: 'default',
    spec_digest: 'bench',
    spec: '{}',
    backend: 'local',
    backend_id: null,
    status: 'running',
    reason: null,
    exit_code: null,
    priority: 0,
    gpus: 0,
    cpus: 1,
    memory_mb: 0,
    time_limit_s: 0,
    created_at: '2026-11-27T00:00:00.000Z',
    created_by: 'bench@example.com',
    started_at: null,
    ended_at: null,
    restarts: 0,
    code_commit: null,
    code_dirty: null,
    env_digest: null,
    dir: '/tmp/bench-run',
    output_version_id: null,
    reused_from: null,
    usage: '{}',
  };
}

function secs(t0) {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

const num = (x) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const fmtRate = (x) => (num(x) == null ? '—' : `${Math.round(x).toLocaleString('en-US')} points/s`);
const fmtN = (x) => Number(x).toLocaleString('en-US');
const fmtMiB = (kib) => (num(kib) == null ? '—' : `${(kib / 1024).toFixed(0)} MiB`);

function errorRows(msg) {
  return ['ingest', 'parse only'].map((m) => ({
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
  return [
    {
      id: 'ingest',
      metric: `metric ingestion, ${n} points (MetricsTailer.ingestOnce → SQLite run_metrics)`,
      cairn: r.ingest?.error ? `error: ${r.ingest.error.message.slice(0, 200)}` : fmtRate(r.ingest?.pointsPerS),
      peer: '—',
      ratio: '—',
      target: '≥ 50,000 points/s',
      pass: r.ingest?.error
        ? 'error'
        : num(r.ingest?.pointsPerS) == null
          ? 'n/a'
          : r.ingest.pointsPerS >= 50_000
            ? 'pass'
            : 'FAIL',
      values: r.ingest,
    },
    {
      id: 'parse',
      metric: `parseMetricLines alone, ${n} points`,
      cairn: r.parse?.error ? `error: ${r.parse.error.message.slice(0, 200)}` : fmtRate(r.parse?.pointsPerS),
      peer: '—',
      ratio: '—',
      target: 'info',
      pass: r.parse?.error ? 'error' : 'info',
      values: r.parse,
    },
  ];
}

function detailRows(r) {
  const d = [];
  if (r.ingest && !r.ingest.error) {
    d.push({
      tool: 'cairn',
      what: `MetricsTailer.ingestOnce, ${fmtN(r.points)} points (${r.ingest.runs.length} runs)`,
      time: fmtRate(r.ingest.pointsPerS),
      rss: fmtMiB(r.ingest.peakRssKiB),
      more: `runs ${r.ingest.runs.map((x) => `${x.wallS.toFixed(2)} s`).join(', ')}; min ${fmtRate(r.ingest.min)}, max ${fmtRate(r.ingest.max)}; .cairn ${(r.ingest.dbBytes / 2 ** 20).toFixed(0)} MiB (${Math.round(r.ingest.dbBytes / r.points)} B/point)`,
    });
  }
  if (r.parse && !r.parse.error)
    d.push({
      tool: 'cairn',
      what: 'parseMetricLines (1 MiB slices)',
      time: fmtRate(r.parse.pointsPerS),
      rss: fmtMiB(r.parse.peakRssKiB),
      more: `${r.parse.wallS.toFixed(2)} s`,
    });
  return d;
}

function notes(r, ctx) {
  const n = [
    `The file: ${fmtN(r.points)} metric lines as the SDKs write them (8 names per step, a time on every point) plus ${r.paramLines} param lines, ${(r.fileBytes / 2 ** 20).toFixed(1)} MiB. Each run ingests it from offset 0 into a fresh workspace (SQLite, WAL, synchronous=NORMAL), in a fresh Node process; the time covers ingestOnce alone (reads in 1 MiB steps, one transaction per step, 500-row INSERTs), not start-up or opening the workspace.`,
    'Peak RSS is the whole child process (GNU time), including opening the workspace.',
  ];
  if (ctx.scale !== 1) n.push(`Scaled run: ${fmtN(r.points)} points instead of 1,000,000.`);
  return n;
}
