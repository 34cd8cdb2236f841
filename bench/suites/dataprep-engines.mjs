// Benchmark suite "dataprep-engines" (issue 16): Cairn's data preparation against the engines a
// user would pick instead, each doing the same statistics, the same 20 checks and the same split
// to Parquet, in the same run:
//
//   Cairn        `data add` (untimed), then `data profile`, `data validate --suite` (20 checks
//                incl. PII), `data split --key id` — cold (a fresh workspace: the first command
//                builds the typed-table cache) and warm (the same three again in that workspace)
//   DuckDB alone bench/dataprep/engines_job.py --engine duckdb (python duckdb)
//   Polars       bench/dataprep/engines_job.py --engine polars
//   pandas 3     bench/dataprep/pandas_job.py with the pyarrow CSV reader and Parquet output
//
// on the dataprep suite's 5,000,000-row, 10-column CSV (bench/dataprep/data.mjs; --scale shrinks it)
// and on flights-3m.parquet. The Python peers live in bench/.venv, which this suite makes itself
// (`pip install polars pandas pyarrow duckdb`, retried); a peer whose import fails is skipped with
// a WARNING. Targets: Cairn cold <= 1.3x the fastest of DuckDB-alone and Polars, warm <= 1.1x.
// Every tool's per-check evaluated/failed counts and split sizes are compared (notes).
import path from 'node:path';
import os from 'node:os';
import { existsSync, mkdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { runCpu, repeat, settle, mustRun } from '../lib/measure.mjs';
import { ensureDataprepData } from '../dataprep/data.mjs';
import { eventsSuite, flightsSuite, toYaml, toJson } from '../dataprep/checks.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const DP = path.join(HERE, '..', 'dataprep');
const VENV = path.join(HERE, '..', '.venv');
const VPY = path.join(VENV, 'bin', 'python');
const CAIRN_ENV = { NO_COLOR: '1', CAIRN_NO_PROGRESS: '1', CAIRN_ACTOR: 'bench@example.com' };
const RATIOS = 'train=0.8,test=0.2';
const TIMEOUT_MS = 30 * 60 * 1000;
const PEERS = ['duckdb', 'polars', 'pandas'];
const CORES = os.availableParallelism();

/** Makes bench/.venv with the peers (idempotent); -> { versions: {name: version|null}, log: [...] }. */
export function ensureVenv(log) {
  const probe = () =>
    spawnSync(
      VPY,
      [
        '-c',
        'import importlib, json\nout = {}\nfor m in ("duckdb", "polars", "pandas", "pyarrow"):\n    try:\n        out[m] = importlib.import_module(m).__version__\n    except Exception:\n        out[m] = None\nprint(json.dumps(out))',
      ],
      { encoding: 'utf8' },
    );
  let r = existsSync(VPY) ? probe() : null;
  let versions = r && r.status === 0 ? JSON.parse(r.stdout) : {};
  if (Object.values(versions).length === 4 && Object.values(versions).every(Boolean)) return versions;
  const python = process.env.CAIRN_BENCH_PYTHON3 ?? 'python3';
  if (!existsSync(VPY)) {
    log(`dataprep-engines: making ${VENV} …`);
    const v = spawnSync(python, ['-m', 'venv', VENV], { encoding: 'utf8' });
    if (v.status !== 0) {
      log(`dataprep-engines: WARNING: ${python} -m venv failed: ${v.stderr.slice(-400)}`);
      return {};
    }
  }
  for (let attempt = 1; attempt <= 3; attempt++) {
    log(`dataprep-engines: pip install polars pandas pyarrow duckdb (attempt ${attempt}) …`);
    const p = spawnSync(VPY, ['-m', 'pip', 'install', '--quiet', 'polars', 'pandas>=3', 'pyarrow', 'duckdb'], {
      encoding: 'utf8',
      timeout: 20 * 60 * 1000,
    });
    if (p.status === 0) break;
    log(`dataprep-engines: pip failed (exit ${p.status}): ${(p.stderr || '').slice(-400)}`);
  }
  r = probe();
  versions = r.status === 0 ? JSON.parse(r.stdout) : {};
  return versions;
}

export const suite = {
  name: 'dataprep-engines',
  description:
    'profile + 20 checks + 80/20 split to Parquet: Cairn (cold and warm) vs DuckDB alone, Polars and pandas 3 + pyarrow, on the 5M-row CSV and flights-3m.parquet',
  async run(ctx) {
    const log = ctx.log;
    const cli = process.env.CAIRN_BENCH_CLI
      ? path.resolve(process.env.CAIRN_BENCH_CLI)
      : path.join(ctx.repoRoot, 'bin', 'cairn.js');
    const results = {};
    const notes = [];
    const data = await ensureDataprepData({ scale: ctx.scale, log, pandas: false });
    results.data = { events: data.events, flights: data.flights };
    const versions = ctx.skipPeers ? {} : ensureVenv(log);
    results.versions = versions;
    const peers = PEERS.filter((p) => versions[p] && (p !== 'pandas' || versions.pyarrow));
    for (const p of PEERS)
      if (!ctx.skipPeers && !peers.includes(p))
        notes.push(`WARNING: peer ${p} skipped: it could not be installed into bench/.venv (pip) or imported`);
    if (versions.pandas && !versions.pandas.startsWith('3'))
      notes.push(`WARNING: pandas ${versions.pandas} is not pandas 3 (the mirror had no pandas 3)`);

    const suites = path.join(ctx.work, 'suites');
    mkdirSync(suites, { recursive: true });
    const sets = [
      {
        name: 'events',
        what: `events CSV (${data.events.rows.toLocaleString('en-US')} rows × 10 cols)`,
        folder: data.events.folder,
        input: data.events.path,
        format: 'csv',
        key: 'id',
        checks: eventsSuite({ rows: data.events.rows, ref: 'events@v1' }),
      },
      {
        name: 'flights',
        what: `flights-3m.parquet (${data.flights.rows.toLocaleString('en-US')} rows)`,
        folder: path.dirname(data.flights.path),
        input: data.flights.path,
        format: 'parquet',
        key: null,
        checks: flightsSuite({ rows: data.flights.rows, ref: 'flights@v1' }),
      },
    ];
    let serial = 0;
    const fresh = (name) => {
      const d = path.join(ctx.work, `${name}-${serial++}`);
      mkdirSync(d, { recursive: true });
      return d;
    };
    const measure = async (label, fn) => {
      log(`dataprep-engines: ${label} …`);
      const m = await repeat(
        ctx.repeat,
        async (_l, isWarm) => {
          const r = await fn();
          log(
            `dataprep-engines: ${label}: ${r.wallS.toFixed(2)} s${isWarm ? ' (warm-up)' : ''}, peak RSS ${r.peakRssKiB ? `${Math.round(r.peakRssKiB / 1024)} MiB` : '?'}`,
          );
          return r;
        },
        { warmup: ctx.warmup ?? 1 },
      );
      if (m.error) log(`dataprep-engines: ${label} failed: ${m.error.message}`);
      return m;
    };

    for (const set of sets) {
      const yaml = path.join(suites, `${set.name}.yaml`);
      const json = path.join(suites, `${set.name}.json`);
      writeFileSync(yaml, toYaml(set.checks));
      writeFileSync(json, toJson(set.checks));
      const r = (results[set.name] = {});
      if (!ctx.skipCairn) r.cairn = await measure(`cairn ${set.name}`, () => cairnRun(cli, set, yaml, fresh));
      for (const p of peers) r[p] = await measure(`${p} ${set.name}`, () => peerRun(p, set, json, fresh));
    }
    const worst = Math.max(
      0,
      ...sets.flatMap((set) =>
        ['cairn', ...PEERS].flatMap((t) => (results[set.name]?.[t]?.runs ?? []).map((x) => x.disturbed ?? 0)),
      ),
    );
    notes.push(
      worst > 0.05
        ? `WARNING: other processes used up to ${Math.round(worst * 100)} % of the machine during a timed run (busy CPU from /proc/stat minus the command's own): these timings and ratios are inflated and unreliable; rerun on an idle machine.`
        : 'No timed run was disturbed: other processes used under 5 % of the machine during every one.',
    );
    return {
      results,
      rows: buildRows(results, sets),
      details: detailRows(results, sets),
      notes: [...notes, ...agree(results, sets)],
    };
  },
};

/** runCpu plus `otherCpuS`: the CPU the rest of the machine used during the command. */
async function timed(argv, opts) {
  const r = await runCpu(argv, opts);
  r.otherCpuS = r.cpuS != null && r.machineBusyS != null ? Math.max(0, r.machineBusyS - r.cpuS) : null;
  return r;
}

/** The commands' own CPU-seconds together (null if any is unknown). */
function sumCpu(rs) {
  return rs.every((r) => typeof r.cpuS === 'number') ? rs.reduce((n, r) => n + r.cpuS, 0) : null;
}

/** The share of the machine (all cores) that other processes used while `rs` ran. */
function disturbance(rs) {
  const other = rs.reduce((n, r) => n + (r.otherCpuS ?? 0), 0);
  const wall = rs.reduce((n, r) => n + (r.wallS ?? 0), 0);
  return wall > 0 ? other / (wall * CORES) : 0;
}

function failure(what, r) {
  return new Error(`${what} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim().slice(-600)}`);
}

/** One Cairn repetition: a fresh workspace; the three commands cold, then the same three warm. */
async function cairnRun(cli, set, yaml, fresh) {
  const ws = fresh(`cairn-${set.name}`);
  const run = (args) => timed([process.execPath, cli, ...args], { cwd: ws, env: CAIRN_ENV, timeoutMs: TIMEOUT_MS });
  try {
    await mustRun([process.execPath, cli, 'init', ws, '--json'], { env: CAIRN_ENV });
    await mustRun([process.execPath, cli, 'data', 'add', set.folder, '--name', set.name, '--json'], {
      cwd: ws,
      env: CAIRN_ENV,
      timeoutMs: TIMEOUT_MS,
    });
    const pass = async (i) => {
      await settle(i === 0 ? [set.input] : []);
      const profile = await run(['data', 'profile', `${set.name}@v1`, '--json']);
      if (!profile.ok) throw failure('data profile', profile);
      await settle([]);
      const validate = await run(['data', 'validate', `${set.name}@v1`, '--suite', yaml, '--json']);
      if (!(validate.code === 0 || validate.code === 1) || !validate.stdout.trim())
        throw failure('data validate', validate);
      await settle([]);
      const split = await run([
        'data',
        'split',
        `${set.name}@v1`,
        '--name',
        `${set.name}-split-${i}`,
        '--ratios',
        RATIOS,
        ...(set.key ? ['--key', set.key] : []),
        '--json',
      ]);
      if (!split.ok) throw failure('data split', split);
      const vdoc = JSON.parse(validate.stdout);
      const report = vdoc.error?.data?.report ?? vdoc;
      const sp = JSON.parse(split.stdout);
      return {
        disturbed: disturbance([profile, validate, split]),
        wallS: profile.wallS + validate.wallS + split.wallS,
        cpuS: sumCpu([profile, validate, split]),
        peakRssKiB: Math.max(profile.peakRssKiB ?? 0, validate.peakRssKiB ?? 0, split.peakRssKiB ?? 0) || null,
        phases: { profile: profile.wallS, validate: validate.wallS, split: split.wallS },
        cpuPhases: { profile: profile.cpuS, validate: validate.cpuS, split: split.cpuS },
        rss: { profile: profile.peakRssKiB, validate: validate.peakRssKiB, split: split.peakRssKiB },
        checks: report.checks.map((c) => ({ name: c.name, evaluated: c.evaluated, failed: c.failed })),
        splitRows: Object.fromEntries(sp.splits.map((s) => [s.name, s.size])),
      };
    };
    const cold = await pass(0);
    const warm = await pass(1);
    return { ...cold, warm, onePass: await onePass(cli, set, yaml, fresh) };
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
}

/**
 * The same work as the user can ask for it in two commands: `data validate --profile` (the
 * profile from the same load, stored with the version) and `data split`, in a fresh workspace.
 */
async function onePass(cli, set, yaml, fresh) {
  const ws = fresh(`cairn1-${set.name}`);
  const run = (args) => timed([process.execPath, cli, ...args], { cwd: ws, env: CAIRN_ENV, timeoutMs: TIMEOUT_MS });
  try {
    await mustRun([process.execPath, cli, 'init', ws, '--json'], { env: CAIRN_ENV });
    await mustRun([process.execPath, cli, 'data', 'add', set.folder, '--name', set.name, '--json'], {
      cwd: ws,
      env: CAIRN_ENV,
      timeoutMs: TIMEOUT_MS,
    });
    await settle([set.input]);
    const validate = await run(['data', 'validate', `${set.name}@v1`, '--suite', yaml, '--profile', '--json']);
    if (!(validate.code === 0 || validate.code === 1) || !validate.stdout.trim())
      throw failure('data validate --profile', validate);
    await settle([]);
    const split = await run([
      'data',
      'split',
      `${set.name}@v1`,
      '--name',
      `${set.name}-split`,
      '--ratios',
      RATIOS,
      ...(set.key ? ['--key', set.key] : []),
      '--json',
    ]);
    if (!split.ok) throw failure('data split', split);
    return {
      wallS: validate.wallS + split.wallS,
      peakRssKiB: Math.max(validate.peakRssKiB ?? 0, split.peakRssKiB ?? 0) || null,
      phases: { validate: validate.wallS, split: split.wallS },
    };
  } finally {
    rmSync(ws, { recursive: true, force: true });
  }
}

/** One peer repetition in a fresh output folder. */
async function peerRun(peer, set, json, fresh) {
  const out = fresh(`${peer}-${set.name}`);
  const result = path.join(out, 'result.json');
  const argv =
    peer === 'pandas'
      ? [
          VPY,
          path.join(DP, 'pandas_job.py'),
          '--input',
          set.input,
          '--format',
          set.format,
          '--write',
          'parquet',
          ...(set.format === 'csv'
            ? ['--csv-engine', 'pyarrow', '--parse-dates', 'event_time,signup_date', '--date-columns', 'signup_date']
            : []),
        ]
      : [VPY, path.join(DP, 'engines_job.py'), '--engine', peer, '--input', set.input, '--format', set.format];
  argv.push('--suite', json, '--out', path.join(out, 'splits'), '--ratios', RATIOS, '--result', result);
  if (set.key) argv.push('--key', set.key);
  try {
    await settle([set.input]);
    const r = await timed(argv, { timeoutMs: TIMEOUT_MS });
    if (!r.ok) throw failure(`${peer} job`, r);
    const res = JSON.parse(readFileSync(result, 'utf8'));
    return {
      disturbed: disturbance([r]),
      wallS: r.wallS,
      cpuS: r.cpuS ?? null,
      peakRssKiB: r.peakRssKiB,
      phases: res.seconds,
      checks: res.checks.map((c) => ({ name: c.name, evaluated: c.evaluated, failed: c.failed })),
      splitRows: res.split.rows,
      version: res.version ?? res.pandas,
    };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

const fmtS = (s) => (typeof s === 'number' ? `${s.toFixed(2)} s` : 'n/a');
const fmtMiB = (k) => (k ? `${Math.round(k / 1024)} MiB` : 'n/a');
const medianOf = (m, f) => {
  const v = (m?.runs ?? [])
    .map(f)
    .filter((x) => typeof x === 'number')
    .sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : null;
};

function buildRows(results, sets) {
  const rows = [];
  for (const set of sets) {
    const r = results[set.name] ?? {};
    const c = r.cairn;
    const fastest = ['duckdb', 'polars'].filter((p) => r[p]?.wallS).sort((a, b) => r[a].wallS - r[b].wallS)[0];
    const f = fastest ? r[fastest] : null;
    const cold = c?.wallS ?? null;
    const warm = medianOf(c, (x) => x.warm?.wallS);
    const ratio = (a, b) => (a && b ? a / b : null);
    // A ratio taken while other processes used the machine compares tools that met different
    // loads: no verdict then, only the figure.
    const disturbed = Math.max(
      0,
      ...['cairn', ...PEERS].flatMap((t) => (r[t]?.runs ?? []).map((x) => x.disturbed ?? 0)),
    );
    const verdict = (x, t) =>
      x == null ? (c?.error ? 'error' : 'n/a') : disturbed > 0.05 ? 'unreliable (load)' : x <= t ? 'pass' : 'FAIL';
    const rc = ratio(cold, f?.wallS);
    const rw = ratio(warm, f?.wallS);
    rows.push({
      metric: `${set.what}: profile + 20 checks + 80/20 split, Cairn cold ÷ fastest of DuckDB-alone/Polars`,
      cairn: fmtS(cold),
      peer: f ? `${fastest} ${fmtS(f.wallS)}` : 'n/a',
      ratio: rc ? `${rc.toFixed(2)}×` : 'n/a',
      target: '≤ 1.3×',
      pass: verdict(rc, 1.3),
    });
    rows.push({
      metric: `${set.what}: the same, Cairn warm (typed table cached) ÷ fastest`,
      cairn: fmtS(warm),
      peer: f ? `${fastest} ${fmtS(f.wallS)}` : 'n/a',
      ratio: rw ? `${rw.toFixed(2)}×` : 'n/a',
      target: '≤ 1.1×',
      pass: verdict(rw, 1.1),
    });
    // CPU-seconds: what each tool's work costs whatever else the machine is doing (a loaded
    // machine still inflates them somewhat: caches, and threads waiting on each other).
    const cpu = (m) => medianOf(m, (x) => x.cpuS);
    const fastCpu = ['duckdb', 'polars'].filter((p) => cpu(r[p])).sort((a, b) => cpu(r[a]) - cpu(r[b]))[0];
    const rcpu = ratio(cpu(c), fastCpu ? cpu(r[fastCpu]) : null);
    rows.push({
      metric: `${set.what}: CPU-seconds, Cairn cold ÷ the least of DuckDB-alone/Polars`,
      cairn: fmtS(cpu(c)),
      peer: fastCpu ? `${fastCpu} ${fmtS(cpu(r[fastCpu]))}` : 'n/a',
      ratio: rcpu ? `${rcpu.toFixed(2)}×` : 'n/a',
      target: 'info',
      pass: 'info',
    });
    const one = medianOf(c, (x) => x.onePass?.wallS);
    const r1 = ratio(one, f?.wallS);
    rows.push({
      metric: `${set.what}: the same in two commands (\`data validate --profile\` + \`data split\`), cold, ÷ fastest`,
      cairn: fmtS(one),
      peer: f ? `${fastest} ${fmtS(f.wallS)}` : 'n/a',
      ratio: r1 ? `${r1.toFixed(2)}×` : 'n/a',
      target: '≤ 1.3×',
      pass: verdict(r1, 1.3),
    });
    rows.push({
      metric: `${set.what}: pandas 3 + pyarrow ÷ Cairn cold`,
      cairn: fmtS(cold),
      peer: `pandas ${fmtS(r.pandas?.wallS)}`,
      ratio: r.pandas?.wallS && cold ? `${(r.pandas.wallS / cold).toFixed(2)}×` : 'n/a',
      target: 'info',
      pass: 'info',
    });
    rows.push({
      metric: `${set.what}: peak RSS (Cairn: the largest of its three commands)`,
      cairn: fmtMiB(c?.peakRssKiB),
      peer: PEERS.map((p) => `${p} ${fmtMiB(r[p]?.peakRssKiB)}`).join(', '),
      ratio: '—',
      target: 'info',
      pass: 'info',
    });
  }
  return rows;
}

function detailRows(results, sets) {
  const out = [];
  for (const set of sets) {
    const r = results[set.name] ?? {};
    const c = r.cairn;
    if (c?.runs?.length) {
      const ph = (k, w) => medianOf(c, (x) => (w ? x.warm : x).phases[k]);
      const rss = (k) => Math.max(...c.runs.map((x) => x.rss[k] ?? 0));
      const one = (k) => medianOf(c, (x) => x.onePass?.phases[k]);
      out.push({
        tool: 'cairn',
        what: `${set.name}: cold \`validate --profile\` + split`,
        time: fmtS(medianOf(c, (x) => x.onePass?.wallS)),
        rss: fmtMiB(Math.max(...c.runs.map((x) => x.onePass?.peakRssKiB ?? 0))),
        more: `validate --profile ${fmtS(one('validate'))}, split ${fmtS(one('split'))}`,
      });
      for (const w of [false, true])
        out.push({
          tool: 'cairn',
          what: `${set.name}: ${w ? 'warm' : 'cold'} profile + validate + split`,
          time: fmtS(w ? medianOf(c, (x) => x.warm.wallS) : c.wallS),
          rss: fmtMiB(w ? Math.max(...c.runs.map((x) => x.warm.peakRssKiB ?? 0)) : c.peakRssKiB),
          more: `profile ${fmtS(ph('profile', w))}, validate ${fmtS(ph('validate', w))}, split ${fmtS(ph('split', w))}${w ? '' : `; RSS profile ${fmtMiB(rss('profile'))}, validate ${fmtMiB(rss('validate'))}, split ${fmtMiB(rss('split'))}`}`,
        });
    } else if (c?.error) out.push({ tool: 'cairn', what: set.name, time: 'error', rss: '', more: c.error.message });
    for (const p of PEERS) {
      const m = r[p];
      if (!m) continue;
      if (m.error) {
        out.push({ tool: p, what: set.name, time: 'error', rss: '', more: m.error.message });
        continue;
      }
      const phases = m.runs[0]?.phases ?? {};
      out.push({
        tool: `${p} ${m.runs[0]?.version ?? ''}`.trim(),
        what: `${set.name}: read + profile + checks + split`,
        time: fmtS(m.wallS),
        rss: fmtMiB(m.peakRssKiB),
        more: Object.entries(phases)
          .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
          .join(', '),
      });
    }
  }
  return out;
}

/** Whether every tool reports the same evaluated/failed counts per check and the same split sizes. */
function agree(results, sets) {
  const notes = [];
  for (const set of sets) {
    const r = results[set.name] ?? {};
    const tools = ['cairn', ...PEERS].filter((t) => r[t]?.runs?.length);
    if (tools.length < 2) continue;
    const base = r[tools[0]].runs[0];
    const diffs = [];
    for (const t of tools.slice(1)) {
      const x = r[t].runs[0];
      for (const c of base.checks) {
        const o = x.checks.find((y) => y.name === c.name);
        if (!o || o.evaluated !== c.evaluated || o.failed !== c.failed)
          diffs.push(
            `${t} ${c.name}: ${o ? `${o.evaluated}/${o.failed}` : 'missing'} vs ${tools[0]} ${c.evaluated}/${c.failed}`,
          );
      }
      if (JSON.stringify(x.splitRows) !== JSON.stringify(base.splitRows))
        diffs.push(`${t} split ${JSON.stringify(x.splitRows)} vs ${JSON.stringify(base.splitRows)}`);
    }
    notes.push(
      diffs.length
        ? `WARNING: ${set.name}: the tools disagree: ${diffs.join('; ')}`
        : `${set.name}: ${tools.join(', ')} agree on every check's evaluated/failed counts (${base.checks.length} checks) and on the split sizes ${JSON.stringify(base.splitRows)}.`,
    );
  }
  return notes;
}
