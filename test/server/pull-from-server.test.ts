/* eslint-disable @typescript-eslint/no-explicit-any -- service answers are checked field by field */
// What a pull from the team server brings (docs/SERVER.md "What a pull from the server brings"):
// the server's own log travels in its store as one more verified log, so its `model.evaluate`
// events vouch for the evaluations it ran, its import events (`remote.pull`, as the pushing
// account) for the runs pushed to it, and its run events for the runs it trained itself; a reader
// of some projects gets the runs of those projects (its per-project `run.import` vouching for one
// pushed beside another project's) and nothing of the others. Real server (SQLite and
// PostgreSQL), real HTTP, real laptops.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawSqlite } from '../../src/test-support/audit-tamper.js';
import { postgresAvailable } from '../../src/test-support/services.js';
import { writeTree } from '../../src/test-support/workspace.js';
import { newLaptop, startTeam, storeObject, teamPerDatabase, type Team } from './harness.js';
import { laptopWithModels, onServer } from './eval-fixtures.js';

const pg = await postgresAvailable();
const ROLES = { admin: 'admin', alice: 'contributor', bob: 'contributor', dana: 'approver', carol: 'viewer' } as const;

type Laptop = Awaited<ReturnType<typeof newLaptop>>;

/** A laptop of `user` (or `on`) with a dataset and a training spec of `project` that logs a loss curve and a parameter. */
async function trainer(t: Team, user: string, project: string, on?: Laptop, value = '0.1') {
  const lap = on ?? (await newLaptop(t, user, 'cairn-pfs'));
  writeTree(join(lap.dir, `data-${project}`), { 'd.csv': `x,y\n1,2\n${project}\n` });
  await lap.run((s) => s.datasets.add({ source: join(lap.dir, `data-${project}`), name: `zz${project}-data` }));
  writeTree(lap.dir, {
    [`train-${project}.sh`]: [
      'set -e',
      'for s in 0 1 2; do echo "{\\"kind\\":\\"metric\\",\\"name\\":\\"zz' +
        project +
        'metric\\",\\"value\\":$((10 - s)),\\"step\\":$s}" >> "$CAIRN_METRICS_FILE"; done',
      'echo "model $1" > "$CAIRN_OUTPUT_DIR/model.txt"',
    ].join('\n'),
  });
  const spec = join(lap.dir, `${project}.yaml`);
  writeFileSync(
    spec,
    `name: zz${project}-train\nproject: ${project}\ncommand: sh train-${project}.sh {params.zz${project}param}\n` +
      `inputs:\n  train: zz${project}-data@v1\nparams:\n  zz${project}param: ${value}\nresources:\n  time: 5m\n`,
  );
  const sub: any = await lap.run((s) => s.runs.submit({ spec }));
  const done: any = await lap.run((s) => s.runs.wait(sub.run.id, { pollMs: 50 }));
  expect(done.status).toBe('completed');
  return { ...lap, done };
}

/**
 * A run `user` trains on the server's own machines (its local backend), of `project`, on the pushed
 * version `input`: it logs a curve and a parameter and writes no output, so the served state can
 * list it as soon as it lists its input.
 */
async function serverTrained(t: Team, user: string, project: string, input: string) {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-srvrun-'));
  writeTree(dir, {
    'train.sh': [
      'set -e',
      `for s in 0 1; do echo "{\\"kind\\":\\"metric\\",\\"name\\":\\"zz${project}srvmetric\\",\\"value\\":$((5 - s)),\\"step\\":$s}" >> "$CAIRN_METRICS_FILE"; done`,
    ].join('\n'),
    'cairn.yaml':
      `name: zz${project}-srvtrain\nproject: ${project}\ncommand: sh train.sh {params.zz${project}srvparam}\n` +
      `inputs:\n  train: ${input}\nparams:\n  zz${project}srvparam: 0.7\nresources:\n  time: 5m\n`,
  });
  const as = onServer(t, user);
  const sub: any = await as.runs.submit({ spec: join(dir, 'cairn.yaml') });
  const done: any = await as.runs.wait(sub.run.id, { pollMs: 50 });
  expect(done.status).toBe('completed');
  expect(done.output_version_id ?? null).toBeNull();
  return done;
}

