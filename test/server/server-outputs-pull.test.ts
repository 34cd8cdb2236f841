/* eslint-disable @typescript-eslint/no-explicit-any -- service answers are checked field by field */
// A run trained on the team server's own machines writes an output, and a model is registered
// from it there: a teammate's pull brings the output version (its packs placed in the store by
// the server, vouched by the server's own `dataset.version.create`), the run, and the model with
// its lineage (docs/SERVER.md "What a pull from the server brings"). A reader of one project gets
// that project's outputs and nothing of another's; a store that lies in transit is refused by
// name. Real server, real HTTP, real laptops; one team for the file (SQLite).
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawSqlite } from '../../src/test-support/audit-tamper.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';
import { newLaptop, startTeam, type Team } from './harness.js';
import { onServer } from './eval-fixtures.js';

const ROLES = { admin: 'admin', alice: 'contributor', mallory: 'contributor', dana: 'approver' } as const;

let t: Team;
/** Per project: the run alice trained on the server, its output ref, and the model registered from it. */
const trained: Record<string, { run: any; output: string; model: string }> = {};

/** The id of a server-trained run's output version, as the whole served state lists it. */
async function outputId(project: string): Promise<string> {
  const s = JSON.parse((await served('dana', 'meta/state.json')).toString('utf8'));
  const d = s.datasets.find((x: any) => x.name === `runs/zz${project}-srvout`);
  const v = s.versions.find((x: any) => x.dataset_id === d?.id && x.number === 1);
  expect(v, `runs/zz${project}-srvout@v1 in the served state`).toBeTruthy();
  return v.id;
}

/** Alice trains `zz<project>-srvout` on the server on the pushed `zzsrvout-data@v1`; it writes model.txt; she registers it. */
async function trainOnServer(project: string) {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-srvout-'));
  writeTree(dir, {
    'train.sh': [
      'set -e',
      `echo '{"kind":"metric","name":"zz${project}loss","value":0.25,"step":0}' >> "$CAIRN_METRICS_FILE"`,
      `echo "weights of ${project} $1" > "$CAIRN_OUTPUT_DIR/model.txt"`,
    ].join('\n'),
    'cairn.yaml':
      `name: zz${project}-srvout\nproject: ${project}\ncommand: sh train.sh {params.zz${project}p}\n` +
      `inputs:\n  train: zzsrvout-data@v1\nparams:\n  zz${project}p: 3\nresources:\n  time: 5m\n`,
  });
  const alice = onServer(t, 'alice');
  const sub: any = await alice.runs.submit({ spec: join(dir, 'cairn.yaml') });
  const run: any = await alice.runs.wait(sub.run.id, { pollMs: 50 });
  expect(run.status).toBe('completed');
  expect(run.output).toBe(`runs/zz${project}-srvout@v1`);
  const reg: any = await alice.models.register({ name: `zz${project}model`, fromRun: run.id, format: 'txt' });
  trained[project] = { run, output: run.output, model: reg.ref };
}

beforeAll(async () => {
  t = await startTeam({ roles: ROLES });
  const alice = await newLaptop(t, 'alice', 'cairn-srvout');
  writeTree(join(alice.dir, 'data'), { 'd.csv': 'x,y\n1,2\n' });
  await alice.run((s) => s.datasets.add({ source: join(alice.dir, 'data'), name: 'zzsrvout-data' }));
  await alice.run((s) => s.transfer.push([], { remote: 'team' }));
  await trainOnServer('zzmine');
  await trainOnServer('zzother');
  // nora reads `default` and the project zzmine only.
  expect(
    (await t.call('admin', 'POST', '/api/v1/accounts', { name: 'nora', role: 'viewer', project: 'default' })).status,
  ).toBe(200);
  const g = await t.call('admin', 'PUT', '/api/v1/grants', { subject: 'user:nora', project: 'zzmine', role: 'viewer' });
  expect(g.status).toBe(200);
  t.tokens.nora = (await t.call('admin', 'POST', '/api/v1/tokens', { user: 'nora' })).json.token;
}, 240_000);
afterAll(async () => {
  await t?.close();
});

