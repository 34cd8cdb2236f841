// Benchmark suite "server-clients": twenty people at once against one team server (issue 11,
// "20 concurrent clients each pushing a distinct version and registering a model: every version
// and model present exactly once").
//
//   a  wall time for 20 clients, each a separate `cairn` process sequence from its own workspace
//      and login: init, data add (2 files, ~100 KB), login, push, run on the server, model
//      register --from-run                                                      info
//   b  versions and models on the server afterwards: each exactly once           must hold
//   c  the server's peak RSS                                                    info
//
// The server is the real CLI (`cairn server start`, SQLite, folder store) in its own process.
import path from 'node:path';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { mustRun } from '../lib/measure.mjs';
import { peakRss, spawnServer, stop } from '../lib/server-process.mjs';

// The benchmark's server trains its clients' runs on this machine as the account it runs under
// (root here): a root server refuses jobs unless told (docs/SERVER.md "Jobs run as their own account").
const ENV = {
  NO_COLOR: '1',
  CAIRN_NO_PROGRESS: '1',
  CAIRN_SERVER: '',
  CAIRN_TOKEN: '',
  CAIRN_WORKSPACE: '',
  CAIRN_ALLOW_ROOT_JOBS: '1',
};

export const suite = {
  name: 'server-clients',
  description: '20 clients at once: push a version, train on the server, register; all exactly once',
  async run(ctx) {
    const n = Math.max(2, Math.round(20 * Math.min(1, ctx.scale * 4)));
    const cli = path.join(ctx.repoRoot, 'bin', 'cairn.js');
    const srv = path.join(ctx.work, 'srv');
    const tokens = await prepare(ctx, srv, n);
    const server = await spawnServer({ repoRoot: ctx.repoRoot, dataDir: srv, cwd: ctx.work, env: ENV });
    const loadBefore = os.loadavg();
    const t0 = performance.now();
    let outcomes, wall, rss, counts;
    try {
      outcomes = await Promise.allSettled(
        Array.from({ length: n }, (_, i) => person(cli, ctx.work, server.url, tokens[`p${i}`], i)),
      );
    } finally {
      wall = (performance.now() - t0) / 1000;
      rss = peakRss(server.child.pid);
      counts = await countOnServer(server.url, tokens.p0, n).catch((e) => ({ error: e.message }));
      await stop(server.child);
    }
    const failed = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [`p${i}: ${o.reason.message}`] : []));
    const exact = !counts.error && counts.versions.every((c) => c === 1) && counts.models.every((c) => c === 1);
    return {
      results: { clients: n, wall, failed, counts, peakRssMiB: rss, loadBefore, loadAfter: os.loadavg() },
      rows: [
        {
          metric: `${n} clients: push + run + register, wall (s)`,
          cairn: wall.toFixed(1),
          target: 'report',
          pass: 'info',
        },
        {
          metric: 'every version and model present exactly once',
          cairn: exact && !failed.length ? 'yes' : `no (${failed.length} failed)`,
          target: 'yes',
          pass: exact && !failed.length ? 'pass' : 'FAIL',
        },
        { metric: 'server peak RSS (MiB)', cairn: String(rss), target: 'report', pass: 'info' },
      ],
      notes: [
        `load average before ${loadBefore.map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} cores (clients and server share them)`,
        ...failed.slice(0, 5),
      ],
    };
  },
};

async function prepare(ctx, srv, n) {
  const { startServer } = await import(pathToFileURL(path.join(ctx.repoRoot, 'dist', 'server', 'start.js')).href);
  const s = await startServer({ listen: '127.0.0.1:0', dataDir: srv, env: { ...process.env, ...ENV } });
  const tokens = {};
  try {
    await s.runtime.runAs({ actor: { id: 'bench-admin', auth: 'os-user' }, command: 'bench setup' }, async () => {
      for (let i = 0; i < n; i++) {
        await s.runtime.identity.addAccount({ name: `p${i}`, role: 'contributor' });
        tokens[`p${i}`] = (await s.runtime.identity.createToken(`p${i}`, { expiresInMs: 86_400_000 })).token;
      }
    });
  } finally {
    await s.close();
  }
  return tokens;
}

async function person(cli, work, url, token, i) {
  const home = path.join(work, `p${i}`);
  const ws = path.join(home, 'ws');
  const src = path.join(home, 'src');
  const code = path.join(home, 'code');
  for (const d of [ws, src, code]) mkdirSync(d, { recursive: true });
  writeFileSync(path.join(src, 'part.bin'), Buffer.alloc(100_000 + i, i));
  writeFileSync(path.join(src, 'rows.csv'), `id,y\n${i},1\n`);
  writeFileSync(
    path.join(code, 'cairn.yaml'),
    `name: train-${i}\ncommand: "mkdir -p $CAIRN_OUTPUT_DIR/m && wc -c < $CAIRN_INPUT_TRAIN/part.bin > $CAIRN_OUTPUT_DIR/m/size.txt"\ninputs:\n  train: data-${i}@v1\n`,
  );
  const env = { ...ENV, CAIRN_CONFIG_DIR: path.join(home, 'config') };
  const c = async (args, cwd) => (await mustRun([process.execPath, cli, ...args], { cwd, env })).stdout;
  await c(['login', url, '--token', token], home);
  await c(['init', '--server', url], ws);
  await c(['data', 'add', src, '--name', `data-${i}`], ws);
  await c(['push'], ws);
  const sub = JSON.parse(await c(['run', path.join(code, 'cairn.yaml'), '--json'], home));
  const id = sub.run?.id ?? sub.id;
  await c(['model', 'register', `model-${i}`, '--from-run', id, '--format', 'txt'], home);
}

async function countOnServer(url, token, n) {
  const get = async (p) => {
    const r = await globalThis.fetch(url + p, { headers: { authorization: `Bearer ${token}` } });
    if (r.status === 404) return [];
    if (r.status !== 200) throw new Error(`${p}: ${r.status}`);
    return r.json();
  };
  const versions = [];
  const models = [];
  for (let i = 0; i < n; i++) {
    versions.push((await get(`/api/v1/datasets/log?name=data-${i}`)).length);
    models.push((await get(`/api/v1/models/model-${i}/versions`)).length);
  }
  return { versions, models };
}
