// Peer "restic": content-defined chunking, dedup, encrypted packs — the closest peer to Cairn's
// storage engine.
//
// Choices (documented in bench/README.md):
//  - Password: `--insecure-no-password` when this restic supports it (>= 0.17), else the fixed
//    RESTIC_PASSWORD "cairn-bench". restic encrypts either way, so speed is the same.
//  - Cache: restic's default behaviour (a local metadata cache), but pointed at a fresh
//    `--cache-dir` inside the work folder, so every repetition starts from the same state and
//    nothing leaks into ~/.cache. (`--no-cache` is not how people run it.)
//  - `--no-scan` (restic >= 0.15) is passed when supported: the scan only feeds the progress
//    ETA, Cairn has no such pass.
//  - Compression: the restic default for this version (0.14+: repository v2, compression auto;
//    our data is incompressible, so it costs a compression attempt and saves nothing).
//  - Durability: restic's local backend fsyncs every pack/index/snapshot file it saves (see the
//    strace notes in bench/README.md), so `restic backup` is a durable store like `cairn data add`.
//  - `--host cairn-bench` so the second backup of the same path finds the first as its parent.
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { runCmd, mustRun, settle, repeat, du, median, CommandError, brief } from '../lib/measure.mjs';
import { freshDir, stage, removeTree, mibPerS } from './common.mjs';

export const name = 'restic';

let features = null;
export function resticFeatures() {
  if (features) return features;
  const v = spawnSync('restic', ['version'], { encoding: 'utf8' });
  if (v.error || v.status !== 0) return (features = { available: false });
  const help = (args) => {
    const r = spawnSync('restic', [...args, '--help'], { encoding: 'utf8' });
    return `${r.stdout}${r.stderr}`;
  };
  const all = help(['backup']) + help(['init']);
  features = {
    available: true,
    version: v.stdout.trim(),
    insecureNoPassword: all.includes('--insecure-no-password'),
    noScan: all.includes('--no-scan'),
  };
  return features;
}

function resticEnv() {
  const f = resticFeatures();
  return f.insecureNoPassword ? { RESTIC_PASSWORD: '' } : { RESTIC_PASSWORD: 'cairn-bench' };
}

function baseArgs(repo, cache) {
  const f = resticFeatures();
  return ['restic', '--repo', repo, '--cache-dir', cache, ...(f.insecureNoPassword ? ['--insecure-no-password'] : [])];
}

function backupArgs(repo, cache, target) {
  const f = resticFeatures();
  return [
    ...baseArgs(repo, cache),
    'backup',
    '--json',
    '--host',
    'cairn-bench',
    ...(f.noScan ? ['--no-scan'] : []),
    target,
  ];
}

function summaryOf(stdout) {
  const lines = stdout.trim().split('\n').reverse();
  for (const l of lines) {
    try {
      const j = JSON.parse(l);
      if (j.message_type === 'summary') return j;
    } catch {
      /* progress line */
    }
  }
  return null;
}

async function init(repo, cache, cwd) {
  await mustRun([...baseArgs(repo, cache), 'init'], { cwd, env: resticEnv() });
}

async function timedBackup(repo, cache, target, cwd, warm) {
  const before = await du(repo);
  await settle(warm);
  const r = await runCmd(backupArgs(repo, cache, target), { cwd, env: resticEnv() });
  if (!r.ok) throw new CommandError(r);
  const after = await du(repo);
  const s = summaryOf(r.stdout);
  return {
    ...brief(r),
    snapshotId: s?.snapshot_id ?? null,
    dataAdded: s?.data_added ?? null,
    repoGrowthBytes: after.bytes - before.bytes,
    repoGrowthFiles: after.files - before.files,
    repoBytes: after.bytes,
    dataPacks: (await du(path.join(repo, 'data'))).files,
  };
}

/**
 * Big-file scenarios: backup big.bin (fresh repo), backup big-mod.bin as the next snapshot of
 * the same path, restore the first snapshot. Repeated opts.repeat times, fresh repo each time.
 */