/** One object of the server's store, as `who` is served it. */
async function served(who: string, key: string): Promise<Buffer> {
  const res = await fetch(`${t.server.url}/api/v1/store/objects/${key}`, {
    headers: { authorization: `Bearer ${t.tokens[who]}` },
  });
  expect(res.status, key).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

/** A folder remote holding everything the server serves `who`, with the state as `edit` makes it. */
async function mirror(who: string, edit: (state: any) => void): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-srvout-mitm-'));
  const put = (key: string, body: Buffer) => {
    mkdirSync(dirname(join(dir, key)), { recursive: true });
    writeFileSync(join(dir, key), body);
  };
  put('cairn-remote.json', await served(who, 'cairn-remote.json'));
  const state = JSON.parse((await served(who, 'meta/state.json')).toString('utf8'));
  for (const a of state.audit) {
    const list = await served(who, `${a.key}files.json`);
    put(`${a.key}files.json`, list);
    for (const f of JSON.parse(list.toString('utf8')) as string[])
      put(`${a.key}${f}`, await served(who, `${a.key}${f}`));
  }
  for (const p of state.packs) {
    const key = `packs/${p.id.slice(0, 2)}/${p.id}.pack`;
    put(key, await served(who, key));
  }
  edit(state);
  put('meta/state.json', Buffer.from(JSON.stringify(state)));
  return dir;
}

/** What a laptop's database holds after a pull. */
async function held(dir: string) {
  const db = rawSqlite(dir);
  const count = async (table: string) => (await db.all<{ n: number }>(`SELECT count(*) AS n FROM ${table}`))[0]!.n;
  const out = {
    versions: await count('dataset_versions'),
    runs: await count('runs'),
    modelVersions: await count('model_versions'),
  };
  await db.close();
  return out;
}

