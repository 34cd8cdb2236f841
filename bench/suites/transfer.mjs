// Benchmark suite "transfer": `cairn push` to a real S3-compatible server (s3rver) against
// `rclone copy` of the same data to the same server (issue 5). See bench/README.md.
//
//   a  small files: a 20,000-file version (bench/transfer/data.mjs: small/v1, ~62 MB of JSON,
//      CSV and binary files of 256 B – 12 KiB)
//        Cairn   `data add small/v1` (untimed setup: chunking + packing happen here), then timed
//                `cairn push small@v1 --json` to a fresh server
//        rclone  timed `rclone copy small/v1 bench:<bucket>/rclone` to a fresh server
//      targets: rclone time ÷ Cairn time ≥ 5; rclone HTTP requests ÷ Cairn HTTP requests ≥ 50
//      then (Cairn, info) `cairn push` of small/v2 (1 % of the files rewritten): bytesSent
//   b  one big file: big/v1/big.bin (1 GiB at scale 1)
//        Cairn   `data add` of v1 and of v2 (untimed), then timed `cairn push big@v1 --json` to a
//                fresh server, then timed `cairn push --json` (sends what v2 adds)
//        rclone  timed `rclone copy big/v1/big.bin …`, then `rclone copy big/v2/big.bin …` to the
//                same place (what it re-sends for the change, for context)
//      targets: Cairn throughput ÷ rclone throughput ≥ 0.9; v2's bytesSent ÷ real change ≤ 1.5
//   c  peak RSS of every `cairn push` above: < 300 MiB
//
// Every repetition starts its own s3rver (fresh folder under ctx.work, one bucket), which counts
// every HTTP request and body byte it receives (bench/transfer/s3.mjs). CAIRN_BENCH_S3_PROXY=1
// puts a counting HTTP proxy in front of it for both tools instead (the counts then come from the
// proxy and are cross-checked against the server's). `--warmup` untimed repetitions, then
// `--repeat` timed ones, median.
import path from 'node:path';
import os from 'node:os';
import { existsSync, readFileSync, rmSync, readdirSync, statSync } from 'node:fs';
import { runCpu, repeat, settle, median, max, mustRun, brief } from '../lib/measure.mjs';
import { ensureTransferData } from '../transfer/data.mjs';
import {
  startS3rver,
  startCountingProxy,
  s3rverVersion,
  storedObjects,
  sha256File,
  S3_CREDENTIALS,
} from '../transfer/s3.mjs';
import { rcloneVersion, writeRcloneConfig, rcloneCopyArgv, rcloneEnv } from '../transfer/rclone.mjs';

const TIMEOUT_MS = 60 * 60 * 1000;
const BUCKET = 'cairn-bench';
const CORES = os.availableParallelism();
const VIA_PROXY = process.env.CAIRN_BENCH_S3_PROXY === '1';
const MiB = 2 ** 20;
const NO_PROXY_ENV = {
  HTTP_PROXY: undefined,
  HTTPS_PROXY: undefined,
  http_proxy: undefined,
  https_proxy: undefined,
  NO_PROXY: '127.0.0.1,localhost',
};
const CAIRN_ENV = {
  NO_COLOR: '1',
  CAIRN_NO_PROGRESS: '1',
  CAIRN_ACTOR: 'bench@example.com',
  AWS_ACCESS_KEY_ID: S3_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3_CREDENTIALS.secretAccessKey,
  AWS_REGION: S3_CREDENTIALS.region,
  AWS_SESSION_TOKEN: undefined,
  AWS_PROFILE: undefined,
  AWS_CA_BUNDLE: undefined,
  ...NO_PROXY_ENV,
};

/**
 * runCpu plus the S3 server's CPU (s3rver, from /proc/<pid>/stat), this process's
 * (`harnessCpuS`: the counting proxy runs here when enabled), and what the rest of the machine
 * used meanwhile (`otherCpuS` = machine busy time − all three), so a disturbed timing shows up.
 */
async function runTimed(argv, opts, server) {
  const s0 = server.cpuS();
  const h0 = process.cpuUsage();
  const r = await runCpu(argv, opts);
  const h = process.cpuUsage(h0);
  const s1 = server.cpuS();
  r.serverCpuS = s0 != null && s1 != null ? s1 - s0 : null;
  r.harnessCpuS = (h.user + h.system) / 1e6;
  r.otherCpuS =
    r.cpuS != null && r.machineBusyS != null && r.serverCpuS != null
      ? Math.max(0, r.machineBusyS - r.cpuS - r.serverCpuS - r.harnessCpuS)
      : null;
  return r;
}

function failure(what, r) {
  const e = new Error(
    `${what} failed (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${(r.stderr || r.stdout).trim().slice(-800)}`,
  );
  e.result = r;
  return e;
}

function parseLastJson(stdout) {
  const s = stdout.trim();
  try {
    return JSON.parse(s);
  } catch {
    const lines = s.split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      try {
        return JSON.parse(lines.slice(i).join('\n'));
      } catch {
        /* keep looking */
      }
    }
    throw new Error(`no JSON in output: ${s.slice(-300)}`);
  }
}

/** Files and bytes of the pack files under a workspace's object store. */
function packStats(ws) {
  const root = path.join(ws, '.cairn', 'objects', 'packs');
  let files = 0;
  let bytes = 0;
  const walk = (d) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith('.pack')) {
        files++;
        bytes += statSync(p).size;
      }
    }
  };
  walk(root);
  return { files, bytes };
}

