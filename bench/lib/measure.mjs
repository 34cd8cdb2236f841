// Measuring commands: wall time, exit code, output and peak RSS.
//
// Every command is run as `/usr/bin/time -f %M -o <tmp> -- argv...` (GNU time) so peak RSS can
// be read from a temp file while the command's own stdout/stderr stay untouched. Wall time is
// taken with process.hrtime around the whole spawn (GNU time adds ~1 ms).
//
// Caches are NOT dropped (that needs root and /proc/sys/vm/drop_caches; not guaranteed here).
// All timings are warm-cache: before each timed run `settle()` flushes dirty pages left by
// earlier steps (`sync`, so write-back of a previous run never lands in the next timing) and
// reads the inputs once (the equivalent of `cat file > /dev/null`).

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, openSync, readSync, closeSync } from 'node:fs';
import { readdir, lstat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const GNU_TIME = '/usr/bin/time';
const HAVE_GNU_TIME = existsSync(GNU_TIME);
const OUTPUT_CAP = 8 << 20; // keep at most 8 MiB of stdout/stderr per run

/**
 * Runs argv once. Never throws for a failing command (only for a spawn failure of `time` itself,
 * which is reported as code 127 too).
 * opts: { cwd, env (merged over process.env), timeoutMs, input }
 * -> { argv, cwd, wallS, code, signal, stdout, stderr, peakRssKiB, ok, timedOut }
 */
export function runCmd(argv, opts = {}) {
  return new Promise((resolve) => {
    const tmpDir = HAVE_GNU_TIME ? mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-time-')) : null;
    const rssFile = tmpDir ? path.join(tmpDir, 'rss') : null;
    const full = HAVE_GNU_TIME ? [GNU_TIME, '-f', '%M', '-o', rssFile, '--', ...argv] : argv;
    const env = { ...process.env, ...(opts.env ?? {}) };
    const out = [];
    const err = [];
    let outLen = 0;
    let errLen = 0;
    let timedOut = false;
    const t0 = process.hrtime.bigint();
    let child;
    try {
      child = spawn(full[0], full.slice(1), { cwd: opts.cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    } catch (e) {
      resolve(failed(argv, opts, e));
      return;
    }
    const timer = opts.timeoutMs
      ? setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, opts.timeoutMs)
      : null;
    child.stdout.on('data', (b) => {
      if (outLen < OUTPUT_CAP) out.push(b);
      outLen += b.length;
    });
    child.stderr.on('data', (b) => {
      if (errLen < OUTPUT_CAP) err.push(b);
      errLen += b.length;
    });
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      resolve(failed(argv, opts, e));
    });
    child.on('close', (code, signal) => {
      const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
      if (timer) clearTimeout(timer);
      let peakRssKiB = null;
      let exitCode = code;
      if (rssFile) {
        try {
          const txt = readFileSync(rssFile, 'utf8');
          // GNU time may prefix "Command exited with non-zero status N" / "Command terminated by signal N"
          const lines = txt.trim().split('\n');
          const last = Number(lines[lines.length - 1]);
          if (Number.isFinite(last)) peakRssKiB = last;
          const sig = /terminated by signal (\d+)/.exec(txt);
          if (sig && exitCode === 0) exitCode = 128 + Number(sig[1]);
        } catch {
          /* command never ran */
        }
        rmSync(tmpDir, { recursive: true, force: true });
      }
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      resolve({
        argv,
        cwd: opts.cwd ?? process.cwd(),
        wallS,
        code: exitCode,
        signal,
        stdout,
        stderr,
        peakRssKiB,
        ok: exitCode === 0 && !timedOut,
        timedOut,
      });
    });
    child.stdin.on('error', () => {});
    if (opts.input != null) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

function failed(argv, opts, e) {
  return {
    argv,
    cwd: opts.cwd ?? process.cwd(),
    wallS: 0,
    code: 127,
    signal: null,
    stdout: '',
    stderr: String(e && e.message ? e.message : e),
    peakRssKiB: null,
    ok: false,
    timedOut: false,
  };
}

/** Runs argv and throws a descriptive Error if it fails (for untimed setup steps). */
export async function mustRun(argv, opts = {}) {
  const r = await runCmd(argv, opts);
  if (!r.ok) throw new CommandError(r);
  return r;
}

export class CommandError extends Error {
  constructor(r) {
    const why = failureText(r.stderr) || failureText(r.stdout);
    super(`\`${shortCmd(r.argv)}\` failed (exit ${r.code}${r.timedOut ? ', timed out' : ''})${why ? `: ${why}` : ''}`);
    this.result = r;
  }
}

/** A one-line reason from a failed command's output: a JSON error's message, else its first line. */
function failureText(out) {
  const t = String(out ?? '').trim();
  if (!t) return '';
  try {
    const j = JSON.parse(t);
    const e = j && typeof j === 'object' ? (j.error ?? j) : null;
    const msg = typeof e === 'string' ? e : e?.message;
    if (msg) return `${e?.code ? `${e.code}: ` : ''}${msg}`.slice(0, 300);
  } catch {
    /* not JSON */
  }
  return t
    .split('\n')
    .find((l) => l.trim())
    .trim()
    .slice(0, 300);
}

/** `node /x/bin/cairn.js data add …` -> `cairn.js data add …`, abbreviated. */
export function shortCmd(argv) {
  let a = argv.map(String);
  if (a[0] === process.execPath || path.basename(a[0]) === 'node') a = a.slice(1);
  a = [path.basename(a[0] ?? ''), ...a.slice(1)];
  const s = a.join(' ');
  return s.length > 160 ? s.slice(0, 157) + '...' : s;
}

export function tail(s, n = 2000) {
  s = String(s ?? '');
  return s.length > n ? '…' + s.slice(-n) : s;
}

// ---------------------------------------------------------------------------------------------
// warm cache

/** Flushes dirty pages (so earlier writes are not flushed inside the next timing). */
export function syncAll() {
  spawnSync('sync', [], { stdio: 'ignore' });
}

/** Reads every file under the given paths once (cat > /dev/null), to make runs warm-cache. */
export async function warmRead(paths) {
  const buf = Buffer.allocUnsafe(4 << 20);
  const readOne = (p) => {
    const fd = openSync(p, 'r');
    try {
      while (readSync(fd, buf, 0, buf.length, null) > 0) {
        /* discard */
      }
    } finally {
      closeSync(fd);
    }
  };
  for (const p of paths) {
    if (!p) continue;
    for await (const f of walkFiles(p)) readOne(f.path);
  }
}

/** sync + warm-up read: call right before every timed run. */
export async function settle(inputs = []) {
  syncAll();
  await warmRead(inputs);
}

// ---------------------------------------------------------------------------------------------
// repeats and statistics

export function median(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return null;
  const m = Math.floor(v.length / 2);
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export function min(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x));
  return v.length ? Math.min(...v) : null;
}

export function max(xs) {
  const v = xs.filter((x) => typeof x === 'number' && Number.isFinite(x));
  return v.length ? Math.max(...v) : null;
}

/**
 * Repeats an async measurement: `warmup` untimed runs first (default 1), then n timed runs.
 * `once(label, isWarmup)` gets a unique label ('warmup-0', … then 0, 1, …) for folder names and
 * returns an object with at least { wallS } (plus whatever it wants to keep). A thrown error is
 * recorded and stops the repeats of that measurement.
 * -> { n, warmup, runs: [...timed], wallS: median, minS, maxS, peakRssKiB: max, error? }
 *
 * Why warm-up runs: on the benchmark VM, writing to disk blocks never written before costs ~5x
 * more than writing to blocks freed a moment ago. Every measurement deletes its output at the end
 * of a run, so after one warm-up every timed run (of every tool) writes to recycled blocks.
 */
export async function repeat(n, once, { warmup = 1 } = {}) {
  const runs = [];
  let error = null;
  const plan = [
    ...Array.from({ length: warmup }, (_, i) => [`warmup-${i}`, true]),
    ...Array.from({ length: n }, (_, i) => [i, false]),
  ];
  for (const [label, isWarmup] of plan) {
    try {
      const r = await once(label, isWarmup);
      if (!isWarmup) runs.push(r);
    } catch (e) {
      error = errorInfo(e);
      break;
    }
  }
  const walls = runs.map((r) => r.wallS);
  return {
    n: runs.length,
    warmup,
    wallS: median(walls),
    minS: min(walls),
    maxS: max(walls),
    peakRssKiB: max(runs.map((r) => r.peakRssKiB)),
    runs,
    ...(error ? { error } : {}),
  };
}

export function errorInfo(e) {
  if (e instanceof CommandError) {
    const r = e.result;
    return {
      message: e.message,
      argv: r.argv,
      code: r.code,
      stderr: tail(r.stderr, 4000),
      stdout: tail(r.stdout, 2000),
    };
  }
  return { message: String(e && e.message ? e.message : e) };
}

/** Strips the bulky parts of a run result for the JSON report. */
export function brief(r) {
  return { argv: r.argv, wallS: r.wallS, code: r.code, peakRssKiB: r.peakRssKiB };
}

// ---------------------------------------------------------------------------------------------
// disk usage

async function* walkFiles(p) {
  const st = await lstat(p);
  if (st.isFile()) {
    yield { path: p, size: st.size };
    return;
  }
  if (!st.isDirectory()) return;
  const stack = [p];
  while (stack.length) {
    const dir = stack.pop();
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      const full = path.join(dir, e.name);
      if (e.isDirectory()) stack.push(full);
      else if (e.isFile()) yield { path: full, size: (await lstat(full)).size };
    }
  }
}

/** { files, bytes } of everything under p (sum of apparent file sizes, recursive; 0/0 if absent). */
export async function du(p) {
  let files = 0;
  let bytes = 0;
  if (!existsSync(p)) return { files, bytes };
  for await (const f of walkFiles(p)) {
    files++;
    bytes += f.size;
  }
  return { files, bytes };
}

/** Tool version line, or null when the tool is missing. */
export function toolVersion(argv) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return (r.stdout || r.stderr).trim().split('\n')[0];
}

