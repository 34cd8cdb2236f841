#!/usr/bin/env node
// Cairn benchmark runner: `npm run bench [-- flags]` (= node bench/run.mjs).
//
//   --only a,b        run only these suites (default: all in bench/suites/)
//   --repeat N        timed repetitions per measurement, median reported (default 3)
//   --warmup N        untimed warm-up repetitions before those (default 1)
//   --scale X         shrink the data set, 0 < X <= 1 (also --size X or CAIRN_BENCH_SCALE=X);
//                     e.g. 0.05 -> 64 MiB big file, 1,000 small files
//   --with-10g        also generate big10.bin (10x the big file) and measure peak RSS adding it
//   --skip-peers      do not run dd/cp/restic/git-lfs
//   --skip-cairn      do not run the Cairn scenarios
//   --peers a,b       only these peers (dd, cp, restic, git-lfs)
//   --keep-work       keep bench/.work/<timestamp>/ for inspection
//   --strict          exit 1 when a target row is FAIL or error
//
// Results: bench/results/<suite>-<YYYY-MM-DD>.json and bench/results/<suite>-latest.md
// (at a scale other than 1 the names get a `-scale-<X>` suffix so a smoke run never replaces
// the full-scale results).

import path from 'node:path';
import os from 'node:os';
import { readdirSync, existsSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { statfs } from 'node:fs/promises';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = path.resolve(BENCH_DIR, '..');
const RESULTS_DIR = path.join(BENCH_DIR, 'results');
const WORK_ROOT = path.join(BENCH_DIR, '.work');

// =============================================================================================
// EXTENSION POINT — benchmark suites.
//
// A suite is a file bench/suites/<name>.mjs that exports
//
//   export const suite = {
//     name: '<name>',                 // must match the file name; used by --only and in result file names
//     description: '…',
//     async run(ctx) {               // ctx: see `makeContext` below
//       return {
//         results: { … },            // anything JSON-serializable (raw measurements)
//         rows: [{ metric, cairn, peer, ratio, target, pass }],   // pass: pass | FAIL | error | skipped | n/a | info
//         details: [{ tool, what, time, rss, more }],             // optional raw-measurement table
//         notes: ['…'],              // optional
//       };
//     },
//   };
//
// Suites are discovered from bench/suites/ automatically (file name = suite name); `suites`
// below is the resulting map. Shared helpers: bench/lib/data.mjs (deterministic data),
// bench/lib/measure.mjs (runCmd with wall time + peak RSS, repeat/median, settle, du).
// =============================================================================================
function discoverSuites() {
  const dir = path.join(BENCH_DIR, 'suites');
  const suites = {};
  if (!existsSync(dir)) return suites;
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.mjs')) continue;
    const name = f.slice(0, -'.mjs'.length);
    suites[name] = async () => {
      const mod = await import(pathToFileURL(path.join(dir, f)).href);
      if (!mod.suite || typeof mod.suite.run !== 'function')
        throw new Error(`bench/suites/${f} does not export \`suite\` with run()`);
      return mod.suite;
    };
  }
  return suites;
}
export const suites = discoverSuites();

// ---------------------------------------------------------------------------------------------
// flags

const HELP = `usage: node bench/run.mjs [--only ${Object.keys(suites).join('|') || 'suite'}[,…]] [--repeat N] [--warmup N] [--scale X] [--with-10g]
                         [--skip-peers] [--skip-cairn] [--peers dd,cp,restic,git-lfs] [--keep-work] [--strict]
see bench/README.md`;

