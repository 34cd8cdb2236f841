// Benchmark suite "server": the team server on loopback (issue 11, "Benchmarks").
//
//   a  metadata reads (`data ls`, `run ls`, `model versions` operations, round robin) with C
//      concurrent keep-alive connections for D seconds: req/s, p50, p99
//                                                       target >= 2,000 req/s at p99 < 50 ms
//   b  audited writes (`data tag`, `model approve` operations, alternating), same load:
//      req/s, p50, p99                                  target >= 500 req/s
//   c  the server process's peak RSS (VmHWM) over the whole run               info
//
// The server is the real CLI (`cairn server start`, SQLite by default, or --db from
// CAIRN_BENCH_SERVER_DB) in its own process; the load comes from this process over node:http
// with one keep-alive agent (C sockets, no pipelining), so both share this machine's cores: the
// client's own CPU per request is reported beside the server's, so a slow generator shows. Every
// request is authenticated, authorized and recorded in the audit log as in production.
// CAIRN_BENCH_SERVER_PHASES=reads (or writes) runs one phase only, e.g. under --cpu-prof.
// On PostgreSQL the suite also reports the statements the server sent per request (counted in
// the server process by bench/lib/pg-count.mjs), the commits per request, and the CPU the
// server's PostgreSQL backends used per request (/proc of the backends pg_stat_activity lists
// under the application name the suite gives the server's connections).
// Needs `npm run build`.
import http from 'node:http';
import path from 'node:path';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { createRequire } from 'node:module';
import { peakRss, spawnServer, stop } from '../lib/server-process.mjs';

const ENV = { NO_COLOR: '1', CAIRN_NO_PROGRESS: '1' };
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN;
};

export const suite = {
  name: 'server',
  description: 'team server on loopback: metadata reads and audited writes (req/s, p50/p99), peak RSS',
  async run(ctx) {
    const dist = (p) => pathToFileURL(path.join(ctx.repoRoot, 'dist', p)).href;
    const dataDir = path.join(ctx.work, 'server');
    const concurrency = Number(process.env.CAIRN_BENCH_SERVER_C ?? 16);
    const seconds = Number(
      process.env.CAIRN_BENCH_SERVER_SECONDS ?? Math.max(2, Math.round(8 * Math.min(1, ctx.scale * 4))),
    );
    const db = process.env.CAIRN_BENCH_SERVER_DB ? withAppName(process.env.CAIRN_BENCH_SERVER_DB) : undefined;
    const setup = await prepare(dist, dataDir, db);
    const countsFile = path.join(ctx.work, 'pg-counts.json');
    const server = await spawnServer({
      repoRoot: ctx.repoRoot,
      dataDir,
      env: db ? { ...ENV, CAIRN_BENCH_PG_COUNTS: countsFile } : ENV,
      extraNodeArgs: db ? ['--import', pathToFileURL(path.join(ctx.repoRoot, 'bench/lib/pg-count.mjs')).href] : [],
    });
    const pgProbe = db ? await pgProfiler(ctx.repoRoot, db, server.child.pid, countsFile) : null;
    const phases = (process.env.CAIRN_BENCH_SERVER_PHASES ?? 'reads,writes').split(',');
    const results = { concurrency, seconds, metadata: db ? 'postgres' : 'sqlite', loadBefore: os.loadavg() };
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    try {
      const call = client(server.url, setup.tokens, agent);
      const reads = [
        () => call('alice', 'GET', '/api/v1/datasets'),
        () => call('alice', 'GET', '/api/v1/runs?limit=50'),
        () => call('alice', 'GET', '/api/v1/models/bench/versions'),
      ];
      await load(reads, concurrency, 1); // warm-up
      results.reads = phases.includes('reads')
        ? await withCpu(server.child.pid, () => load(reads, concurrency, seconds), pgProbe)
        : skipped();
      let n = 0;
      const writes = [
        () => call('alice', 'POST', '/api/v1/versions/tags', { ref: setup.dataRef, tag: `t${n++}` }),
        () => call('bob', 'POST', '/api/v1/model-versions/approvals', { ref: setup.modelRef, alias: `a${n++}` }),
      ];
      results.writes = phases.includes('writes')
        ? await withCpu(server.child.pid, () => load(writes, concurrency, seconds), pgProbe)
        : skipped();
      results.peakRssMiB = peakRss(server.child.pid);
      results.loadAfter = os.loadavg();
    } finally {
      agent.destroy();
      await stop(server.child);
      await pgProbe?.close();
    }
    const r = results.reads;
    const w = results.writes;
    const pgRows = db
      ? [
          {
            metric: 'PostgreSQL statements per request (commits): reads / writes',
            cairn: `${r.pg?.statementsPerRequest.toFixed(2)} (${r.pg?.commitsPerRequest.toFixed(3)}) / ${w.pg?.statementsPerRequest.toFixed(2)} (${w.pg?.commitsPerRequest.toFixed(3)})`,
            target: 'report (each one a round trip)',
            pass: 'info',
          },
          {
            metric: 'writes to PostgreSQL sockets per request: reads / writes',
            cairn: `${r.pg?.writesPerRequest.toFixed(2)} / ${w.pg?.writesPerRequest.toFixed(2)}`,
            target: 'report (pipelined statements of one turn share one)',
            pass: 'info',
          },
          {
            metric: 'PostgreSQL backend CPU per request (ms): reads / writes',
            cairn: `${r.pg?.backendCpuMsPerRequest.toFixed(3)} / ${w.pg?.backendCpuMsPerRequest.toFixed(3)}`,
            target: 'report (on the same 2 cores)',
            pass: 'info',
          },
        ]
      : [];
    return {
      results,
      rows: [
        {
          metric: `metadata reads, ${concurrency} connections: req/s (p50 / p99 ms)`,
          cairn: `${r.rps.toFixed(0)} (${r.p50.toFixed(1)} / ${r.p99.toFixed(1)})`,
          target: '>= 2,000 req/s, p99 < 50 ms',
          pass: !r.requests ? 'skipped' : r.errors === 0 && r.rps >= 2000 && r.p99 < 50 ? 'pass' : 'FAIL',
        },
        {
          metric: `audited writes (tag, approve), ${concurrency} connections: req/s (p50 / p99 ms)`,
          cairn: `${w.rps.toFixed(0)} (${w.p50.toFixed(1)} / ${w.p99.toFixed(1)})`,
          target: '>= 500 req/s',
          pass: !w.requests ? 'skipped' : w.errors === 0 && w.rps >= 500 ? 'pass' : 'FAIL',
        },
        {
          metric: 'server CPU per request (ms): reads / writes',
          cairn: `${r.cpuMsPerRequest.toFixed(3)} / ${w.cpuMsPerRequest.toFixed(3)}`,
          target: 'report (1000 / this = req/s one free core could serve)',
          pass: 'info',
        },
        {
          metric: 'load generator CPU per request (ms): reads / writes',
          cairn: `${r.clientCpuMsPerRequest.toFixed(3)} / ${w.clientCpuMsPerRequest.toFixed(3)}`,
          target: 'report (its share of the 2 cores)',
          pass: 'info',
        },
        ...pgRows,
        { metric: 'server peak RSS (MiB)', cairn: String(results.peakRssMiB), target: 'report', pass: 'info' },
      ],
      notes: [
        `load average before ${results.loadBefore.map((x) => x.toFixed(2)).join(' ')}, after ${results.loadAfter.map((x) => x.toFixed(2)).join(' ')} on ${os.cpus().length} cores (client and server share them)`,
        `errors: reads ${r.errors}, writes ${w.errors} (${w.firstError ?? 'none'})`,
      ],
    };
  },
};

