// Benchmark suite "files-million" (issue 16): datasets of a million small files.
//
//   a  `cairn data add <tree>` in a fresh workspace: time, files/s, peak RSS and RSS per file
//      (target <= 1 KiB of peak RSS per file)
//   b  `cairn data status <tree>` of the unchanged tree (target <= 2 s at 10^6 files), peak RSS
//   c  `cairn data checkout <ref> <fresh dir>`: time, peak RSS
//   d  `restic backup <tree>` into a fresh repository, right after each Cairn add (the pair meets
//      the same load): files/s (target: Cairn >= 1.5x restic), peak RSS; skipped with a WARNING
//      when restic is not installed
// Every command's CPU-seconds (user + sys, all threads; GNU time) are recorded beside its wall
// time: on a shared machine they say more about the tools than the wall ratio does.
//   e  `cairn push m@v1` to a fresh S3 server (s3rver, the transfer suite's): requests counted
//      by the server, per thousand files (target: a handful), peak RSS
//
// The tree: 1,000,000 x --scale files (default scale of this suite's data: whatever --scale says;
// at scale 1 a million) of 64..1,087 bytes (mean ~576 B) in folders of 1,000
// (tree/d0000/f0000000.bin), contents from the AES-128-CTR keystream "cairn-bench-mil!", sizes
// from "cairn-bench-msz!". Generated once into bench/.data/million/scale-<X>/ with a stamp and
// reused; never deleted and re-created before a timing (this disk is slow to create many files
// right after deleting many). Checkout output and workspaces are removed at the end of the run.
import path from 'node:path';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  writeFileSync,
  renameSync,
  rmSync,
  realpathSync,
  openSync,
  writeSync,
  closeSync,
} from 'node:fs';
import { runCpu, settle, median, mustRun, du, syncAll } from '../lib/measure.mjs';
import { keystream, DATA_ROOT } from '../lib/data.mjs';
import { resticFeatures } from '../peers/restic.mjs';
import { startS3rver, s3rverVersion, S3_CREDENTIALS } from '../transfer/s3.mjs';

const CAIRN_ENV = { NO_COLOR: '1', CAIRN_NO_PROGRESS: '1', CAIRN_ACTOR: 'bench@example.com' };
const GENERATOR = 1;
const PER_DIR = 1000;
const TIMEOUT_MS = 60 * 60 * 1000;

export function millionLayout(scale) {
  return {
    files: Math.max(1000, Math.round(1_000_000 * scale)),
    dir: path.join(DATA_ROOT, 'million', `scale-${scale}`),
  };
}

/** Generates the tree once (stamped), or reuses it. -> { path, files, bytes } */
export function ensureTree(scale, log) {
  const { files, dir } = millionLayout(scale);
  const tree = path.join(dir, 'tree');
  const stampFile = path.join(dir, '.stamp-tree.json');
  if (existsSync(stampFile)) {
    const s = JSON.parse(readFileSync(stampFile, 'utf8'));
    if (s.generator === GENERATOR && s.files === files && existsSync(tree))
      return { path: tree, files, bytes: s.bytes };
  }
  if (existsSync(tree))
    throw new Error(`${tree} exists without a matching stamp: remove it by hand (not deleted here)`);
  log(`files-million: generating ${files.toLocaleString('en-US')} files (once) …`);
  const t0 = process.hrtime.bigint();
  const tmp = `${tree}.tmp-${process.pid}`;
  mkdirSync(tmp, { recursive: true });
  const sizes = keystream('cairn-bench-msz!');
  const content = keystream('cairn-bench-mil!');
  let bytes = 0;
  for (let i = 0; i < files; i++) {
    const d = path.join(tmp, `d${String(Math.floor(i / PER_DIR)).padStart(4, '0')}`);
    if (i % PER_DIR === 0) mkdirSync(d);
    const n = 64 + (sizes.next(2).readUInt16LE(0) % 1024);
    const fd = openSync(path.join(d, `f${String(i).padStart(7, '0')}.bin`), 'w');
    writeSync(fd, content.next(n));
    closeSync(fd);
    bytes += n;
  }
  syncAll();
  renameSync(tmp, tree);
  writeFileSync(
    stampFile,
    JSON.stringify({ generator: GENERATOR, files, bytes, seconds: Number(process.hrtime.bigint() - t0) / 1e9 }),
  );
  log(`files-million: generated in ${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`);
  return { path: tree, files, bytes };
}

