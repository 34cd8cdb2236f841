/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/app/remote/client.js';
import { operations, type OperationId } from '../../src/app/remote/contract.js';
import { createRemoteServices } from '../../src/app/remote/services.js';
import { offlineAudit } from '../../src/audit/index.js';
import { addVersion } from '../../src/datasets/add.js';
import { READ_RULES } from '../../src/server/read-scope.js';
import { newWorkspace, prng, reopen, writeTree } from '../../src/test-support/workspace.js';
import { signedInLaptop, startTeam, type Team } from '../server/harness.js';

/**
 * mallory reads `default` and `alpha`; alice (contributor on every project) works in
 * `secretproj`. Every read of the contract is called as mallory, aimed at what secretproj holds
 * where a read takes a target, and no answer may carry anything of secretproj: its name, its
 * run's name or id, its params and metrics, its cost rows, its lineage edges or its audit
 * events. The probes are keyed by operation: a read added to the contract without a probe
 * here fails the first test.
 */
let t: Team;
const ids = { run: '', human: '', alphaRun: '', submitIndex: -1 };
/**
 * The store (a folder): alice's laptop pushed `zzshared-files` (its packs are `sharedPacks`), and
 * its log also records a run of secretproj; `strayPack` is a pack alice uploaded that no version
 * in the store uses yet (a push whose import has not run), so only its uploader may learn it is held.
 */
const store = { workspace: '', sharedPacks: [] as string[], strayPack: { key: '', bytes: Buffer.alloc(0) } };
const SECRET = {
  project: 'secretproj',
  spec: 'zzsecret-train',
  param: 'zzsecretparam',
  metric: 'zzsecretmetric',
};

const spec = (name: string, project: string, param: string) =>
  [
    `name: ${name}`,
    `project: ${project}`,
    'command: "sh train.sh"',
    'inputs:',
    '  train: zzshared-data@latest',
    'params:',
    `  ${param}: 7`,
    '',
  ].join('\n');

const trainSh = (metric: string) =>
  Buffer.from(
    [
      `echo '{"kind":"metric","name":"${metric}","value":0.5,"step":1}' >> "$CAIRN_METRICS_FILE"`,
      'mkdir -p "$CAIRN_OUTPUT_DIR/m" && echo w > "$CAIRN_OUTPUT_DIR/m/model.bin"',
      '',
    ].join('\n'),
  ).toString('base64');

async function submitAndWait(
  name: string,
  project: string,
  param: string,
  metric: string,
): Promise<{ id: string; humanName: string }> {
  const sub = await t.call('alice', 'POST', '/api/v1/runs', {
    spec: spec(name, project, param),
    specName: 'cairn.yaml',
    files: { 'train.sh': trainSh(metric) },
    backend: 'local',
  });
  expect(sub.status, JSON.stringify(sub.json)).toBe(200);
  const rt = t.server.runtime;
  const run = await rt.runAs({ actor: { id: 'alice', auth: 'token' }, command: 'test wait' }, () =>
    rt.services.runs.wait(sub.json.run.id, { pollMs: 50 }),
  );
  expect(run.status).toBe('completed');
  return { id: run.id, humanName: run.humanName ?? '' };
}

/** A person's laptop: a workspace with the server as its remote `team`, and their token. */
async function laptop(user: string, files?: Record<string, string | Buffer>, name = 'zzshared-files') {
  const dir = mkdtempSync(join(tmpdir(), `cairn-${user}-`));
  const ws = await newWorkspace(dir, { actor: `${user}@laptop` });
  if (files) {
    const src = mkdtempSync(join(tmpdir(), 'cairn-src-'));
    writeTree(src, files);
    await addVersion(ws, { source: src, name });
  }
  const workspace = ws.config.workspace.id;
  await ws.close();
  const { run } = await signedInLaptop(t, user, dir);
  return { dir, workspace, run };
}

function packsIn(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }))
      if (e.isDirectory()) walk(join(d, e.name));
      else if (e.name.endsWith('.pack')) out.push(join(d, e.name));
  };
  walk(join(dir, '.cairn'));
  return out;
}

const packKeyOf = (path: string) => {
  const id = /([0-9a-f]{64})\.pack$/.exec(path)![1]!;
  return `packs/${id.slice(0, 2)}/${id}.pack`;
};

