// Issue 10, item 6: someone who can write the metadata database — and nothing else — deletes the
// signed checkpoints, rewrites entries and rebuilds the stored tree. Cairn must not sign that
// history with the real key on its next command, and `audit verify` must name the mismatch with
// the checkpoint kept outside the database (.cairn/keys/checkpoint). Real SQL, real CLI, on
// SQLite and on PostgreSQL.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  rawPostgres,
  rawSqlite,
  rewriteHistory,
  rebuildTree,
  type RawSql,
} from '../../src/test-support/audit-tamper.js';
import { cli } from '../../src/test-support/cli.js';
import { dropSchema, freshPgUrl, postgresAvailable } from '../../src/test-support/services.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';

const pgUp = await postgresAvailable();

interface Problem {
  index: number | null;
  kind: string;
  message: string;
}

function run(ws: string, args: string[]) {
  const r = cli([...args, '--json'], { cwd: ws });
  return {
    ...r,
    doc: r.json as { error?: { code: string; message: string; data: Record<string, unknown> } } & Record<
      string,
      unknown
    >,
  };
}

function verifyProblems(ws: string): { code: number; problems: Problem[]; kept: unknown } {
  const r = run(ws, ['audit', 'verify']);
  const report = (r.doc.error ? (r.doc.error.data.report as Record<string, unknown>) : r.doc) as {
    problems: Problem[];
    kept: unknown;
  };
  return { code: r.code, problems: report.problems, kept: report.kept };
}

const backends: Array<{
  name: string;
  skip: boolean;
  init(tmp: () => string): Promise<{ ws: string; db: () => Promise<RawSql> }>;
}> = [
  {
    name: 'SQLite',
    skip: false,
    init: async (tmp) => {
      const ws = tmp();
      expect(cli(['init', '.'], { cwd: ws }).code).toBe(0);
      return { ws, db: async () => rawSqlite(ws) };
    },
  },
  {
    name: 'PostgreSQL',
    skip: !pgUp,
    init: async (tmp) => {
      const ws = tmp();
      const { url, schema } = freshPgUrl();
      schemas.push(schema);
      expect(cli(['init', '.', '--metadata-url', url], { cwd: ws }).code).toBe(0);
      return { ws, db: () => rawPostgres(schema) };
    },
  },
];
const schemas: string[] = [];