describe.each([
  ['sqlite', false],
  ['postgres', true],
])('a pull from the team server (%s)', (_name, usePg) => {
  let t: Team;
  const skip = teamPerDatabase(
    usePg,
    pg,
    (db) => startTeam({ ...db, roles: ROLES }),
    (team) => (t = team),
    60_000,
  );

  it("brings the server's evaluations, vouched by its own log, recorded as imported", async () => {
    if (skip()) return;
    const bob = await laptopWithModels(t, 'bob', 'clf-eval');
    await bob.run((s) => s.models.register({ name: 'clf', path: bob.model('good', [4, -2]) }));
    await bob.run((s) => s.transfer.push([], { remote: 'team' }));
    // The server evaluates the pushed version itself, for alice.
    const ran: any = await onServer(t, 'alice').models.evaluate('clf@v1', { suitePath: bob.suite, data: 'clf-eval' });
    expect(ran.passed).toBe(true);

    const dana = await newLaptop(t, 'dana', 'cairn-pfs');
    const pulled: any = await dana.run((s) => s.transfer.pull([], { remote: 'team' }));
    expect(pulled.evaluations.imported).toMatchObject([
      { author: 'alice', registrant: 'alice', origin: t.server.runtime.origin },
    ]);
    const shown: any = await dana.run((s) => s.models.show('clf@v1'));
    expect(shown.evaluations).toEqual([
      expect.objectContaining({
        suite: 'acceptance',
        passed: true,
        by: 'alice',
        imported: expect.objectContaining({ author: 'alice', origin: t.server.runtime.origin }),
      }),
    ]);
    // Imported: dana's own policies count it only when told to.
    await dana.run((s) =>
      s.models.setPolicy('clf', 'production', { suites: ['acceptance'], approvals: 0, separateApprover: false }),
    );
    await expect(dana.run((s) => s.models.promote('clf@v1', 'production'))).rejects.toMatchObject({
      code: 'POLICY_UNMET',
    });
    await dana.run((s) =>
      s.models.setPolicy('clf', 'staging', {
        suites: ['acceptance'],
        approvals: 0,
        separateApprover: false,
        acceptImported: true,
      }),
    );
    expect(await dana.run((s) => s.models.promote('clf@v1', 'staging'))).toMatchObject({ alias: 'staging' });
    // Her log vouches for what she imported; a second pull brings nothing twice.
    expect(((await dana.run((s) => s.audit.verify({}))) as any).problems).toEqual([]);
    const again: any = await dana.run((s) => s.transfer.pull([], { remote: 'team' }));
    expect(again.evaluations.imported).toEqual([]);
    // dana pushes back to the server: her pulled copy of the server's log entry changes nothing there.
    const back: any = await dana.run((s) => s.transfer.push([], { remote: 'team' }));
    expect(back.server.imported).toMatchObject({ versions: 0, modelVersions: 0 });
  }, 240_000);

  it("dana's pull names bob for the run he pushed (the server's import event) and alice for the run she trained on the server (its own run events)", async () => {
    if (skip()) return;
    const bob = await trainer(t, 'bob', 'srv');
    await bob.run((s) => s.transfer.push([], { remote: 'team' }));
    const done = await serverTrained(t, 'alice', 'srv', 'zzsrv-data@v1');
    const dana = await newLaptop(t, 'dana', 'cairn-pfs');
    const pulled: any = await dana.run((s) => s.transfer.pull([], { remote: 'team' }));
    expect(pulled.runs.skipped).toEqual([]);
    expect(pulled.runs.imported).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          run: bob.done.id,
          author: 'bob',
          registrant: 'bob',
          origin: t.server.runtime.origin,
        }),
        expect.objectContaining({
          run: done.id,
          author: 'alice',
          registrant: 'alice',
          origin: t.server.runtime.origin,
          workspace: t.server.runtime.workspaceId,
          record: true,
        }),
      ]),
    );
    const pushed: any = await dana.run((s) => s.runs.details(bob.done.id));
    expect(pushed.imported).toMatchObject({ author: 'bob', by: 'bob' });
    expect(pushed.metrics).toMatchObject([{ name: 'zzsrvmetric', points: 3 }]);
    const there: any = await dana.run((s) => s.runs.details(done.id));
    expect(there).toMatchObject({ project: 'srv', status: 'completed', imported: { author: 'alice', by: 'alice' } });
    expect(there.metrics).toMatchObject([{ name: 'zzsrvsrvmetric', points: 2 }]);
    const lineage: any = await dana.run((s) => s.lineage.of('zzsrv-data@v1', 'down'));
    expect(JSON.stringify(lineage)).toContain(done.id);
    expect(((await dana.run((s) => s.audit.verify({}))) as any).problems).toEqual([]);
    const again: any = await dana.run((s) => s.transfer.pull([], { remote: 'team' }));
    expect(again.runs.imported).toEqual([]);
  }, 240_000);

  it("a reader gets her project's run pushed in the same push as another project's, and the runs trained on the server for it; nothing of the other", async () => {
    if (skip()) return;
    await grantReader(t, 'nora', 'zzmixa');
    await grantReader(t, 'vera', 'zzmixb');
    // One push carries a run of each project: the server's remote.pull names both.
    const a = await trainer(t, 'alice', 'zzmixa', undefined, '0.1');
    const b = await trainer(t, 'alice', 'zzmixb', a, '0.4242');
    await b.run((s) => s.transfer.push([], { remote: 'team' }));
    const trainedA = await serverTrained(t, 'bob', 'zzmixa', 'zzzzmixa-data@v1');
    const trainedB = await serverTrained(t, 'bob', 'zzmixb', 'zzzzmixb-data@v1');
    for (const [who, mine, theirs] of [
      ['nora', [a.done, trainedA], [b.done, trainedB]],
      ['vera', [b.done, trainedB], [a.done, trainedA]],
    ] as const) {
      const lap = await newLaptop(t, who, 'cairn-pfs');
      const pulled: any = await lap.run((s) => s.transfer.pull([], { remote: 'team' }));
      expect(pulled.runs.skipped).toEqual([]);
      expect(pulled.runs.imported.map((r: any) => [r.run, r.author]).sort()).toEqual(
        [
          [mine[0].id, 'alice'],
          [mine[1].id, 'bob'],
        ].sort(),
      );
      expect(((await lap.run((s) => s.audit.verify({}))) as any).problems).toEqual([]);
      const got: any = await lap.run((s) => s.runs.details(mine[0].id));
      expect(got.metrics).toHaveLength(1);
      for (const r of theirs)
        await expect(lap.run((s) => s.runs.details(r.id))).rejects.toMatchObject({ code: 'NOT_FOUND' });
      // Not a name, parameter, metric or id of the other project's runs in her workspace's answers
      // or in any byte she was served.
      const bytes = await servedBytes(t, who);
      const listed = JSON.stringify(await lap.run((s) => s.runs.list({})));
      const other = theirs[0].project as string;
      for (const text of [bytes, listed, JSON.stringify(pulled)]) {
        for (const r of theirs) expect(text).not.toContain(r.id);
        expect(text).not.toContain(`${other}-train`);
        expect(text).not.toContain(`${other}-srvtrain`);
        expect(text).not.toContain(`${other}param`);
        expect(text).not.toContain(`${other}srvparam`);
        expect(text).not.toContain(`${other}metric`);
        if (other === 'zzmixb') expect(text).not.toContain('0.4242');
      }
    }
  }, 300_000);
});

