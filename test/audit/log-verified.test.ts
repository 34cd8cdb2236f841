// `cairn audit log` and `cairn audit show` say what the verified entry says (issue 10, item
// 5): the indexed columns beside an entry (actor, action, target, outcome, time) are not
// covered by its leaf hash, so forging them with SQL must neither change what is shown nor
// hide an event from a filter; an entry that no longer hashes to its leaf is shown as tampered.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { cli } from '../../src/test-support/cli.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';

/**  0 workspace.init (tester)   1 add a@v1 (alice)   2 tag a@v1 prod (alice)   3 add b@v1 (bob) */
function build(ws: string): void {
  const as = (actor: string, args: string[]) =>
    expect(cli(args, { cwd: ws, env: { CAIRN_ACTOR: actor } }).code).toBe(0);
  as('tester@example.com', ['init', '.']);
  writeTree(join(ws, 'd'), { 'x.bin': prng(1, 3000) });
  as('alice@example.com', ['data', 'add', 'd', '--name', 'a']);
  as('alice@example.com', ['data', 'tag', 'a@v1', 'prod']);
  as('bob@example.com', ['data', 'add', 'd', '--name', 'b']);
}

const log = (ws: string, ...args: string[]) => {
  const r = cli(['audit', 'log', ...args, '--json'], { cwd: ws });
  expect(r.code, r.stderr).toBe(0);
  return r.json as Array<{
    index: number;
    actor: { id: string };
    action: string;
    target: { name?: string };
    outcome: string;
    tampered?: boolean;
  }>;
};

describe('audit log and show read the verified entry, not the columns beside it', () => {
  const tmp = useTempDirs();

  it('forged columns change nothing that is shown and hide nothing from a filter', () => {
    const ws = tmp();
    build(ws);
    const db = new Database(join(ws, '.cairn', 'meta.db'));
    db.prepare(
      "update audit_events set actor = 'mallory@example.com', action = 'store.gc', target_name = 'zzz', outcome = 'failed', time = '2000-01-01T00:00:00.000Z' where idx = 1",
    ).run();
    db.close();
    // What is shown is what entry 1 says.
    const all = log(ws);
    expect(all[1]).toMatchObject({
      index: 1,
      action: 'dataset.version.create',
      actor: { id: 'alice@example.com' },
      target: { name: 'a' },
      outcome: 'ok',
    });
    expect(all.every((e) => e.tampered === undefined)).toBe(true);
    const human = cli(['audit', 'log'], { cwd: ws }).stdout.split('\n');
    expect(human[2]).toMatch(/^1\s+\S+Z\s+alice@example\.com\s+dataset\.version\.create\s+dataset:a@v1\s+ok$/);
    // Filters match the entry: the forged columns neither hide it nor put it elsewhere.
    expect(log(ws, '--actor', 'alice@example.com').map((e) => e.index)).toEqual([1, 2]);
    expect(log(ws, '--actor', 'mallory@example.com')).toEqual([]);
    expect(log(ws, '--action', 'dataset.version.create').map((e) => e.index)).toEqual([1, 3]);
    expect(log(ws, '--action', 'store.*')).toEqual([]);
    expect(log(ws, '--target', 'a').map((e) => e.index)).toEqual([1, 2]);
    expect(log(ws, '--outcome', 'failed')).toEqual([]);
    expect(log(ws, '--since', '1h').map((e) => e.index)).toEqual([0, 1, 2, 3]);
    expect(log(ws, '--actor', 'alice@example.com', '--limit', '1').map((e) => e.index)).toEqual([2]);
    const show = cli(['audit', 'show', '1', '--json'], { cwd: ws });
    expect(show.code).toBe(0);
    expect((show.json as { event: { actor: { id: string } } }).event.actor.id).toBe('alice@example.com');
  });

  it('an entry that no longer hashes to its leaf is shown as tampered; audit show refuses to pass it off as the log', () => {
    const ws = tmp();
    build(ws);
    const db = new Database(join(ws, '.cairn', 'meta.db'));
    db.prepare(
      "update audit_events set entry = replace(entry, 'alice@example.com', 'carol@example.com') where idx = 2",
    ).run();
    db.close();
    const all = log(ws);
    expect(all.map((e) => [e.index, e.tampered ?? false])).toEqual([
      [0, false],
      [1, false],
      [2, true],
      [3, false],
    ]);
    const r = cli(['audit', 'log'], { cwd: ws });
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[3]).toMatch(/^2\s+.*\s+ok TAMPERED$/);
    expect(r.stderr).toContain('1 entry does not match');
    const show = cli(['audit', 'show', '2', '--json'], { cwd: ws });
    expect(show.code).toBe(1);
    expect((show.json as { error: { code: string; data: { tampered: boolean } } }).error).toMatchObject({
      code: 'CHECK_FAILED',
      data: { tampered: true },
    });
    expect(cli(['audit', 'show', '1', '--json'], { cwd: ws }).code).toBe(0);
  });
});
