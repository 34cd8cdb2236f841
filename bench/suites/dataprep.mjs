// Benchmark suite "dataprep": data preparation (issue 4, "Performance") against pandas and
// DuckDB alone, on the same machine in the same run.
//
//   a  events: a generated 5,000,000-row, 10-column CSV (bench/dataprep/data.mjs). The work =
//      profile + a 20-check suite + an 80/20 split by key `id`.
//        Cairn        `data add` (untimed), then timed `data profile`, `data validate --suite`,
//                     `data split --ratios train=0.8,test=0.2 --key id` (three CLI processes;
//                     the sum of their wall times is the figure)
//        pandas       bench/dataprep/pandas_job.py: read_csv + the same profile, checks and split
//                     (the documented hash in hashlib), splits written with to_pickle
//        DuckDB only  bench/dataprep/duckdb_job.mjs: read_csv(sample_size = -1) + SUMMARIZE + the
//                     split by the same hash to Parquet; no validation
//      targets: pandas / Cairn >= 4; Cairn / DuckDB-only <= 1.5; peak RSS of each reported
//   b  flights-3m.parquet: profile + a 20-check suite + an 80/20 split (key: every column, the
//      default) for Cairn and pandas (pandas reads a pickle of the same rows, made once,
//      untimed)                                          target: pandas / Cairn >= 10
//   c  PII scan of the SpamAssassin corpus: `cairn data validate` with one `files: - pii` check;
//      MB/s = bytes of the scanned files / wall time     target >= 20 MB/s
//      and the raw in-process scanner (scanBytes) over the same files, for reference.
//
// Everything runs `--warmup` untimed times first, then `--repeat` timed times (median
// reported); every repetition works in a fresh folder under ctx.work that is deleted at its end.
// --scale X shrinks the events table to X x 5,000,000 rows and the flights to their first
// X x 3,000,000 rows (the corpus is always whole). Needs `npm run build` (dist/) and, for the
// pandas side, /usr/bin/python3 with pandas (scripts/install-bench-peers.sh: python3-pandas).
import path from 'node:path';
import os from 'node:os';
import { existsSync, mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runCmd, runCpu, repeat, settle, median, max, brief, mustRun, du } from '../lib/measure.mjs';
import { ensureDataprepData, pandasVersion, PYTHON } from '../dataprep/data.mjs';
import { eventsSuite, flightsSuite, piiFilesSuiteYaml, toYaml, toJson } from '../dataprep/checks.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DP = path.join(HERE, '..', 'dataprep');
const CAIRN_ENV = { NO_COLOR: '1', CAIRN_NO_PROGRESS: '1', CAIRN_ACTOR: 'bench@example.com' };
const RATIOS = 'train=0.8,test=0.2';
const TIMEOUT_MS = 30 * 60 * 1000;

/** runCpu plus `otherCpuS`: what the rest of the machine used during the command. */
async function runTimed(argv, opts) {
  const r = await runCpu(argv, opts);
  r.otherCpuS = r.cpuS != null && r.machineBusyS != null ? Math.max(0, r.machineBusyS - r.cpuS) : null;
  return r;
}

