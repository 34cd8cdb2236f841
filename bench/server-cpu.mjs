// Server CPU per metadata read, in one process: the real server (`startServer`), requests through
// Fastify's inject (no sockets, no load generator beside it), 16 reads in flight round robin over
// `data ls`, `run ls` and `model versions`, as bench/suites/server.mjs sends them. Prints the
// least, the 25th percentile and the median CPU-ms per read over the trials: on a machine other
// work keeps busy, the least is the figure it inflates least (compare codes in alternation).
//
//   node bench/server-cpu.mjs [trials=15] [postgres://…?schema=… | sqlite]     (needs npm run build)
//
// CAIRN_BENCH_CPU_PROF=file.cpuprofile: V8's sampling profile of the timed trials alone (not the
// set-up or the warm-up), for Chrome's DevTools or `node bench/lib/cpu-top.mjs file`.
// CAIRN_BENCH_PG_COUNT=1 (PostgreSQL): also prints the statements and socket writes per read.
// CAIRN_BENCH_PROMISES=1: also prints the promises created per read (each one costs the
// AsyncLocalStorage's promise hook; the figure is off for CPU: the counting hook costs too).
import path from 'node:path';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Session } from 'node:inspector/promises';
import { createHook } from 'node:async_hooks';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const [trials = '15', db = 'sqlite'] = process.argv.slice(2);
// Before the server loads pg: the counter wraps its client.
if (process.env.CAIRN_BENCH_PG_COUNT === '1' && db !== 'sqlite') await import('./lib/pg-count.mjs');
const { startServer } = await import(pathToFileURL(path.join(root, 'dist/server/start.js')).href);
const work = mkdtempSync(path.join(os.tmpdir(), 'cairn-server-cpu-'));
const env = { ...process.env, NO_COLOR: '1', CAIRN_NO_PROGRESS: '1' };
const s = await startServer({
  listen: '127.0.0.1:0',
  dataDir: path.join(work, 'server'),
  ...(db === 'sqlite' ? {} : { db }),
  env,
});
const host = { actor: { id: 'bench-admin', auth: 'os-user' }, command: 'bench setup' };
let token;
await s.runtime.runAs(host, async () => {
  await s.runtime.identity.addAccount({ name: 'alice', role: 'contributor' });
  token = (await s.runtime.identity.createToken('alice', { expiresInMs: 86_400_000 })).token;
  const src = path.join(work, 'src');
  mkdirSync(src, { recursive: true });
  writeFileSync(path.join(src, 'a.csv'), 'x,y\n1,2\n');
  await s.runtime.services.datasets.add({ source: src, name: 'bench' });
  const model = path.join(work, 'model');
  mkdirSync(model, { recursive: true });
  for (let i = 0; i < 50; i++) {
    writeFileSync(path.join(model, 'w.json'), JSON.stringify({ w: i }));
    await s.runtime.runAs({ ...host, actor: { id: 'alice', auth: 'token' } }, () =>
      s.runtime.services.models.register({ name: 'bench', path: model, format: 'json' }),
    );
  }
});
const urls = ['/api/v1/datasets', '/api/v1/runs?limit=50', '/api/v1/models/bench/versions'];
const headers = { authorization: `Bearer ${token}` };

const siteCounts = new Map();
function sites(stack) {
  const frames = stack
    .split('\n')
    .slice(2)
    .filter((l) => !l.includes('node:internal') && !l.includes('server-cpu.mjs'));
  const key = frames
    .slice(0, 3)
    .map((l) =>
      l
        .trim()
        .replace(/\(.*\/(dist|node_modules)\//, '(')
        .replace(/^at /, ''),
    )
    .join(' < ');
  siteCounts.set(key, (siteCounts.get(key) ?? 0) + 20);
}
let systemMs = 0;
let totalMs = 0;
async function trial(n) {
  let i = 0;
  const before = process.cpuUsage();
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (i < n) {
        const r = await s.http.inject({ method: 'GET', url: urls[i++ % urls.length], headers });
        if (r.statusCode !== 200) throw new Error(`${r.statusCode} ${r.body}`);
      }
    }),
  );
  const c = process.cpuUsage(before);
  systemMs += c.system / 1000;
  totalMs += (c.user + c.system) / 1000;
  return (c.user + c.system) / 1000 / n;
}