export async function bigFile(data, work, opts = {}) {
  await freshDir(work);
  const reps = [];
  const m = await repeat(
    opts.repeat ?? 3,
    async (i, isWarmup) => {
      const dir = await freshDir(path.join(work, `rep-${i}`));
      const repo = path.join(dir, 'repo');
      const cache = path.join(dir, 'cache');
      await mkdir(path.join(dir, 'src'));
      await init(repo, cache, dir);
      const target = path.join('src', 'big.bin');
      const src = path.join(dir, target);
      // v1: same path name for both versions; a hard link keeps the inputs out of the timing
      await stage(data.big.path, src);
      const b1 = await timedBackup(repo, cache, target, dir, [src]);
      await stage(data.bigMod.path, src);
      const b2 = await timedBackup(repo, cache, target, dir, [src]);
      // restore of the first snapshot, for reference
      const restoreDir = path.join(dir, 'restore');
      await settle([]);
      const rr = await runCmd(
        [...baseArgs(repo, cache), 'restore', b1.snapshotId ?? 'latest', '--target', restoreDir],
        {
          cwd: dir,
          env: resticEnv(),
        },
      );
      if (!rr.ok) throw new CommandError(rr);
      const restored = await du(restoreDir);
      const rep = { backupBig: b1, backupMod: b2, restore: { ...brief(rr), bytes: restored.bytes } };
      if (!isWarmup) reps.push(rep);
      await removeTree(dir, opts.keepWork);
      return { wallS: b1.wallS, peakRssKiB: b1.peakRssKiB };
    },
    { warmup: opts.warmup ?? 1 },
  );
  const pick = (f) => median(reps.map(f));
  const backupS = pick((r) => r.backupBig.wallS);
  return {
    backupBig: {
      wallS: backupS,
      minS: m.minS,
      maxS: m.maxS,
      mibPerS: mibPerS(data.big.bytes, backupS),
      repoBytes: pick((r) => r.backupBig.repoGrowthBytes),
      peakRssKiB: m.peakRssKiB,
    },
    backupMod: {
      wallS: pick((r) => r.backupMod.wallS),
      storedBytes: pick((r) => r.backupMod.repoGrowthBytes),
      dataAdded: pick((r) => r.backupMod.dataAdded),
      peakRssKiB: pick((r) => r.backupMod.peakRssKiB),
      realChangedBytes: data.bigMod.realChangedBytes,
      storedOverReal: ratio(
        pick((r) => r.backupMod.repoGrowthBytes),
        data.bigMod.realChangedBytes,
      ),
    },
    restore: {
      wallS: pick((r) => r.restore.wallS),
      peakRssKiB: pick((r) => r.restore.peakRssKiB),
      bytes: reps[0]?.restore.bytes ?? null,
    },
    n: m.n,
    reps,
    ...(m.error ? { error: m.error } : {}),
  };
}

function ratio(a, b) {
  return typeof a === 'number' && typeof b === 'number' && b > 0 ? a / b : null;
}

/** Small files: backup of small/ into a fresh repo -> files/s. */
export async function smallFiles(data, work, opts = {}) {
  await freshDir(work);
  const m = await repeat(
    opts.repeat ?? 3,
    async (i) => {
      const dir = await freshDir(path.join(work, `rep-${i}`));
      const repo = path.join(dir, 'repo');
      const cache = path.join(dir, 'cache');
      await init(repo, cache, dir);
      const b = await timedBackup(repo, cache, data.small.path, dir, [data.small.path]);
      await removeTree(dir, opts.keepWork);
      return b;
    },
    { warmup: opts.warmup ?? 1 },
  );
  return {
    backup: {
      ...m,
      files: data.small.files,
      filesPerS: m.wallS ? data.small.files / m.wallS : null,
      repoBytes: median(m.runs.map((r) => r.repoGrowthBytes)),
      dataPacks: median(m.runs.map((r) => r.dataPacks)),
    },
  };
}

export async function run(data, work, opts = {}) {
  const f = resticFeatures();
  if (!f.available) return { error: { message: 'restic not installed (run scripts/install-bench-peers.sh)' } };
  const out = { version: f.version, features: f };
  out.big = await bigFile(data, path.join(work, 'big'), opts).catch((e) => ({
    error: { message: String(e.message ?? e) },
  }));
  out.small = await smallFiles(data, path.join(work, 'small'), opts).catch((e) => ({
    error: { message: String(e.message ?? e) },
  }));
  return out;
}