/** The workspace's pack files as remote keys (packs/<2 hex>/<id>.pack) with sizes. */
function localPacks(ws) {
  const root = path.join(ws, '.cairn', 'objects', 'packs');
  const out = [];
  if (!existsSync(root)) return out;
  for (const d of readdirSync(root)) {
    for (const f of readdirSync(path.join(root, d)))
      if (f.endsWith('.pack')) out.push({ key: `packs/${d}/${f}`, size: statSync(path.join(root, d, f)).size });
  }
  return out;
}

/** Files under a folder (or the file itself) as keys relative to it, with sizes (what rclone copy stores). */
function listFiles(src) {
  const st = statSync(src);
  if (st.isFile()) return [{ key: path.basename(src), size: st.size }];
  const out = [];
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push({ key: path.relative(src, p).split(path.sep).join('/'), size: statSync(p).size });
    }
  };
  walk(src);
  return out;
}

/** One run's request counts (server's or proxy's), trimmed for the report. */
function wire(st) {
  return {
    countedBy: st.countedBy,
    requests: st.requests,
    byKind: st.byKind,
    byStatus: st.byStatus,
    bytesUp: st.bytesUp,
    bytesDown: st.bytesDown,
    maxInFlight: st.maxInFlight,
    errors: st.errors,
    ...(st.chunkedUploads ? { chunkedUploads: st.chunkedUploads } : {}),
    ...(st.server ? { server: st.server } : {}),
  };
}

function runFigures(r, st) {
  const err = r.stderr.trim();
  return {
    ...brief(r),
    cpuS: r.cpuS,
    serverCpuS: r.serverCpuS,
    harnessCpuS: r.harnessCpuS,
    otherCpuS: r.otherCpuS,
    wire: wire(st),
    ...(err ? { stderr: err.length > 2000 ? `…${err.slice(-2000)}` : err } : {}),
  };
}