/** An account that reads `default` and, of the other projects, `project` only. */
async function grantReader(t: Team, name: string, project: string) {
  expect((await t.call('admin', 'POST', '/api/v1/accounts', { name, role: 'viewer', project: 'default' })).status).toBe(
    200,
  );
  const g = await t.call('admin', 'PUT', '/api/v1/grants', { subject: `user:${name}`, project, role: 'viewer' });
  expect(g.status).toBe(200);
  t.tokens[name] = (await t.call('admin', 'POST', '/api/v1/tokens', { user: name })).json.token;
}

/** Every byte a pull as `who` reads of the server's store but packs: the state, and each listed log's bundle. */
async function servedBytes(t: Team, who: string): Promise<string> {
  const state = await served(t, who, 'meta/state.json');
  const out = [state.toString('utf8')];
  for (const a of JSON.parse(state.toString('utf8')).audit as Array<{ key: string }>) {
    const list = await served(t, who, `${a.key}files.json`);
    out.push(list.toString('utf8'));
    for (const f of JSON.parse(list.toString('utf8')) as string[])
      out.push((await served(t, who, `${a.key}${f}`)).toString('utf8'));
  }
  return out.join('\n');
}

const sortById = <T extends { id: string }>(xs: T[]): T[] => [...xs].sort((a, b) => (a.id < b.id ? -1 : 1));