const profile = process.env.CAIRN_BENCH_CPU_PROF;
const session = profile ? new Session() : null;
const counting = process.env.CAIRN_BENCH_PG_COUNT === '1' && db !== 'sqlite';
const pgCounts = () => {
  const c = globalThis.cairnPgCounts;
  return { total: c.total, writes: c.writes, kinds: { ...c.kinds }, texts: { ...c.texts } };
};
const per = (x, n) => +(x / n).toFixed(3);
const pgPerRead = (a, b, n) => ({
  statements: per(b.total - a.total, n),
  socketWrites: per(b.writes - a.writes, n),
  byKind: Object.fromEntries(
    Object.entries(b.kinds)
      .map(([k, v]) => [k, per(v - (a.kinds[k] ?? 0), n)])
      .filter(([, v]) => v > 0),
  ),
  texts: Object.fromEntries(
    Object.entries(b.texts)
      .map(([k, v]) => [k.slice(0, 80), per(v - (a.texts[k] ?? 0), n)])
      .filter(([, v]) => v >= 0.01),
  ),
});

try {
  for (let k = 0; k < 5; k++) await trial(300); // warm-up: the JIT settles
  if (session) {
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
    if (process.env.CAIRN_BENCH_HEAP_PROF)
      await session.post('HeapProfiler.startSampling', {
        samplingInterval: 4096,
        includeObjectsCollectedByMajorGC: true,
        includeObjectsCollectedByMinorGC: true,
      });
  }
  systemMs = totalMs = 0;
  let promises = 0;
  const hook =
    process.env.CAIRN_BENCH_PROMISES === '1'
      ? createHook({
          init: (_id, type) => void (type === 'PROMISE' && promises++ % 20 === 0 && sites(new Error().stack)),
        }).enable()
      : null;
  const pgBefore = counting ? pgCounts() : null;
  const cpu = [];
  for (let k = 0; k < Number(trials); k++) cpu.push(await trial(300));
  if (session) {
    const { profile: p } = await session.post('Profiler.stop');
    writeFileSync(profile, JSON.stringify(p));
    if (process.env.CAIRN_BENCH_HEAP_PROF) {
      const { profile: h } = await session.post('HeapProfiler.stopSampling');
      writeFileSync(process.env.CAIRN_BENCH_HEAP_PROF, JSON.stringify(h));
    }
    session.disconnect();
  }
  hook?.disable();
  if (hook && process.env.CAIRN_BENCH_PROMISE_SITES)
    writeFileSync(
      process.env.CAIRN_BENCH_PROMISE_SITES,
      [...siteCounts]
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${(v / (300 * Number(trials))).toFixed(2)} ${k}`)
        .join('\n'),
    );
  const systemShare = +(systemMs / totalMs).toFixed(2);
  const perRead = pgBefore ? pgPerRead(pgBefore, pgCounts(), 300 * Number(trials)) : null;
  cpu.sort((a, b) => a - b);
  const at = (q) => +cpu[Math.floor(q * (cpu.length - 1))].toFixed(3);
  console.log(
    JSON.stringify({
      metadata: db === 'sqlite' ? 'sqlite' : 'postgres',
      cpuMsPerRead: { least: at(0), p25: at(0.25), median: at(0.5) },
      systemShare,
      ...(hook ? { promisesPerRead: +(promises / (300 * Number(trials))).toFixed(1) } : {}),
      ...(perRead ? { pgPerRead: perRead } : {}),
    }),
  );
} finally {
  await s.close();
  rmSync(work, { recursive: true, force: true });
}