export const suite = {
  name: 'transfer',
  description:
    'cairn push to an S3 server (s3rver) vs rclone copy: 20,000 small files, one 1 GiB file, a 1 %-changed version, peak RSS',
  async run(ctx) {
    const log = ctx.log;
    const repoRoot = ctx.repoRoot;
    const cli = process.env.CAIRN_BENCH_CLI
      ? path.resolve(process.env.CAIRN_BENCH_CLI)
      : path.join(repoRoot, 'bin', 'cairn.js');
    if (!process.env.CAIRN_BENCH_CLI && !existsSync(path.join(repoRoot, 'dist', 'cli', 'main.js'))) {
      const msg = 'Cairn is not built (missing dist/cli/main.js): run `npm run build`';
      return { results: { error: { message: msg } }, rows: [], notes: [msg] };
    }
    const s3v = s3rverVersion(repoRoot);
    if (!s3v) {
      const msg = 's3rver is not installed (a devDependency): run `npm install`';
      return { results: { error: { message: msg } }, rows: [], notes: [msg] };
    }
    const rv = rcloneVersion();
    const runRclone = !ctx.skipPeers && (!ctx.peers || ctx.peers.includes('rclone')) && rv !== null;
    const runCairn = !ctx.skipCairn;
    const data = await ensureTransferData({ scale: ctx.scale, log });
    const results = {
      data,
      tools: { node: process.version, cairnCli: cli, rclone: rv, s3rver: s3v },
      countedBy: VIA_PROXY ? 'proxy' : 'server',
    };
    const opts = { warmup: ctx.warmup ?? 1 };

    // ---- servers: one s3rver (+ the counting proxy, opt-in) per repetition
    const serverRoot = path.join(ctx.work, 's3');
    let serial = 0;
    /**
     * Starts a server (and, with CAIRN_BENCH_S3_PROXY=1, the proxy), runs fn({ s3, endpoint,
     * reset, stats, dir }) and stops it; `keepDir` leaves its folder for the end of the run.
     * `endpoint` is what the tools are given; reset()/stats() are the counts (proxy or server).
     */
    const withServer = async (tag, keepDir, fn) => {
      const dir = path.join(serverRoot, `${tag}-${serial++}`);
      const s3 = await startS3rver({ repoRoot, directory: dir, bucket: BUCKET });
      let proxy = null;
      try {
        if (VIA_PROXY) proxy = await startCountingProxy(s3.endpoint);
        const counter = {
          endpoint: proxy ? proxy.endpoint : s3.endpoint,
          reset: async () => {
            await s3.reset();
            proxy?.reset();
          },
          stats: async () => {
            const server = await s3.stats();
            if (!proxy) return { ...server, countedBy: 'server' };
            const wire = proxy.stats();
            return { ...wire, countedBy: 'proxy', server: { requests: server.requests, bytesUp: server.bytesUp } };
          },
        };
        return await fn({ s3, dir, ...counter });
      } finally {
        await proxy?.close();
        await s3.close();
        // Few large objects: freed now (the next run reuses the blocks, as storage's dd/cp do).
        // Many small objects (3 files each in s3rver) stay until the run's work folder is removed:
        // creating many files right after deleting many is slow on this disk.
        if (!keepDir) {
          rmSync(dir, { recursive: true, force: true });
          rmSync(`${dir}.rclone.conf`, { force: true });
        }
      }
    };

    const cairn = (args) => [process.execPath, cli, ...args];
    /** A fresh workspace with the versions added (untimed setup: chunking and packing happen here). */
    let wsSerial = 0;
    const setupWorkspace = async (name, versions) => {
      const ws = path.join(ctx.work, `cairn-${name}-${wsSerial++}`);
      await mustRun([process.execPath, cli, 'init', ws, '--json'], { env: CAIRN_ENV });
      const adds = [];
      for (const src of versions) {
        const r = await mustRun(cairn(['data', 'add', src, '--name', name, '--json']), {
          cwd: ws,
          env: CAIRN_ENV,
          timeoutMs: TIMEOUT_MS,
        });
        const j = parseLastJson(r.stdout);
        adds.push({
          ref: j.ref,
          files: j.files,
          bytes: j.bytes,
          newBytes: j.newBytes,
          newChunks: j.newChunks,
          packs: j.packs,
          wallS: r.wallS,
          peakRssKiB: r.peakRssKiB,
        });
      }
      const config = JSON.parse(readFileSync(path.join(ws, '.cairn', 'config.json'), 'utf8'));
      return { ws, adds, packSizeMiB: config.storage?.pack_size_mib ?? null, store: packStats(ws) };
    };

    /** Untimed check: every local pack is on the server, same size, and its bytes match the sha256 it was stored with. */
    const verifyCairn = async (dir, ws) => {
      const local = new Map(localPacks(ws).map((p) => [p.key, p.size]));
      const stored = storedObjects(dir, BUCKET, 'cairn').filter((o) => o.key.startsWith('packs/'));
      const problems = [];
      for (const [key, size] of local) {
        const o = stored.find((x) => x.key === key);
        if (!o) problems.push(`${key} missing`);
        else if (o.size !== size) problems.push(`${key}: ${o.size} B stored, ${size} B local`);
        else if (o.metadata['x-amz-meta-sha256'] !== (await sha256File(o.file)))
          problems.push(`${key}: content does not match its sha256`);
      }
      return {
        objects: stored.length,
        bytes: stored.reduce((n, o) => n + o.size, 0),
        ok: problems.length === 0,
        problems: problems.slice(0, 5),
      };
    };

    /** Untimed check of rclone's copy: every source file stored with its size; sha256 of one file when given. */
    const verifyRclone = async (dir, src, expectSha) => {
      const stored = storedObjects(dir, BUCKET, 'rclone');
      const problems = [];
      const files = listFiles(src);
      const byKey = new Map(stored.map((o) => [o.key, o]));
      for (const f of files) {
        const o = byKey.get(f.key);
        if (!o) problems.push(`${f.key} missing`);
        else if (o.size !== f.size) problems.push(`${f.key}: ${o.size} B stored, ${f.size} B`);
      }
      if (expectSha && !problems.length) {
        const o = byKey.get(files[0].key);
        if ((await sha256File(o.file)) !== expectSha) problems.push(`${files[0].key}: content differs`);
      }
      return {
        objects: stored.length,
        bytes: stored.reduce((n, o) => n + o.size, 0),
        ok: problems.length === 0,
        problems: problems.slice(0, 5),
      };
    };

    /**
     * One Cairn repetition: a fresh workspace with v1 and v2 added (untimed), then push <name>@v1
     * to a fresh server, then `push` (v2's new packs). Fresh workspaces keep the repetitions
     * identical: a push also uploads the workspace's audit log, which grows with every command.
     */
    const cairnPushes = (name, versions, keepDir) => async () => {
      const setup = await setupWorkspace(name, versions);
      const ws = setup.ws;
      try {
        return await withServer(`cairn-${name}`, keepDir, async ({ s3, dir, endpoint, reset, stats }) => {
          await mustRun(
            cairn(['remote', 'add', 'origin', `s3://${BUCKET}/cairn`, '--endpoint', endpoint, '--force', '--json']),
            { cwd: ws, env: CAIRN_ENV },
          );
          await settle([path.join(ws, '.cairn', 'objects')]);
          await reset();
          const p1 = await runTimed(
            cairn(['push', `${name}@v1`, '--json']),
            { cwd: ws, env: CAIRN_ENV, timeoutMs: TIMEOUT_MS },
            s3,
          );
          const w1 = await stats();
          if (!p1.ok) throw failure(`cairn push ${name}@v1`, p1);
          const j1 = parseLastJson(p1.stdout);
          await settle([]);
          await reset();
          const p2 = await runTimed(cairn(['push', '--json']), { cwd: ws, env: CAIRN_ENV, timeoutMs: TIMEOUT_MS }, s3);
          const w2 = await stats();
          if (!p2.ok) throw failure(`cairn push (${name}@v2)`, p2);
          const j2 = parseLastJson(p2.stdout);
          return {
            wallS: p1.wallS,
            peakRssKiB: Math.max(p1.peakRssKiB ?? 0, p2.peakRssKiB ?? 0) || null,
            cpuS: p1.cpuS,
            otherCpuS: p1.otherCpuS,
            requests: w1.requests,
            first: {
              ...runFigures(p1, w1),
              versions: j1.versions,
              packs: j1.packs,
              bytesSent: j1.bytesSent,
              audit: j1.audit,
            },
            second: {
              ...runFigures(p2, w2),
              versions: j2.versions,
              packs: j2.packs,
              bytesSent: j2.bytesSent,
              audit: j2.audit,
            },
            verified: await verifyCairn(dir, ws),
            setup: { ...setup, ws: path.relative(ctx.work, ws) },
          };
        });
      } finally {
        // a workspace is a few pack files and a database: cheap to delete
        rmSync(ws, { recursive: true, force: true });
      }
    };

    /** One rclone repetition: copy `src` to a fresh server, then (if given) `src2` to the same place. */
    const rcloneCopies =
      (tag, src, src2, keepDir, expectSha = null) =>
      () =>
        withServer(`rclone-${tag}`, keepDir, async ({ s3, endpoint, reset, stats, dir }) => {
          const confFile = `${dir}.rclone.conf`;
          writeRcloneConfig(confFile, endpoint);
          await settle([src]);
          await reset();
          const r1 = await runTimed(
            rcloneCopyArgv(confFile, src, BUCKET, 'rclone'),
            { env: rcloneEnv(), timeoutMs: TIMEOUT_MS },
            s3,
          );
          const w1 = await stats();
          if (!r1.ok) throw failure('rclone copy', r1);
          const out = {
            wallS: r1.wallS,
            peakRssKiB: r1.peakRssKiB,
            cpuS: r1.cpuS,
            otherCpuS: r1.otherCpuS,
            requests: w1.requests,
            first: runFigures(r1, w1),
          };
          if (src2) {
            await settle([src2]);
            await reset();
            const r2 = await runTimed(
              rcloneCopyArgv(confFile, src2, BUCKET, 'rclone'),
              { env: rcloneEnv(), timeoutMs: TIMEOUT_MS },
              s3,
            );
            const w2 = await stats();
            if (!r2.ok) throw failure('rclone copy (v2)', r2);
            out.second = runFigures(r2, w2);
            out.peakRssKiB = Math.max(r1.peakRssKiB ?? 0, r2.peakRssKiB ?? 0) || null;
          }
          out.verified = await verifyRclone(dir, src2 ?? src, expectSha);
          return out;
        });

    const measure = async (label, fn) => {
      log(`transfer: ${label} …`);
      const m = await repeat(
        ctx.repeat,
        async (l, isWarm) => {
          const r = await fn();
          const busy = r.otherCpuS != null && r.otherCpuS > 0.05 * r.wallS * CORES;
          log(
            `transfer: ${label}: ${r.wallS.toFixed(2)} s${isWarm ? ' (warm-up)' : ''}, ${r.requests} requests, CPU ${r.cpuS?.toFixed(1) ?? '?'} s (server ${r.first.serverCpuS?.toFixed(1) ?? '?'} s), peak RSS ${r.peakRssKiB ? `${Math.round(r.peakRssKiB / 1024)} MiB` : '?'}${busy ? ` — other processes used ${r.otherCpuS.toFixed(1)} CPU-s meanwhile` : ''}`,
          );
          return r;
        },
        opts,
      );
      if (m.error) log(`transfer: ${label} failed: ${m.error.message}`);
      return m;
    };

    // a. small files
    const S = data.small;
    results.small = {};
    if (runCairn) {
      results.small.cairn = await measure(
        `cairn push of ${S.files} small files (fresh workspace each time: data add of small/v1 and small/v2 untimed)`,
        cairnPushes('small', [S.v1, S.v2], true),
      );
      results.small.setup = results.small.cairn.runs[0]?.setup ?? null;
    }
    if (runRclone)
      results.small.rclone = await measure(
        `rclone copy of ${S.files} small files`,
        rcloneCopies('small', S.v1, null, true),
      );

    // b. the big file
    const B = data.big;
    results.big = {};
    if (runCairn) {
      results.big.cairn = await measure(
        `cairn push of the ${fmtBytes(B.bytes)} file, then of its 1 %-changed version (fresh workspace each time: data add of both untimed)`,
        cairnPushes('big', [B.v1, B.v2], false),
      );
      results.big.setup = results.big.cairn.runs[0]?.setup ?? null;
    }
    if (runRclone)
      results.big.rclone = await measure(
        `rclone copy of the ${fmtBytes(B.bytes)} file (+ copy of its 1 %-changed version)`,
        rcloneCopies('big', B.v1, B.v2, false, B.v2Sha256),
      );

    return {
      results,
      rows: buildRows(results, ctx),
      details: detailRows(results),
      notes: notes(results, ctx, { runRclone }),
    };
  },
};

