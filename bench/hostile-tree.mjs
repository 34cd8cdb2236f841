#!/usr/bin/env node
// Peak memory of `cairn data checkout` of a hostile tree (issue 10, item 9a).
//
// Plants a "tree bomb" in a fresh workspace: `fanout` files at the bottom, then `levels` nodes
// each naming the level below `fanout` times, with honest counts. 32 and 5 give about 25 KB of
// tree nodes that describe 32^6 = 1,073,741,824 files. It is planted the way a tampered store
// or a hostile remote would deliver it (a real pack, a version row in an audited commit),
// then checked out with the CLI while its peak RSS (VmHWM in /proc/<pid>/status, Linux) is
// sampled; a checkout still running at the timeout is killed and its peak so far reported.
//
//   npm run build
//   node bench/hostile-tree.mjs [--fanout 32] [--levels 5] [--timeout-s 120]
//   CAIRN_BENCH_CLI=/other/build/bin/cairn.js node bench/hostile-tree.mjs   # another build
//
// The dist/ modules of this checkout are used to plant the tree; the checkout itself runs the
// CLI named by CAIRN_BENCH_CLI (default bin/cairn.js). A build without the defence keeps
// allocating until the timeout (or the machine) stops it: the figure is then a lower bound.
import { spawn, spawnSync } from 'node:child_process';
import { clearInterval, setInterval } from 'node:timers';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const fanout = arg('fanout', 32);
const levels = arg('levels', 5);
const timeoutS = arg('timeout-s', 120);
const cliPath = process.env.CAIRN_BENCH_CLI ?? path.join(root, 'bin', 'cairn.js');
const dist = (p) => import(pathToFileURL(path.join(root, 'dist', p)).href);

const { canonicalJson } = await dist('core/canonical-json.js');
const { uuidv7 } = await dist('core/ids.js');
const { openWorkspace } = await dist('app/workspace.js');
const { recordPacks } = await dist('meta/repos/chunks.js');
const { createDataset, insertVersion } = await dist('meta/repos/datasets.js');
const { PackWriter } = await dist('storage/pack/writer.js');

const sha = (b) => createHash('sha256').update(b).digest('hex');
const node = (entries) => {
  const bytes = Buffer.from(canonicalJson({ v: 1, entries }), 'utf8');
  return { id: sha(bytes), bytes };
};

const work = mkdtempSync(path.join(os.tmpdir(), 'cairn-bench-bomb-'));
try {
  const init = spawnSync(process.execPath, [path.join(root, 'bin', 'cairn.js'), 'init', work], { encoding: 'utf8' });
  if (init.status !== 0) throw new Error(`cairn init failed: ${init.stderr}`);
  const payload = Buffer.from('x');
  const nodes = [];
  let entries = Array.from({ length: fanout }, (_, i) => ({
    name: `f${String(i).padStart(4, '0')}`,
    type: 'file',
    size: 1,
    mode: '644',
    digest: sha(payload),
  }));
  let files = fanout;
  let top = node(entries);
  nodes.push(top);
  for (let l = 0; l < levels; l++) {
    entries = Array.from({ length: fanout }, (_, i) => ({
      name: `d${String(i).padStart(4, '0')}`,
      type: 'dir',
      tree: top.id,
      files,
      size: files,
    }));
    files *= fanout;
    top = node(entries);
    nodes.push(top);
  }
  const treeBytes = nodes.reduce((n, x) => n + x.bytes.length, 0);

  const ws = await openWorkspace({
    cwd: work,
    command: 'bench',
    env: { ...process.env, CAIRN_ACTOR: 'bench@example.com' },
  });
  try {
    const w = await PackWriter.create(ws.packs);
    w.append(1, sha(payload), payload);
    for (const n of nodes) w.append(2, n.id, n.bytes);
    const pack = await w.finish();
    await ws.audit.audited({ action: 'dataset.version.create', target: { type: 'dataset', name: 'bomb' } }, (commit) =>
      commit(async (tx) => {
        const now = new Date().toISOString();
        await recordPacks(tx, [pack], now);
        const id = uuidv7();
        await createDataset(tx, { id, name: 'bomb', created_at: now, created_by: 'bench' });
        await insertVersion(tx, {
          id: uuidv7(),
          dataset_id: id,
          number: 1,
          digest: top.id,
          parent_id: null,
          message: 'hostile',
          author: 'bench',
          created_at: now,
          file_count: files,
          total_bytes: files,
          new_bytes: 0,
          stats: canonicalJson({
            files,
            bytes: files,
            dirs: 0,
            symlinks: 0,
            chunks: 1,
            newChunks: 0,
            newBytes: 0,
            extensions: [],
          }),
        });
      }),
    );
  } finally {
    await ws.close();
  }

  const r = await checkoutWithPeak(work);
  const result = {
    cli: path.relative(root, cliPath) || cliPath,
    fanout,
    levels,
    treeBytes,
    declaredFiles: files,
    exit: r.code,
    timedOut: r.timedOut,
    errorCode: r.errorCode,
    wallS: Number(r.wallS.toFixed(2)),
    peakRssMiB: r.peakKiB === null ? null : Number((r.peakKiB / 1024).toFixed(1)),
  };
  console.log(JSON.stringify(result, null, 2));
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** Runs the checkout as a direct child (so the kill reaches the process that allocates). */
function checkoutWithPeak(work) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [cliPath, 'data', 'checkout', 'bomb@v1', path.join(work, 'out'), '--json'], {
      cwd: work,
      env: { ...process.env, CAIRN_NO_PROGRESS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (b) => (stdout += b));
    child.stderr.resume();
    let peakKiB = null;
    const sample = () => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peakKiB = Math.max(peakKiB ?? 0, Number(m[1]));
      } catch {
        // gone already
      }
    };
    const poll = setInterval(sample, 50);
    let timedOut = false;
    const timer = setTimeout(() => {
      sample();
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutS * 1000);
    child.on('exit', (code) => {
      clearInterval(poll);
      clearTimeout(timer);
      let errorCode = null;
      try {
        errorCode = JSON.parse(stdout).error?.code ?? null;
      } catch {
        errorCode = null;
      }
      resolve({ code, timedOut, errorCode, peakKiB, wallS: Number(process.hrtime.bigint() - t0) / 1e9 });
    });
  });
}