async function uploadAs(who: string, key: string, bytes: Buffer): Promise<{ plan: any; put: any }> {
  const planned = { key, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  const plan = (await t.call(who, 'POST', '/api/v1/store/plan', { objects: [planned] })).json;
  const o = plan.objects?.[0];
  if (!o?.request) return { plan, put: null };
  const res = await fetch(t.server.url + o.request.url, {
    method: 'PUT',
    headers: { authorization: `Bearer ${t.tokens[who]}`, 'content-type': 'application/octet-stream' },
    body: bytes,
  });
  return { plan, put: { status: res.status, json: await res.json() } };
}

beforeAll(async () => {
  t = await startTeam({ store: `file://${mkdtempSync(join(tmpdir(), 'cairn-store-'))}` });
  const rt = t.server.runtime;
  const asAlice = { actor: { id: 'alice', auth: 'token' as const }, command: 'test setup' };
  const data = mkdtempSync(join(tmpdir(), 'cairn-shared-'));
  writeFileSync(join(data, 'd.csv'), 'x,y\n1,0\n');
  await rt.runAs(asAlice, () => rt.services.datasets.add({ source: data, name: 'zzshared-data' }));
  await t.registerAs('alice', 'zzpublic-model');
  const secret = await submitAndWait(SECRET.spec, SECRET.project, SECRET.param, SECRET.metric);
  ids.run = secret.id;
  ids.human = secret.humanName;
  expect(ids.human.length).toBeGreaterThan(3);
  ids.alphaRun = (await submitAndWait('zzalpha-train', 'alpha', 'alphaparam', 'alphametric')).id;
  expect(
    (await t.call('admin', 'PUT', `/api/v1/compute/projects/${SECRET.project}`, { budgetGpuHours: 5, period: 'month' }))
      .status,
  ).toBe(200);
  expect(
    (await t.call('admin', 'POST', '/api/v1/accounts', { name: 'mallory', role: 'viewer', project: 'default' })).status,
  ).toBe(200);
  expect(
    (await t.call('admin', 'PUT', '/api/v1/grants', { subject: 'user:mallory', project: 'alpha', role: 'viewer' }))
      .status,
  ).toBe(200);
  t.tokens.mallory = (await t.call('admin', 'POST', '/api/v1/tokens', { user: 'mallory' })).json.token;
  // eve contributes to `default` alone: she may push, and reads only `default`.
  expect(
    (await t.call('admin', 'POST', '/api/v1/accounts', { name: 'eve', role: 'contributor', project: 'default' }))
      .status,
  ).toBe(200);
  t.tokens.eve = (await t.call('admin', 'POST', '/api/v1/tokens', { user: 'eve' })).json.token;

  // alice's laptop pushes a dataset; its log also records a run of secretproj (a workspace names its own runs).
  const lap = await laptop('alice', { 'a.bin': prng(21, 40_000), 'b.txt': 'zzshared\n' });
  {
    const ws = await reopen(lap.dir, 'alice@laptop');
    await ws.audit.audited(
      {
        action: 'run.submit',
        target: { type: 'run', name: `${SECRET.spec}-local` },
        params: { project: SECRET.project, [SECRET.param]: 7 },
      },
      (commit) => commit(async () => undefined),
    );
    await ws.close();
  }
  const pushed: any = await lap.run((s) => s.transfer.push([], { remote: 'team' }));
  expect(pushed.server.imported.versions).toBe(1);
  store.workspace = lap.workspace;
  store.sharedPacks = packsIn(lap.dir).map(packKeyOf);
  expect(store.sharedPacks.length).toBeGreaterThan(0);
  // A pack of a version alice has not pushed, uploaded by her: held, used by no version in the store.
  const stray = await laptop('alice', { 'c.bin': prng(22, 30_000) }, 'zzstray');
  const strayPath = packsIn(stray.dir)[0]!;
  store.strayPack = { key: packKeyOf(strayPath), bytes: readFileSync(strayPath) };
  const up = await uploadAs('alice', store.strayPack.key, store.strayPack.bytes);
  expect(up.put?.status, JSON.stringify(up)).toBe(200);

  const submits = await t.call('admin', 'GET', '/api/v1/audit/events?action=run.submit');
  ids.submitIndex = submits.json.find((e: any) => e.event.target?.name === ids.run).index;
  expect(ids.submitIndex).toBeGreaterThanOrEqual(0);
}, 300_000);
afterAll(async () => {
  await t?.close();
});

type Answer = { status: number; json: any };
interface Probe {
  method?: 'GET' | 'POST';
  path: () => string;
  body?: () => unknown;
  /** The statuses a refusal or an answer may have (default: 200). */
  status?: number[];
  /** Further checks of the answer. */
  check?: (a: Answer) => void | Promise<void>;
}

const q = encodeURIComponent;

/** The longest prefix the secret run's id shares with alpha's run (ids are time-ordered, so a few characters at least). */
function sharedPrefix(): string {
  let n = 0;
  while (n < ids.run.length && ids.run[n] === ids.alphaRun[n]) n++;
  expect(n).toBeGreaterThanOrEqual(4);
  return ids.run.slice(0, n);
}
const notFound = { status: [404], check: (a: Answer) => expect(a.json.error.code).toBe('NOT_FOUND') };
const denied = { status: [403], check: (a: Answer) => expect(a.json.error.code).toBe('PERMISSION_DENIED') };

/** Every read of the contract, as mallory tries it. */
const PROBES: Record<keyof typeof READ_RULES, Probe[]> = {
  whoami: [{ path: () => '/whoami' }],
  // A run's outputs are a version of `runs/<spec name>`: the secret run's are secretproj's.
  'datasets.list': [
    {
      path: () => '/datasets',
      check: (a) =>
        expect(a.json.map((d: any) => d.name).sort()).toEqual([
          'models/zzpublic-model',
          'runs/zzalpha-train',
          'zzshared-data',
          'zzshared-files',
        ]),
    },
  ],
  'datasets.log': [
    { path: () => '/datasets/log?name=zzshared-data' },
    { path: () => `/datasets/log?name=${q(`runs/${SECRET.spec}`)}`, ...notFound },
  ],
  'datasets.show': [
    { path: () => '/versions/show?ref=zzshared-data@latest' },
    { path: () => '/versions/show?ref=runs/zzalpha-train@latest' },
    { path: () => `/versions/show?ref=${q(`runs/${SECRET.spec}@v1`)}`, ...notFound },
  ],
  'datasets.diff': [
    { path: () => '/versions/diff?from=zzshared-data@v1&to=zzshared-data@v1' },
    { path: () => `/versions/diff?from=zzshared-data@v1&to=${q(`runs/${SECRET.spec}@v1`)}`, ...notFound },
  ],
  'datasets.report': [
    { path: () => '/versions/report?ref=zzshared-data@latest', status: [200, 404, 422] },
    { path: () => `/versions/report?ref=${q(`runs/${SECRET.spec}@v1`)}`, ...notFound },
  ],
  'runs.logs': [{ path: () => `/runs/${ids.run}/logs`, ...notFound }],
  'runs.find': [
    {
      path: () => '/runs/find?columns=params.alphaparam',
      check: (a) => expect(a.json.runs.map((r: any) => r.id)).toEqual([ids.alphaRun]),
    },
    // The count of matches must not answer the filter about another project's runs.
    {
      path: () => `/runs/find?filter=${q(`params.${SECRET.param} = 7`)}&limit=1&offset=5`,
      check: (a) => expect([a.json.matched, a.json.runs]).toEqual([0, []]),
    },
  ],
  'runs.fields': [
    {
      path: () => '/runs/fields',
      check: (a) => expect(a.json).toEqual({ params: ['alphaparam'], metrics: ['alphametric'] }),
    },
  ],
  'runs.curves': [{ path: () => `/runs/curves?ids=${ids.run}&name=${SECRET.metric}`, ...notFound }],
  'runs.compare': [{ path: () => `/runs/compare?refs=${ids.run}`, ...notFound }],
  'runs.tail': [{ path: () => `/runs/${ids.run}/tail`, ...notFound }],
  'runs.list': [{ path: () => '/runs', check: (a) => expect(a.json.map((r: any) => r.id)).toEqual([ids.alphaRun]) }],
  'runs.show': [
    { path: () => `/runs/${ids.run}`, ...notFound },
    // A prefix of its name answers as no run, not as a run she may not see.
    { path: () => `/runs/${q(ids.human.slice(0, Math.max(3, ids.human.length - 2)))}`, ...notFound },
  ],
  'runs.why': [
    { path: () => `/runs/${ids.run}/why`, ...notFound },
    // A prefix both runs' ids share: answered as if only her runs existed, so it is alpha's run.
    {
      path: () => `/runs/${sharedPrefix()}/why`,
      check: (a) => expect(JSON.stringify(a.json)).toContain(ids.alphaRun),
    },
    { path: () => `/runs/${sharedPrefix()}`, check: (a) => expect(a.json.id).toBe(ids.alphaRun) },
    // One character more of the secret run's id: only that run matches, and it is unknown to her.
    { path: () => `/runs/${ids.run.slice(0, sharedPrefix().length + 1)}/why`, ...notFound },
  ],
  'runs.metrics': [{ path: () => `/runs/${ids.run}/metrics`, ...notFound }],
  'runs.metricSeries': [{ path: () => `/runs/${ids.run}/metrics/${SECRET.metric}`, ...notFound }],
  'models.list': [{ path: () => '/models' }],
  'models.versions': [{ path: () => '/models/zzpublic-model/versions' }],
  'models.show': [{ path: () => '/model-versions/show?ref=zzpublic-model@v1' }],
  'models.card': [{ path: () => '/model-versions/card?ref=zzpublic-model@v1' }],
  'models.evaluations': [{ path: () => '/model-versions/evaluations?ref=zzpublic-model@v1' }],
  'models.readiness': [{ path: () => '/model-versions/readiness?ref=zzpublic-model@v1&alias=production' }],
  'models.history': [{ path: () => '/models/zzpublic-model/history' }],
  'deployments.list': [{ path: () => '/deployments' }],
  'deployments.dora': [{ path: () => '/dora' }],
  'audit.events': [
    {
      path: () => '/audit/events',
      check: (a) => {
        expect(a.json.length).toBeGreaterThan(0);
        // Other people's requests are not hers to read.
        expect(a.json.filter((e: any) => e.action.startsWith('server.') && e.actor !== 'mallory')).toEqual([]);
      },
    },
    {
      path: () => '/audit/events?action=run.submit&limit=5',
      check: (a) => expect(a.json.map((e: any) => e.event.target.name)).toEqual([ids.alphaRun]),
    },
  ],
  'audit.event': [{ path: () => `/audit/events/${ids.submitIndex}`, ...denied }],
  'audit.prove': [{ path: () => `/audit/events/${ids.submitIndex}/proof`, ...denied }],
  'audit.checkpoint': [{ path: () => '/audit/checkpoint' }],
  'audit.verify': [
    {
      method: 'POST',
      path: () => '/audit/verify',
      body: () => ({}),
      check: (a) => expect([a.json.ok, a.json.actions]).toEqual([true, {}]),
    },
  ],
  'audit.bundle': [
    {
      path: () => '/audit/bundle',
      check: async (a) => {
        // Withheld entries are leaf hashes: the whole log still verifies, with the server's key.
        const dir = mkdtempSync(join(tmpdir(), 'cairn-redacted-'));
        try {
          for (const [rel, text] of Object.entries(a.json.files as Record<string, string>)) {
            mkdirSync(dirname(join(dir, rel)), { recursive: true });
            writeFileSync(join(dir, rel), text);
          }
          const key = offlineAudit.loadVerifierKey(t.server.runtime.verifierKey);
          const r = await offlineAudit.verifyBundle(dir, key);
          expect(r.problems).toEqual([]);
          expect(r.ok).toBe(true);
          expect(r.redacted).toBeGreaterThan(0);
          expect(r.redacted).toBeLessThan(r.size);
          // The bundle's own standard-library verifier takes the redacted lines too.
          expect(execFileSync('python3', [join(dir, 'verify.py')], { encoding: 'utf8' })).toMatch(/^ok: /);
          // A changed hash in place of an entry is caught like a changed entry.
          const lines = a.json.files['entries.jsonl'].split('\n');
          const at = lines.findIndex((l: string) => l.startsWith('#redacted '));
          lines[at] = `#redacted ${'0'.repeat(64)}`;
          writeFileSync(join(dir, 'entries.jsonl'), lines.join('\n'));
          expect((await offlineAudit.verifyBundle(dir, key)).ok).toBe(false);
          const py = (() => {
            try {
              return execFileSync('python3', [join(dir, 'verify.py')], { encoding: 'utf8', stdio: 'pipe' });
            } catch (e) {
              return String((e as { stdout?: unknown }).stdout);
            }
          })();
          expect(py).toMatch(/^FAIL/);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      },
    },
  ],
  'lineage.of': [
    { path: () => `/lineage?ref=${q(`runs/${SECRET.spec}@v1`)}`, ...notFound },
    {
      path: () => '/lineage?ref=zzshared-data@latest&direction=both',
      check: (a) => {
        const runs = a.json.nodes.filter((n: any) => n.type === 'run').map((n: any) => n.id);
        expect(runs).toEqual([ids.alphaRun]);
        for (const e of a.json.edges) expect(JSON.stringify(e)).not.toContain(ids.run);
      },
    },
  ],
  'compute.usage': [
    { path: () => '/compute/usage?by=run', check: (a) => expect(a.json.total.runs).toBe(1) },
    {
      path: () => '/compute/usage?by=project',
      check: (a) => expect(a.json.rows.map((r: any) => r.key)).toEqual(['alpha']),
    },
    { path: () => '/compute/usage?by=user&interval=day', check: (a) => expect(a.json.total.runs).toBe(1) },
  ],
  'compute.projects': [{ path: () => '/compute/projects' }],
  'compute.budgets': [{ path: () => '/compute/budgets' }],
  'accounts.list': [{ path: () => '/accounts', ...denied }],
  'tokens.list': [{ path: () => '/tokens', ...denied }],
  'compliance.dossier': [{ path: () => '/compliance/dossier?ref=zzpublic-model@v1', status: [200, 404, 422] }],
  'compliance.holds': [{ path: () => '/compliance/holds' }],
  // Only the packs of versions she may read; no bookkeeping, no sizes of what she is served cut.
  'store.list': [
    {
      path: () => '/store/list',
      check: (a) => {
        const keys = a.json.objects.map((o: any) => o.key);
        expect(keys.filter((k: string) => k.startsWith('packs/')).sort()).toEqual([...store.sharedPacks].sort());
        expect(keys.filter((k: string) => /^(owners|uploaders|incoming|proposals|meta)\//.test(k))).toEqual([]);
        expect(keys.filter((k: string) => k.endsWith('entries.jsonl'))).toEqual([]);
        expect(keys).toContain(`audit/${store.workspace}/files.json`);
      },
    },
    {
      path: () => `/store/list?prefix=${q(store.strayPack.key)}`,
      check: (a) => expect(a.json.objects).toEqual([]),
    },
  ],
  'store.download': [
    { method: 'POST', path: () => '/store/download', body: () => ({ keys: store.sharedPacks }) },
    // A held pack no version of hers uses is answered as one the store lacks.
    { method: 'POST', path: () => '/store/download', body: () => ({ keys: [store.strayPack.key] }), ...notFound },
  ],
};

/** What of secretproj no answer to mallory may contain (a value she sent herself is left out of the check). */
function secretsFor(request: string): string[] {
  return [
    SECRET.project,
    SECRET.spec,
    SECRET.metric,
    ids.run,
    ids.human,
    ...(request.includes(SECRET.param) ? [] : [SECRET.param]),
  ]
    .filter((s) => s.length > 0)
    .filter((s) => !request.includes(s));
}

/** What mallory never sends in any probe before the last test. */
const neverSent = () => [SECRET.project, ids.human];

/** An audit answer without mallory's own events (in a listing, or the lines of a bundle). */
function othersOf(json: any): unknown {
  const mine = (e: any) => e?.actor === 'mallory' || e?.actor?.id === 'mallory' || e?.event?.actor?.id === 'mallory';
  if (Array.isArray(json)) return json.filter((e) => !mine(e));
  if (typeof json?.files?.['entries.jsonl'] === 'string')
    return {
      ...json,
      files: {
        ...json.files,
        'entries.jsonl': json.files['entries.jsonl']
          .split('\n')
          .filter((l: string) => {
            try {
              return !mine(JSON.parse(l));
            } catch {
              return true;
            }
          })
          .join('\n'),
      },
    };
  return json;
}

const reads = (Object.keys(operations) as OperationId[]).filter(
  (id) => operations[id].method === 'GET' || id in READ_RULES,
);

describe('a reader of other projects learns nothing of secretproj', () => {
  it('every read of the contract has a rule on the server and a probe here', () => {
    expect(reads.filter((id) => !(id in READ_RULES))).toEqual([]);
    expect(reads.filter((id) => !(id in PROBES))).toEqual([]);
  });

  it('the probes can fail: alice, who reads every project, sees what mallory must not', async () => {
    const fields = await t.call('alice', 'GET', '/api/v1/runs/fields');
    expect(fields.json.metrics).toContain(SECRET.metric);
    const datasets = await t.call('alice', 'GET', '/api/v1/datasets');
    expect(datasets.json.map((d: any) => d.name)).toContain(`runs/${SECRET.spec}`);
    const runs = await t.call('alice', 'GET', '/api/v1/runs');
    expect(runs.json.map((r: any) => r.id)).toContain(ids.run);
    const lineage = await t.call('alice', 'GET', '/api/v1/lineage?ref=zzshared-data@latest');
    expect(JSON.stringify(lineage.json)).toContain(ids.run);
    const usage = await t.call('alice', 'GET', '/api/v1/compute/usage?by=run');
    expect(JSON.stringify(usage.json)).toContain(SECRET.spec);
    const events = await t.call('alice', 'GET', '/api/v1/audit/events?action=run.submit');
    expect(JSON.stringify(events.json)).toContain(ids.run);
    const event = await t.call('alice', 'GET', `/api/v1/audit/events/${ids.submitIndex}`);
    expect(event.status).toBe(200);
    const find = await t.call('admin', 'GET', `/api/v1/runs/find?filter=${q(`params.${SECRET.param} = 7`)}`);
    expect(find.json.matched).toBe(1);
    const budgets = await t.call('admin', 'GET', '/api/v1/compute/budgets');
    expect(JSON.stringify(budgets.json)).toContain(SECRET.project);
  });

  for (const id of reads) {
    it(`${id}`, async () => {
      for (const p of PROBES[id as keyof typeof PROBES] ?? []) {
        const path = `/api/v1${p.path()}`;
        const body = p.body?.();
        const a = await t.call('mallory', p.method ?? 'GET', path, body);
        expect(p.status ?? [200], `${path}: ${JSON.stringify(a.json).slice(0, 400)}`).toContain(a.status);
        // Her own events echo what she sent in earlier probes (a run id, a filter): in the
        // audit reads those are checked for what she never sent; everyone else's for everything.
        const own = READ_RULES[id as keyof typeof READ_RULES] === 'audit';
        const sent = path + JSON.stringify(body ?? null);
        const leaks = (text: string, secrets: string[]) =>
          secrets
            .filter((s) => text.includes(s))
            .map((s) => `${s}: …${text.slice(text.indexOf(s) - 300, text.indexOf(s) + 80)}…`);
        expect(leaks(JSON.stringify(own ? othersOf(a.json) : a.json), secretsFor(sent)), path).toEqual([]);
        if (own) expect(leaks(JSON.stringify(a.json), neverSent()), path).toEqual([]);
        await p.check?.(a);
      }
    }, 120_000);
  }

  it("mallory's client verifies the whole log (cairn audit verify against the server), the withheld entries by hash", async () => {
    const session = {
      url: t.server.url,
      token: t.tokens.mallory!,
      user: 'mallory',
      verifierKey: t.server.runtime.verifierKey,
      origin: t.server.runtime.origin,
      seen: null,
    };
    const mallory = createRemoteServices(new ApiClient({ url: t.server.url, token: session.token }), session);
    const r = await mallory.audit.verify({});
    expect([r.ok, r.problems]).toEqual([true, []]);
    expect(r.redacted).toBeGreaterThan(0);
    // Her client verified at least what the server did: the verify request is itself an event,
    // appended after the server's report, so the bundle fetched next is one entry longer.
    expect(r.trusted!.size).toBeGreaterThanOrEqual(r.size);
  });

  it('a run prefix resolves among her runs only; alice, who reads both, is told it is ambiguous', async () => {
    const hers = await t.call('mallory', 'GET', `/api/v1/runs/${sharedPrefix()}`);
    expect([hers.status, hers.json.id]).toEqual([200, ids.alphaRun]);
    const all = await t.call('alice', 'GET', `/api/v1/runs/${sharedPrefix()}`);
    expect([all.status, all.json.error.code]).toEqual([409, 'AMBIGUOUS_REF']);
    expect(all.json.error.data.candidates.map((c: any) => c.id).sort()).toEqual([ids.alphaRun, ids.run].sort());
    // Her refusal for the secret run's prefix is the one for a run that does not exist, event and all.
    const secret = await t.call('mallory', 'GET', `/api/v1/runs/${ids.run.slice(0, sharedPrefix().length + 1)}`);
    const none = await t.call('mallory', 'GET', `/api/v1/runs/${'f'.repeat(sharedPrefix().length + 1)}`);
    expect([secret.status, secret.json.error.code]).toEqual([none.status, none.json.error.code]);
    const denials = (await t.call('mallory', 'GET', '/api/v1/audit/events?action=server.denied&limit=2')).json;
    expect(denials.map((e: any) => [e.event.params.status, e.event.reason.replace(/no run \S+/, 'no run ?')])).toEqual([
      [404, denials[0].event.reason.replace(/no run \S+/, 'no run ?')],
      [404, denials[0].event.reason.replace(/no run \S+/, 'no run ?')],
    ]);
  });

  it("mallory's pull verifies alice's pushed log, redacted, and imports the shared version", async () => {
    const lap = await laptop('mallory');
    const pulled: any = await lap.run((s) => s.transfer.pull([], { remote: 'team' }));
    // The shared version, and the output of the alpha run the server trained (hers to read, its
    // packs placed in the store by the server); not secretproj's output.
    expect(pulled.vouched.map((v: any) => `${v.dataset}@v${v.number}`).sort()).toEqual([
      'runs/zzalpha-train@v1',
      'zzshared-files@v1',
    ]);
    expect(pulled.skipped).toEqual([]);
    // alice's pushed log, and the server's own (which vouches for what the server recorded).
    const server = t.server.runtime.workspaceId;
    expect(pulled.auditLogs.map((l: any) => l.workspace).sort()).toEqual([store.workspace, server].sort());
    const shown = await lap.run((s) => s.datasets.show('zzshared-files@v1'));
    expect(JSON.stringify(shown)).toContain('a.bin');
    const entries = readFileSync(
      join(lap.dir, '.cairn', 'remote-audit', 'team', store.workspace, 'entries.jsonl'),
      'utf8',
    );
    expect(entries).toMatch(/^#redacted [0-9a-f]{64}$/m);
    expect(entries).toContain('dataset.version.create');
    for (const secret of [SECRET.project, SECRET.spec, SECRET.param]) expect(entries).not.toContain(secret);
    // The server's log reaches her as `audit/bundle` serves it to her: redacted, no secretproj in it.
    const own = readFileSync(join(lap.dir, '.cairn', 'remote-audit', 'team', server, 'entries.jsonl'), 'utf8');
    expect(own).toMatch(/^#redacted [0-9a-f]{64}$/m);
    // Her own events stay whole (her probes sent some of these names herself).
    const others = JSON.stringify(othersOf({ files: { 'entries.jsonl': own } }));
    for (const secret of [SECRET.project, SECRET.spec, SECRET.param, ids.run]) expect(others).not.toContain(secret);
    for (const secret of neverSent()) expect(own).not.toContain(secret);
    // A second pull finds alice's log unchanged and verified (the server's has grown: one more read).
    const again: any = await lap.run((s) => s.transfer.pull([], { remote: 'team' }));
    expect(again.auditLogs).toHaveLength(2);
  }, 120_000);

  it('the store objects route serves her the cut state, a redacted log, and no pack or bookkeeping she may not read', async () => {
    const get = async (who: string, key: string) => {
      const res = await fetch(`${t.server.url}/api/v1/store/objects/${key}`, {
        headers: { authorization: `Bearer ${t.tokens[who]}` },
      });
      return { status: res.status, text: Buffer.from(await res.arrayBuffer()).toString('utf8') };
    };
    const log = `audit/${store.workspace}/entries.jsonl`;
    const hers = await get('mallory', log);
    expect(hers.status).toBe(200);
    for (const secret of [SECRET.project, SECRET.spec, SECRET.param]) expect(hers.text).not.toContain(secret);
    // Control: alice, who pushed it (and reads every project), gets it whole.
    expect((await get('alice', log)).text).toContain(SECRET.project);
    expect((await get('alice', log)).text.split('\n').length).toBe(hers.text.split('\n').length);
    const absent = `packs/ee/${'e'.repeat(64)}.pack`;
    const stray = await get('mallory', store.strayPack.key);
    const none = await get('mallory', absent);
    expect(stray.status).toBe(404);
    expect(JSON.parse(stray.text).error.code).toBe(JSON.parse(none.text).error.code);
    expect(JSON.parse(stray.text).error.message.replace(store.strayPack.key, '?')).toBe(
      JSON.parse(none.text).error.message.replace(absent, '?'),
    );
    expect((await get('alice', store.strayPack.key)).status).toBe(200);
    expect((await get('mallory', store.sharedPacks[0]!)).status).toBe(200);
    const uploaderKey = `uploaders/${store.strayPack.key.slice('packs/'.length)}.json`;
    expect((await get('mallory', uploaderKey)).status).toBe(404);
    expect((await get('mallory', `owners/${store.workspace}.json`)).status).toBe(404);
    const state = JSON.parse((await get('mallory', 'meta/state.json')).text);
    // The shared version's packs, and those of the alpha run's output (the server's own version).
    const alphaOutput = state.datasets.find((d: any) => d.name === 'runs/zzalpha-train');
    const outputPacks = state.versions
      .filter((v: any) => v.dataset_id === alphaOutput?.id)
      .flatMap((v: any) => v.packs.map((id: string) => `packs/${id.slice(0, 2)}/${id}.pack`));
    expect(outputPacks).toHaveLength(1);
    expect(state.packs.map((p: any) => `packs/${p.id.slice(0, 2)}/${p.id}.pack`).sort()).toEqual(
      [...store.sharedPacks, ...outputPacks].sort(),
    );
    expect(JSON.stringify(state)).not.toContain(SECRET.spec);
    const aliceList = await t.call('alice', 'GET', `/api/v1/store/list?prefix=${q(store.strayPack.key)}`);
    expect(aliceList.json.objects).toEqual([{ key: store.strayPack.key, size: store.strayPack.bytes.length }]);
  });

  it("eve's plan of a held pack she may not read is the plan of one the store lacks; her upload joins the one copy", async () => {
    // Control: alice, who reads every pack, is told the store holds it.
    const aliceLs = await t.call('alice', 'POST', '/api/v1/store/plan', {
      objects: [
        {
          key: store.strayPack.key,
          size: store.strayPack.bytes.length,
          sha256: createHash('sha256').update(store.strayPack.bytes).digest('hex'),
        },
      ],
    });
    expect(aliceLs.json.objects[0].present).toBe(true);
    const shape = (plan: any) => ({
      direct: plan.direct,
      objects: plan.objects.map((o: any) => ({
        ...o,
        key: '?',
        uploadId: '?',
        request: { ...o.request, url: '?', expiresAt: '?' },
      })),
    });
    // A real pack the store lacks (eve's own), and the held stray pack: the same plan, the same answer.
    const own = await laptop('eve', { 'e.bin': prng(23, 20_000) }, 'zzeve');
    const ownPath = packsIn(own.dir)[0]!;
    const fresh = await uploadAs('eve', packKeyOf(ownPath), readFileSync(ownPath));
    const held = await uploadAs('eve', store.strayPack.key, store.strayPack.bytes);
    expect(shape(held.plan)).toEqual(shape(fresh.plan));
    expect(held.plan.objects[0].present).toBe(false);
    expect([held.put.status, { ...held.put.json, bytes: '?' }]).toEqual([
      fresh.put.status,
      { ...fresh.put.json, bytes: '?' },
    ]);
    // Once her own upload is held, she is told so (she sent it).
    const ownBytes = readFileSync(ownPath);
    const replan = await t.call('eve', 'POST', '/api/v1/store/plan', {
      objects: [
        {
          key: packKeyOf(ownPath),
          size: ownBytes.length,
          sha256: createHash('sha256').update(ownBytes).digest('hex'),
        },
      ],
    });
    expect(replan.json.objects[0].present).toBe(true);
    // Bytes that are not the named pack are refused alike, held or not.
    const junk = Buffer.from(store.strayPack.bytes).fill(7, 100, 200);
    const junkHeld = await uploadAs('eve', store.strayPack.key, junk);
    const junkNone = await uploadAs('eve', `packs/dd/${'d'.repeat(64)}.pack`, junk);
    expect(junkHeld.put.json.error.code).toBe('UPLOAD_MISMATCH');
    expect(junkNone.put.json.error.code).toBe('UPLOAD_MISMATCH');
    // The store still holds alice's one copy, unchanged.
    const listed = await t.call('alice', 'GET', `/api/v1/store/list?prefix=${q(store.strayPack.key)}`);
    expect(listed.json.objects).toEqual([{ key: store.strayPack.key, size: store.strayPack.bytes.length }]);
    const bytes = await fetch(`${t.server.url}/api/v1/store/objects/${store.strayPack.key}`, {
      headers: { authorization: `Bearer ${t.tokens.alice}` },
    });
    expect(Buffer.from(await bytes.arrayBuffer()).equals(store.strayPack.bytes)).toBe(true);
  });

  it('eve, who contributes to `default` alone, pushes and pulls through the cut store (her uploads checked against their names)', async () => {
    const lap = await laptop('eve', { 'f.bin': prng(24, 25_000), 'b.txt': 'zzshared\n' }, 'zzeve-data');
    const pushed: any = await lap.run((s) => s.transfer.push([], { remote: 'team' }));
    expect(pushed.server.imported.versions).toBe(1);
    const pulled: any = await lap.run((s) => s.transfer.pull([], { remote: 'team' }));
    expect(pulled.skipped).toEqual([]);
    const other = await laptop('mallory');
    const got: any = await other.run((s) => s.transfer.pull(['zzeve-data@v1'], { remote: 'team' }));
    expect(got.versions).toHaveLength(1);
  }, 120_000);

  it('naming the secret project outright is refused', async () => {
    for (const path of [`/runs/fields?project=${SECRET.project}`, `/runs?project=${SECRET.project}`]) {
      const a = await t.call('mallory', 'GET', `/api/v1${path}`);
      expect([a.status, a.json.error.code]).toEqual([403, 'PERMISSION_DENIED']);
    }
  });

  it("mallory sees her own refusals in the audit log, and the server recorded them as alice's run being unknown to her", async () => {
    const mine = await t.call('mallory', 'GET', '/api/v1/audit/events?action=server.denied');
    expect(mine.status).toBe(200);
    expect(mine.json.length).toBeGreaterThan(0);
    expect(mine.json.every((e: any) => e.actor === 'mallory')).toBe(true);
    const all = await t.call('admin', 'GET', '/api/v1/audit/events?action=server.denied');
    expect(all.json.some((e: any) => e.actor === 'mallory' && e.event.target.name === 'runs.show')).toBe(true);
  });
});
