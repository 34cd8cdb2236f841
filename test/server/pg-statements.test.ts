/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field in the tests */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../src/test-support/services.js';
import { startTeam, type Team } from './harness.js';

/**
 * What one authenticated metadata read costs a server on PostgreSQL, in statements (each one a
 * round trip, a backend wake-up and the driver's work on both ends: docs/SERVER.md "Throughput on
 * PostgreSQL"). Counted one request at a time, so nothing is shared with other requests of the
 * same event-loop turn: the read itself and the append of its event, which also checks that the
 * identity generation the request was checked against still stands (no statement of its own).
 */
const available = await postgresAvailable();

describe.skipIf(!available)('statements per read on PostgreSQL', () => {
  let t: Team;
  let schema: string;
  let sink: string[] | null = null;
  const query = pg.Client.prototype.query;
  beforeAll(async () => {
    // Before any connection exists: each pooled connection binds its query method when it connects.
    pg.Client.prototype.query = function (this: pg.Client, ...args: any[]) {
      const c = args[0];
      sink?.push(typeof c === 'string' ? c : String(c?.text ?? ''));
      return (query as any).apply(this, args);
    } as typeof query;
    const db = freshPgUrl();
    schema = db.schema;
    t = await startTeam({ db: db.url });
    const rt = t.server.runtime;
    const dir = mkdtempSync(join(tmpdir(), 'cairn-data-'));
    writeFileSync(join(dir, 'd.csv'), 'x,y\n1,2\n');
    await rt.runAs({ actor: { id: 'alice', auth: 'token' }, command: 'test add' }, () =>
      rt.services.datasets.add({ source: dir, name: 'd' }),
    );
    await t.registerAs('alice', 'm');
    const second = await t.registerAs('alice', 'm');
    await rt.runAs({ actor: { id: 'bob', auth: 'token' }, command: 'test promote' }, () =>
      rt.services.models.promote(second, 'staging'),
    );
  }, 120_000);
  afterAll(async () => {
    pg.Client.prototype.query = query;
    await t?.close();
    if (schema) await dropSchema(schema);
  });

  /** The statements the server sent while `fn` ran (this process's pg clients, pooled or not). */
  const counted = async (fn: () => Promise<void>): Promise<string[]> => {
    const texts: string[] = [];
    sink = texts;
    try {
      await fn();
    } finally {
      sink = null;
    }
    return texts;
  };

  it.each([
    ['data ls', 2, '/api/v1/datasets'],
    ['model versions', 2, '/api/v1/models/m/versions'],
    // run ls brings active runs up to date first: the active and queued runs in one read.
    ['run ls', 3, '/api/v1/runs?limit=50'],
    // Every model with its version count, latest version and aliases in one read (was 1 + 2 per model).
    ['model ls', 2, '/api/v1/models'],
  ] as const)('%s: %i statements', async (_what, expected, path) => {
    // Warm: this process has appended before (its next request event is one statement).
    expect((await t.call('carol', 'GET', path)).status).toBe(200);
    let r: Awaited<ReturnType<Team['call']>> | undefined;
    const texts = await counted(async () => {
      r = await t.call('carol', 'GET', path);
    });
    expect(r!.status).toBe(200);
    expect(texts.length, texts.join('\n')).toBe(expected);
  });

  it('a model approval proves its version against the checkpoint it read once: 18 statements', async () => {
    const approve = (alias: string) =>
      t.call('bob', 'POST', '/api/v1/model-versions/approvals', { ref: 'm@v1', alias });
    expect((await approve('a0')).status).toBe(200);
    // A checkpoint that covers the version's event: it is proven against it, not read as the log's tail.
    expect((await t.call('admin', 'GET', '/api/v1/audit/checkpoint')).status).toBe(200);
    let r: Awaited<ReturnType<Team['call']>> | undefined;
    const texts = await counted(async () => {
      r = await approve('a1');
    });
    expect(r!.status, JSON.stringify(r!.json)).toBe(200);
    expect(texts.filter((x) => /from "?audit_checkpoints"?/.test(x)).length, texts.join('\n')).toBe(1);
    // 16, and the server's own check that bob neither trained nor registered the version (its
    // model and version row: an approval is never one's own, whatever the alias's policy says).
    expect(texts.length, texts.join('\n')).toBe(18);
  });

  it('a tag write, one at a time: 11 statements (the tag row created or moved in one)', async () => {
    const tag = (name: string) => t.call('alice', 'POST', '/api/v1/versions/tags', { ref: 'd@v1', tag: name });
    expect((await tag('t0')).status).toBe(200);
    let r: Awaited<ReturnType<Team['call']>> | undefined;
    const texts = await counted(async () => {
      r = await tag('t1');
    });
    expect(r!.status, JSON.stringify(r!.json)).toBe(200);
    expect(texts.length, texts.join('\n')).toBe(11);
  });

  it('answers the same listings as before, in one statement each', async () => {
    const versions = (await t.call('carol', 'GET', '/api/v1/models/m/versions')).json as any[];
    expect(versions.map((v) => [v.ref, v.aliases])).toEqual([
      ['m@v2', ['staging']],
      ['m@v1', []],
    ]);
    expect((await t.call('carol', 'GET', '/api/v1/models/none/versions')).status).toBe(404);
    const models = (await t.call('carol', 'GET', '/api/v1/models')).json as any[];
    expect(models.map((m) => [m.name, m.versions, m.latest, m.aliases])).toEqual([['m', 2, 'v2', { staging: 'v2' }]]);
    expect(typeof models[0].updated).toBe('string');
    const datasets = (await t.call('carol', 'GET', '/api/v1/datasets')).json as any[];
    expect(datasets.map((d) => [d.name, d.versions, d.latest_number])).toEqual([
      ['d', 1, 1],
      ['models/m', 2, 2],
    ]);
  });
});