/** One object of the server's store, as `who` is served it (raw bytes). */
async function served(t: Team, who: string, key: string): Promise<Buffer> {
  const res = await fetch(`${t.server.url}/api/v1/store/objects/${key}`, {
    headers: { authorization: `Bearer ${t.tokens[who]}` },
  });
  expect(res.status, key).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

/**
 * A man in the middle: a folder remote holding everything the server serves `who` (descriptor,
 * state, every listed log's bundle, packs), with the state as `edit` makes it.
 */
async function mirror(t: Team, who: string, edit: (state: any) => void): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-mitm-'));
  const put = (key: string, body: Buffer) => {
    mkdirSync(dirname(join(dir, key)), { recursive: true });
    writeFileSync(join(dir, key), body);
  };
  put('cairn-remote.json', await served(t, who, 'cairn-remote.json'));
  const state = JSON.parse((await served(t, who, 'meta/state.json')).toString('utf8'));
  for (const a of state.audit) {
    const list = await served(t, who, `${a.key}files.json`);
    put(`${a.key}files.json`, list);
    for (const f of JSON.parse(list.toString('utf8')) as string[])
      put(`${a.key}${f}`, await served(t, who, `${a.key}${f}`));
  }
  for (const p of state.packs) {
    const key = `packs/${p.id.slice(0, 2)}/${p.id}.pack`;
    put(key, await served(t, who, key));
  }
  edit(state);
  put('meta/state.json', Buffer.from(JSON.stringify(state)));
  return dir;
}