/** Accounts, tokens, a dataset version and a model version, made in-process before the server starts. */
async function prepare(dist, dataDir, db) {
  const { startServer } = await import(dist('server/start.js'));
  const s = await startServer({
    listen: '127.0.0.1:0',
    dataDir,
    ...(db ? { db } : {}),
    env: { ...process.env, ...ENV },
  });
  const tokens = {};
  const host = { actor: { id: 'bench-admin', auth: 'os-user' }, command: 'bench setup' };
  try {
    return await s.runtime.runAs(host, async () => {
      for (const [name, role] of [
        ['alice', 'contributor'],
        ['bob', 'approver'],
      ]) {
        await s.runtime.identity.addAccount({ name, role });
        tokens[name] = (await s.runtime.identity.createToken(name, { expiresInMs: 86_400_000 })).token;
      }
      const src = path.join(dataDir, '..', 'src');
      mkdirSync(src, { recursive: true });
      writeFileSync(path.join(src, 'a.csv'), 'x,y\n1,2\n');
      const data = await s.runtime.services.datasets.add({ source: src, name: 'bench' });
      const model = path.join(dataDir, '..', 'model');
      mkdirSync(model, { recursive: true });
      let ref = null;
      for (let i = 0; i < 50; i++) {
        writeFileSync(path.join(model, 'w.json'), JSON.stringify({ w: i }));
        ref = (
          await s.runtime.runAs({ ...host, actor: { id: 'alice', auth: 'token' } }, () =>
            s.runtime.services.models.register({ name: 'bench', path: model, format: 'json' }),
          )
        ).ref;
      }
      return { tokens, dataRef: data.ref, modelRef: ref };
    });
  } finally {
    await s.close();
  }
}

/**
 * One request at a time per socket over a keep-alive agent: node:http rather than fetch, whose
 * WHATWG streams and header objects cost the shared cores more than the server's own work.
 */
function client(url, tokens, agent) {
  const { hostname, port } = new URL(url);
  return (who, method, p, body) =>
    new Promise((resolve, reject) => {
      const payload = body ? JSON.stringify(body) : null;
      const req = http.request(
        {
          agent,
          hostname,
          port,
          method,
          path: p,
          headers: {
            authorization: `Bearer ${tokens[who]}`,
            ...(payload ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}),
          },
        },
        (res) => {
          const chunks = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            if (res.statusCode === 200) return resolve();
            const text = Buffer.concat(chunks).toString('utf8');
            reject(new Error(`${method} ${p}: ${res.statusCode} ${text.slice(0, 200)}`));
          });
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(payload ?? undefined);
    });
}