// ---------------------------------------------------------------------------------------------
// rows, details, notes

const num = (x) => (typeof x === 'number' && Number.isFinite(x) ? x : null);
const fmtS = (x) => (num(x) == null ? '—' : `${x.toFixed(2)} s`);
const fmtX = (x) => (num(x) == null ? '—' : `${x.toFixed(2)}×`);
const fmtMiB = (k) => (num(k) == null ? '—' : `${Math.round(k / 1024)} MiB`);
const fmtN = (x) => (num(x) == null ? '—' : Number(x).toLocaleString('en-US'));
function fmtBytes(b) {
  if (num(b) == null) return '—';
  if (b >= 2 ** 30) return `${(b / 2 ** 30).toFixed(2).replace(/\.00$/, '')} GiB`;
  if (b >= MiB) return `${(b / MiB).toFixed(2).replace(/\.00$/, '')} MiB`;
  if (b >= 1024) return `${(b / 1024).toFixed(1)} KiB`;
  return `${b} B`;
}
const medianOf = (m, f) => median((m?.runs ?? []).map(f));

function verdict(v, ok, err) {
  if (err) return 'error';
  if (num(v) == null) return 'n/a';
  return ok(v) ? 'pass' : 'FAIL';
}

function buildRows(r, ctx) {
  const rows = [];
  const scaled = ctx.scale !== 1 ? ' (scaled run)' : '';
  const S = r.data.small;
  const B = r.data.big;
  const sc = r.small?.cairn;
  const sr = r.small?.rclone;

  // a. small files: time and requests
  const cS = sc?.wallS;
  const rS = sr?.wallS;
  rows.push({
    id: 'small-time',
    metric: `push of a ${fmtN(S.files)}-small-file version (${(S.bytes / 1e6).toFixed(1)} MB) to S3: rclone copy ÷ cairn push, wall time`,
    cairn: num(cS) == null ? '—' : `${fmtS(cS)} (${fmtN(Math.round(S.files / cS))} files/s)`,
    peer: num(rS) == null ? '—' : `rclone ${fmtS(rS)} (${fmtN(Math.round(S.files / rS))} files/s)`,
    ratio: cS && rS ? fmtX(rS / cS) : '—',
    target: `≥ 5× faster${scaled}`,
    pass: verdict(cS && rS ? rS / cS : null, (x) => x >= 5, sc?.error || sr?.error),
  });
  const cQ = medianOf(sc, (x) => x.first.wire.requests);
  const rQ = medianOf(sr, (x) => x.first.wire.requests);
  rows.push({
    id: 'small-requests',
    metric: `push of the ${fmtN(S.files)}-file version: HTTP requests, rclone ÷ Cairn`,
    cairn: fmtN(cQ),
    peer: num(rQ) == null ? '—' : `rclone ${fmtN(rQ)}`,
    ratio: cQ && rQ ? `${fmtX(rQ / cQ)} fewer` : '—',
    target: `≥ 50× fewer${scaled}`,
    pass: verdict(cQ && rQ ? rQ / cQ : null, (x) => x >= 50, sc?.error || sr?.error),
  });

  // b. the big file: throughput
  const bc = r.big?.cairn;
  const br = r.big?.rclone;
  const cB = bc?.wallS;
  const rB = br?.wallS;
  rows.push({
    id: 'big-throughput',
    metric: `push of a ${fmtBytes(B.bytes)} version (one file): Cairn throughput ÷ rclone copy throughput`,
    cairn: num(cB) == null ? '—' : `${(B.bytes / MiB / cB).toFixed(1)} MiB/s (${fmtS(cB)})`,
    peer: num(rB) == null ? '—' : `rclone ${(B.bytes / MiB / rB).toFixed(1)} MiB/s (${fmtS(rB)})`,
    ratio: cB && rB ? fmtX(rB / cB) : '—',
    target: `≥ 0.9×${scaled}`,
    pass: verdict(cB && rB ? rB / cB : null, (x) => x >= 0.9, bc?.error || br?.error),
  });

  // b. 1 %-changed version: bytes sent vs the real change
  const sent = medianOf(bc, (x) => x.second.bytesSent);
  const rRe = medianOf(br, (x) => x.second?.wire.bytesUp);
  const stored = r.big?.setup?.adds?.[1]?.newBytes;
  rows.push({
    id: 'delta-big',
    metric: `push after a 1 %-changed version of the ${fmtBytes(B.bytes)} file (${fmtN(B.overwrittenBytes)} bytes overwritten in 5 places): bytesSent ÷ real change`,
    cairn: num(sent) == null ? '—' : `${fmtBytes(sent)} (${fmtN(sent)} B; v2's \`data add\` stored ${fmtN(stored)} B)`,
    peer: num(rRe) == null ? '—' : `rclone re-sends ${fmtBytes(rRe)} (${fmtX(rRe / B.overwrittenBytes)})`,
    ratio: num(sent) == null ? '—' : fmtX(sent / B.overwrittenBytes),
    target: `≤ 1.5×${scaled}`,
    pass: verdict(num(sent) == null ? null : sent / B.overwrittenBytes, (x) => x <= 1.5, bc?.error),
  });
  const sSent = medianOf(sc, (x) => x.second.bytesSent);
  const sStored = r.small?.setup?.adds?.[1]?.newBytes;
  rows.push({
    id: 'delta-small',
    metric: `push after a 1 %-changed version of the small files (${fmtN(S.changedFiles)} files rewritten, ${fmtN(S.changedBytes)} bytes): bytesSent ÷ changed files' bytes`,
    cairn:
      num(sSent) == null
        ? '—'
        : `${fmtBytes(sSent)} (${fmtN(sSent)} B; v2's \`data add\` stored ${fmtN(sStored)} B, new trees included)`,
    peer: '—',
    ratio: num(sSent) == null ? '—' : fmtX(sSent / S.changedBytes),
    target: 'info',
    pass: sc?.error ? 'error' : num(sSent) == null ? 'n/a' : 'info',
  });

  // c. peak RSS of every cairn push
  const allPushRss = [
    ...(sc?.runs ?? []).flatMap((x) => [x.first.peakRssKiB, x.second.peakRssKiB]),
    ...(bc?.runs ?? []).flatMap((x) => [x.first.peakRssKiB, x.second.peakRssKiB]),
  ];
  const rssMax = max(allPushRss);
  const bigRss = max((bc?.runs ?? []).map((x) => x.first.peakRssKiB));
  rows.push({
    id: 'push-rss',
    metric: `peak RSS of \`cairn push\` (largest over every push; the ${fmtBytes(B.bytes)} push: ${fmtMiB(bigRss)})`,
    cairn: fmtMiB(rssMax),
    peer: `rclone ${fmtMiB(max([sr?.peakRssKiB, br?.peakRssKiB]))}`,
    ratio: '—',
    target: `< 300 MiB${ctx.scale !== 1 ? ` (scaled run: a ${fmtBytes(B.bytes)} version)` : ''}`,
    pass: verdict(rssMax, (x) => x < 300 * 1024, sc?.error && bc?.error),
  });
  return rows;
}