describe("a pull brings what the server's own runs wrote", () => {
  it('dana gets the output version (bytes checked out), the run that made it and the model registered from it', async () => {
    const dana = await newLaptop(t, 'dana', 'cairn-srvout');
    const pulled: any = await dana.run((s) => s.transfer.pull([], { remote: 'team' }));
    expect(pulled.skipped).toEqual([]);
    expect(pulled.runs.skipped).toEqual([]);
    expect(pulled.models.skipped).toEqual([]);
    for (const project of ['zzmine', 'zzother']) {
      const { run, output, model } = trained[project]!;
      expect(pulled.vouched).toContainEqual(
        expect.objectContaining({ dataset: output.split('@')[0], number: 1, origin: t.server.runtime.origin }),
      );
      expect(pulled.runs.imported).toContainEqual(
        expect.objectContaining({ run: run.id, author: 'alice', origin: t.server.runtime.origin }),
      );
      expect(pulled.models.imported).toContainEqual(
        expect.objectContaining({ model: model.split('@')[0], number: 1, run: run.id, author: 'alice' }),
      );
      const co = join(dana.dir, `co-${project}`);
      await dana.run((s) => s.datasets.checkout({ ref: output, dir: co }));
      expect(readFileSync(join(co, 'model.txt'), 'utf8')).toBe(`weights of ${project} 3\n`);
      const there: any = await dana.run((s) => s.runs.details(run.id));
      expect(there).toMatchObject({ project, status: 'completed', imported: { author: 'alice' } });
      const shown: any = await dana.run((s) => s.models.show(model));
      expect(JSON.stringify(shown)).toContain(run.id);
      const lineage = JSON.stringify(await dana.run((s) => s.lineage.of(`model:${model}`, 'up')));
      expect(lineage).toContain(run.id);
      expect(lineage).toContain('zzsrvout-data@v1');
    }
    expect(((await dana.run((s) => s.audit.verify({}))) as any).problems).toEqual([]);
    const again: any = await dana.run((s) => s.transfer.pull([], { remote: 'team' }));
    expect(again.vouched).toEqual([]);
    expect(again.runs.imported).toEqual([]);
    // Pushed back, it changes nothing on the server.
    const back: any = await dana.run((s) => s.transfer.push([], { remote: 'team' }));
    expect(back.server.imported).toMatchObject({ versions: 0, modelVersions: 0 });
  }, 180_000);

  it("nora (reader of zzmine) gets zzmine's output, run and model; no byte she is served names zzother's", async () => {
    const nora = await newLaptop(t, 'nora', 'cairn-srvout');
    const pulled: any = await nora.run((s) => s.transfer.pull([], { remote: 'team' }));
    const mine = trained.zzmine!;
    const other = trained.zzother!;
    expect(pulled.runs.imported.map((r: any) => r.run)).toEqual([mine.run.id]);
    expect(pulled.models.imported.map((m: any) => m.model)).toEqual(['zzzzminemodel']);
    await nora.run((s) => s.datasets.checkout({ ref: mine.output, dir: join(nora.dir, 'co') }));
    expect(readFileSync(join(nora.dir, 'co', 'model.txt'), 'utf8')).toBe('weights of zzmine 3\n');
    const state = await served('nora', 'meta/state.json');
    const texts = [state.toString('utf8'), JSON.stringify(pulled)];
    for (const a of JSON.parse(state.toString('utf8')).audit as Array<{ key: string }>) {
      const list = await served('nora', `${a.key}files.json`);
      for (const f of JSON.parse(list.toString('utf8')) as string[])
        texts.push((await served('nora', `${a.key}${f}`)).toString('utf8'));
    }
    const otherId = await outputId('zzother');
    // Models are `default`'s (docs/SERVER.md "What a reader of some projects sees"): the server's
    // `model.register` of zzother's model, which names its run, is shown to every reader of
    // `default` by design (registering it was a reader of zzother's decision to publish). Nothing
    // else she is served names zzother's run, output or model.
    const lines = texts.flatMap((x) => x.split('\n')).filter((l) => !l.startsWith('{"action":"model.register",'));
    for (const text of lines) {
      expect(text).not.toContain(other.run.id);
      expect(text).not.toContain('zzzzother-srvout');
      expect(text).not.toContain('zzzzothermodel');
      expect(text).not.toContain(otherId);
    }
    // The pack of zzother's output is not hers to read.
    const whole = JSON.parse((await served('dana', 'meta/state.json')).toString('utf8'));
    const otherPacks = whole.versions.find((v: any) => v.id === otherId).packs as string[];
    expect(otherPacks.length).toBeGreaterThan(0);
    for (const id of otherPacks) {
      const res = await fetch(`${t.server.url}/api/v1/store/objects/packs/${id.slice(0, 2)}/${id}.pack`, {
        headers: { authorization: `Bearer ${t.tokens.nora}` },
      });
      expect(res.status).toBe(404);
    }
  }, 180_000);
});

describe('a store that lies about the server-trained outputs in transit', () => {
  const ids: Record<string, string> = {};
  beforeAll(async () => {
    for (const p of ['zzmine', 'zzother']) ids[p] = await outputId(p);
  });
  const outputOf = (s: any, project: string) => s.versions.find((v: any) => v.id === ids[project]);
  const runOf = (s: any, project: string) => s.runs.find((r: any) => r.id === trained[project]!.run.id);

  async function pullFrom(dir: string) {
    const dana = await newLaptop(t, 'dana', 'cairn-srvout');
    await dana.run((s) => s.transfer.addRemote('mitm', `file://${dir}`, {}));
    const out: any = await dana.run((s) => s.transfer.pull([], { remote: 'mitm' })).catch((e: unknown) => e);
    return { out, held: await held(dana.dir) };
  }

  it("an output version listed with another version's packs: PACK_LIST_MISMATCH, nothing recorded", async () => {
    const { out, held: h } = await pullFrom(
      await mirror('dana', (s) => {
        outputOf(s, 'zzmine').packs = outputOf(s, 'zzother').packs;
      }),
    );
    expect(out?.code, String(out)).toBe('PACK_LIST_MISMATCH');
    expect(h).toEqual({ versions: 0, runs: 0, modelVersions: 0 });
  }, 120_000);

  it("a run claiming another run's output is refused by name; the rest comes in", async () => {
    const { out } = await pullFrom(
      await mirror('dana', (s) => {
        runOf(s, 'zzmine').output_version_id = ids.zzother;
      }),
    );
    expect(out.runs?.skipped, String(out)).toMatchObject([
      { run: trained.zzmine!.run.id, why: expect.stringMatching(/output/) },
    ]);
    expect(out.runs.imported.map((r: any) => r.run)).toEqual([trained.zzother!.run.id]);
  }, 120_000);

  it("an output the server's log does not vouch for (re-attributed, or a version it never made) is refused by name, with what hangs on it", async () => {
    const { out } = await pullFrom(
      await mirror('dana', (s) => {
        outputOf(s, 'zzmine').author = 'mallory';
        // And a v2 of zzother's output that the server never made, on v1's packs.
        const v1 = outputOf(s, 'zzother');
        s.versions.push({ ...v1, id: '01900000-0000-7000-8000-0000000000f2', number: 2, parent_id: v1.id });
      }),
    );
    expect(out.skipped, String(out)).toMatchObject([
      { dataset: 'runs/zzzzmine-srvout', number: 1, why: expect.stringMatching(/another author/) },
      { dataset: 'runs/zzzzother-srvout', number: 2, why: expect.stringMatching(/no event/) },
    ]);
    // Its run and its model are not half-imported without it.
    expect(out.runs.imported.map((r: any) => r.run)).toEqual([trained.zzother!.run.id]);
    expect(out.models.imported.map((m: any) => m.model)).toEqual(['zzzzothermodel']);
    expect(out.models.skipped).toMatchObject([{ model: 'zzzzminemodel' }]);
  }, 120_000);
});

