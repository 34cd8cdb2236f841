// CPU to write the answers of `data ls`, `run ls` and `model versions` (the server suite's reads,
// its data set: 1 dataset, 50 model versions, runs as given): JSON.stringify against the
// serializers Fastify would compile from src/server/answers.ts (fast-json-stringify). In-process,
// the least of many batches, so a loaded machine inflates it least. It measures CPU only: the
// compiled serializers allocate more per answer (a heap profile of bench/server-cpu.mjs shows it),
// which is why the server does not use them (src/server/http.ts, routeSchema).
//
//   node bench/answer-serialize.mjs       (needs npm run build)
import path from 'node:path';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => pathToFileURL(path.join(root, 'dist', p)).href;
const fjs = createRequire(import.meta.url)('fast-json-stringify');
const { startServer } = await import(dist('server/start.js'));
const { answers } = await import(dist('server/answers.js'));
const work = mkdtempSync(path.join(os.tmpdir(), 'cairn-answers-'));
const s = await startServer({ listen: '127.0.0.1:0', dataDir: path.join(work, 'server'), env: process.env });
const host = { actor: { id: 'bench-admin', auth: 'os-user' }, command: 'bench setup' };
try {
  const out = await s.runtime.runAs(host, async () => {
    const src = path.join(work, 'src');
    mkdirSync(src, { recursive: true });
    writeFileSync(path.join(src, 'a.csv'), 'x,y\n1,2\n');
    await s.runtime.services.datasets.add({ source: src, name: 'bench' });
    const model = path.join(work, 'model');
    mkdirSync(model, { recursive: true });
    for (let i = 0; i < 50; i++) {
      writeFileSync(path.join(model, 'w.json'), JSON.stringify({ w: i }));
      await s.runtime.services.models.register({ name: 'bench', path: model, format: 'json' });
    }
    const sv = s.runtime.services;
    return {
      'datasets.list': await sv.datasets.list(),
      'runs.list': await sv.runs.list({ limit: 50 }),
      'models.versions': await sv.models.versions('bench'),
    };
  });
  const result = {};
  for (const [id, value] of Object.entries(out)) {
    const compiled = fjs(answers[id]);
    if (compiled(value) !== JSON.stringify(value)) throw new Error(`${id}: the serializers disagree`);
    const least = { json: Infinity, schema: Infinity };
    for (let k = 0; k < 40; k++)
      for (const [name, f] of [
        ['json', JSON.stringify],
        ['schema', compiled],
      ]) {
        const t = process.hrtime.bigint();
        for (let i = 0; i < 200; i++) f(value);
        least[name] = Math.min(least[name], Number(process.hrtime.bigint() - t) / 200 / 1000);
      }
    result[id] = {
      bytes: JSON.stringify(value).length,
      jsonUs: +least.json.toFixed(2),
      schemaUs: +least.schema.toFixed(2),
    };
  }
  console.log(JSON.stringify(result));
} finally {
  await s.close();
  rmSync(work, { recursive: true, force: true });
}
