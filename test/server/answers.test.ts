/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field in the tests */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/app/config.js';
import { openMetaStore, type MetaStore } from '../../src/meta/open.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../src/test-support/services.js';
import { servicesAs, startTeam, type Team } from './harness.js';

const pg = await postgresAvailable();
const host = { actor: { id: 'host-admin', auth: 'os-user' as const }, command: 'test' };
// Every character JSON must escape, and some it need not.
const odd = 'quote " backslash \\ newline \n tab \t control \u0001 \u001f ls \u2028 é 😀 </script>';

/**
 * The three most asked reads, as the OpenAPI document describes them (src/server/answers.ts):
 * every answer matches its schema exactly (no field missing, none undescribed, nulls where the
 * schema allows them), is byte for byte the JSON of what the services in the server's process
 * return, and reaches the CLI's client field for field as that.
 */
describe.each([
  ['sqlite', false],
  ['postgres', true],
])('answers of data ls, run ls and model versions on %s', (_name, usePg) => {
  let t: Team;
  let meta: MetaStore;
  let schema: string | null = null;
  const skip = () => usePg && !pg;

  beforeAll(async () => {
    if (skip()) return;
    const db = usePg ? freshPgUrl() : null;
    schema = db?.schema ?? null;
    t = await startTeam(db ? { db: db.url } : {});
    const url = loadConfig(join(t.dataDir, '.cairn')).metadata.url;
    meta = await openMetaStore(db ? db.url : `sqlite:${join(t.dataDir, '.cairn', url.slice('sqlite:'.length))}`);
    await richRows(t, meta);
  }, 60_000);
  afterAll(async () => {
    await meta?.close();
    await t?.close();
    if (schema) await dropSchema(schema);
  });

  const reads = [
    { path: '/api/v1/datasets', id: 'datasets.list', here: (s: any) => s.datasets.list() },
    { path: '/api/v1/runs', id: 'runs.list', here: (s: any) => s.runs.list({}) },
    { path: '/api/v1/models/m/versions', id: 'models.versions', here: (s: any) => s.models.versions('m') },
  ] as const;

  it.each(reads)(
    "$id: as the OpenAPI document says, byte-identical to the services' answer, the same to the CLI",
    async (r) => {
      if (skip()) return;
      const rt = t.server.runtime;
      const res = await fetch(t.server.url + r.path, { headers: { authorization: `Bearer ${t.tokens.admin}` } });
      expect(res.status).toBe(200);
      const body = await res.text();
      const here = await rt.runAs(host, () => r.here(rt.services));
      expect(body).toBe(JSON.stringify(here));
      expect((here as unknown[]).length).toBeGreaterThanOrEqual(2);
      const doc: any = await (await fetch(`${t.server.url}/api/v1/openapi.json`)).json();
      const method = Object.values(doc.paths as Record<string, Record<string, any>>)
        .flatMap((p) => Object.values(p))
        .find((o) => o.operationId === r.id);
      const described = method.responses['200'].content['application/json'].schema;
      expect(mismatches(JSON.parse(body), described, '$')).toEqual([]);
      const cli = await r.here(servicesAs(t, 'admin'));
      expect(cli).toEqual(here);
    },
  );
});

function datasetRow(name: string, created: string) {
  return { id: `ds-${name}`, name, created_at: created, created_by: 'someone' };
}

/**
 * Rows with every field the answers have, once set and once null: a dataset without versions,
 * runs as a push or a backend leaves them (terminal, so no sync touches them), an imported one,
 * a model version trained by a run and carrying aliases.
 */
async function richRows(t: Team, meta: MetaStore) {
  const rt = t.server.runtime;
  const dir = mkdtempSync(join(t.dataDir, 'src-'));
  writeFileSync(join(dir, 'a.csv'), 'x\n1\n');
  await rt.runAs(host, () => rt.services.datasets.add({ source: dir, name: 'full' }));
  await meta.db.insertInto('datasets').values(datasetRow('empty', '2026-01-01T00:00:00.000Z')).execute();
  const run = (id: string, set: boolean) => ({
    id,
    run_key: `key-${id}`,
    name: `train ${odd}`,
    project: 'default',
    spec_digest: 'd',
    spec: '{}',
    backend: 'slurm',
    backend_id: set ? '4242' : null,
    status: set ? 'failed' : 'completed',
    reason: set ? JSON.stringify({ code: 'OOM', detail: odd, n: [1, 2.5, null] }) : null,
    exit_code: set ? 137 : null,
    priority: 0,
    gpus: set ? 2 : 0,
    cpus: 1,
    memory_mb: 1,
    time_limit_s: 60,
    created_at: set ? '2026-02-02T00:00:00.000Z' : '2026-02-01T00:00:00.000Z',
    created_by: 'alice',
    started_at: set ? '2026-02-02T00:00:01.000Z' : null,
    ended_at: set ? '2026-02-02T00:00:02.000Z' : null,
    restarts: 0,
    code_commit: null,
    code_dirty: null,
    env_digest: null,
    dir: '/nonexistent',
    output_version_id: null,
    reused_from: set ? 'run-bare' : null,
    usage: '{}',
    human_name: set ? `brave ${odd}` : null,
    tags: set ? JSON.stringify({ [odd]: odd, lr: '0.1' }) : '{}',
    note: set ? odd : null,
  });
  await meta.db
    .insertInto('runs')
    .values([run('run-full', true), run('run-bare', false)])
    .execute();
  await meta.db
    .insertInto('run_imports')
    .values({
      run_id: 'run-full',
      origin: 'elsewhere.example/log',
      workspace: null,
      event_index: 7,
      author: 'alice',
      imported_by: 'bob',
      record_vouched: 1,
      imported_at: '2026-02-03T00:00:00.000Z',
    })
    .execute();
  await t.registerAs('alice', 'm');
  const ref = await t.registerAs('alice', 'm');
  await rt.runAs({ actor: { id: 'dana', auth: 'token' }, command: 'test' }, async () => {
    await rt.services.models.promote(ref, 'staging');
    await rt.services.models.promote(ref, 'canary');
  });
  await meta.db.updateTable('model_versions').set({ run_id: 'run-full' }).where('number', '=', 1).execute();
}

/** Where a value departs from a schema of answers.ts's kind: a wrong type, a field missing or not described. */
function mismatches(v: unknown, s: any, at: string): string[] {
  if (s === undefined || !('type' in s)) return s === undefined ? [`${at}: no schema`] : [];
  const types: string[] = Array.isArray(s.type) ? s.type : [s.type];
  const kind =
    v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : (typeof v as string);
  if (!types.includes(kind)) return [`${at}: expected ${types.join('|')}, got ${JSON.stringify(v)}`];
  if (kind === 'array') return (v as unknown[]).flatMap((x, i) => mismatches(x, s.items, `${at}[${i}]`));
  if (kind !== 'object') return [];
  const o = v as Record<string, unknown>;
  if (!s.properties) return Object.entries(o).flatMap(([k, x]) => mismatches(x, s.additionalProperties, `${at}.${k}`));
  return [
    ...(s.required as string[]).filter((k) => !(k in o)).map((k) => `${at}.${k}: missing`),
    ...Object.keys(o)
      .filter((k) => !(k in s.properties))
      .map((k) => `${at}.${k}: not described`),
    ...Object.entries(o)
      .filter(([k]) => k in s.properties)
      .flatMap(([k, x]) => mismatches(x, s.properties[k], `${at}.${k}`)),
  ];
}