function detailRows(r) {
  const d = [];
  const kinds = (w) =>
    Object.entries(w?.byKind ?? {})
      .sort((a, b) => b[1] - a[1])
      .map(([k, n]) => `${k} ${fmtN(n)}`)
      .join(', ');
  const cpu = (x) =>
    `CPU ${fmtS(x.cpuS)}, server (s3rver) ${fmtS(x.serverCpuS)}${x.wire?.countedBy === 'proxy' ? `, proxy ${fmtS(x.harnessCpuS)}` : ''}${num(x.otherCpuS) != null ? `, other processes ${x.otherCpuS.toFixed(1)} CPU-s` : ''}`;
  const add = (tool, what, m, pick, extra) => {
    if (!m) return;
    if (m.error) {
      d.push({ tool, what, time: `error: ${m.error.message.slice(0, 400)}`, rss: '—', more: '' });
      return;
    }
    const runs = (m.runs ?? []).map(pick).filter(Boolean);
    if (!runs.length) return;
    const first = runs[0];
    d.push({
      tool,
      what,
      time: fmtS(median(runs.map((x) => x.wallS))),
      rss: fmtMiB(max(runs.map((x) => x.peakRssKiB))),
      more: `${extra ? `${extra(first)}; ` : ''}${fmtN(first.wire.requests)} requests (${kinds(first.wire)}), ${fmtN(first.wire.bytesUp)} B up, ${fmtN(first.wire.bytesDown)} B down, ≤ ${first.wire.maxInFlight} in flight; ${cpu(first)}; runs ${runs.map((x) => x.wallS.toFixed(2)).join(', ')} s`,
    });
  };
  const S = r.data.small;
  const B = r.data.big;
  const cairnExtra = (x) => `packs ${x.packs.sent} sent / ${x.packs.needed} needed, bytesSent ${fmtN(x.bytesSent)}`;
  add('cairn', `push small@v1 (${fmtN(S.files)} files)`, r.small?.cairn, (x) => x.first, cairnExtra);
  add('rclone', `copy small/v1 (${fmtN(S.files)} files)`, r.small?.rclone, (x) => x.first);
  add('cairn', 'push small@v2 (1 % of the files rewritten)', r.small?.cairn, (x) => x.second, cairnExtra);
  add('cairn', `push big@v1 (${fmtBytes(B.bytes)})`, r.big?.cairn, (x) => x.first, cairnExtra);
  add('rclone', `copy big/v1/big.bin (${fmtBytes(B.bytes)})`, r.big?.rclone, (x) => x.first);
  add('cairn', 'push big@v2 (1 % overwritten)', r.big?.cairn, (x) => x.second, cairnExtra);
  add('rclone', 'copy big/v2/big.bin over it (context)', r.big?.rclone, (x) => x.second);
  for (const [set, label] of [
    ['small', 'small'],
    ['big', 'big'],
  ]) {
    const s = r[set]?.setup;
    if (!s) continue;
    d.push({
      tool: 'cairn',
      what: `setup (untimed): data add of ${label} v1, v2`,
      time: s.adds.map((a) => fmtS(a.wallS)).join(', '),
      rss: fmtMiB(max(s.adds.map((a) => a.peakRssKiB))),
      more: `${s.adds.map((a) => `${a.ref}: newBytes ${fmtN(a.newBytes)}, ${a.packs} pack(s)`).join('; ')}; store ${s.store.files} packs, ${fmtN(s.store.bytes)} B; pack size ${s.packSizeMiB} MiB`,
    });
  }
  return d;
}