export const suite = {
  name: 'files-million',
  description:
    'data add / status / checkout of 10^6 x scale small files: time, peak RSS per file; add vs restic backup',
  async run(ctx) {
    const log = ctx.log;
    const cli = process.env.CAIRN_BENCH_CLI
      ? path.resolve(process.env.CAIRN_BENCH_CLI)
      : path.join(ctx.repoRoot, 'bin', 'cairn.js');
    // The real path: with bench/.data a link to another disk, each tool would otherwise resolve
    // that link again for every file it opens or stats.
    const made = ensureTree(ctx.scale, log);
    const tree = { ...made, path: realpathSync(made.path) };
    const results = { tree, cairn: {}, restic: null };
    const notes = [];
    const reps = Math.max(1, ctx.repeat);
    // CPU-seconds (user + sys, all threads) beside wall time: on this shared machine the wall
    // ratio measures the load as much as the tools; the CPU a tool spends per file does not.
    const cairn = (args, cwd) =>
      runCpu([process.execPath, cli, ...args], { cwd, env: CAIRN_ENV, timeoutMs: TIMEOUT_MS });
    const rf = ctx.skipPeers ? { available: false } : resticFeatures();
    if (!rf.available)
      notes.push('WARNING: restic is not installed (scripts/install-bench-peers.sh): the restic row is n/a');
    const resticRuns = [];
    // One backup of the tree into a fresh repository, run right after each Cairn add so that
    // the two tools of a pair meet the same load.
    const restic = async (i) => {
      if (!rf.available) return;
      const dir = path.join(ctx.work, `restic-${i}`);
      mkdirSync(dir, { recursive: true });
      const env = rf.insecureNoPassword ? { RESTIC_PASSWORD: '' } : { RESTIC_PASSWORD: 'cairn-bench' };
      const base = [
        'restic',
        '--repo',
        path.join(dir, 'repo'),
        '--cache-dir',
        path.join(dir, 'cache'),
        ...(rf.insecureNoPassword ? ['--insecure-no-password'] : []),
      ];
      await mustRun([...base, 'init'], { env });
      await settle([]);
      log(`files-million: restic backup (${i + 1}/${reps}) …`);
      const r = await runCpu(
        [...base, 'backup', '--json', '--host', 'cairn-bench', ...(rf.noScan ? ['--no-scan'] : []), tree.path],
        { env, timeoutMs: TIMEOUT_MS },
      );
      if (!r.ok) throw new Error(`restic backup failed: ${r.stderr.slice(-600)}`);
      resticRuns.push({ wallS: r.wallS, cpuS: r.cpuS, peakRssKiB: r.peakRssKiB });
      log(
        `files-million: restic ${r.wallS.toFixed(1)} s, ${r.cpuS?.toFixed(2)} CPU-s, peak RSS ${Math.round(r.peakRssKiB / 1024)} MiB`,
      );
      rmSync(dir, { recursive: true, force: true });
    };
    const adds = [];
    const statuses = [];
    const checkouts = [];
    let ws = null;
    if (!ctx.skipCairn) {
      // The memory of a command that opens a workspace and does nothing per file: subtracted to
      // give the marginal RSS per file (what grows with the tree).
      const base = path.join(ctx.work, 'cairn-base');
      await mustRun([process.execPath, cli, 'init', base, '--json'], { env: CAIRN_ENV });
      const b = await cairn(['data', 'ls', '--json'], base);
      if (!b.ok) throw new Error(`data ls failed: ${b.stderr.slice(-600)}`);
      results.cairn.baseRssKiB = b.peakRssKiB;
      rmSync(base, { recursive: true, force: true });
      for (let i = 0; i < reps; i++) {
        if (ws) rmSync(ws, { recursive: true, force: true });
        ws = path.join(ctx.work, `cairn-${i}`);
        await mustRun([process.execPath, cli, 'init', ws, '--json'], { env: CAIRN_ENV });
        await settle([]);
        log(`files-million: cairn data add (${i + 1}/${reps}) …`);
        const a = await cairn(['data', 'add', tree.path, '--name', 'm', '--json'], ws);
        if (!a.ok) throw new Error(`data add failed: ${a.stderr.slice(-600)}`);
        adds.push({
          wallS: a.wallS,
          cpuS: a.cpuS,
          peakRssKiB: a.peakRssKiB,
          newBytes: JSON.parse(a.stdout).newBytes ?? null,
        });
        log(
          `files-million: add ${a.wallS.toFixed(1)} s, ${a.cpuS?.toFixed(2)} CPU-s, peak RSS ${Math.round(a.peakRssKiB / 1024)} MiB`,
        );
        await restic(i);
      }
      for (let i = 0; i < Math.max(3, reps); i++) {
        const s = await cairn(['data', 'status', tree.path, '--name', 'm', '--json'], ws);
        if (!(s.code === 0 || s.code === 1)) throw new Error(`data status failed: ${s.stderr.slice(-600)}`);
        const j = JSON.parse(s.stdout);
        statuses.push({
          wallS: s.wallS,
          cpuS: s.cpuS,
          peakRssKiB: s.peakRssKiB,
          clean: j.clean ?? null,
          unchanged: j.unchanged ?? null,
        });
        log(
          `files-million: status ${s.wallS.toFixed(2)} s, ${s.cpuS?.toFixed(2)} CPU-s, peak RSS ${Math.round(s.peakRssKiB / 1024)} MiB, clean ${j.clean}`,
        );
      }
      const co = path.join(ctx.work, 'checkout');
      await settle([]);
      log('files-million: cairn data checkout …');
      const c = await cairn(['data', 'checkout', 'm@v1', co, '--json'], ws);
      if (!c.ok) throw new Error(`data checkout failed: ${c.stderr.slice(-600)}`);
      const got = await du(co);
      checkouts.push({ wallS: c.wallS, peakRssKiB: c.peakRssKiB, files: got.files, bytes: got.bytes });
      log(`files-million: checkout ${c.wallS.toFixed(1)} s, peak RSS ${Math.round(c.peakRssKiB / 1024)} MiB`);
      results.cairn.push = await pushCount(ctx, cli, ws, log, notes);
      Object.assign(results.cairn, { adds, statuses, checkouts, store: await du(path.join(ws, '.cairn')) });
      if (got.files !== tree.files || got.bytes !== tree.bytes)
        notes.push(
          `WARNING: the checkout holds ${got.files} files / ${got.bytes} bytes, the tree ${tree.files} / ${tree.bytes}`,
        );
    }
    if (ctx.skipCairn) for (let i = 0; i < reps; i++) await restic(i);
    if (rf.available) results.restic = { version: rf.version, runs: resticRuns };
    return { results, rows: rows(results, ctx), notes };
  },
};