describe('a database-only attacker cannot make Cairn sign a forged history', () => {
  const tmp = useTempDirs();
  afterEach(async () => {
    for (const s of schemas.splice(0)) await dropSchema(s);
  });

  /** init, two adds and a tag: 4 events, each followed by a checkpoint. */
  async function seeded(b: (typeof backends)[number]) {
    const { ws, db } = await b.init(tmp);
    writeTree(join(ws, 'd'), { 'a.bin': prng(1, 5000) });
    expect(cli(['data', 'add', 'd', '--name', 'a'], { cwd: ws }).code).toBe(0);
    writeTree(join(ws, 'd'), { 'a.bin': prng(2, 5000) });
    expect(cli(['data', 'add', 'd', '--name', 'a'], { cwd: ws }).code).toBe(0);
    expect(cli(['data', 'tag', 'a@v1', 'prod'], { cwd: ws }).code).toBe(0);
    const keptFile = join(ws, '.cairn', 'keys', 'checkpoint');
    const kept = readFileSync(keptFile, 'utf8');
    const sql = await db();
    const [latest] = await sql.all<{ size: number | string; note: string }>(
      'select size, note from audit_checkpoints order by size desc limit 1',
    );
    await sql.close();
    // The kept copy is the latest signed checkpoint, byte for byte.
    expect(Number(latest!.size)).toBe(4);
    expect(kept).toBe(latest!.note);
    expect(verifyProblems(ws)).toMatchObject({ code: 0, problems: [], kept: { size: 4 } });
    return { ws, db, keptFile, kept };
  }

  for (const b of backends) {
    it.skipIf(b.skip)(
      `${b.name}: checkpoints deleted and entry 1 rewritten — the next command refuses to sign, and verify names the kept checkpoint`,
      async () => {
        const { ws, db, keptFile, kept } = await seeded(b);
        const sql = await db();
        await sql.run('delete from audit_checkpoints');
        await rewriteHistory(sql, 1, (e) => {
          e.actor = { id: 'scapegoat@example.com', auth: 'environment' };
        });
        await sql.close();

        // The next command appends (that much the database allows) but signs nothing.
        const tag = run(ws, ['data', 'tag', 'a@v2', 'staging']);
        expect(tag.code).toBe(1);
        expect(tag.doc.error?.code).toBe('AUDIT_INCONSISTENT');
        expect(tag.doc.error?.message).toContain('.cairn/keys/checkpoint');
        const after = await db();
        expect(await after.all('select size from audit_checkpoints')).toEqual([]);
        await after.close();
        expect(readFileSync(keptFile, 'utf8')).toBe(kept);
        // `audit checkpoint` refuses the same way.
        expect(run(ws, ['audit', 'checkpoint']).doc.error?.code).toBe('AUDIT_INCONSISTENT');

        const v = verifyProblems(ws);
        expect(v.code).toBe(1);
        expect(v.problems).toContainEqual({
          index: 0,
          rangeEnd: 4,
          kind: 'kept-mismatch',
          message: expect.stringContaining('checkpoint kept outside the database (.cairn/keys/checkpoint)'),
        });
      },
    );

    it.skipIf(b.skip)(`${b.name}: the tail cut off with its checkpoints — refused and reported as cut`, async () => {
      const { ws, db } = await seeded(b);
      const sql = await db();
      await sql.run('delete from audit_checkpoints where size > 2');
      await sql.run('delete from audit_events where idx >= 2');
      await rebuildTree(sql);
      await sql.close();
      const tag = run(ws, ['data', 'tag', 'a@v1', 'other']);
      expect(tag.code).toBe(1);
      expect(tag.doc.error).toMatchObject({ code: 'AUDIT_INCONSISTENT', message: expect.stringContaining('covers 4') });
      const v = verifyProblems(ws);
      expect(v.code).toBe(1);
      expect(v.problems).toContainEqual({
        index: 3,
        kind: 'kept-beyond-log',
        message: expect.stringContaining('covers 4 entries but the log has only 3'),
      });
    });
  }

  it('a kept checkpoint that does not carry the workspace signature is refused, not ignored', async () => {
    const { ws, keptFile, kept } = await seeded(backends[0]!);
    writeFileSync(keptFile, kept.replace(/\n4\n/, '\n3\n'));
    const tag = run(ws, ['data', 'tag', 'a@v2', 'x']);
    expect(tag.doc.error).toMatchObject({
      code: 'AUDIT_INCONSISTENT',
      message: expect.stringContaining("does not carry this log's signature"),
    });
    expect(verifyProblems(ws).problems.map((p) => p.kind)).toContain('kept-signature');
  });

  it('an untouched workspace keeps verifying; a workspace from before the kept copy gets one on its next command', async () => {
    const { ws, keptFile } = await seeded(backends[0]!);
    const { rmSync } = await import('node:fs');
    rmSync(keptFile);
    expect(verifyProblems(ws)).toMatchObject({ code: 0, kept: null });
    expect(cli(['data', 'tag', 'a@v2', 'staging'], { cwd: ws }).code).toBe(0);
    expect(existsSync(keptFile)).toBe(true);
    expect(readFileSync(keptFile, 'utf8')).toMatch(/^cairn\.local\/[0-9a-f-]+\n5\n/);
    const ok = cli(['audit', 'verify'], { cwd: ws });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(
      "self-consistent; verified against the workspace's own key and the checkpoint kept in .cairn/keys/checkpoint (size 5)",
    );
  });
});
