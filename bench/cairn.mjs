// The Cairn side of the storage benchmark: drives the CLI exactly as a user would,
// `node <repo>/bin/cairn.js <args>` (override with CAIRN_BENCH_CLI=/path/to/cairn.js), inside
// fresh workspaces created with `cairn init <dir>` under bench/.work/<timestamp>/.
//
// CLI contract relied on:
//   cairn init <dir>                                        -> <dir>/.cairn/
//   cairn data add <path> --name <ds> -m <msg> --json       -> { ref, dataset, version, digest, files,
//                                                               bytes, newBytes, newChunks, packs, unchanged }
//   cairn data status <path> --name <ds> --json             -> { dataset, base, added, removed, modified,
//                                                               unchanged, clean }
//   cairn data checkout <ref> <dir> --json                  -> materializes the version into <dir>
//   object store: <workspace>/.cairn/objects/ (packs/<2 hex>/<64 hex>.pack)
//
// Like the peers, every repeated scenario starts with `warmup` (default 1) untimed repetitions.
// Scenarios (each records { error } and the run goes on when the CLI is missing or a command fails):
//   a addBig      add big.bin (durable) into a fresh workspace            -> time
//   b addMod      add big-mod.bin as the next version of the same path    -> newBytes vs real change
//   c addSmall    add small/ into a fresh workspace                       -> time, files/s, packs created
//   d statusSmall status of the unchanged small tree (5+ runs)            -> min, median
//   e readdSmall  re-add of the unchanged small tree                      -> time, newBytes (must be 0)
//   f checkoutBig checkout big@v1 to a fresh dir                          -> time (and content check)
//   g add10g      add big10.bin (only --with-10g)                         -> peak RSS

import path from 'node:path';
import { existsSync } from 'node:fs';
import { mkdir, copyFile, readdir, rm, open } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { runCmd, settle, du, median, min, max, CommandError, errorInfo, brief, tail } from './lib/measure.mjs';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEFAULT_CLI = path.join(REPO_ROOT, 'bin', 'cairn.js');

export function cliPath() {
  return process.env.CAIRN_BENCH_CLI ? path.resolve(process.env.CAIRN_BENCH_CLI) : DEFAULT_CLI;
}

/** null when the CLI looks runnable, else the reason it is not. */
export function cliProblem() {
  const cli = cliPath();
  if (!existsSync(cli)) return `cairn CLI not found at ${cli}`;
  if (cli === DEFAULT_CLI && !existsSync(path.join(REPO_ROOT, 'dist', 'cli', 'main.js')))
    return 'cairn CLI not built: dist/cli/main.js missing (run `npm run build`)';
  return null;
}

const CAIRN_ENV = { NO_COLOR: '1', CAIRN_NO_UPDATE_CHECK: '1' };

/** Runs `cairn <args>`; throws CommandError on failure. */
async function cairn(args, cwd, { timeoutMs } = {}) {
  const r = await runCmd([process.execPath, cliPath(), ...args], { cwd, env: CAIRN_ENV, timeoutMs });
  if (!r.ok) throw new CommandError(r);
  return r;
}

/** The JSON object printed by a --json command (whole stdout, else the last line that parses). */
export function parseJson(stdout) {
  const s = stdout.trim();
  try {
    return JSON.parse(s);
  } catch {
    for (const line of s.split('\n').reverse()) {
      try {
        const j = JSON.parse(line);
        if (j && typeof j === 'object') return j;
      } catch {
        /* not JSON */
      }
    }
  }
  throw new Error(`expected JSON on stdout, got: ${tail(s, 500)}`);
}

async function timedJson(args, cwd, opts) {
  const r = await cairn(args, cwd, opts);
  let json = null;
  let parseError = null;
  try {
    json = parseJson(r.stdout);
  } catch (e) {
    parseError = e.message;
  }
  return { ...brief(r), json, ...(parseError ? { parseError } : {}) };
}

async function initWorkspace(ws) {
  if (existsSync(ws)) await rm(ws, { recursive: true, force: true });
  await mkdir(path.dirname(ws), { recursive: true });
  const r = await cairn(['init', ws], path.dirname(ws));
  if (!existsSync(path.join(ws, '.cairn'))) throw new Error(`cairn init ${ws} did not create ${ws}/.cairn`);
  return brief(r);
}

async function store(ws) {
  const objects = path.join(ws, '.cairn', 'objects');
  const all = await du(objects);
  const packs = await countPacks(path.join(objects, 'packs'));
  return { files: all.files, bytes: all.bytes, packs: packs.files, packBytes: packs.bytes };
}