/** The server's own packs (in its workspace), by store key, with their bytes. */
function serverPacks(): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/^[0-9a-f]{64}\.pack$/.test(e.name)) out.set(`packs/${e.name.slice(0, 2)}/${e.name}`, readFileSync(p));
    }
  };
  walk(join(t.dataDir, '.cairn', 'objects'));
  return out;
}

/** Uploads `bytes` under `key` as `who` through a plan of its own (a folder store), as any contributor may. */
async function upload(who: string, key: string, bytes: Buffer): Promise<void> {
  const object = {
    key,
    size: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    md5: createHash('md5').update(bytes).digest('base64'),
  };
  const plan = await t.call(who, 'POST', '/api/v1/store/plan', { objects: [object] });
  expect(plan.status).toBe(200);
  const up = plan.json.objects[0];
  expect(up.present).toBe(false);
  const res = await fetch(t.server.url + up.request.url, {
    method: 'PUT',
    headers: { authorization: `Bearer ${t.tokens[who]}`, 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  expect(res.status).toBe(200);
}

describe("garbage under the key of a server output's pack", () => {
  it('is checked when the server places its own pack, removed, and the pull gets the real bytes', async () => {
    const before = serverPacks();
    await trainOnServer('zzpoison');
    const fresh = [...serverPacks()].filter(([k]) => !before.has(k));
    expect(fresh.length).toBeGreaterThan(0);
    // mallory learned the output's pack keys and sizes before the server placed them in the store.
    for (const [key, bytes] of fresh) await upload('mallory', key, prng(77, bytes.length));
    const integrity = t.server.runtime.store!.integrity();
    const dana = await newLaptop(t, 'dana', 'cairn-srvout');
    const pulled: any = await dana.run((s) => s.transfer.pull([], { remote: 'team' }));
    expect(pulled.runs.imported.map((r: any) => r.run)).toContain(trained.zzpoison!.run.id);
    expect(t.server.runtime.store!.integrity().poisoned - integrity.poisoned).toBe(fresh.length);
    // Named in the server's log as any poisoned pack is: the key, mallory's upload, the reader who found it.
    const ev = await t.call('admin', 'GET', '/api/v1/audit/events?action=server.store.poisoned');
    expect(ev.status).toBe(200);
    expect(
      ev.json.map((e: any) => [e.event.actor.id, e.event.outcome, e.event.params.key, e.event.params.uploader]).sort(),
    ).toEqual(fresh.map(([key]) => ['dana', 'failed', key, 'mallory']).sort());
    await dana.run((s) => s.datasets.checkout({ ref: trained.zzpoison!.output, dir: join(dana.dir, 'co') }));
    expect(readFileSync(join(dana.dir, 'co', 'model.txt'), 'utf8')).toBe('weights of zzpoison 3\n');
  }, 180_000);
});