export const suite = {
  name: 'dataprep',
  description:
    'data preparation: profile + 20-check suite + 80/20 split of a 5M-row CSV and of flights-3m, vs pandas and DuckDB alone; PII scan of the e-mail corpus',
  async run(ctx) {
    const log = ctx.log;
    const repoRoot = ctx.repoRoot;
    const cli = process.env.CAIRN_BENCH_CLI
      ? path.resolve(process.env.CAIRN_BENCH_CLI)
      : path.join(repoRoot, 'bin', 'cairn.js');
    const missing = ['cli/main.js', 'dataprep/split/position.js', 'dataprep/pii/scan.js'].filter(
      (f) => !existsSync(path.join(repoRoot, 'dist', f)),
    );
    if (missing.length) {
      const msg = `Cairn is not built (missing dist/${missing[0]}): run \`npm run build\``;
      return { results: { error: { message: msg } }, rows: [], notes: [msg] };
    }
    const pv = pandasVersion();
    const runPandas = !ctx.skipPeers && pv !== null;
    const runCairn = !ctx.skipCairn;
    const data = await ensureDataprepData({ scale: ctx.scale, log, pandas: pv !== null });
    const results = { data, pandas: pv, duckdb: duckdbVersion(repoRoot) };
    const opts = { warmup: ctx.warmup ?? 1 };

    // the suites, rendered once per run
    const suites = path.join(ctx.work, 'suites');
    mkdirSync(suites, { recursive: true });
    const ev = eventsSuite({ rows: data.events.rows, ref: 'events@v1' });
    const fl = flightsSuite({ rows: data.flights.rows, ref: 'flights@v1' });
    const files = {
      eventsYaml: path.join(suites, 'events.yaml'),
      eventsJson: path.join(suites, 'events.json'),
      flightsYaml: path.join(suites, 'flights.yaml'),
      flightsJson: path.join(suites, 'flights.json'),
      piiYaml: path.join(suites, 'pii.yaml'),
    };
    writeFileSync(files.eventsYaml, toYaml(ev));
    writeFileSync(files.eventsJson, toJson(ev));
    writeFileSync(files.flightsYaml, toYaml(fl));
    writeFileSync(files.flightsJson, toJson(fl));
    writeFileSync(files.piiYaml, piiFilesSuiteYaml());
    results.suites = { events: ev, flights: fl };

    let serial = 0;
    const fresh = (name) => {
      const d = path.join(ctx.work, `${name}-${serial++}`);
      mkdirSync(d, { recursive: true });
      return d;
    };
    const cairn = (args, cwd) =>
      runTimed([process.execPath, cli, ...args], { cwd, env: CAIRN_ENV, timeoutMs: TIMEOUT_MS });

    /** One Cairn repetition on a table: init, add (untimed), then profile, validate, split (timed, each after a sync). */
    const cairnTable = async ({ name, folder, suiteYaml, key, inputs }) => {
      const ws = fresh(`cairn-${name}`);
      try {
        await mustRun([process.execPath, cli, 'init', ws, '--json'], { env: CAIRN_ENV });
        const add = await mustRun([process.execPath, cli, 'data', 'add', folder, '--name', name, '--json'], {
          cwd: ws,
          env: CAIRN_ENV,
          timeoutMs: TIMEOUT_MS,
        });
        await settle(inputs);
        const profile = await cairn(['data', 'profile', `${name}@v1`, '--json'], ws);
        if (!profile.ok) throw failure('data profile', profile);
        await settle([]);
        const validate = await cairn(['data', 'validate', `${name}@v1`, '--suite', suiteYaml, '--json'], ws);
        // exit 1 = an error-severity check failed; the report is still complete
        if (!(validate.code === 0 || validate.code === 1) || !validate.stdout.trim())
          throw failure('data validate', validate);
        await settle([]);
        const split = await cairn(
          [
            'data',
            'split',
            `${name}@v1`,
            '--name',
            `${name}-split`,
            '--ratios',
            RATIOS,
            ...(key ? ['--key', key] : []),
            '--json',
          ],
          ws,
        );
        if (!split.ok) throw failure('data split', split);
        // exit 1 prints the error document, which carries the full report
        const vdoc = JSON.parse(validate.stdout);
        const report = vdoc.error?.data?.report ?? vdoc;
        const prof = JSON.parse(profile.stdout).profile;
        const sp = JSON.parse(split.stdout);
        const store = await du(path.join(ws, '.cairn'));
        return {
          wallS: profile.wallS + validate.wallS + split.wallS,
          peakRssKiB: Math.max(profile.peakRssKiB ?? 0, validate.peakRssKiB ?? 0, split.peakRssKiB ?? 0) || null,
          cpuS: sum([profile.cpuS, validate.cpuS, split.cpuS]),
          otherCpuS: sum([profile.otherCpuS, validate.otherCpuS, split.otherCpuS]),
          profile: { ...brief(profile), cpuS: profile.cpuS },
          validate: {
            ...brief(validate),
            cpuS: validate.cpuS,
            ok: report.ok,
            errors: report.errors,
            warnings: report.warnings,
            durationMs: report.durationMs,
          },
          split: {
            ...brief(split),
            cpuS: split.cpuS,
            rows: Object.fromEntries(sp.splits.map((s) => [s.name, s.size])),
            leakageOk: sp.leakage.ok,
          },
          addS: add.wallS,
          checks: report.checks.map((c) => ({
            name: c.name,
            kind: c.kind,
            status: c.status,
            evaluated: c.evaluated,
            failed: c.failed,
          })),
          profileSummary: {
            rows: prof.rows,
            columns: prof.columns.map((c) => ({
              name: c.name,
              type: c.type,
              nulls: c.nulls,
              distinct: c.distinct,
              distinctExact: c.distinctExact,
            })),
          },
          storeBytes: store.bytes,
        };
      } finally {
        rmSync(ws, { recursive: true, force: true });
      }
    };

    /** One pandas repetition. */
    const pandasTable = async ({ name, input, format, suiteJson, key, parseDates, dateColumns }) => {
      const out = fresh(`pandas-${name}`);
      try {
        await settle([input]);
        const resultFile = path.join(out, 'result.json');
        const argv = [
          PYTHON,
          path.join(DP, 'pandas_job.py'),
          '--input',
          input,
          '--format',
          format,
          '--suite',
          suiteJson,
          '--out',
          path.join(out, 'splits'),
          '--ratios',
          RATIOS,
          '--result',
          resultFile,
        ];
        if (key) argv.push('--key', key);
        if (parseDates) argv.push('--parse-dates', parseDates);
        if (dateColumns) argv.push('--date-columns', dateColumns);
        const r = await runTimed(argv, { timeoutMs: TIMEOUT_MS });
        if (!r.ok) throw failure('pandas_job.py', r);
        const res = JSON.parse(readFileSync(resultFile, 'utf8'));
        return {
          wallS: r.wallS,
          peakRssKiB: r.peakRssKiB,
          cpuS: r.cpuS,
          otherCpuS: r.otherCpuS,
          phases: res.seconds,
          checks: res.checks.map((c) => ({
            name: c.name,
            kind: c.kind,
            status: c.status,
            evaluated: c.evaluated,
            failed: c.failed,
            seconds: c.seconds,
          })),
          split: res.split,
          dtypes: res.dtypes,
          rows: res.rows,
          profile: res.profile,
        };
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    };

    /** One DuckDB-only repetition. */
    const duckdbTable = async ({ name, input, format, key, dialect }) => {
      const out = fresh(`duckdb-${name}`);
      try {
        await settle([input]);
        const argv = [
          process.execPath,
          path.join(DP, 'duckdb_job.mjs'),
          '--input',
          input,
          '--format',
          format,
          '--out',
          out,
          ...(key ? ['--key', key] : []),
          '--ratios',
          RATIOS,
          ...(dialect ? ['--dialect', 'given'] : []),
        ];
        const r = await runTimed(argv, { timeoutMs: TIMEOUT_MS });
        if (!r.ok) throw failure('duckdb_job.mjs', r);
        const res = JSON.parse(r.stdout.trim().split('\n').pop());
        return {
          wallS: r.wallS,
          peakRssKiB: r.peakRssKiB,
          cpuS: r.cpuS,
          otherCpuS: r.otherCpuS,
          phases: res.seconds,
          split: res.split,
          types: res.types,
          rows: res.rows,
        };
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    };

    const measure = async (label, fn) => {
      log(`dataprep: ${label} …`);
      const m = await repeat(
        ctx.repeat,
        async (l, isWarm) => {
          const r = await fn();
          log(
            `dataprep: ${label}: ${r.wallS.toFixed(2)} s${isWarm ? ' (warm-up)' : ''}, CPU ${r.cpuS?.toFixed(1) ?? '?'} s, peak RSS ${r.peakRssKiB ? `${Math.round(r.peakRssKiB / 1024)} MiB` : '?'}${r.otherCpuS > 0.05 * r.wallS * CORES ? ` — other processes used ${r.otherCpuS.toFixed(1)} CPU-s meanwhile` : ''}`,
          );
          return r;
        },
        opts,
      );
      if (m.error) log(`dataprep: ${label} failed: ${m.error.message}`);
      return m;
    };

    // a. the generated events table
    const E = data.events;
    const eventsTask = {
      name: 'events',
      folder: E.folder,
      suiteYaml: files.eventsYaml,
      suiteJson: files.eventsJson,
      key: 'id',
      inputs: [E.path],
    };
    results.events = {};
    if (runCairn)
      results.events.cairn = await measure('cairn events (profile + validate + split)', () => cairnTable(eventsTask));
    if (runPandas)
      results.events.pandas = await measure('pandas events', () =>
        pandasTable({
          name: 'events',
          input: E.path,
          format: 'csv',
          suiteJson: files.eventsJson,
          key: 'id',
          parseDates: 'event_time,signup_date',
          dateColumns: 'signup_date',
        }),
      );
    if (!ctx.skipPeers) {
      results.events.duckdb = await measure('duckdb-only events (read_csv auto-detect + SUMMARIZE + split)', () =>
        duckdbTable({ name: 'events', input: E.path, format: 'csv', key: 'id' }),
      );
      results.events.duckdbDialect = await measure('duckdb-only events, dialect given (as Cairn reads)', () =>
        duckdbTable({ name: 'events-dialect', input: E.path, format: 'csv', key: 'id', dialect: true }),
      );
    }

    // b. flights
    const F = data.flights;
    const flightsFolder = path.dirname(F.path);
    results.flights = {};
    if (runCairn)
      results.flights.cairn = await measure('cairn flights (profile + validate + split)', () =>
        cairnTable({
          name: 'flights',
          folder: flightsFolder,
          suiteYaml: files.flightsYaml,
          key: null,
          inputs: [F.path],
        }),
      );
    if (runPandas && data.flightsPickle)
      results.flights.pandas = await measure('pandas flights (from a pickle)', () =>
        pandasTable({
          name: 'flights',
          input: data.flightsPickle.path,
          format: 'pickle',
          suiteJson: files.flightsJson,
          key: null,
        }),
      );
    if (!ctx.skipPeers)
      results.flights.duckdb = await measure('duckdb-only flights (SUMMARIZE + split)', () =>
        duckdbTable({ name: 'flights', input: F.path, format: 'parquet', key: null }),
      );

    // c. PII scan of the corpus
    if (runCairn) {
      const S = data.spam;
      const ws = fresh('cairn-pii');
      try {
        await mustRun([process.execPath, cli, 'init', ws, '--json'], { env: CAIRN_ENV });
        await mustRun([process.execPath, cli, 'data', 'add', S.dir, '--name', 'mail', '--json'], {
          cwd: ws,
          env: CAIRN_ENV,
          timeoutMs: TIMEOUT_MS,
        });
        let report = null;
        const m = await measure('cairn PII scan of the e-mail corpus', async () => {
          await settle([]);
          const r = await cairn(['data', 'validate', 'mail@v1', '--suite', files.piiYaml, '--json'], ws);
          if (!(r.code === 0 || r.code === 1) || !r.stdout.trim()) throw failure('data validate (pii)', r);
          report = JSON.parse(r.stdout);
          return { wallS: r.wallS, peakRssKiB: r.peakRssKiB, cpuS: r.cpuS, otherCpuS: r.otherCpuS };
        });
        const c = report?.checks?.[0];
        results.pii = {
          ...m,
          files: S.scanFiles,
          bytes: S.scanBytes,
          mbPerS: m.wallS ? S.scanBytes / 1e6 / m.wallS : null,
          evaluated: c?.evaluated ?? null,
          failed: c?.failed ?? null,
          counts: c?.details?.counts ?? null,
        };
      } finally {
        rmSync(ws, { recursive: true, force: true });
      }
      log('dataprep: raw scanner (scanBytes) over the corpus …');
      const raw = await runCmd(
        [process.execPath, path.join(DP, 'pii_scan.mjs'), data.spam.dir, '--repeat', String(Math.max(3, ctx.repeat))],
        { timeoutMs: TIMEOUT_MS },
      );
      try {
        results.piiRaw = { ...JSON.parse(raw.stdout.trim().split('\n').pop()), peakRssKiB: raw.peakRssKiB };
        log(`dataprep: raw scanner: ${results.piiRaw.mbPerS.toFixed(1)} MB/s`);
      } catch {
        results.piiRaw = { error: { message: `pii_scan.mjs failed (exit ${raw.code}): ${raw.stderr.slice(-500)}` } };
      }
    }

    return { results, rows: buildRows(results, ctx), details: detailRows(results), notes: notes(results, ctx) };
  },
};

const CORES = os.availableParallelism();

function sum(xs) {
  return xs.every((x) => typeof x === 'number') ? xs.reduce((a, b) => a + b, 0) : null;
}

function failure(what, r) {
  const e = new Error(
    `${what} failed (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${(r.stderr || r.stdout).trim().slice(-600)}`,
  );
  e.result = r;
  return e;
}

function duckdbVersion(repoRoot) {
  try {
    return JSON.parse(readFileSync(path.join(repoRoot, 'node_modules/@duckdb/node-api/package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// rows, details, notes

const num = (x) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const fmtS = (x) => (num(x) == null ? '—' : `${x.toFixed(2)} s`);
const fmtX = (x) => (num(x) == null ? '—' : `${x.toFixed(2)}×`);
const fmtMiB = (k) => (num(k) == null ? '—' : `${Math.round(k / 1024)} MiB`);
const fmtN = (x) => Number(x).toLocaleString('en-US');
const medianOf = (m, f) => median((m?.runs ?? []).map(f));

function verdict(v, ok, err) {
  if (err) return 'error';
  if (num(v) == null) return 'n/a';
  return ok(v) ? 'pass' : 'FAIL';
}

function buildRows(r, ctx) {
  const rows = [];
  const scaled = ctx.scale !== 1 ? ' (scaled run)' : '';
  const ev = r.events ?? {};
  const evRows = fmtN(r.data?.events?.rows ?? 0);
  const cE = ev.cairn?.wallS;
  const pE = ev.pandas?.wallS;
  const dE = ev.duckdb?.wallS;
  const dD = ev.duckdbDialect?.wallS;
  rows.push({
    id: 'events-vs-pandas',
    metric: `events CSV (${evRows} rows × 10 cols): profile + 20 checks + 80/20 split, pandas ÷ Cairn`,
    cairn: fmtS(cE),
    peer: pE != null ? `pandas ${fmtS(pE)}` : '—',
    ratio: cE && pE ? fmtX(pE / cE) : '—',
    target: `≥ 4× faster${scaled}`,
    pass: verdict(cE && pE ? pE / cE : null, (x) => x >= 4, ev.cairn?.error || ev.pandas?.error),
  });
  rows.push({
    id: 'events-vs-duckdb',
    metric: 'events CSV: Cairn ÷ DuckDB only (read_csv sample_size=-1 + SUMMARIZE + split to Parquet, no checks)',
    cairn: fmtS(cE),
    peer: dE != null ? `DuckDB ${fmtS(dE)}` : '—',
    ratio: cE && dE ? fmtX(cE / dE) : '—',
    target: `≤ 1.5×${scaled}`,
    pass: verdict(cE && dE ? cE / dE : null, (x) => x <= 1.5, ev.cairn?.error || ev.duckdb?.error),
  });
  rows.push({
    id: 'events-vs-duckdb-dialect',
    metric:
      'events CSV: Cairn ÷ DuckDB only with the CSV dialect given (delim/quote/escape, as Cairn reads; types still from the whole file)',
    cairn: fmtS(cE),
    peer: dD != null ? `DuckDB ${fmtS(dD)}` : '—',
    ratio: cE && dD ? fmtX(cE / dD) : '—',
    target: 'info',
    pass: cE && dD ? 'info' : ev.duckdbDialect?.error ? 'error' : 'n/a',
  });
  rows.push({
    id: 'events-rss',
    metric:
      'events CSV: peak RSS (Cairn: the largest of its three commands; DuckDB memory_limit ¼ RAM, spills to disk)',
    cairn: fmtMiB(ev.cairn?.peakRssKiB),
    peer: `pandas ${fmtMiB(ev.pandas?.peakRssKiB)}, DuckDB only ${fmtMiB(ev.duckdb?.peakRssKiB)}`,
    ratio:
      ev.cairn?.peakRssKiB && ev.pandas?.peakRssKiB
        ? `${(ev.cairn.peakRssKiB / ev.pandas.peakRssKiB).toFixed(2)}× pandas`
        : '—',
    target: 'info (bounded: ≤ ¼ RAM + Node)',
    pass: num(ev.cairn?.peakRssKiB) == null ? 'n/a' : 'info',
  });
  const fl = r.flights ?? {};
  const cF = fl.cairn?.wallS;
  const pF = fl.pandas?.wallS;
  rows.push({
    id: 'flights-vs-pandas',
    metric: `flights-3m.parquet (${fmtN(r.data?.flights?.rows ?? 0)} rows): profile + 20 checks + 80/20 split, pandas (from a pickle) ÷ Cairn`,
    cairn: fmtS(cF),
    peer: pF != null ? `pandas ${fmtS(pF)}` : '—',
    ratio: cF && pF ? fmtX(pF / cF) : '—',
    target: `≥ 10× faster${scaled}`,
    pass: verdict(cF && pF ? pF / cF : null, (x) => x >= 10, fl.cairn?.error || fl.pandas?.error),
  });
  rows.push({
    id: 'flights-rss',
    metric: 'flights: peak RSS',
    cairn: fmtMiB(fl.cairn?.peakRssKiB),
    peer: `pandas ${fmtMiB(fl.pandas?.peakRssKiB)}, DuckDB only ${fmtMiB(fl.duckdb?.peakRssKiB)}`,
    ratio: '—',
    target: 'info',
    pass: num(fl.cairn?.peakRssKiB) == null ? 'n/a' : 'info',
  });
  const p = r.pii;
  rows.push({
    id: 'pii-cli',
    metric: `PII scan of the SpamAssassin corpus (${fmtN(p?.files ?? 0)} files, ${((p?.bytes ?? 0) / 1e6).toFixed(1)} MB): \`cairn data validate\` with one files pii check`,
    cairn: num(p?.mbPerS) == null ? '—' : `${p.mbPerS.toFixed(1)} MB/s (${fmtS(p.wallS)})`,
    peer: '—',
    ratio: '—',
    target: '≥ 20 MB/s',
    pass: verdict(p?.mbPerS, (x) => x >= 20, p?.error),
  });
  const raw = r.piiRaw;
  rows.push({
    id: 'pii-raw',
    metric: 'PII scanner in-process (scanBytes, all 4 kinds, one thread, files already in memory)',
    cairn: num(raw?.mbPerS) == null ? '—' : `${raw.mbPerS.toFixed(1)} MB/s (${fmtS(raw.seconds)})`,
    peer: '—',
    ratio: '—',
    target: 'info',
    pass: raw?.error ? 'error' : num(raw?.mbPerS) == null ? 'n/a' : 'info',
  });
  return rows;
}

function detailRows(r) {
  const d = [];
  const add = (tool, what, m, more) => {
    if (!m) return;
    if (m.error) {
      d.push({ tool, what, time: `error: ${m.error.message.slice(0, 300)}`, rss: '—', more: '' });
      return;
    }
    const cpu = medianOf(m, (x) => x.cpuS);
    const other = max((m.runs ?? []).map((x) => x.otherCpuS));
    d.push({
      tool,
      what,
      time: fmtS(m.wallS),
      rss: fmtMiB(m.peakRssKiB),
      more: `${more ? `${more}; ` : ''}CPU ${fmtS(cpu)}; runs ${(m.runs ?? []).map((x) => x.wallS.toFixed(2)).join(', ')} s${num(other) != null ? `; other processes ≤ ${other.toFixed(1)} CPU-s` : ''}`,
    });
  };
  for (const [set, label] of [
    ['events', 'events CSV'],
    ['flights', 'flights'],
  ]) {
    const x = r[set] ?? {};
    const c = x.cairn;
    if (c && !c.error) {
      add(
        'cairn',
        `${label}: profile + validate + split (sum)`,
        c,
        `add (untimed) ${fmtS(medianOf(c, (y) => y.addS))}`,
      );
      d.push({
        tool: 'cairn',
        what: `${label}: \`data profile\``,
        time: fmtS(medianOf(c, (y) => y.profile.wallS)),
        rss: fmtMiB(max(c.runs.map((y) => y.profile.peakRssKiB))),
        more: 'includes materializing the version into the cache (first command after add)',
      });
      d.push({
        tool: 'cairn',
        what: `${label}: \`data validate --suite\` (20 checks)`,
        time: fmtS(medianOf(c, (y) => y.validate.wallS)),
        rss: fmtMiB(max(c.runs.map((y) => y.validate.peakRssKiB))),
        more: `report durationMs ${medianOf(c, (y) => y.validate.durationMs)} (checks only, after the load); ok ${c.runs[0]?.validate.ok}, ${c.runs[0]?.validate.errors} errors, ${c.runs[0]?.validate.warnings} warnings`,
      });
      d.push({
        tool: 'cairn',
        what: `${label}: \`data split\` 80/20`,
        time: fmtS(medianOf(c, (y) => y.split.wallS)),
        rss: fmtMiB(max(c.runs.map((y) => y.split.peakRssKiB))),
        more: `rows ${JSON.stringify(c.runs[0]?.split.rows)}, leakage ok ${c.runs[0]?.split.leakageOk}; Parquet written and stored as two versions`,
      });
    } else add('cairn', `${label}: profile + validate + split`, c);
    const p = x.pandas;
    if (p && !p.error) {
      const ph = (k) => fmtS(medianOf(p, (y) => y.phases[k]));
      add(
        'pandas',
        `${label}: read + profile + checks + split + write`,
        p,
        `read ${ph('read')}, profile ${ph('profile')}, checks ${ph('validate')}, split ${ph('split')} (hash ${ph('hash')}), write ${ph('write')}; ${x === r.flights ? 'reads a pickle' : 'read_csv'}`,
      );
      const slow = [...(p.runs[0]?.checks ?? [])].sort((a, b) => b.seconds - a.seconds).slice(0, 3);
      if (slow.length)
        d.push({
          tool: 'pandas',
          what: `${label}: slowest checks (first timed run)`,
          time: '—',
          rss: '—',
          more: slow.map((c) => `${c.name} ${c.seconds.toFixed(2)} s`).join(', '),
        });
    } else add('pandas', `${label}: read + profile + checks + split + write`, p);
    for (const [k, what] of [
      ['duckdb', 'DuckDB only: read + SUMMARIZE + split'],
      ['duckdbDialect', 'DuckDB only, dialect given: read + SUMMARIZE + split'],
    ]) {
      const q = x[k];
      if (q && !q.error) {
        const ph = (f) => fmtS(medianOf(q, (y) => y.phases[f]));
        add(
          'duckdb',
          `${label}: ${what.replace('DuckDB only', '').replace(/^[:,] ?/, '') || what}`,
          q,
          `read ${ph('read')}, SUMMARIZE ${ph('profile')}, split ${ph('split')}`,
        );
      } else add('duckdb', `${label}: ${what}`, q);
    }
  }
  if (r.pii)
    add(
      'cairn',
      'PII: `data validate` (files: pii), whole process',
      r.pii,
      r.pii.counts
        ? `found ${JSON.stringify(r.pii.counts)} in ${fmtN(r.pii.failed)} of ${fmtN(r.pii.evaluated)} files`
        : '',
    );
  if (r.piiRaw && !r.piiRaw.error)
    d.push({
      tool: 'cairn',
      what: 'PII: scanBytes in-process (median)',
      time: fmtS(r.piiRaw.seconds),
      rss: fmtMiB(r.piiRaw.peakRssKiB),
      more: `${r.piiRaw.mbPerS.toFixed(1)} MB/s; runs ${r.piiRaw.runs.map((x) => x.toFixed(2)).join(', ')} s; ${JSON.stringify(r.piiRaw.counts)}`,
    });
  return d;
}

/** Cairn and pandas must have done the same work: the same check counts and split sizes. */
function agreement(set) {
  const out = [];
  const c = set?.cairn?.runs?.[0];
  const p = set?.pandas?.runs?.[0];
  const d = set?.duckdb?.runs?.[0];
  if (c && p) {
    const pc = new Map(p.checks.map((x) => [x.name, x]));
    const diff = c.checks.filter((x) => {
      const y = pc.get(x.name);
      return !y || y.evaluated !== x.evaluated || y.failed !== x.failed;
    });
    out.push(
      diff.length
        ? `WARNING: Cairn and pandas disagree on ${diff.length} checks: ${diff.map((x) => `${x.name} (Cairn ${x.failed}/${x.evaluated}, pandas ${pc.get(x.name)?.failed}/${pc.get(x.name)?.evaluated})`).join('; ')}`
        : `Cairn and pandas agree on every check (${c.checks.length}: same evaluated and failed counts)`,
    );
  }
  const splits = [
    c && ['Cairn', c.split.rows],
    p && ['pandas', p.split.rows],
    d && ['DuckDB only', d.split.rows],
  ].filter(Boolean);
  if (splits.length > 1) {
    const same = splits.every(([, r]) => JSON.stringify(r) === JSON.stringify(splits[0][1]));
    out.push(
      same
        ? `identical split sizes from ${splits.map(([n]) => n).join(', ')}: ${JSON.stringify(splits[0][1])}`
        : `WARNING: split sizes differ: ${splits.map(([n, r]) => `${n} ${JSON.stringify(r)}`).join(', ')}`,
    );
  }
  return out.join('; ');
}

function notes(r, ctx) {
  const n = [];
  const E = r.data?.events;
  const F = r.data?.flights;
  n.push(
    `Events CSV: bench/.data/dataprep/scale-${ctx.scale}/events/events.csv, ${fmtN(E?.rows ?? 0)} rows, ${((E?.bytes ?? 0) / 1e6).toFixed(0)} MB, sha256 ${E?.sha256?.slice(0, 16)}…; columns id, customer_id (BIGINT), event_time (TIMESTAMP), signup_date (DATE), category, country, email (VARCHAR, NULLs in country and email), amount, score (DOUBLE, NULLs in amount), is_active (BOOLEAN). Generated once by bench/dataprep/data.mjs (xorshift128, fixed seed) and reused.`,
  );
  n.push(
    "The 20 checks (bench/dataprep/checks.mjs, written to the run folder as YAML for Cairn and JSON for pandas): row_count, schema (all 10 columns, exact, 2 not nullable), not_null ×2 (one with mostly 0.95), unique id, unique (customer_id, event_time), range ×3 (one with mostly 0.999), allowed ×3, regex ×2, freshness, sql ×3, pii (every text column, all 4 kinds, severity warn: it finds the e-mail column), drift of 5 columns against the version's own stored profile.",
  );
  n.push(
    'Split: 80/20 by the documented hash with key `id` for every tool (the default key, every column rendered as DuckDB renders it, is used for the flights instead). Cairn also orders each split by position, runs its leakage report (exact-duplicate rows and key overlap) and stores both splits as new dataset versions; pandas computes the key overlap only (set intersection of key texts); DuckDB-only does neither.',
  );
  n.push(
    `Cairn: three CLI processes (\`data profile\`, \`data validate --suite\`, \`data split --key id\`). The first materializes the version and parses the CSV once (typed from the whole file) into the typed-table cache (.cairn/cache/tables, docs/DATAPREP.md); the other two attach that table read-only (validate applies the suite's declared types on top; here every declared type is the detected one). \`data add\` is untimed setup. A sync runs between the commands (untimed).`,
  );
  n.push(
    `pandas ${r.pandas?.pandas ?? '?'} / numpy ${r.pandas?.numpy ?? '?'} / Python ${r.pandas?.python ?? '?'} (Debian python3-pandas), one process, one core (pandas does not parallelize): read_csv with parse_dates for event_time and signup_date (every other type inferred over the whole file), the profile, the 20 checks with Cairn's semantics, the split with hashlib.sha256 per row, splits written with to_pickle — no Parquet engine exists for Debian's pandas (no pyarrow, no fastparquet), and pickle is the fastest writer it has.`,
  );
  n.push(
    `DuckDB only (@duckdb/node-api ${r.duckdb ?? '?'}, Cairn's engine settings: all cores, memory_limit ¼ RAM, preserve_insertion_order=false): CREATE TABLE AS read_csv(header=true, sample_size=-1) with auto-detection, SUMMARIZE, then the split hash (splitPositionSql from dist/) into a temp table and one COPY … (FORMAT parquet) per split. "Dialect given" passes delim/quote/escape as Cairn's loader does, which spares DuckDB's whole-file dialect sniffing.`,
  );
  n.push(
    `Flights: ${fmtN(F?.rows ?? 0)} rows of flights-3m.parquet (date TIMESTAMP, delay, distance BIGINT, origin, destination VARCHAR), 20 checks (bench/dataprep/checks.mjs: two warn-level unique checks that find duplicate flights, a warn-level allowed set of hubs with mostly 0.3, two drift checks against the version's own profile, …), split by the default key (every column). pandas cannot read Parquet here, so it reads the same rows from a pickle made once, untimed (DuckDB → CSV → read_csv(parse_dates=['date']) → to_pickle): unpickling is faster than any Parquet read would be, so this favours pandas.`,
  );
  n.push(
    `PII: ${fmtN(r.pii?.files ?? 0)} files (.txt e-mails and .json sidecars; the one .js file is not scanned) = ${fmtN(r.pii?.bytes ?? 0)} bytes; MB = 10^6 bytes; wall time of the whole \`cairn data validate\` process (start-up, reading every file from the store with chunk re-hashing, the scan, the report). The raw figure is scanBytes alone on one thread over files already in memory (bench/dataprep/pii_scan.mjs).`,
  );
  const busy = [];
  for (const [set, label] of [
    ['events', 'events'],
    ['flights', 'flights'],
  ]) {
    for (const [k, m] of Object.entries(r[set] ?? {})) {
      for (const run of m?.runs ?? [])
        if (run.otherCpuS > 0.05 * run.wallS * CORES)
          busy.push(`${label}/${k} ${run.wallS.toFixed(1)} s run: ${run.otherCpuS.toFixed(1)} CPU-s`);
    }
  }
  for (const run of r.pii?.runs ?? [])
    if (run.otherCpuS > 0.05 * run.wallS * CORES)
      busy.push(`pii ${run.wallS.toFixed(1)} s run: ${run.otherCpuS.toFixed(1)} CPU-s`);
  n.push(
    busy.length
      ? `WARNING: other processes used more than 5 % of the machine during ${busy.length} timed runs (${busy.join('; ')}): those timings are inflated; rerun on an idle machine.`
      : "No timed run was disturbed: other processes used under 5 % of the machine (busy CPU from /proc/stat minus the command's own user + system time) during every one.",
  );
  const ea = agreement(r.events);
  if (ea) n.push(`Events cross-check: ${ea}.`);
  const fa = agreement(r.flights);
  if (fa) n.push(`Flights cross-check: ${fa}.`);
  if (!r.pandas)
    n.push(
      'pandas is not installed for /usr/bin/python3 (scripts/install-bench-peers.sh installs python3-pandas): the pandas rows are n/a.',
    );
  if (ctx.scale !== 1)
    n.push(
      `Scaled run (--scale ${ctx.scale}): ${fmtN(E?.rows ?? 0)} event rows, ${fmtN(F?.rows ?? 0)} flights; the targets are defined at scale 1, and fixed costs (process start-up, materializing, storing) weigh more here.`,
    );
  return n;
}