async function countPacks(dir) {
  let files = 0;
  let bytes = 0;
  if (!existsSync(dir)) return { files, bytes };
  const s = await du(dir);
  // count only *.pack files
  for (const sub of await readdir(dir, { withFileTypes: true })) {
    if (!sub.isDirectory()) continue;
    for (const f of await readdir(path.join(dir, sub.name))) if (f.endsWith('.pack')) files++;
  }
  bytes = s.bytes;
  return { files, bytes };
}

function storeDelta(before, after) {
  return {
    files: after.files - before.files,
    bytes: after.bytes - before.bytes,
    packs: after.packs - before.packs,
  };
}

async function sha256File(file) {
  const fh = await open(file, 'r');
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(4 << 20);
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (!bytesRead) break;
      h.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return h.digest('hex');
}

async function findFiles(dir) {
  const out = [];
  const walk = async (d) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  if (existsSync(dir)) await walk(dir);
  return out;
}

function err(e) {
  return { error: errorInfo(e) };
}

function summarize(reps, pickWall = (r) => r.wallS) {
  const walls = reps.map(pickWall);
  return { n: reps.length, wallS: median(walls), minS: min(walls), maxS: max(walls) };
}

// ---------------------------------------------------------------------------------------------

/** Scenarios a, b, f: one fresh workspace per repetition. */
async function bigScenarios(data, work, opts) {
  const reps = [];
  let error = null;
  const warmup = opts.warmup ?? 1;
  for (let i = 0; i < warmup + (opts.repeat ?? 3); i++) {
    const ws = path.join(work, `big-${i}`);
    // the first `warmup` repetitions are untimed warm-ups (see repeat() in lib/measure.mjs)
    const rep = { warmup: i < warmup };
    reps.push(rep);
    try {
      rep.init = await initWorkspace(ws);
      const dataDir = path.join(ws, 'data');
      await mkdir(dataDir, { recursive: true });
      const rel = path.join('data', 'big.bin');
      const file = path.join(ws, rel);
      // (a) the working copy is a real copy (Cairn may treat its inputs as it likes)
      await copyFile(data.big.path, file);
      let before = await store(ws);
      await settle([file]);
      const a = await timedJson(['data', 'add', rel, '--name', 'big', '-m', 'v1', '--json'], ws);
      rep.addBig = { ...a, store: storeDelta(before, await store(ws)) };

      // (b) same path, new content
      try {
        await copyFile(data.bigMod.path, file);
        before = await store(ws);
        await settle([file]);
        const b = await timedJson(
          ['data', 'add', rel, '--name', 'big', '-m', 'v2 (1% changed + 1 MiB inserted)', '--json'],
          ws,
        );
        rep.addMod = { ...b, store: storeDelta(before, await store(ws)) };
      } catch (e) {
        rep.addMod = err(e);
      }

      // (f) checkout of big@v1 into a fresh directory
      try {
        const ref = rep.addBig.json?.ref ?? 'big@v1';
        const co = path.join(ws, `checkout-${i}`);
        await settle([path.join(ws, '.cairn', 'objects')]);
        const f = await timedJson(['data', 'checkout', ref, co, '--json'], ws);
        const files = await findFiles(co);
        let verified = false;
        let bytes = 0;
        if (files.length === 1) {
          verified = (await sha256File(files[0])) === data.big.sha256;
        }
        for (const p of files) bytes += (await du(p)).bytes;
        rep.checkoutBig = { ...f, ref, files: files.length, bytes, verified };
        await rm(co, { recursive: true, force: true });
      } catch (e) {
        rep.checkoutBig = err(e);
      }
    } catch (e) {
      if (!rep.addBig) rep.addBig = err(e);
      error = rep.addBig.error ?? errorInfo(e);
    } finally {
      if (!opts.keepWork) await rm(ws, { recursive: true, force: true });
    }
    // a failing `init` will fail again; a failing add may be intermittent, so keep going
    if (error && !rep.init) break;
  }

  const timed = reps.filter((r) => !r.warmup);
  const ok = (k) => timed.map((r) => r[k]).filter((x) => x && !x.error);
  const firstErr = (k) =>
    reps.map((r) => r[k]).find((x) => x && x.error)?.error ?? (error && k === 'addBig' ? error : null);
  const section = (k, extra) => {
    const good = ok(k);
    const e = firstErr(k);
    if (!good.length) return { error: e ?? error ?? { message: 'not run (an earlier step failed)' } };
    return {
      ...summarize(good),
      peakRssKiB: max(good.map((r) => r.peakRssKiB)),
      ...extra(good),
      ...(e ? { error: e } : {}),
    };
  };
  const addBig = section('addBig', (g) => ({
    bytes: data.big.bytes,
    json: g[0].json,
    newBytes: median(g.map((r) => r.json?.newBytes)),
    storeBytes: median(g.map((r) => r.store.bytes)),
    packsCreated: median(g.map((r) => r.store.packs)),
  }));
  const addMod = section('addMod', (g) => {
    const newBytes = median(g.map((r) => r.json?.newBytes));
    const storeGrowth = median(g.map((r) => r.store.bytes));
    const real = data.bigMod.realChangedBytes;
    return {
      json: g[0].json,
      newBytes,
      storeGrowthBytes: storeGrowth,
      realChangedBytes: real,
      newBytesOverReal: typeof newBytes === 'number' ? newBytes / real : null,
      storeGrowthOverReal: typeof storeGrowth === 'number' ? storeGrowth / real : null,
    };
  });
  const checkoutBig = section('checkoutBig', (g) => ({
    bytes: g[0].bytes,
    verified: g.every((r) => r.verified),
  }));
  const recycled = await bigRecycled(data, work, opts);
  return { addBig, addMod, checkoutBig, ...recycled, bigReps: reps };
}

