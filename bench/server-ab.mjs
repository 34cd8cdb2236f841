// Old and new code side by side in the same minutes: the `server` suite's metadata reads on
// PostgreSQL, run alternately from two built checkouts (each its own `bench/suites/server.mjs`,
// `bin/` and `dist/`), a fresh schema per run, nothing written to bench/results/. Prints one JSON
// line per run (req/s, p50, p99, server/client/backend CPU-ms per read, load average) and a
// summary of medians. On a shared machine the load moves between runs: compare the alternation,
// not one pair.
//
//   node bench/server-ab.mjs <old checkout> <new checkout> [rounds=3] [postgres://…]
//
// CAIRN_BENCH_AB_NODE_ARGS="old args|new args": extra node flags for each side's server process
// (e.g. "|--max-semi-space-size=64" to try a flag on the new side only).
import path from 'node:path';
import os from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const [oldRoot, newRoot, rounds = '3', base = 'postgres://postgres@127.0.0.1:5432/test'] = process.argv.slice(2);
if (!oldRoot || !newRoot) {
  console.error('usage: node bench/server-ab.mjs <old checkout> <new checkout> [rounds] [postgres://…]');
  process.exit(2);
}
const [oldArgs = '', newArgs = ''] = (process.env.CAIRN_BENCH_AB_NODE_ARGS ?? '|').split('|');

function once(side, root, args, k) {
  const schema = `cairn_ab_${process.pid}_${side}_${k}`;
  const u = new URL(base);
  u.searchParams.set('schema', schema);
  const work = mkdtempSync(path.join(os.tmpdir(), 'cairn-ab-'));
  const load = os.loadavg()[0];
  const child = path.join(path.dirname(fileURLToPath(import.meta.url)), 'lib/server-ab-child.mjs');
  const r = spawnSync(process.execPath, [child, path.resolve(root), work], {
    encoding: 'utf8',
    env: {
      ...process.env,
      CAIRN_BENCH_SERVER_DB: u.toString(),
      CAIRN_BENCH_SERVER_PHASES: 'reads',
      CAIRN_BENCH_SERVER_NODE_ARGS: args,
    },
  });
  rmSync(work, { recursive: true, force: true });
  spawnSync('psql', [base, '-qc', `drop schema if exists ${schema} cascade`], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error(`${side} run failed: ${r.stderr}`);
  const line = JSON.parse(r.stdout.trim().split('\n').at(-1));
  const row = { side, round: k, loadBefore: +load.toFixed(1), ...line };
  console.log(JSON.stringify(row));
  return row;
}

const rows = [];
for (let k = 0; k < Number(rounds); k++) {
  // Alternate which goes first, so neither always runs right after the other's heat.
  const order = k % 2 === 0 ? ['old', 'new'] : ['new', 'old'];
  for (const side of order)
    rows.push(once(side, side === 'old' ? oldRoot : newRoot, side === 'old' ? oldArgs : newArgs, k));
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
for (const side of ['old', 'new']) {
  const mine = rows.filter((r) => r.side === side);
  const m = (k) => +median(mine.map((r) => r[k])).toFixed(3);
  console.log(
    JSON.stringify({
      side,
      runs: mine.length,
      median: { rps: m('rps'), p99: m('p99'), serverCpuMs: m('serverCpuMs'), backendCpuMs: m('backendCpuMs') },
    }),
  );
}
