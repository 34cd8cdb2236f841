// `cairn audit log` filters and `cairn audit show`, through the real CLI.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { beforeAll, describe, expect, it } from 'vitest';
import { initWorkspace } from '../../src/app/workspace.js';
import { cli } from '../../src/test-support/cli.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';

const HOUR = 3600e3;

describe('cairn audit log and show', () => {
  let ws = '';

  /**
   *   0 workspace.init   tester  3 h ago
   *   1 store.gc         tester  3 h ago
   *   2 add images@v1    alice   now
   *   3 add labels@v1    bob
   *   4 tag images@v1 prod   alice
   *   5 add images@v2    bob
   *   6 tag images@v2 prod   bob   failed (tag exists, no --force)
   *   7 checkout labels@v1   alice
   */
  beforeAll(async () => {
    // useTempDirs() removes its folders after each test; this workspace is shared by the file.
    ws = mkdtempSync(join(tmpdir(), 'cairn-audit-log-'));
    const then = new Date(Date.now() - 3 * HOUR);
    const w = await initWorkspace(ws, {
      command: 'init',
      clock: { now: () => then },
      env: { ...process.env, CAIRN_ACTOR: 'tester@example.com' },
    });
    await w.audit.record({ action: 'store.gc', target: { type: 'store' }, params: { packsDeleted: 0 } }, 'ok');
    await w.close();
    const as = (actor: string, args: string[], code = 0) => {
      const r = cli(args, { cwd: ws, env: { CAIRN_ACTOR: actor } });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
    };
    writeTree(join(ws, 'img'), { 'a.bin': prng(1, 5000) });
    writeTree(join(ws, 'lab'), { 'l.csv': 'id,label\n1,cat\n' });
    as('alice@example.com', ['data', 'add', 'img', '--name', 'images']);
    as('bob@example.com', ['data', 'add', 'lab', '--name', 'labels']);
    as('alice@example.com', ['data', 'tag', 'images@v1', 'prod']);
    writeTree(join(ws, 'img'), { 'a.bin': prng(2, 5000) });
    as('bob@example.com', ['data', 'add', 'img', '--name', 'images']);
    as('bob@example.com', ['data', 'tag', 'images@v2', 'prod'], 1);
    as('alice@example.com', ['data', 'checkout', 'labels@v1', 'out']);
    return () => {
      if (!process.env.CAIRN_KEEP_TEST_DIRS) rmSync(ws, { recursive: true, force: true });
    };
  });

  const log = (...args: string[]): number[] => {
    const r = cli(['audit', 'log', ...args, '--json'], { cwd: ws });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    return (r.json as Array<{ index: number }>).map((e) => e.index);
  };

  it('lists every event in index order, each exactly as logged', () => {
    const r = cli(['audit', 'log', '--json'], { cwd: ws });
    const events = r.json as Array<{ index: number; action: string; actor: { id: string }; outcome: string }>;
    expect(events.map((e) => [e.index, e.action, e.actor.id, e.outcome])).toEqual([
      [0, 'workspace.init', 'tester@example.com', 'ok'],
      [1, 'store.gc', 'tester@example.com', 'ok'],
      [2, 'dataset.version.create', 'alice@example.com', 'ok'],
      [3, 'dataset.version.create', 'bob@example.com', 'ok'],
      [4, 'dataset.tag', 'alice@example.com', 'ok'],
      [5, 'dataset.version.create', 'bob@example.com', 'ok'],
      [6, 'dataset.tag', 'bob@example.com', 'failed'],
      [7, 'dataset.checkout', 'alice@example.com', 'ok'],
    ]);
    const db = new Database(join(ws, '.cairn', 'meta.db'), { readonly: true });
    const entries = (db.prepare('select entry from audit_events order by idx').all() as Array<{ entry: string }>).map(
      (x) => JSON.parse(x.entry) as unknown,
    );
    db.close();
    expect(events).toEqual(entries);
  });

  it('--actor', () => {
    expect(log('--actor', 'alice@example.com')).toEqual([2, 4, 7]);
    expect(log('--actor', 'bob@example.com')).toEqual([3, 5, 6]);
    expect(log('--actor', 'nobody@example.com')).toEqual([]);
  });

  it('--action, exact or a prefix with a trailing *', () => {
    expect(log('--action', 'dataset.tag')).toEqual([4, 6]);
    expect(log('--action', 'dataset.*')).toEqual([2, 3, 4, 5, 6, 7]);
    expect(log('--action', 'dataset.version.*')).toEqual([2, 3, 5]);
    expect(log('--action', 'store.*')).toEqual([1]);
    expect(log('--action', 'dataset')).toEqual([]);
  });

  it('--target and --outcome', () => {
    expect(log('--target', 'images')).toEqual([2, 4, 5, 6]);
    expect(log('--target', 'labels')).toEqual([3, 7]);
    expect(log('--outcome', 'failed')).toEqual([6]);
    expect(log('--outcome', 'ok')).toEqual([0, 1, 2, 3, 4, 5, 7]);
    expect(log('--outcome', 'denied')).toEqual([]);
    const bad = cli(['audit', 'log', '--outcome', 'maybe', '--json'], { cwd: ws });
    expect(bad.code).toBe(2);
    expect((bad.json as { error: { code: string } }).error.code).toBe('USAGE');
  });

  it('--since and --until, as ages or ISO times', () => {
    expect(log('--since', '1h')).toEqual([2, 3, 4, 5, 6, 7]);
    expect(log('--until', '1h')).toEqual([0, 1]);
    expect(log('--since', '4h', '--until', '2h')).toEqual([0, 1]);
    expect(log('--since', '2d')).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(log('--since', '90m', '--until', '30m')).toEqual([]);
    expect(log('--since', new Date(Date.now() + HOUR).toISOString())).toEqual([]);
    expect(log('--until', new Date(Date.now() + HOUR).toISOString())).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const bad = cli(['audit', 'log', '--since', 'yesterday-ish', '--json'], { cwd: ws });
    expect(bad.code).toBe(2);
    expect((bad.json as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'USAGE',
      message: '--since "yesterday-ish" is not an ISO time or an age like 7d',
    });
  });

  it('--limit keeps the newest n, still in index order; filters combine', () => {
    expect(log('--limit', '3')).toEqual([5, 6, 7]);
    expect(log('--limit', '100')).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(log('--action', 'dataset.*', '--limit', '2')).toEqual([6, 7]);
    expect(log('--actor', 'bob@example.com', '--action', 'dataset.*', '--target', 'images', '--outcome', 'ok')).toEqual(
      [5],
    );
    expect(log('--actor', 'alice@example.com', '--since', '1h', '--target', 'labels')).toEqual([7]);
    expect(cli(['audit', 'log', '--limit', 'many'], { cwd: ws }).code).toBe(2);
  });

  it('prints a table for humans', () => {
    const r = cli(['audit', 'log', '--actor', 'bob@example.com'], { cwd: ws });
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines.length).toBe(4);
    expect(lines[0]).toMatch(/^#\s+TIME\s+ACTOR\s+ACTION\s+TARGET\s+OUTCOME$/);
    expect(lines[1]).toMatch(/^3\s+\S+Z\s+bob@example\.com\s+dataset\.version\.create\s+dataset:labels@v1\s+ok$/);
    expect(lines[3]).toMatch(/^6\s+\S+Z\s+bob@example\.com\s+dataset\.tag\s+dataset:images@v2\s+failed$/);
  });

  it('audit show <i> prints one event exactly as logged, with its leaf hash', () => {
    const db = new Database(join(ws, '.cairn', 'meta.db'), { readonly: true });
    const row = db.prepare('select entry, leaf_hash from audit_events where idx = 6').get() as {
      entry: string;
      leaf_hash: string;
    };
    db.close();
    const r = cli(['audit', 'show', '6', '--json'], { cwd: ws });
    expect(r.code).toBe(0);
    expect(r.json).toEqual({ index: 6, leafHash: row.leaf_hash, event: JSON.parse(row.entry) });
    expect((r.json as { event: { reason: string } }).event.reason).toBe(
      'ALREADY_EXISTS: The thing to create exists already.',
    );
    const human = cli(['audit', 'show', '6'], { cwd: ws });
    expect(human.stdout).toBe(`${JSON.stringify(JSON.parse(row.entry), null, 2)}\nleaf hash: ${row.leaf_hash}\n`);

    const missing = cli(['audit', 'show', '8', '--json'], { cwd: ws });
    expect(missing.code).toBe(1);
    expect((missing.json as { error: { code: string; message: string } }).error).toMatchObject({
      code: 'NOT_FOUND',
      message: 'no audit event at index 8',
    });
    const bad = cli(['audit', 'show', 'four', '--json'], { cwd: ws });
    expect(bad.code).toBe(2);
    expect((bad.json as { error: { code: string } }).error.code).toBe('USAGE');
  });

  it('reading the log changes nothing (no event, no checkpoint)', () => {
    const count = () => {
      const db = new Database(join(ws, '.cairn', 'meta.db'), { readonly: true });
      const r = [
        db.prepare('select count(*) as n from audit_events').get(),
        db.prepare('select count(*) as n from audit_checkpoints').get(),
      ];
      db.close();
      return r;
    };
    const before = count();
    log('--actor', 'alice@example.com');
    cli(['audit', 'show', '1'], { cwd: ws });
    expect(count()).toEqual(before);
  });
});

describe('--json output of failing checks', () => {
  const tmp = useTempDirs();

  it('a failing `audit verify --json` prints one JSON document: the error, with the report inside', () => {
    const ws = tmp();
    expect(cli(['init', '.'], { cwd: ws }).code).toBe(0);
    const db = new Database(join(ws, '.cairn', 'meta.db'));
    db.prepare("update audit_events set entry = replace(entry, 'tester', 'Tester') where idx = 0").run();
    db.close();
    const r = cli(['audit', 'verify', '--json'], { cwd: ws });
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.stdout) as {
      error: {
        code: string;
        data: { firstBadIndex: number; kind: string; problems: number; report: { ok: boolean; firstBad: unknown } };
      };
    };
    expect(doc.error.code).toBe('CHECK_FAILED');
    // leaf-mismatch, and the signed checkpoint and the one kept in .cairn/keys/checkpoint disagreeing
    expect(doc.error.data).toMatchObject({ firstBadIndex: 0, kind: 'leaf-mismatch', problems: 3 });
    expect(doc.error.data.report).toMatchObject({ ok: false, firstBad: { index: 0, kind: 'leaf-mismatch' } });
  });
});