function parseArgs(argv) {
  const o = {
    only: null,
    repeat: 3,
    warmup: 1,
    scale: process.env.CAIRN_BENCH_SCALE ?? '1',
    with10g: false,
    skipPeers: false,
    skipCairn: false,
    peers: null,
    keepWork: false,
    strict: false,
  };
  for (let i = 0; i < argv.length; i++) {
    let a = argv[i];
    let v;
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0) {
      v = a.slice(eq + 1);
      a = a.slice(0, eq);
    }
    const val = () => {
      if (v !== undefined) return v;
      if (i + 1 >= argv.length) die(`${a} needs a value`);
      return argv[++i];
    };
    switch (a) {
      case '--only':
        o.only = val().split(',').filter(Boolean);
        break;
      case '--repeat':
        o.repeat = Number(val());
        if (!Number.isInteger(o.repeat) || o.repeat < 1) die('--repeat must be a positive integer');
        break;
      case '--warmup':
        o.warmup = Number(val());
        if (!Number.isInteger(o.warmup) || o.warmup < 0) die('--warmup must be a non-negative integer');
        break;
      case '--scale':
      case '--size':
        o.scale = val();
        break;
      case '--with-10g':
        o.with10g = true;
        break;
      case '--skip-peers':
        o.skipPeers = true;
        break;
      case '--skip-cairn':
        o.skipCairn = true;
        break;
      case '--peers':
        o.peers = val().split(',').filter(Boolean);
        break;
      case '--keep-work':
        o.keepWork = true;
        break;
      case '--strict':
        o.strict = true;
        break;
      case '-h':
      case '--help':
        console.log(HELP);
        process.exit(0);
        break;
      default:
        die(`unknown flag ${a}\n${HELP}`);
    }
  }
  o.scale = Number(o.scale);
  if (!Number.isFinite(o.scale) || o.scale <= 0 || o.scale > 1) die('--scale must be in (0, 1]');
  for (const s of o.only ?? []) if (!suites[s]) die(`unknown suite ${s}; have: ${Object.keys(suites).join(', ')}`);
  return o;
}

