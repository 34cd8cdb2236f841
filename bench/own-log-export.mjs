// What the server's own log costs the server when clients pull (docs/SERVER.md "What a pull from
// the server brings"): a server whose log holds ~`events` events (server.read events appended
// through the runtime, as requests append them), then `pulls` pulls by as many accounts, one after
// another — half readers of every project (the whole log), half readers of `default` only (the
// log redacted for them). A pull is what `cairn pull` asks the server for: `meta/state.json`,
// the bundle's `files.json`, then every file it lists, through Fastify's inject (no sockets), in
// the server's process. Prints the CPU seconds of that process over the pulls (the requests'
// own client side is inject's, a small share) and its peak RSS over the pulls above the RSS
// before them (sampled every 10 ms), and the bytes the pulls downloaded.
//
//   node --expose-gc bench/own-log-export.mjs [events=20000] [pulls=20]      (needs npm run build)
import path from 'node:path';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { clearInterval, setInterval } from 'node:timers';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const [events = '20000', pulls = '20'] = process.argv.slice(2).map(String);
const dist = (p) => import(pathToFileURL(path.join(root, 'dist', p)).href);
const { startServer } = await dist('server/start.js');
const { emptyState } = await dist('transfer/state.js');
const work = mkdtempSync(path.join(os.tmpdir(), 'cairn-own-log-bench-'));
const dataDir = path.join(work, 'server');
const s = await startServer({ listen: '127.0.0.1:0', dataDir, env: { ...process.env, NO_COLOR: '1' } });
const rt = s.runtime;
const host = { actor: { id: 'bench-admin', auth: 'os-user' }, command: 'bench setup' };
const tokens = [];
try {
  await rt.runAs(host, async () => {
    for (let i = 0; i < Number(pulls); i++) {
      const name = `reader${i}`;
      await rt.identity.addAccount({ name, role: 'viewer', ...(i % 2 ? { project: 'default' } : {}) });
      tokens.push((await rt.identity.createToken(name, { expiresInMs: 86_400_000 })).token);
    }
  });
  // A store with a state (nothing pushed yet): what every pull reads first.
  mkdirSync(path.join(dataDir, 'store', 'meta'), { recursive: true });
  writeFileSync(path.join(dataDir, 'store', 'meta', 'state.json'), JSON.stringify(emptyState()));
  const context = rt.contextFor({ actor: { id: 'reader0', auth: 'token' }, command: 'GET /api/v1/datasets' });
  const draft = { action: 'server.read', target: { type: 'api', name: 'datasets.list' }, params: {} };
  for (let done = 0; done < Number(events); done += 500)
    await Promise.all(Array.from({ length: 500 }, () => rt.recordRequest({ draft, outcome: 'ok', context })));

  const get = async (token, key) => {
    const r = await s.http.inject({
      method: 'GET',
      url: `/api/v1/store/objects/${key}`,
      headers: { authorization: `Bearer ${token}` },
    });
    if (r.statusCode !== 200) throw new Error(`${key}: ${r.statusCode} ${r.body}`);
    return r.rawPayload;
  };
  const prefix = `audit/${rt.workspaceId}/`;
  globalThis.gc?.();
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
  const cpu = process.cpuUsage();
  let bytes = 0;
  let size = 0;
  for (const token of tokens) {
    const state = JSON.parse((await get(token, 'meta/state.json')).toString('utf8'));
    size = state.audit.find((a) => a.workspace === rt.workspaceId)?.size ?? 0;
    const list = JSON.parse((await get(token, `${prefix}files.json`)).toString('utf8'));
    for (const f of list) bytes += (await get(token, `${prefix}${f}`)).length;
  }
  const used = process.cpuUsage(cpu);
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  console.log(
    JSON.stringify({
      events: Number(events),
      pulls: tokens.length,
      logSizeNamed: size,
      serverCpuS: +((used.user + used.system) / 1e6).toFixed(2),
      peakRssGrowthMiB: +((peak - rssBefore) / 2 ** 20).toFixed(1),
      rssAfterMiB: +(process.memoryUsage().rss / 2 ** 20).toFixed(1),
      downloadedMiB: +(bytes / 2 ** 20).toFixed(1),
    }),
  );
} finally {
  await s.close();
  rmSync(work, { recursive: true, force: true });
}