describe('a pull from a store that lies about what the server recorded', () => {
  let t: Team;
  let run: string;
  /** A run alice trained on the server's machines: its own run.submit and run.finish vouch for it. */
  let srv: string;
  beforeAll(async () => {
    t = await startTeam({ roles: ROLES });
    const bob = await laptopWithModels(t, 'bob', 'clf-eval');
    await bob.run((s) => s.models.register({ name: 'clf', path: bob.model('good', [4, -2]) }));
    await bob.run((s) => s.transfer.push([], { remote: 'team' }));
    await onServer(t, 'alice').models.evaluate('clf@v1', { suitePath: bob.suite, data: 'clf-eval' });
    const trained = await trainer(t, 'bob', 'nlp');
    await trained.run((s) => s.transfer.push([], { remote: 'team' }));
    run = trained.done.id;
    srv = (await serverTrained(t, 'alice', 'nlp', 'zznlp-data@v1')).id;
  }, 240_000);
  afterAll(async () => {
    await t?.close();
  });

  /** dana's fresh laptop pulling from the mirror: the pull's answer or error, and what her database holds. */
  async function pullFrom(dir: string) {
    const dana = await newLaptop(t, 'dana', 'cairn-pfs');
    await dana.run((s) => s.transfer.addRemote('mitm', `file://${dir}`, {}));
    const out: any = await dana.run((s) => s.transfer.pull([], { remote: 'mitm' })).catch((e: unknown) => e);
    const db = rawSqlite(dana.dir);
    const count = async (table: string) => (await db.all<{ n: number }>(`SELECT count(*) AS n FROM ${table}`))[0]!.n;
    const held = {
      evaluations: await count('model_evaluations'),
      modelVersions: await count('model_versions'),
      runs: await count('runs'),
      versions: await count('dataset_versions'),
    };
    const authors = await db.all<{ id: string; created_by: string }>('SELECT id, created_by FROM runs');
    await db.close();
    return { out, held, authors };
  }

  it('an honest copy pulls whole: the evaluation by alice, the run by bob, the run alice trained on the server', async () => {
    const { out, held, authors } = await pullFrom(await mirror(t, 'dana', () => {}));
    expect(out.evaluations?.imported, String(out)).toMatchObject([{ author: 'alice' }]);
    expect(out.runs.skipped).toEqual([]);
    expect(held).toMatchObject({ evaluations: 1, modelVersions: 1, runs: 2 });
    expect(sortById(authors)).toEqual(
      sortById([
        { id: run, created_by: 'bob' },
        { id: srv, created_by: 'alice' },
      ]),
    );
  }, 120_000);

  /** The row of the run alice trained on the server, in a state being edited. */
  const trainedRow = (s: any) => s.runs.find((r: any) => r.id === srv);
  const refusedRuns: Array<[string, (state: any) => void, RegExp]> = [
    [
      'a metric point changed',
      (s) => (trainedRow(s).metrics[0].value = 99),
      /its metrics differ\(s\) from what the log recorded/,
    ],
    ['its status changed', (s) => (trainedRow(s).status = 'failed'), /its status differ\(s\)/],
    ['a parameter changed', (s) => (trainedRow(s).params[0].value = '0.9'), /logged parameters differ/],
  ];
  it.each(refusedRuns)(
    'a run trained on the server with %s is refused by name; the others come in',
    async (_what, edit, why) => {
      const { out, authors } = await pullFrom(await mirror(t, 'dana', edit));
      expect(out.runs?.skipped, String(out)).toMatchObject([{ run: srv, why: expect.stringMatching(why) }]);
      expect(authors).toEqual([{ id: run, created_by: 'bob' }]);
    },
    120_000,
  );

  it('a run the server never trained, listed as its own, is refused by name; a re-attributed one keeps alice', async () => {
    const forged = '01900000-0000-7000-8000-00000000beef';
    const { out, authors } = await pullFrom(
      await mirror(t, 'dana', (s) => {
        trainedRow(s).created_by = 'mallory';
        s.runs.push({ ...trainedRow(s), id: forged, created_by: 'alice' });
      }),
    );
    expect(out.runs?.skipped, String(out)).toMatchObject([{ run: forged, why: expect.stringMatching(/no event/) }]);
    expect(sortById(authors)).toEqual(
      sortById([
        { id: run, created_by: 'bob' },
        { id: srv, created_by: 'alice' },
      ]),
    );
  }, 120_000);

  const refused: Array<[string, (state: any) => void, RegExp]> = [
    ['an evaluation re-attributed to another author', (s) => (s.evaluations[0].by = 'mallory'), /mallory/],
    [
      'an evaluation nobody ran (a copy with a better metric)',
      (s) =>
        s.evaluations.push({
          ...s.evaluations[0],
          id: '01900000-0000-7000-8000-0000000000ee',
          report: s.evaluations[0].report.replace('"accuracy":0.', '"accuracy":0.99'),
        }),
      /no event of a verified audit log recorded it/,
    ],
    ['a failing verdict', (s) => (s.evaluations[0].passed = 0), /verdict/],
  ];
  it.each(refused)(
    '%s: NOT_VOUCHED, and nothing of the pull is recorded',
    async (_what, edit, why) => {
      const { out, held } = await pullFrom(await mirror(t, 'dana', edit));
      expect(out?.code, String(out)).toBe('NOT_VOUCHED');
      expect(JSON.stringify(out.data)).toMatch(why);
      expect(held).toEqual({ evaluations: 0, modelVersions: 0, runs: 0, versions: 0 });
    },
    120_000,
  );

  it("nobody writes the server's log through the store; a proposal's copy of its entry changes nothing", async () => {
    const ws = t.server.runtime.workspaceId;
    const put = await storeObject(t, 'bob', 'PUT', `audit/${ws}/entries.jsonl`, { forged: true });
    expect(put.status).toBe(403);
    expect(put.json.error.code).toBe('PERMISSION_DENIED');
    const state = (await storeObject(t, 'bob', 'GET', 'meta/state.json')).json;
    const own = state.audit.find((a: any) => a.workspace === ws);
    expect(own).toMatchObject({ origin: t.server.runtime.origin, key: `audit/${ws}/` });
    const bent = state.audit.map((a: any) =>
      a.workspace === ws ? { ...a, size: a.size + 1000, root: 'f'.repeat(64) } : a,
    );
    expect((await storeObject(t, 'bob', 'PUT', 'meta/state.json', { ...state, audit: bent })).status).toBe(200);
    expect((await t.call('bob', 'POST', '/api/v1/store/import', { versions: [] })).status).toBe(200);
    const after = (await storeObject(t, 'bob', 'GET', 'meta/state.json')).json.audit.find(
      (a: any) => a.workspace === ws,
    );
    // The import changed nothing served (at most the stored state took in the runs the server
    // trained, which the served state already listed: only its generation moved), so the state
    // names the same export of the server's log.
    expect(after).toEqual(own);
    const dana = await newLaptop(t, 'dana', 'cairn-pfs');
    const pulled: any = await dana.run((s) => s.transfer.pull([], { remote: 'team' }));
    expect(pulled.auditLogs.map((l: any) => l.workspace)).toContain(ws);
  }, 120_000);

  it('a run nobody submitted is refused by name; a run re-attributed keeps the author a verified log names', async () => {
    const forged = '01900000-0000-7000-8000-00000000abcd';
    const pushed = (s: any) => s.runs.find((r: any) => r.id === run);
    const { out, held, authors } = await pullFrom(
      await mirror(t, 'dana', (s) => {
        pushed(s).created_by = 'mallory';
        s.runs.push({ ...pushed(s), id: forged });
      }),
    );
    expect(out.runs?.skipped, String(out)).toMatchObject([{ run: forged, why: expect.stringMatching(/no event/) }]);
    expect(held.runs).toBe(2);
    const bobs = authors.filter((a) => a.id !== srv);
    expect(bobs).toHaveLength(1);
    expect(bobs[0]!.id).toBe(run);
    expect(['bob', 'bob@laptop']).toContain(bobs[0]!.created_by);
  }, 120_000);
});
