/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
// A run trained offline on a laptop joins the team record by `cairn push` (docs/SERVER.md "Runs"):
// the server imports it only when the pushed, verified log submitted and ended exactly that run,
// with its input and output versions on the server; `run ls` / `run show` mark it as imported,
// with its origin and the account that pushed it. Real server, real HTTP, a folder store and an
// S3 store (s3rver), real training jobs on real workspaces.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rawSqlite } from '../../src/test-support/audit-tamper.js';
import { useSharedS3 } from '../../src/test-support/s3-server.js';
import { writeTree } from '../../src/test-support/workspace.js';
import { newLaptop, startTeam, type Team, storeObject } from './harness.js';

const teams: Team[] = [];
afterEach(async () => {
  for (const t of teams.splice(0)) await t.close().catch(() => {});
});

const needS3 = useSharedS3();
const ROLES = {
  admin: 'admin',
  alice: 'contributor',
  mallory: 'contributor',
  bob: 'contributor',
  carol: 'viewer',
} as const;

/** A laptop signed in as `user`, with a dataset `toy` and a training spec that logs a loss curve. */
async function laptop(t: Team, user: string) {
  const { dir, run } = await newLaptop(t, user, 'cairn-rp');
  writeTree(join(dir, 'data'), { 'd.csv': `x,y\n1,2\n3,4\n${user}\n` });
  await run((s) => s.datasets.add({ source: join(dir, 'data'), name: `toy-${user}` }));
  writeTree(dir, {
    'train.sh': [
      'set -e',
      'cat "$CAIRN_INPUT_TRAIN/d.csv" > /dev/null',
      'for s in 0 1 2; do echo "{\\"kind\\":\\"metric\\",\\"name\\":\\"loss\\",\\"value\\":$((10 - s)),\\"step\\":$s}" >> "$CAIRN_METRICS_FILE"; done',
      'echo "model $1" > "$CAIRN_OUTPUT_DIR/model.txt"',
    ].join('\n'),
  });
  writeFileSync(
    join(dir, 'cairn.yaml'),
    `name: train-${user}\ncommand: sh train.sh {params.lr}\ninputs:\n  train: toy-${user}@v1\nparams:\n  lr: 0.1\nresources:\n  time: 5m\n`,
  );
  const train = async () => {
    const sub: any = await run((s) => s.runs.submit({ spec: join(dir, 'cairn.yaml') }));
    const done: any = await run((s) => s.runs.wait(sub.run.id, { pollMs: 50 }));
    expect(done.status).toBe('completed');
    return done;
  };
  return { run, dir, train };
}

const raw = storeObject;

/** bob trains on his laptop, offline, and pushes; the team sees the run, marked as his import. */
async function runStory(t: Team) {
  const bob = await laptop(t, 'bob');
  const done = await bob.train();
  const pushed: any = await bob.run((s) => s.transfer.push([], { remote: 'team' }));
  expect(pushed).toMatchObject({ runs: [done.id], server: { imported: { versions: 2, runs: 1 } } });
  expect(pushed.server.skippedRuns).toEqual([]);

  const shown = await t.call('carol', 'GET', `/api/v1/runs/${done.id}`);
  expect(shown.status, JSON.stringify(shown.json)).toBe(200);
  expect(shown.json).toMatchObject({
    id: done.id,
    status: 'completed',
    runKey: done.runKey,
    params: { lr: 0.1 },
    metrics: [{ name: 'loss', points: 3, last: 8, lastStep: 2, min: 8, max: 10 }],
    output: 'runs/train-bob@v1',
    imported: {
      author: 'bob@laptop',
      by: 'bob',
      record: true,
      workspace: expect.any(String),
      index: expect.any(Number),
    },
  });
  const listed = await t.call('carol', 'GET', '/api/v1/runs/find');
  expect(listed.json.runs.find((r: any) => r.id === done.id)).toMatchObject({ imported: { by: 'bob' } });
  // Provenance: the import event, as bob, names the laptop's run.submit event.
  const ev = await t.call('carol', 'GET', '/api/v1/audit/events?action=remote.pull');
  const imp = ev.json.find((e: any) => e.event.params.importedRuns);
  expect(imp.event.actor).toMatchObject({ id: 'bob', auth: 'token' });
  expect(imp.event.params.importedRuns).toMatchObject([
    { run: done.id, author: 'bob@laptop', registrant: 'bob', index: shown.json.imported.index },
  ]);
  const audit = await t.call('carol', 'POST', '/api/v1/audit/verify', {});
  expect(audit.json.ok, JSON.stringify(audit.json.problems)).toBe(true);

  // Idempotent: a second push records nothing new.
  const again: any = await bob.run((s) => s.transfer.push([], { remote: 'team' }));
  expect(again.server.imported).toMatchObject({ versions: 0, runs: 0 });

  // A teammate pulls it from the server: the server's own log travels in its store, and its
  // import event (as bob) vouches for the run as the server recorded it, so her record names bob,
  // who brought it to the team, not his laptop's actor.
  const carol = await laptop(t, 'carol');
  const pulled: any = await carol.run((s) => s.transfer.pull([], { remote: 'team' }));
  expect(pulled.runs.skipped).toEqual([]);
  expect(pulled.runs.imported).toMatchObject([{ run: done.id, author: 'bob', registrant: 'bob' }]);
  const there: any = await carol.run((s) => s.runs.details(done.id));
  expect(there.metrics).toEqual(shown.json.metrics);
  return { bob, done };
}