function skipped() {
  return { requests: 0, errors: 0, rps: NaN, p50: NaN, p99: NaN, cpuMsPerRequest: NaN, clientCpuMsPerRequest: NaN };
}

/** `c` workers calling the operations round robin for `seconds`; latencies in ms. */
async function load(ops, c, seconds) {
  const lat = [];
  let errors = 0;
  let firstError = null;
  let i = 0;
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) {
      const op = ops[i++ % ops.length];
      const s = performance.now();
      try {
        await op();
        lat.push(performance.now() - s);
      } catch (e) {
        errors++;
        firstError ??= e.message;
      }
    }
  };
  await Promise.all(Array.from({ length: c }, worker));
  const wall = (performance.now() - t0) / 1000;
  return { requests: lat.length, errors, firstError, rps: lat.length / wall, p50: pct(lat, 0.5), p99: pct(lat, 0.99) };
}

/** The server process's user+system CPU time (ms) from /proc, to tell its cost from a busy machine's waits. */
function cpuMs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
}

async function withCpu(pid, fn, pgProbe = null) {
  const pgBefore = await pgProbe?.sample();
  const before = cpuMs(pid);
  const mine = process.cpuUsage();
  const r = await fn();
  const used = cpuMs(pid) - before;
  const own = process.cpuUsage(mine);
  const pgAfter = await pgProbe?.sample();
  const clientCpuMs = (own.user + own.system) / 1000;
  const n = Math.max(1, r.requests);
  const pg = pgBefore && pgAfter ? pgProbe.per(pgBefore, pgAfter, n) : undefined;
  return {
    ...r,
    serverCpuMs: used,
    cpuMsPerRequest: used / n,
    clientCpuMs,
    clientCpuMsPerRequest: clientCpuMs / n,
    ...(pg ? { pg } : {}),
  };
}

const APP_NAME = 'cairn-bench-server';

/** The server's connections carry an application name, so its backends can be told from others'. */
function withAppName(url) {
  const u = new URL(url);
  u.searchParams.set('application_name', APP_NAME);
  return u.toString();
}

/**
 * Statement counts from the server process (SIGUSR2 makes bench/lib/pg-count.mjs write them) and
 * the CPU of the PostgreSQL backends serving the server's connections.
 */
async function pgProfiler(repoRoot, url, serverPid, countsFile) {
  const pg = createRequire(path.join(repoRoot, 'package.json'))('pg');
  const u = new URL(url);
  u.searchParams.delete('schema');
  u.searchParams.set('application_name', 'cairn-bench-probe');
  const probe = new pg.Client({ connectionString: u.toString() });
  await probe.connect();
  const counts = async () => {
    let last = 0;
    try {
      last = JSON.parse(readFileSync(countsFile, 'utf8')).seq;
    } catch {
      // not written yet: any file that appears is fresh
    }
    process.kill(serverPid, 'SIGUSR2');
    for (let i = 0; i < 200; i++) {
      await new Promise((r) => setTimeout(r, 10));
      try {
        const c = JSON.parse(readFileSync(countsFile, 'utf8'));
        if (c.seq > last) return c;
      } catch {
        // not there yet, or caught half-written: read again
      }
    }
    throw new Error('the server did not write its statement counts (bench/lib/pg-count.mjs not loaded?)');
  };
  const backends = async () => {
    const { rows } = await probe.query('select pid from pg_stat_activity where application_name = $1', [APP_NAME]);
    const cpu = new Map();
    for (const { pid } of rows) {
      try {
        cpu.set(pid, cpuMs(pid));
      } catch {
        // the backend ended between the query and the read
      }
    }
    return cpu;
  };
  return {
    async sample() {
      return { counts: await counts(), cpu: await backends() };
    },
    per(a, b, n) {
      // A backend that appeared during the phase used all its CPU in it; one that left is lost (rare: pool max 4).
      let backendCpu = 0;
      for (const [pid, ms] of b.cpu) backendCpu += ms - (a.cpu.get(pid) ?? 0);
      const kinds = {};
      for (const [k, v] of Object.entries(b.counts.kinds)) kinds[k] = (v - (a.counts.kinds[k] ?? 0)) / n;
      const texts = Object.entries(b.counts.texts)
        .map(([t, v]) => [t, (v - (a.counts.texts[t] ?? 0)) / n])
        .filter(([, v]) => v > 0)
        .sort((x, y) => y[1] - x[1])
        .slice(0, 12);
      return {
        statementsPerRequest: (b.counts.total - a.counts.total) / n,
        writesPerRequest: ((b.counts.writes ?? 0) - (a.counts.writes ?? 0)) / n,
        commitsPerRequest: kinds.commit ?? 0,
        kinds,
        texts: Object.fromEntries(texts),
        backendCpuMsPerRequest: backendCpu / n,
        backends: b.cpu.size,
      };
    },
    close: () => probe.end(),
  };
}