/**
 * The same add and checkout into recycled disk blocks: the previous repetition's workspace
 * (or checkout) is deleted just before the timed command, as the dd/cp peers delete their
 * previous copy. The fresh-workspace runs above write into never-used blocks instead.
 */
async function bigRecycled(data, work, opts) {
  const adds = [];
  const checkouts = [];
  let prev = null;
  let error = null;
  const n = (opts.warmup ?? 1) + (opts.repeat ?? 3);
  for (let i = 0; i < n; i++) {
    const ws = path.join(work, `recycled-${i}`);
    try {
      await initWorkspace(ws);
      await mkdir(path.join(ws, 'data'), { recursive: true });
      const rel = path.join('data', 'big.bin');
      await copyFile(data.big.path, path.join(ws, rel));
      if (prev) await rm(prev, { recursive: true, force: true });
      prev = ws;
      await settle([path.join(ws, rel)]);
      const a = await timedJson(['data', 'add', rel, '--name', 'big', '-m', 'v1', '--json'], ws);
      const co = path.join(ws, 'checkout');
      await cairn(['data', 'checkout', 'big@v1', co, '--json'], ws);
      await rm(co, { recursive: true, force: true });
      await settle([path.join(ws, '.cairn', 'objects')]);
      const c = await timedJson(['data', 'checkout', 'big@v1', co, '--json'], ws);
      const files = await findFiles(co);
      const verified = files.length === 1 && (await sha256File(files[0])) === data.big.sha256;
      await rm(co, { recursive: true, force: true });
      if (i >= (opts.warmup ?? 1)) {
        adds.push(a);
        checkouts.push({ ...c, verified });
      }
    } catch (e) {
      error = errorInfo(e);
      break;
    }
  }
  if (prev && !opts.keepWork) await rm(prev, { recursive: true, force: true });
  if (error && !adds.length) return { addBigRecycled: { error }, checkoutBigRecycled: { error } };
  return {
    addBigRecycled: { ...summarize(adds), peakRssKiB: max(adds.map((r) => r.peakRssKiB)), blocks: 'recycled' },
    checkoutBigRecycled: {
      ...summarize(checkouts),
      peakRssKiB: max(checkouts.map((r) => r.peakRssKiB)),
      verified: checkouts.every((r) => r.verified),
      blocks: 'recycled',
    },
  };
}