describe('runs pushed to a team server', () => {
  it('folder store: imported with provenance and the pushing account; shown by run show and run ls; idempotent', async () => {
    const t = await startTeam({ store: `file://${mkdtempSync(join(tmpdir(), 'cairn-store-'))}`, roles: ROLES });
    teams.push(t);
    await runStory(t);
  }, 180_000);

  it('S3 store (presigned URLs): the same', async (ctx) => {
    const s3 = needS3(ctx);
    const t = await startTeam({
      store: `s3://${s3.bucket}/team-${randomBytes(3).toString('hex')}`,
      storeEndpoint: s3.endpoint,
      roles: ROLES,
    });
    teams.push(t);
    await runStory(t);
  }, 180_000);

  it("a viewer's offline run is refused at push: nothing of it reaches the server", async () => {
    const t = await startTeam({ store: `file://${mkdtempSync(join(tmpdir(), 'cairn-store-'))}`, roles: ROLES });
    teams.push(t);
    const carol = await laptop(t, 'carol');
    const done = await carol.train();
    const pushed = await carol
      .run((s) => s.transfer.push([], { remote: 'team' }))
      .then(
        () => null,
        (e: any) => e,
      );
    expect(pushed?.code, String(pushed)).toBe('PERMISSION_DENIED');
    expect((await t.call('admin', 'GET', `/api/v1/runs/${done.id}`)).status).toBe(404);
  });

  it('hostile states: an invented run, altered metrics, a claimed author, a missing input, a row edited with SQL', async () => {
    const t = await startTeam({ store: `file://${mkdtempSync(join(tmpdir(), 'cairn-store-'))}`, roles: ROLES });
    teams.push(t);
    const { done } = await runStory(t);
    const state = (await raw(t, 'carol', 'GET', 'meta/state.json')).json;
    const honest = state.runs.find((r: any) => r.id === done.id);
    expect(honest).toMatchObject({ created_by: 'bob' });

    // mallory lists a run nobody submitted (a copy under a new id, made her own): left out, recorded.
    const forgedId = '01900000-0000-7000-8000-00000000abcd';
    const forged = { ...honest, id: forgedId, created_by: 'mallory' };
    expect((await raw(t, 'mallory', 'PUT', 'meta/state.json', { ...state, runs: [honest, forged] })).status).toBe(200);
    const imp = await t.call('mallory', 'POST', '/api/v1/store/import', { versions: [] });
    expect(imp.status, JSON.stringify(imp.json)).toBe(200);
    expect(imp.json.skippedRuns).toMatchObject([{ run: forgedId, why: expect.stringMatching(/no event/) }]);
    expect((await t.call('carol', 'GET', `/api/v1/runs/${forgedId}`)).status).toBe(404);
    const ev = await t.call('carol', 'GET', '/api/v1/audit/events?action=remote.pull');
    expect(JSON.stringify(ev.json.map((e: any) => e.event.params.skippedRuns ?? null))).toContain(forgedId);

    // bob's run re-listed with better metrics and another author: the server's row stays.
    const doctored = {
      ...honest,
      created_by: 'mallory',
      metrics: honest.metrics.map((p: any) => ({ ...p, value: p.value / 10 })),
    };
    expect((await raw(t, 'mallory', 'PUT', 'meta/state.json', { ...state, runs: [doctored] })).status).toBe(200);
    expect((await t.call('mallory', 'POST', '/api/v1/store/import', { versions: [] })).status).toBe(200);
    expect((await raw(t, 'carol', 'GET', 'meta/state.json')).json.runs).toEqual(state.runs);
    expect((await t.call('carol', 'GET', `/api/v1/runs/${done.id}`)).json).toMatchObject({
      metrics: [{ name: 'loss', min: 8 }],
      imported: { by: 'bob' },
    });
    // Another status under its id: DIVERGED at once.
    const clash = await raw(t, 'mallory', 'PUT', 'meta/state.json', {
      ...state,
      runs: [{ ...honest, status: 'failed' }],
    });
    expect(clash.status).toBe(409);
    expect(clash.json.error.code).toBe('DIVERGED');

    // A run whose input stays on the laptop: the server refuses it and the push names why.
    const alice = await laptop(t, 'alice');
    const mine = await alice.train();
    await expect(alice.run((s) => s.transfer.push(['runs/train-alice@v1'], { remote: 'team' }))).rejects.toMatchObject({
      code: 'NOT_VOUCHED',
      data: { runs: [{ run: mine.id, why: expect.stringMatching(/input train/) }] },
    });
    expect((await t.call('carol', 'GET', `/api/v1/runs/${mine.id}`)).status).toBe(404);
    // With the input, it goes in.
    const whole: any = await alice.run((s) => s.transfer.push([], { remote: 'team' }));
    expect(whole.server.imported.runs).toBe(1);

    // mallory trains, then edits her run's metrics and its row with SQL before pushing: refused by name.
    const m = await laptop(t, 'mallory');
    const hers = await m.train();
    const db = rawSqlite(m.dir);
    await db.run(`UPDATE run_metrics SET value = value / 10 WHERE run_id = ?`, [hers.id]);
    await db.close();
    await expect(m.run((s) => s.transfer.push([], { remote: 'team' }))).rejects.toMatchObject({
      code: 'NOT_VOUCHED',
      data: { runs: [{ run: hers.id, why: expect.stringMatching(/metrics/) }] },
    });
    const db2 = rawSqlite(m.dir);
    await db2.run(`UPDATE runs SET project = 'other' WHERE id = ?`, [hers.id]);
    await db2.close();
    // audit verify on her laptop names the edited row.
    const verify: any = await m.run((s) => s.audit.verify({}));
    expect(verify.ok).toBe(false);
    expect(JSON.stringify(verify.problems)).toContain(hers.id);
    expect((await t.call('carol', 'GET', `/api/v1/runs/${hers.id}`)).status).toBe(404);
  }, 240_000);
});