export function haveTool(name) {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0;
}

export const hasGnuTime = HAVE_GNU_TIME;

/** Busy CPU-seconds of the whole machine so far (/proc/stat, USER_HZ = 100), or null. */
export function machineBusyS() {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / 100;
  } catch {
    return null;
  }
}

let cpuFiles = 0;
/**
 * runCmd plus the command's own CPU time (`cpuS`, an inner GNU time: %U + %S; null without
 * GNU time) and the machine's busy CPU-seconds meanwhile (`machineBusyS`), from which a suite
 * derives what other processes used, so a disturbed timing shows up instead of passing for a
 * slow tool.
 */
export async function runCpu(argv, opts) {
  const file = path.join(os.tmpdir(), `cairn-bench-cpu-${process.pid}-${cpuFiles++}`);
  const b0 = machineBusyS();
  const r = await runCmd(HAVE_GNU_TIME ? ['/usr/bin/time', '-f', '%U %S', '-o', file, '--', ...argv] : argv, opts);
  const b1 = machineBusyS();
  let cpuS = null;
  try {
    const [u, s] = readFileSync(file, 'utf8').trim().split('\n').pop().split(' ').map(Number);
    if (Number.isFinite(u) && Number.isFinite(s)) cpuS = u + s;
  } catch {
    /* the command never ran, or no GNU time */
  }
  rmSync(file, { force: true });
  r.argv = argv;
  r.cpuS = cpuS;
  r.machineBusyS = b0 != null && b1 != null ? b1 - b0 : null;
  return r;
}