function sanity(r) {
  const w = [];
  const S = r.data.small;
  const B = r.data.big;
  for (const [set, m] of [
    ['small', r.small?.cairn],
    ['big', r.big?.cairn],
  ]) {
    for (const x of m?.runs ?? []) {
      if (x.first.packs.skipped !== 0 || x.first.packs.sent !== x.first.packs.needed)
        w.push(`WARNING: cairn push ${set}@v1 to a fresh server skipped packs (${JSON.stringify(x.first.packs)}).`);
      for (const p of [x.first, x.second])
        if (p.wire.bytesUp < p.bytesSent)
          w.push(
            `WARNING: cairn push (${set}) reported bytesSent ${p.bytesSent} but the ${p.wire.countedBy} counted only ${p.wire.bytesUp} request body bytes.`,
          );
      if (x.second.packs.sent === 0) w.push(`WARNING: cairn push of ${set}@v2 sent no pack.`);
    }
  }
  for (const x of r.small?.rclone?.runs ?? []) {
    const uploads = (x.first.wire.byKind.PutObject ?? 0) + (x.first.wire.byKind.CreateMultipartUpload ?? 0);
    if (uploads < S.files) w.push(`WARNING: rclone copy of small/v1 made ${uploads} uploads for ${S.files} files.`);
  }
  for (const [what, m] of [
    ['small/v1', r.small?.rclone],
    ['big.bin', r.big?.rclone],
  ]) {
    for (const x of m?.runs ?? [])
      for (const p of [x.first, x.second].filter(Boolean))
        if (/ERROR|Attempt \d+\/\d+ failed/.test(p.stderr ?? ''))
          w.push(
            `WARNING: rclone copy of ${what} hit errors and retried (its time and request count include the retry): ${(p.stderr.split('\n').find((l) => /ERROR|Attempt/.test(l)) ?? '').slice(0, 300)}`,
          );
  }
  for (const x of r.big?.rclone?.runs ?? []) {
    if (x.first.wire.bytesUp < B.bytes)
      w.push(
        `WARNING: rclone copy of big.bin sent ${x.first.wire.bytesUp} body bytes, less than the file (${B.bytes}).`,
      );
    if (x.second && x.second.wire.bytesUp < B.bytes)
      w.push(
        `WARNING: rclone copy of big/v2/big.bin sent only ${x.second.wire.bytesUp} body bytes (expected the whole file again).`,
      );
  }
  for (const m of [r.small?.cairn, r.small?.rclone, r.big?.cairn, r.big?.rclone]) {
    for (const x of m?.runs ?? [])
      for (const p of [x.first, x.second].filter(Boolean))
        if (p.wire.errors || Object.keys(p.wire.byStatus).some((c) => Number(c) >= 500))
          w.push(
            `WARNING: a run saw errors or 5xx answers: ${JSON.stringify(p.wire.byStatus)}, ${p.wire.errors} errors counted by the ${p.wire.countedBy} (${p.argv?.slice(1, 4).join(' ')}).`,
          );
  }
  for (const [what, m] of [
    ['cairn push small', r.small?.cairn],
    ['rclone copy small/v1', r.small?.rclone],
    ['cairn push big', r.big?.cairn],
    ['rclone copy big.bin', r.big?.rclone],
  ]) {
    for (const x of m?.runs ?? [])
      if (x.verified && !x.verified.ok)
        w.push(`WARNING: ${what}: the server's copy is wrong: ${x.verified.problems.join('; ')}.`);
  }
  for (const m of [r.small?.cairn, r.small?.rclone, r.big?.cairn, r.big?.rclone]) {
    for (const x of m?.runs ?? [])
      for (const p of [x.first, x.second].filter(Boolean))
        if (p.wire.server && (p.wire.server.requests !== p.wire.requests || p.wire.server.bytesUp !== p.wire.bytesUp))
          w.push(
            `WARNING: the proxy and the server disagree: proxy ${p.wire.requests} requests / ${p.wire.bytesUp} B up, server ${p.wire.server.requests} / ${p.wire.server.bytesUp} (${p.argv?.slice(1, 4).join(' ')}).`,
          );
  }
  return [...new Set(w)];
}

