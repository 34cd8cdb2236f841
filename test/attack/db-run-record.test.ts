/* eslint-disable @typescript-eslint/no-explicit-any -- verify's answer is checked field by field */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { withServices } from '../../src/app/services.js';
import { rawSqlite } from '../../src/test-support/audit-tamper.js';
import { newWorkspace, writeTree } from '../../src/test-support/workspace.js';

/**
 * A local attacker who can write the workspace's database but not its key edits a finished run's
 * record: a metric point (the accuracy a comparison or a card shows), a logged parameter, a point
 * added or taken away. The event that ended the run logged the digests of both; `audit verify`
 * must name the run. Likewise a legal hold or retention period lifted, shortened or deleted.
 * Before, it answered ok to all of them.
 */
let dir = '';
let runId = '';
let finishIndex = -1;
const env = { ...process.env, CAIRN_ACTOR: 'eve', CAIRN_SERVER: '', CAIRN_WORKSPACE: '' };
const services = <T>(fn: (s: any) => Promise<T>) => withServices({ cwd: dir, env }, fn);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cairn-db-run-'));
  await (await newWorkspace(dir, { actor: 'eve' })).close();
  writeTree(join(dir, 'data'), { 'd.csv': 'x,y\n1,2\n' });
  await services((s) => s.datasets.add({ source: join(dir, 'data'), name: 'd' }));
  const line = (o: object) => `echo '${JSON.stringify(o)}' >> "$CAIRN_METRICS_FILE"`;
  writeTree(dir, {
    'train.sh': [
      line({ kind: 'metric', name: 'acc', value: 0.5, step: 1 }),
      line({ kind: 'metric', name: 'acc', value: 0.6, step: 2 }),
      line({ kind: 'param', name: 'seed', value: 7 }),
      '',
    ].join('\n'),
  });
  writeFileSync(join(dir, 'r.yaml'), 'name: t\ncommand: sh train.sh\ninputs:\n  train: d@v1\nparams:\n  lr: 0.1\n');
  const sub: any = await services((s) => s.runs.submit({ spec: join(dir, 'r.yaml') }));
  const done: any = await services((s) => s.runs.wait(sub.run.id, { pollMs: 50 }));
  expect(done.status).toBe('completed');
  runId = done.id;
  const ends: any[] = await services((s) => s.audit.events({ action: 'run.finish' }));
  finishIndex = ends.at(-1).index;
  // A legal hold, a retention period, and a hold lifted through the log, on d@v1.
  holds.legal = (await services<any>((s) => s.compliance.hold('d@v1', { reason: 'litigation 42' }))).id;
  holds.retention = (
    await services<any>((s) => s.compliance.hold('d@v1', { reason: 'keep 10y', retainUntil: '2036-01-01' }))
  ).id;
  holds.lifted = (await services<any>((s) => s.compliance.hold('d@v1', { reason: 'audit' }))).id;
  await services((s) => s.compliance.releaseHold('d@v1', { reason: 'audit done', holdId: holds.lifted }));
}, 60_000);
const holds = { legal: '', retention: '', lifted: '' };

async function verify(): Promise<any> {
  return services((s) => s.audit.verify({}));
}

/** Runs `edit` on the database, verifies, then `undo`; the workspace verifies clean again after. */
async function tampered(edit: string, undo: string): Promise<any> {
  const db = rawSqlite(dir);
  await db.run(edit);
  const r = await verify();
  await db.run(undo);
  await db.close();
  expect((await verify()).ok).toBe(true);
  return r;
}

describe("a finished run's record edited in the database", () => {
  it('verifies clean untouched (the cases below fail for their edit)', async () => {
    const r = await verify();
    expect([r.ok, r.problems]).toEqual([true, []]);
  });

  it.each([
    [
      'a metric value',
      "update run_metrics set value = 0.99 where name = 'acc' and step = 2",
      "update run_metrics set value = 0.6 where name = 'acc' and step = 2",
      /metric points are not the ones the log recorded/,
    ],
    [
      'a metric point taken away',
      "update run_metrics set name = 'gone' where name = 'acc' and step = 1",
      "update run_metrics set name = 'acc' where name = 'gone' and step = 1",
      /metric points are not the ones the log recorded/,
    ],
    [
      'a logged parameter',
      "update run_params set value = '8' where name = 'seed'",
      "update run_params set value = '7' where name = 'seed'",
      /parameters are not the ones the log recorded/,
    ],
    [
      "a spec's parameter",
      "update run_params set value = '0.5' where name = 'lr'",
      "update run_params set value = '0.1' where name = 'lr'",
      /parameters are not the ones the log recorded/,
    ],
  ])('%s is named by audit verify, at the run.finish that logged it', async (_what, edit, undo, message) => {
    const r = await tampered(edit, undo);
    expect(r.ok).toBe(false);
    expect(r.firstBad).toMatchObject({ kind: 'state-mismatch', table: 'runs', key: runId, index: finishIndex });
    expect(r.firstBad.message).toMatch(message);
  });

  it('a point added is named too', async () => {
    const db = rawSqlite(dir);
    const [p] = await db.all<any>(`select * from run_metrics where run_id = ? and step = 1`, [runId]);
    await db.close();
    const cols = Object.keys(p);
    const values = cols.map((c) => (c === 'step' ? 3 : typeof p[c] === 'string' ? `'${p[c]}'` : p[c]));
    const r = await tampered(
      `insert into run_metrics (${cols.join(', ')}) values (${values.join(', ')})`,
      `delete from run_metrics where run_id = '${runId}' and step = 3`,
    );
    expect(r.firstBad).toMatchObject({ table: 'runs', key: runId, index: finishIndex });
  });
});

describe('a legal hold or retention period edited in the database (what erase and gc obey)', () => {
  it.each<[string, () => string, string, Record<string, unknown>]>([
    [
      'a hold lifted',
      () => holds.legal,
      "update version_holds set released_at = '2026-01-01T00:00:00.000Z', released_by = 'eve' where id = ?",
      { kind: 'state-mismatch', message: expect.stringContaining('it is lifted but the log never lifted it') },
    ],
    [
      'a retention period shortened',
      () => holds.retention,
      "update version_holds set retain_until = '2020-01-01T00:00:00.000Z' where id = ?",
      { kind: 'state-mismatch', message: expect.stringContaining('lasts until 2020-01-01') },
    ],
    [
      'a lifted hold put back',
      () => holds.lifted,
      'update version_holds set released_at = null where id = ?',
      { kind: 'state-mismatch', message: expect.stringContaining('the log lifted it but it is active') },
    ],
    ['a hold deleted', () => holds.legal, 'delete from version_holds where id = ?', { kind: 'state-missing' }],
  ])('%s is named by audit verify', async (_what, id, edit, bad) => {
    const db = rawSqlite(dir);
    const key = id();
    // The row as it was, put back after.
    await db.run('create table saved as select * from version_holds where id = ?', [key]);
    await db.run(edit, [key]);
    const r = await verify();
    await db.run('delete from version_holds where id = ?', [key]);
    await db.run('insert into version_holds select * from saved');
    await db.run('drop table saved');
    await db.close();
    expect(r.ok).toBe(false);
    expect(r.problems).toContainEqual(expect.objectContaining({ table: 'version_holds', key, ...bad }));
    expect((await verify()).ok).toBe(true);
  });
});