/** Scenarios c, d, e: one fresh workspace per repetition of (c); (d) and (e) on the last one. */
async function smallScenarios(data, work, opts) {
  const n = opts.repeat ?? 3;
  const warmup = opts.warmup ?? 1;
  const adds = [];
  let addError = null;
  let statusSmall = { error: { message: 'not run (add of small/ failed)' } };
  let readdSmall = { error: { message: 'not run (add of small/ failed)' } };
  for (let i = 0; i < warmup + n; i++) {
    const ws = path.join(work, `small-${i}`);
    const last = i === warmup + n - 1;
    try {
      await initWorkspace(ws);
      const before = await store(ws);
      await settle([data.small.path]);
      const c = await timedJson(['data', 'add', data.small.path, '--name', 'small', '-m', 'v1', '--json'], ws);
      if (i >= warmup) adds.push({ ...c, store: storeDelta(before, await store(ws)) });

      if (last) {
        // (d) status of the unchanged tree: at least 5 runs, min and median
        try {
          await settle([data.small.path]);
          const runs = [];
          for (let k = 0; k < Math.max(5, n); k++) {
            runs.push(await timedJson(['data', 'status', data.small.path, '--name', 'small', '--json'], ws));
          }
          const j = runs[0].json;
          statusSmall = {
            ...summarize(runs),
            peakRssKiB: max(runs.map((r) => r.peakRssKiB)),
            clean: runs.every((r) => r.json?.clean === true),
            unchanged: j?.unchanged ?? null,
            expectedUnchanged: data.small.files,
            json: j && { ...j, added: j.added?.length, removed: j.removed?.length, modified: j.modified?.length },
            runs: runs.map((r) => r.wallS),
          };
        } catch (e) {
          statusSmall = err(e);
        }
        // (e) re-add of the unchanged tree
        try {
          const runs = [];
          for (let k = 0; k < n; k++) {
            const b = await store(ws);
            await settle([data.small.path]);
            const r = await timedJson(
              ['data', 'add', data.small.path, '--name', 'small', '-m', 're-add', '--json'],
              ws,
            );
            runs.push({ ...r, store: storeDelta(b, await store(ws)) });
          }
          readdSmall = {
            ...summarize(runs),
            peakRssKiB: max(runs.map((r) => r.peakRssKiB)),
            newBytes: max(runs.map((r) => r.json?.newBytes)),
            storeGrowthBytes: max(runs.map((r) => r.store.bytes)),
            unchanged: runs.every((r) => r.json?.unchanged === true),
            json: runs[0].json,
          };
        } catch (e) {
          readdSmall = err(e);
        }
      }
    } catch (e) {
      addError = errorInfo(e);
    } finally {
      if (!opts.keepWork) await rm(ws, { recursive: true, force: true });
    }
    if (addError) break;
  }
  let addSmall;
  if (!adds.length) addSmall = { error: addError };
  else {
    const s = summarize(adds);
    addSmall = {
      ...s,
      peakRssKiB: max(adds.map((r) => r.peakRssKiB)),
      files: data.small.files,
      filesPerS: s.wallS ? data.small.files / s.wallS : null,
      packsCreated: median(adds.map((r) => r.store.packs)),
      storeFilesCreated: median(adds.map((r) => r.store.files)),
      storeBytes: median(adds.map((r) => r.store.bytes)),
      json: adds[0].json,
      ...(addError ? { error: addError } : {}),
    };
  }
  return { addSmall, statusSmall, readdSmall };
}

/** Scenario g: add big10.bin once, peak RSS. */
async function add10g(data, work, opts) {
  if (!data.big10) return { skipped: 'run with --with-10g' };
  if (!data.big10.path) return { skipped: data.big10.skipped };
  const ws = path.join(work, 'big10');
  try {
    await initWorkspace(ws);
    await settle([data.big10.path]);
    const r = await timedJson(['data', 'add', data.big10.path, '--name', 'big10', '-m', '10x', '--json'], ws);
    return { ...r, bytes: data.big10.bytes, peakRssMiB: r.peakRssKiB != null ? r.peakRssKiB / 1024 : null };
  } catch (e) {
    return err(e);
  } finally {
    if (!opts.keepWork) await rm(ws, { recursive: true, force: true });
  }
}

/**
 * Runs every Cairn scenario. data: manifest from ensureData(); work: fresh folder.
 * opts: { repeat, keepWork, log }. Never throws.
 */
export async function runCairn(data, work, opts = {}) {
  const log = opts.log ?? (() => {});
  const problem = cliProblem();
  const cli = cliPath();
  if (problem) {
    log(`cairn: ${problem} — every Cairn scenario is recorded as an error`);
    const e = { error: { message: problem } };
    return {
      cli,
      error: e.error,
      addBig: e,
      addMod: e,
      checkoutBig: e,
      addSmall: e,
      statusSmall: e,
      readdSmall: e,
      add10g: opts.with10g ? e : { skipped: 'run with --with-10g' },
    };
  }
  await mkdir(work, { recursive: true });
  const out = { cli };
  const guard = async (label, fn) => {
    log(`cairn: ${label}`);
    try {
      return await fn();
    } catch (e) {
      return err(e);
    }
  };
  const big = await guard('add big.bin / add big-mod.bin / checkout big@v1', () => bigScenarios(data, work, opts));
  if (big.error) Object.assign(out, { addBig: big, addMod: big, checkoutBig: big });
  else Object.assign(out, big);
  const small = await guard('add small/ / status / re-add', () => smallScenarios(data, work, opts));
  if (small.error) Object.assign(out, { addSmall: small, statusSmall: small, readdSmall: small });
  else Object.assign(out, small);
  out.add10g = opts.with10g
    ? await guard('add big10.bin (peak RSS)', () => add10g(data, work, opts))
    : { skipped: 'run with --with-10g' };
  return out;
}
