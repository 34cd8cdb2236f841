// Server CPU per metadata read, in one process: the real server (`startServer`), requests through
// Fastify's inject (no sockets, no load generator beside it), 16 reads in flight round robin over
// `data ls`, `run ls` and `model versions`, as bench/suites/server.mjs sends them. Prints the
// least, the 25th percentile and the median CPU-ms per read over the trials: on a machine other
// work keeps busy, the least is the figure it inflates least (compare codes in alternation).
//
//   node bench/server-cpu.mjs [trials=15] [postgres://…?schema=… | sqlite]     (needs npm run build)
import path from 'node:path';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const [trials = '15', db = 'sqlite'] = process.argv.slice(2);
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
  return (c.user + c.system) / 1000 / n;
}

try {
  for (let k = 0; k < 5; k++) await trial(300); // warm-up: the JIT settles
  const cpu = [];
  for (let k = 0; k < Number(trials); k++) cpu.push(await trial(300));
  cpu.sort((a, b) => a - b);
  const at = (q) => +cpu[Math.floor(q * (cpu.length - 1))].toFixed(3);
  console.log(
    JSON.stringify({
      metadata: db === 'sqlite' ? 'sqlite' : 'postgres',
      cpuMsPerRead: { least: at(0), p25: at(0.25), median: at(0.5) },
    }),
  );
} finally {
  await s.close();
  rmSync(work, { recursive: true, force: true });
}
