// The audit log on PostgreSQL: same commands, same verification, and concurrent appenders in
// separate processes serialize on the log head.
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, cliSpawn } from '../../src/test-support/cli.js';
import { dropSchema, freshPgUrl, PG_BASE_URL, postgresAvailable } from '../../src/test-support/services.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';

const available = await postgresAvailable();

async function query<T>(schema: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: PG_BASE_URL });
  await client.connect();
  try {
    await client.query(`set search_path to ${schema}`);
    return (await client.query(sql)).rows as T[];
  } finally {
    await client.end();
  }
}

function spawnRun(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const p = cliSpawn(args, { cwd });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe.skipIf(!available)('the audit log on PostgreSQL', () => {
  const tmp = useTempDirs();
  const schemas: string[] = [];
  afterEach(async () => {
    for (const s of schemas.splice(0)) await dropSchema(s);
  });

  function init(): { ws: string; schema: string } {
    const ws = tmp();
    const { url, schema } = freshPgUrl();
    schemas.push(schema);
    const r = cli(['init', '.', '--metadata-url', url, '--json'], { cwd: ws });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json).toMatchObject({ metadata: 'postgres' });
    return { ws, schema };
  }

  it('add, tag, log, verify, prove and export work as on SQLite', async () => {
    const { ws, schema } = init();
    writeTree(join(ws, 'd'), { 'a.bin': prng(1, 20_000) });
    expect(cli(['data', 'add', 'd', '--name', 'a'], { cwd: ws }).code).toBe(0);
    expect(cli(['data', 'tag', 'a@v1', 'prod'], { cwd: ws }).code).toBe(0);
    writeTree(join(ws, 'd'), { 'a.bin': prng(2, 20_000) });
    expect(cli(['data', 'add', 'd', '--name', 'a'], { cwd: ws }).code).toBe(0);
    expect(cli(['data', 'tag', 'a@v2', 'prod'], { cwd: ws }).code).toBe(1);

    const log = cli(['audit', 'log', '--json'], { cwd: ws });
    expect(
      (log.json as Array<{ index: number; action: string; outcome: string; prev: string | null }>).map((e) => [
        e.index,
        e.action,
        e.outcome,
      ]),
    ).toEqual([
      [0, 'workspace.init', 'ok'],
      [1, 'dataset.version.create', 'ok'],
      [2, 'dataset.tag', 'ok'],
      [3, 'dataset.version.create', 'ok'],
      [4, 'dataset.tag', 'failed'],
    ]);
    const v = cli(['audit', 'verify', '--artifacts', '--json'], { cwd: ws });
    expect(v.code, v.stdout).toBe(0);
    expect(v.json).toMatchObject({ ok: true, size: 5, checkpoints: 5, problems: [], artifacts: { digests: 2 } });

    const proof = join(tmp(), 'p.json');
    expect(cli(['audit', 'prove', '3', '--out', proof], { cwd: ws }).code).toBe(0);
    expect(cli(['audit', 'verify-proof', proof], { cwd: tmp() }).code).toBe(0);
    const bundle = join(tmp(), 'bundle');
    expect(cli(['audit', 'export', bundle], { cwd: ws }).code).toBe(0);
    expect(cli(['audit', 'verify', '--bundle', bundle, '--json'], { cwd: tmp() }).json).toMatchObject({
      ok: true,
      size: 5,
    });

    // Tampering is caught the same way.
    const rows = await query<{ idx: string }>(schema, 'select idx from audit_events order by idx');
    expect(rows.map((r) => Number(r.idx))).toEqual([0, 1, 2, 3, 4, 5]);
    await query(schema, "update audit_events set entry = replace(entry, 'tester@', 'Tester@') where idx = 2");
    const bad = cli(['audit', 'verify', '--json'], { cwd: ws });
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain('"firstBadIndex": 2');
  });

  it('two processes adding at once produce one consistent log with contiguous indexes', async () => {
    const { ws, schema } = init();
    const ROUNDS = 4;
    for (const who of ['p', 'q'])
      for (let i = 0; i < ROUNDS; i++)
        writeTree(join(ws, `${who}${i}`), { 'x.bin': prng(who === 'p' ? 100 + i : 200 + i, 8000) });
    // Two writers, each adding ROUNDS versions of the same dataset, racing each other.
    const writer = async (who: string) => {
      const out: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const r = await spawnRun(['data', 'add', `${who}${i}`, '--name', 'shared', '--json'], ws);
        expect(r.code, r.stderr + r.stdout).toBe(0);
        out.push((JSON.parse(r.stdout) as { version: number }).version);
      }
      return out;
    };
    const [p, q] = await Promise.all([writer('p'), writer('q')]);
    expect([...p, ...q].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);

    const events = await query<{ idx: string; entry: string; leaf_hash: string }>(
      schema,
      'select idx, entry, leaf_hash from audit_events order by idx',
    );
    expect(events.map((e) => Number(e.idx))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    const parsed = events.map(
      (e) =>
        JSON.parse(e.entry) as {
          index: number;
          prev: string | null;
          target: { version?: number };
          process: { pid: number };
        },
    );
    parsed.forEach((e, i) => {
      expect(e.index).toBe(i);
      expect(e.prev).toBe(i === 0 ? null : events[i - 1]!.leaf_hash);
    });
    // Version numbers were assigned in log order: the head lock serializes both.
    expect(parsed.slice(1).map((e) => e.target.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(new Set(parsed.slice(1).map((e) => e.process.pid)).size).toBe(2 * ROUNDS);
    const head = await query<{ size: string }>(schema, 'select size from audit_head');
    expect(Number(head[0]!.size)).toBe(9);

    const v = cli(['audit', 'verify', '--json'], { cwd: ws });
    expect(v.code, v.stdout).toBe(0);
    expect(v.json).toMatchObject({ ok: true, size: 9, problems: [] });
    // Every appending command left a checkpoint; they all lie on one history.
    const cps = await query<{ size: string }>(schema, 'select size from audit_checkpoints order by size');
    expect(Number(cps[cps.length - 1]!.size)).toBe(9);
    expect(cps.length).toBeGreaterThanOrEqual(2);
  });
});