/** Pushes the version to a fresh s3rver; the server counts the requests. Null without s3rver. */
async function pushCount(ctx, cli, ws, log, notes) {
  if (!s3rverVersion(ctx.repoRoot)) {
    notes.push('WARNING: s3rver is not installed (a devDependency): the push row is n/a');
    return null;
  }
  const dir = path.join(ctx.work, 's3');
  const s3 = await startS3rver({ repoRoot: ctx.repoRoot, directory: dir, bucket: 'cairn-bench' });
  const env = {
    ...CAIRN_ENV,
    AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
    AWS_REGION: S3_CREDENTIALS.region,
    // The server is local: a proxy from the environment must not see (or count) the requests.
    HTTP_PROXY: undefined,
    HTTPS_PROXY: undefined,
    http_proxy: undefined,
    https_proxy: undefined,
    NO_PROXY: '127.0.0.1,localhost',
  };
  try {
    const remote = [
      'remote',
      'add',
      'origin',
      's3://cairn-bench/cairn',
      '--endpoint',
      s3.endpoint,
      '--force',
      '--json',
    ];
    await mustRun([process.execPath, cli, ...remote], { cwd: ws, env });
    await s3.reset();
    log('files-million: cairn push …');
    const p = await runCpu([process.execPath, cli, 'push', 'm@v1', '--json'], { cwd: ws, env, timeoutMs: TIMEOUT_MS });
    if (!p.ok) throw new Error(`push failed: ${p.stderr.slice(-600)}`);
    const st = await s3.stats();
    log(`files-million: push ${p.wallS.toFixed(1)} s, ${st.requests} requests`);
    return { wallS: p.wallS, cpuS: p.cpuS, peakRssKiB: p.peakRssKiB, requests: st.requests, byKind: st.byKind };
  } finally {
    await s3.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function rows(r, ctx) {
  const n = r.tree.files;
  const add = median((r.cairn.adds ?? []).map((x) => x.wallS));
  const addRss = Math.max(0, ...(r.cairn.adds ?? []).map((x) => x.peakRssKiB ?? 0));
  const st = median((r.cairn.statuses ?? []).map((x) => x.wallS));
  const stRss = Math.max(0, ...(r.cairn.statuses ?? []).map((x) => x.peakRssKiB ?? 0));
  const co = r.cairn.checkouts?.[0];
  const rs = r.restic ? median(r.restic.runs.map((x) => x.wallS)) : null;
  const cpu = (xs) => (xs.length > 0 && xs.every((x) => x.cpuS != null) ? median(xs.map((x) => x.cpuS)) : null);
  const addCpu = cpu(r.cairn.adds ?? []);
  const stCpu = cpu(r.cairn.statuses ?? []);
  const rsCpu = r.restic ? cpu(r.restic.runs) : null;
  const rsRss = r.restic ? Math.max(...r.restic.runs.map((x) => x.peakRssKiB ?? 0)) : null;
  const base = r.cairn.baseRssKiB ?? 0;
  const perFile = (k) => (k ? (k * 1024) / n : null);
  const marginal = (k) => (k ? (Math.max(0, k - base) * 1024) / n : null);
  const b = (x) => (x == null ? 'n/a' : `${Math.round(x)} B/file`);
  const pf = (x, t) => (x == null ? 'n/a' : x <= t ? 'pass' : 'FAIL');
  const at = `${n.toLocaleString('en-US')} files`;
  const clean = (r.cairn.statuses ?? []).every((x) => x.clean === true);
  return [
    {
      metric: `data add of ${at}: peak RSS per file`,
      cairn: `${b(perFile(addRss))} (${Math.round(addRss / 1024)} MiB); above a no-op command's ${Math.round(base / 1024)} MiB: ${b(marginal(addRss))}`,
      peer: r.restic ? `restic ${b(perFile(rsRss))} (${Math.round(rsRss / 1024)} MiB)` : 'n/a',
      ratio: '—',
      target: '≤ 1024 B/file',
      pass: pf(perFile(addRss), 1024),
    },
    {
      metric: `data add of ${at}: files/s, Cairn ÷ restic backup`,
      cairn: add ? `${Math.round(n / add)} files/s (${add.toFixed(1)} s)` : 'n/a',
      peer: rs ? `restic ${Math.round(n / rs)} files/s (${rs.toFixed(1)} s)` : 'n/a',
      ratio: add && rs ? `${(rs / add).toFixed(2)}×` : 'n/a',
      target: '≥ 1.5×',
      pass: add && rs ? (rs / add >= 1.5 ? 'pass' : 'FAIL') : 'n/a',
    },
    {
      metric: `data add of ${at}: CPU-seconds (user + sys), restic ÷ Cairn`,
      cairn: addCpu ? `${addCpu.toFixed(1)} CPU-s (${Math.round((addCpu * 1e6) / n)} µs/file)` : 'n/a',
      peer: rsCpu ? `restic ${rsCpu.toFixed(1)} CPU-s (${Math.round((rsCpu * 1e6) / n)} µs/file)` : 'n/a',
      ratio: addCpu && rsCpu ? `${(rsCpu / addCpu).toFixed(2)}×` : 'n/a',
      target: 'info (files/s on a quiet machine is the target)',
      pass: 'info',
    },
    {
      metric: `data status of the unchanged tree (${at}), median`,
      cairn: st
        ? `${st.toFixed(2)} s, ${stCpu == null ? '?' : stCpu.toFixed(2)} CPU-s${clean ? ', clean' : ', NOT clean'}`
        : 'n/a',
      peer: '—',
      ratio: '—',
      target: ctx.scale === 1 ? '≤ 2 s' : `info (≤ 2 s is for 10^6)`,
      pass: ctx.scale === 1 ? pf(st, 2) : 'info',
    },
    {
      metric: `data status: peak RSS per file`,
      cairn: `${b(perFile(stRss))} (${Math.round(stRss / 1024)} MiB); marginal ${b(marginal(stRss))}`,
      peer: '—',
      ratio: '—',
      target: '≤ 1024 B/file',
      pass: pf(perFile(stRss), 1024),
    },
    {
      metric: `push of the ${at} version to an S3 server: requests per 1,000 files`,
      cairn: r.cairn.push
        ? `${((r.cairn.push.requests * 1000) / n).toFixed(2)} (${r.cairn.push.requests} requests, ${r.cairn.push.wallS.toFixed(1)} s, ${Math.round(r.cairn.push.peakRssKiB / 1024)} MiB)`
        : 'n/a',
      peer: '—',
      ratio: '—',
      target: 'a handful',
      pass: r.cairn.push ? (r.cairn.push.requests <= (5 * n) / 1000 ? 'pass' : 'FAIL') : 'n/a',
    },
    {
      metric: `data checkout of ${at} into a fresh folder`,
      cairn: co
        ? `${co.wallS.toFixed(1)} s, ${b(perFile(co.peakRssKiB))} (${Math.round(co.peakRssKiB / 1024)} MiB)`
        : 'n/a',
      peer: '—',
      ratio: '—',
      target: '≤ 1024 B/file',
      pass: pf(perFile(co?.peakRssKiB), 1024),
    },
  ];
}
