/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP and service answers are checked field by field */
// Evaluations travel by push (docs/REMOTES.md "Evaluations", docs/SERVER.md "Evaluations"): one
// that bob ran on his laptop reaches the team server only as exactly what a verified
// `model.evaluate` event of his log recorded, is marked imported there, and does not count for a
// server alias policy unless that policy says so. Hostile states are refused whole.
import { describe, expect, it } from 'vitest';
import { rawSqlite } from '../../src/test-support/audit-tamper.js';
import { postgresAvailable } from '../../src/test-support/services.js';
import { startTeam, teamPerDatabase, type Team } from './harness.js';
import { laptopWithModels, onServer } from './eval-fixtures.js';

const pg = await postgresAvailable();

/** A laptop of `user` with model `name` (one good version) evaluated there on test set `<name>-eval`. */
async function evaluatedOnLaptop(t: Team, user: string, name: string) {
  const l = await laptopWithModels(t, user, `${name}-eval`);
  await l.run((s) => s.models.register({ name, path: l.model('good', [4, -2]) }));
  const report: any = await l.run((s) => s.models.evaluate(`${name}@v1`, { suitePath: l.suite, data: `${name}-eval` }));
  expect(report.passed).toBe(true);
  return l;
}

describe.each([
  ['sqlite', false],
  ['postgres', true],
])('evaluations pushed to a team server (%s)', (_name, usePg) => {
  let t: Team;
  const skip = teamPerDatabase(
    usePg,
    pg,
    (db) => startTeam(db),
    (team) => (t = team),
    60_000,
  );

  it("a laptop's evaluation travels, marked imported; the server's policy counts it only when told to", async () => {
    if (skip()) return;
    const bob = await evaluatedOnLaptop(t, 'bob', 'clf');
    const pushed: any = await bob.run((s) => s.transfer.push([], { remote: 'team' }));
    expect(pushed.server.imported).toMatchObject({ modelVersions: 1 });
    const dana = onServer(t, 'dana');
    const shown: any = await dana.models.show('clf@v1');
    expect(shown.evaluations).toEqual([
      expect.objectContaining({
        suite: 'acceptance',
        passed: true,
        by: 'bob',
        imported: expect.objectContaining({ author: 'bob@laptop', importedBy: 'bob' }),
      }),
    ]);
    // A second push brings nothing twice.
    await bob.run((s) => s.transfer.push([], { remote: 'team' }));
    expect((await dana.models.show('clf@v1')).evaluations).toHaveLength(1);

    // production counts only the server's own evaluations; the refusal says how to get one.
    await dana.models.setPolicy('clf', 'production', { suites: ['acceptance'], approvals: 1, separateApprover: true });
    await dana.models.approve('clf@v1', 'production');
    await expect(dana.models.promote('clf@v1', 'production')).rejects.toMatchObject({
      code: 'POLICY_UNMET',
      data: {
        unmet: [
          expect.stringMatching(/imported evaluation, passed elsewhere, does not count: run cairn model evaluate/),
        ],
      },
    });
    // staging accepts imported verdicts (a documented per-policy setting): the laptop's counts.
    await dana.models.setPolicy('clf', 'staging', {
      suites: ['acceptance'],
      approvals: 0,
      separateApprover: true,
      acceptImported: true,
    });
    expect(await dana.models.promote('clf@v1', 'staging')).toMatchObject({ alias: 'staging' });
    // The server evaluates it itself: now production may move.
    await onServer(t, 'alice').models.evaluate('clf@v1', { suitePath: bob.suite, data: 'clf-eval' });
    expect(await dana.models.promote('clf@v1', 'production')).toMatchObject({ alias: 'production' });
    const verified: any = await dana.audit.verify({});
    expect(verified.problems).toEqual([]);
  }, 180_000);

  const tampers: Array<[string, (db: ReturnType<typeof rawSqlite>, id: string) => Promise<void>, RegExp]> = [
    [
      'an invented evaluation',
      (db, id) =>
        db.run(
          `INSERT INTO model_evaluations (id, version_id, suite, suite_digest, data_version_id, passed, report, at, by)
           SELECT '01900000-0000-7000-8000-000000000001', version_id, 'other', suite_digest, data_version_id, 1,
                  replace(report, '"acceptance"', '"other"'), at, by FROM model_evaluations WHERE id = ?`,
          [id],
        ),
      /no event of a verified audit log recorded it/,
    ],
    [
      'an altered metric',
      (db, id) =>
        db.run(
          `UPDATE model_evaluations SET report = replace(report, '"accuracy":0.', '"accuracy":0.99') WHERE id = ?`,
          [id],
        ),
      /no event of a verified audit log recorded it/,
    ],
    [
      'a failing verdict passed off as passing',
      async (db, id) => {
        // The bad version failed on the laptop; its row is flipped to passed.
        const [bad] = await db.all<{ id: string }>(
          `SELECT e.id FROM model_evaluations e JOIN model_versions v ON v.id = e.version_id WHERE v.number = 2`,
        );
        void id;
        await db.run(`UPDATE model_evaluations SET passed = 1 WHERE id = ?`, [bad!.id]);
      },
      /its verdict differ\(s\) from what the log recorded/,
    ],
    [
      'a claimed author',
      (db, id) => db.run(`UPDATE model_evaluations SET by = 'dana@laptop' WHERE id = ?`, [id]),
      /names dana@laptop as who ran it but the log recorded bob@laptop/,
    ],
    [
      'an evaluation of a test set that is not there',
      (db, id) =>
        db.run(`UPDATE model_evaluations SET data_version_id = '01900000-0000-7000-8000-00000000dead' WHERE id = ?`, [
          id,
        ]),
      /its test set is not on this side/,
    ],
  ];

  it.each(tampers.map((x, i) => [...x, i] as const))(
    'refuses %s with NOT_VOUCHED and imports nothing of the push',
    async (_what, tamper, why, i) => {
      if (skip()) return;
      const name = `hostile${i}`;
      const l = await evaluatedOnLaptop(t, 'bob', name);
      await l.run((s) => s.models.register({ name, path: l.model('bad', [-4, 2]) }));
      const bad: any = await l.run((s) =>
        s.models.evaluate(`${name}@v2`, { suitePath: l.suite, data: `${name}-eval` }),
      );
      expect(bad.passed).toBe(false);
      const db = rawSqlite(l.dir);
      const [e] = await db.all<{ id: string }>(
        `SELECT e.id FROM model_evaluations e JOIN model_versions v ON v.id = e.version_id WHERE v.number = 1`,
      );
      await tamper(db, e!.id);
      await db.close();
      await expect(l.run((s) => s.transfer.push([], { remote: 'team' }))).rejects.toMatchObject({
        code: 'NOT_VOUCHED',
        message: expect.stringMatching(why),
      });
      // Nothing half-imported: neither the model nor any evaluation of it is on the server.
      const models: any[] = await onServer(t, 'dana').models.list();
      expect(models.map((m: any) => m.name)).not.toContain(name);
    },
    180_000,
  );
});