function notes(r, ctx, { runRclone }) {
  const n = [];
  const S = r.data.small;
  const B = r.data.big;
  const t = r.tools;
  const packMiB = r.small?.setup?.packSizeMiB ?? r.big?.setup?.packSizeMiB ?? 32;
  n.push(
    `Server: s3rver ${t.s3rver} (node ${t.node}, \`--openssl-legacy-provider\`, one child process, objects stored as files under bench/.work/…/transfer/s3/), a fresh server and bucket \`${BUCKET}\` per repetition, on 127.0.0.1, path-style. ${
      r.countedBy === 'proxy'
        ? "CAIRN_BENCH_S3_PROXY=1: both tools reached it through the counting HTTP proxy in the benchmark process (node:http, bodies streamed with pipe(), keep-alive upstream, Host header kept so SigV4 signatures stay valid); the counts are the proxy's, the server's own request count is kept alongside in the JSON. The proxy's CPU (Measurements) slows the side that makes more requests."
        : "The counts are the server's: its first middleware counts every request it receives (by S3 operation and status; request body bytes from Content-Length; response body bytes, error bodies excluded), so nothing sits between the tools and the server. (CAIRN_BENCH_S3_PROXY=1 counts in a proxy instead; both give the same request and upload-byte counts, but the proxy's ~0.2 ms of CPU per request slowed rclone's many-request copy by 15–30 % on 2 cores.)"
    } s3rver's CPU is reported separately (Measurements) and is not part of "other processes".`,
  );
  n.push(
    `Data (bench/transfer/data.mjs, bench/.data/transfer/scale-${r.data.scale}/): small/v1 = ${fmtN(S.files)} files in ${S.dirs} folders, ${fmtN(S.bytes)} bytes (${S.minBytes}–${S.maxBytes} B, log-uniform, median ${fmtN(S.medianBytes)} B; ${S.kinds.json} JSON, ${S.kinds.csv} CSV, ${S.kinds.bin} binary), every file unique; small/v2 = ${fmtN(S.changedFiles)} of them rewritten (same sizes, ${fmtN(S.changedBytes)} bytes), the rest hard links. big/v1/big.bin = ${fmtN(B.bytes)} incompressible bytes; big/v2/big.bin = the same with ${fmtN(B.overwrittenBytes)} bytes (1 %) overwritten in 5 regions at odd offsets (${fmtN(B.differingBytes)} of them differ) — that overwritten count is the "real change".`,
  );
  n.push(
    `Cairn (${t.cairnCli}): every repetition starts a fresh workspace and adds v1 and v2 (\`data add\`, untimed setup) — that is where files are chunked (FastCDC), hashed and packed into ${packMiB} MiB packs. What is timed is \`cairn push <name>@v1 --json\` to the fresh server: read the remote descriptor (absent → written), its state (absent), list packs/ (ListObjectsV2), upload the missing packs (${packMiB} MiB packs as multipart uploads of 8 MiB parts, 4 parts in flight per pack, --jobs 4 packs at a time, the default; each part sent with Content-MD5 and the object with its sha256), write meta/state.json, then export and upload the workspace's audit log as a self-verifying bundle plus files.json, and write the state again. The second push (\`cairn push --json\`, all versions) lists packs/ and sends only v2's new pack(s). bytesSent is Cairn's own figure (sizes of the packs sent); "B up" (request bodies received by the server) also counts metadata, the audit bundle and multipart XML.`,
  );
  n.push(
    runRclone
      ? `rclone: ${t.rclone}, Debian package, its default settings (--transfers 4, --checkers 8; S3 upload_cutoff 200 MiB, chunk_size 5 MiB, upload_concurrency 4; a HEAD after every upload to verify it, as without --s3-no-head), config in a file of its own (type s3, provider Other, env_auth false, region ${S3_CREDENTIALS.region}, endpoint = the server${r.countedBy === 'proxy' ? ' (via the proxy)' : ''}, force_path_style true; Cairn gets the same endpoint with \`remote add --endpoint\`). \`rclone copy small/v1 bench:${BUCKET}/rclone\` and \`rclone copy big/v1/big.bin bench:${BUCKET}/rclone\`; for context, \`rclone copy big/v2/big.bin\` to the same place afterwards (it has no delta transfer: it re-sends the whole file). rclone uploads the files as they are (no chunking or packing step before).`
      : "rclone: not run (not installed — scripts/install-bench-peers.sh installs Debian's rclone — or --skip-peers / --peers without rclone); its rows are n/a.",
  );
  n.push(
    "Throughput = the version's bytes ÷ the whole command's wall time (process start-up, listing, metadata and, for Cairn, the audit bundle included). Warm cache: before each timed command the harness runs `sync` and reads the inputs once (Cairn: the workspace's packs; rclone: the source files). Both tools write through the same single-threaded s3rver, which stores every object on this disk (multipart parts first, then the assembled object), so the server is a large part of every timing; the tool and s3rver share the machine's CPUs.",
  );
  n.push(
    "Peak RSS: GNU time %M of each `cairn push` process (both pushes of every repetition); the target is about the largest version. The RSS row's peer is rclone's largest, for context. After each repetition (untimed) the suite checks what the server stored: every Cairn pack present, same size, bytes matching the sha256 it was uploaded with; every rclone file present with its size, and the big file's sha256 (a WARNING otherwise).",
  );
  const B2 = r.big?.setup?.adds?.[1];
  const sent = medianOf(r.big?.cairn, (x) => x.second.bytesSent);
  if (B2 && num(sent) != null) {
    const extra = sent - B.overwrittenBytes;
    n.push(
      `1 %-changed big file: push sends exactly the pack(s) v2's \`data add\` wrote (bytesSent ${fmtN(sent)} B vs newBytes ${fmtN(B2.newBytes)} B; the difference is pack framing). Beyond the ${fmtN(B.overwrittenBytes)} overwritten bytes that is ${fmtN(extra)} B, ≈ ${fmtBytes(extra / B.regions.length)} per changed region: the partly changed chunks at both ends of each region (FastCDC 32/128/512 KiB, mean ≈ 146 KiB) go too. That overhead is per region, not per byte, so the ratio falls as the regions grow: a scaled run (regions of ${fmtN(B.regions[0].length)} B here) shows a higher ratio than scale 1 (regions of ~2.1 MB).`,
    );
  }
  const S2 = r.small?.setup?.adds?.[1];
  if (S2) {
    n.push(
      `1 %-changed small files (info row): v2's \`data add\` stored ${fmtN(S2.newBytes)} B for ${fmtN(S.changedBytes)} B of rewritten files: the rest (≈ ${Math.round((S2.newBytes - S.changedBytes) / S.files)} B per file of the version) is the new version's tree objects — every folder holds a changed file, so every folder's listing is new — and push sends them with the chunks. For files of a few KB that is several times 1 % of their bytes, so the target row uses the big file and this row shows the small-file case for information.`,
    );
  }
  const aud = r.small?.cairn?.runs?.[0]?.first;
  if (aud?.audit) {
    n.push(
      `Audit bundle: each repetition uses a fresh workspace (init, two \`data add\`, \`remote add\`), so its audit log holds ${aud.audit.size} entries at the first push; most of that push's ${aud.wire.byKind.PutObject ?? 0} PutObjects are bundle files (the others: the descriptor, the state twice, packs under 8 MiB). Push re-uploads the whole bundle every time, with one checkpoint file per log entry, so a workspace with many recorded commands makes that many more requests per push (a manual check: 4 entries → 21 requests, 108 entries → 125, for the same 400-file version) — not part of these rows.`,
    );
  }
  const busy = [];
  for (const [label, m] of [
    ['small/cairn', r.small?.cairn],
    ['small/rclone', r.small?.rclone],
    ['big/cairn', r.big?.cairn],
    ['big/rclone', r.big?.rclone],
  ]) {
    for (const x of m?.runs ?? [])
      for (const p of [x.first, x.second].filter(Boolean))
        if (p.otherCpuS > 0.05 * p.wallS * CORES)
          busy.push(`${label} ${p.wallS.toFixed(1)} s run: ${p.otherCpuS.toFixed(1)} CPU-s`);
  }
  n.push(
    busy.length
      ? `WARNING: other processes used more than 5 % of the machine during ${busy.length} timed commands (${busy.join('; ')}): those timings are inflated; rerun on an idle machine.`
      : "No timed command was disturbed: other processes used under 5 % of the machine (busy CPU from /proc/stat minus the command's own, s3rver's and the benchmark process') during every one.",
  );
  n.push(...sanity(r));
  if (ctx.scale !== 1)
    n.push(
      `Scaled run (--scale ${ctx.scale}): ${fmtN(S.files)} small files, a ${fmtBytes(B.bytes)} big file; the targets are defined at scale 1, and fixed costs (process start-up, the audit bundle, listing) weigh more here.`,
    );
  return n;
}