function die(msg) {
  console.error(`bench: ${msg}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// machine description

async function machineInfo() {
  const cpus = os.cpus();
  const fsType = spawnSync('findmnt', ['-no', 'FSTYPE', '-T', BENCH_DIR], { encoding: 'utf8' });
  let freeBytes = null;
  try {
    const s = await statfs(BENCH_DIR);
    freeBytes = Number(s.bavail) * Number(s.bsize);
  } catch {
    /* ignore */
  }
  return {
    hostname: os.hostname(),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpu: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    memBytes: os.totalmem(),
    node: process.version,
    benchFs: fsType.status === 0 ? fsType.stdout.trim() : null,
    freeBytes,
  };
}

// ---------------------------------------------------------------------------------------------
// output

function mdEscape(s) {
  return String(s ?? '—')
    .replace(/\|/g, '\\|')
    .replace(/\n/g, ' ');
}

function table(headers, rows) {
  const lines = [`| ${headers.join(' | ')} |`, `|${headers.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${r.map(mdEscape).join(' | ')} |`);
  return lines.join('\n');
}

function markdown(name, report) {
  const m = report.machine;
  const out = [];
  out.push(`# Cairn benchmark: ${name} — ${report.date}`);
  out.push('');
  out.push(
    `scale ${report.options.scale} · median of ${report.options.repeat} runs after ${report.options.warmup} warm-up · ${m.cpu}, ${m.cores} cores, ${(m.memBytes / 2 ** 30).toFixed(0)} GiB RAM · ${m.platform} · fs ${m.benchFs ?? '?'} · node ${m.node}`,
  );
  out.push('');
  out.push(
    'Warm-cache runs: page caches are not dropped; before each timing the harness runs `sync` and reads the inputs once.',
  );
  out.push('');
  out.push(
    table(
      ['metric', 'cairn', 'peer', 'ratio', 'target', 'pass/fail'],
      report.rows.map((r) => [r.metric, r.cairn, r.peer, r.ratio, r.target, r.pass]),
    ),
  );
  if (report.details?.length) {
    out.push('');
    out.push('## Measurements');
    out.push('');
    out.push(
      table(
        ['tool', 'what', 'time', 'peak RSS', 'more'],
        report.details.map((d) => [d.tool, d.what, d.time, d.rss, d.more]),
      ),
    );
  }
  if (report.notes?.length) {
    out.push('');
    out.push('## Notes');
    out.push('');
    for (const n of report.notes) out.push(`- ${n}`);
  }
  out.push('');
  out.push(`Raw results: \`${path.relative(REPO_ROOT, report.jsonPath)}\`.`);
  out.push('');
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------

function stampNow() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

function today() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}`;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const log = (msg) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);
  const names = opts.only ?? Object.keys(suites);
  if (!names.length) die('no suites in bench/suites/');

  const workRoot = path.join(WORK_ROOT, `${stampNow()}-${process.pid}`);
  mkdirSync(workRoot, { recursive: true });
  const cleanup = () => {
    if (!opts.keepWork) rmSync(workRoot, { recursive: true, force: true });
  };
  process.on('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  process.on('SIGTERM', () => {
    cleanup();
    process.exit(143);
  });

  const machine = await machineInfo();
  const suffix = opts.scale === 1 ? '' : `-scale-${opts.scale}`;
  mkdirSync(RESULTS_DIR, { recursive: true });
  let failed = false;
  try {
    for (const name of names) {
      const suite = await suites[name]();
      log(`suite ${name}: ${suite.description ?? ''}`);
      const ctx = {
        repoRoot: REPO_ROOT,
        benchDir: BENCH_DIR,
        work: path.join(workRoot, name),
        scale: opts.scale,
        repeat: opts.repeat,
        warmup: opts.warmup,
        with10g: opts.with10g,
        skipPeers: opts.skipPeers,
        skipCairn: opts.skipCairn,
        peers: opts.peers,
        keepWork: opts.keepWork,
        log,
      };
      mkdirSync(ctx.work, { recursive: true });
      const startedAt = new Date().toISOString();
      const t0 = process.hrtime.bigint();
      let res;
      try {
        res = await suite.run(ctx);
      } catch (e) {
        log(`suite ${name} crashed: ${e?.stack ?? e}`);
        res = {
          results: { error: { message: String(e?.message ?? e) } },
          rows: [],
          notes: [`suite crashed: ${e?.message ?? e}`],
        };
      }
      const jsonPath = path.join(RESULTS_DIR, `${name}-${today()}${suffix}.json`);
      const mdPath = path.join(RESULTS_DIR, `${name}-latest${suffix}.md`);
      const report = {
        suite: name,
        schema: 1,
        date: today(),
        startedAt,
        finishedAt: new Date().toISOString(),
        durationS: Number(process.hrtime.bigint() - t0) / 1e9,
        options: {
          scale: opts.scale,
          repeat: opts.repeat,
          warmup: opts.warmup,
          with10g: opts.with10g,
          skipPeers: opts.skipPeers,
          skipCairn: opts.skipCairn,
          peers: opts.peers,
        },
        warmCache: true,
        machine,
        rows: res.rows ?? [],
        details: res.details ?? [],
        notes: res.notes ?? [],
        results: res.results ?? {},
        jsonPath,
      };
      const jsonReport = { ...report };
      delete jsonReport.jsonPath;
      writeFileSync(jsonPath, JSON.stringify(jsonReport, null, 2) + '\n');
      const md = markdown(name, report);
      writeFileSync(mdPath, md);
      console.log(md);
      log(
        `suite ${name}: wrote ${path.relative(REPO_ROOT, jsonPath)} and ${path.relative(REPO_ROOT, mdPath)} (${report.durationS.toFixed(0)} s)`,
      );
      if (report.rows.some((r) => r.pass === 'FAIL' || r.pass === 'error')) failed = true;
    }
  } finally {
    cleanup();
    if (opts.keepWork) log(`work folder kept: ${path.relative(REPO_ROOT, workRoot)}`);
  }
  if (opts.strict && failed) process.exit(1);
}

main().catch((e) => {
  console.error(e?.stack ?? e);
  process.exit(1);
});
