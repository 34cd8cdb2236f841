// What a reader of some projects pulls of the runs on a team server (docs/SERVER.md "What a pull
// from the server brings"), over random histories: runs pushed (several projects in one push) and
// runs trained on the server, some writing an output (the server's own version, with a pack) and
// some with a model registered from it, readers with random grants. The server's side as it
// serves her (servedState, cutState, her share of its log as eventVisible redacts it, the runs that
// share vouches for), then her pull's side (planImport and planRunImport with the vouchers of what
// she was served).
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../core/canonical-json.js';
import { metricsDigest, paramsDigest } from '../compute/index.js';
import { mulberry32 } from '../test-support/prng.js';
import { servedState, type OwnOutputs } from '../app/server-state.js';
import { emptyState, type RemoteState, type RunStateRow } from '../transfer/state.js';
import { cardDigest, collectVouchers, planImport, type Vouchers } from '../transfer/vouch.js';
import { collectRunVouchers, planRunImport, type ImportedRun, type RunVouchers } from '../transfer/vouch-runs.js';
import { runImportEvents } from '../transfer/pull.js';
import { eventVisible, parseEntries, redactLines, type Reader } from './read-scope.js';
import { cutState } from './store-scope.js';

const hex = (n: number) => n.toString(16).padStart(64, '0');
const SERVER = { workspace: 'srv-ws', origin: 'cairn.test/server' };
const PROJECTS = ['pa', 'pb', 'pc'];
const T0 = '2026-01-01T00:00:00.000Z';
const T1 = '2026-01-01T00:00:09.000Z';

interface Gen {
  row: RunStateRow;
  /** Its submission and end, as the log that ran it records them (the server's, or a laptop's). */
  events: Array<Record<string, unknown>>;
  /** Strings only this run's bytes carry: its id, spec name, parameter value and metric name. */
  secrets: string[];
  /** The output it wrote on the server (and the model registered from it), with that output's own secrets. */
  output?: { own: OwnOutputs; events: Array<Record<string, unknown>>; secrets: string[]; model: boolean };
}

/**
 * What a run trained on the server wrote: its output version (`runs/<name>@v1`, one pack) created
 * by the server's `dataset.version.create`, and maybe a model version registered from it with its
 * `model.register` and registration edges. Sets the run's output and its `run.finish` outputs.
 */
function genOutput(g: Gen, model: boolean): NonNullable<Gen['output']> {
  const k = g.row.name.slice('train-'.length);
  const n = Number(k.replace(/\D/g, ''));
  const author = g.row.created_by;
  const digest = hex(50_000 + n);
  const version = {
    id: `out-${k}`,
    dataset_id: `ds-out-${k}`,
    number: 1,
    digest,
    parent_id: null,
    message: `outputs of run ${g.row.id}`,
    author,
    created_at: T1,
    file_count: 1,
    total_bytes: 10,
    new_bytes: 10,
    stats: '{}',
    packs: [hex(90_000 + n)],
  };
  g.row.output_version_id = version.id;
  (g.events[1] as { outputs: string[] }).outputs = [`sha256:${digest}`];
  const own: OwnOutputs = {
    datasets: [{ id: version.dataset_id, name: `runs/${g.row.name}`, created_at: T1, created_by: author }],
    versions: [version],
    packs: [{ id: version.packs[0]!, size: 100 + n }],
    models: [],
    modelVersions: [],
    lineage: [],
  };
  const events: Array<Record<string, unknown>> = [
    {
      action: 'dataset.version.create',
      outcome: 'ok',
      time: T1,
      actor: { id: author },
      target: { type: 'dataset', name: `runs/${g.row.name}`, version: 1, digest: `sha256:${digest}` },
    },
  ];
  const secrets = [version.id, version.packs[0]!, `runs/${g.row.name}`];
  if (model) {
    const card = canonicalJson({ training: { run: { id: g.row.id } } });
    own.models.push({
      id: `m-${k}`,
      name: `model-${k}`,
      created_at: T1,
      created_by: author,
    } as OwnOutputs['models'][number]);
    own.modelVersions.push({
      id: `mv-${k}`,
      model_id: `m-${k}`,
      number: 1,
      digest,
      files_version_id: version.id,
      format: 'txt',
      signature: null,
      run_id: g.row.id,
      card,
      created_at: T1,
      created_by: author,
    } as OwnOutputs['modelVersions'][number]);
    const edge = (src_type: string, src_id: string, relation: string) => ({
      id: `e-${relation}-${k}`,
      src_type,
      src_id,
      dst_type: 'model_version',
      dst_id: `mv-${k}`,
      relation,
      via_type: null,
      via_id: null,
      created_at: T1,
    });
    own.lineage.push(edge('dataset_version', version.id, 'files'), edge('run', g.row.id, 'trained'));
    events.push({
      action: 'model.register',
      outcome: 'ok',
      time: T1,
      actor: { id: author },
      target: { type: 'model', name: `model-${k}`, version: 1, digest: `sha256:${digest}` },
      params: { format: 'txt', run: g.row.id, card: cardDigest(card) },
    });
    secrets.push(`mv-${k}`, `model-${k}`);
  }
  return { own, events, secrets, model };
}

/** A finished run of `project` by `author`, with strings of its own that no other run shares. */
function genRun(seed: number, n: number, project: string, author: string): Gen {
  const id = `0190${String(seed).padStart(4, '0')}-${String(n).padStart(4, '0')}-7000-8000-000000000000`;
  const k = `${seed}-${String(n).padStart(3, '0')}`;
  const name = `train-${k}`;
  const params = { tok: `tokval-${k}` };
  const points = [{ name: `metric-${k}`, step: 0, value: n, time: T0 }];
  const logged = [{ name: 'tok', value: JSON.stringify(params.tok) }];
  const input = { name: 'train', versionId: `in-${project}`, digest: hex(PROJECTS.indexOf(project) + 1), ref: 'd@v1' };
  const row: RunStateRow = {
    id,
    run_key: hex(1000 + seed * 100 + n),
    name,
    project,
    spec_digest: hex(7),
    spec: canonicalJson({ spec: { params, resources: {} }, command: 'sh t.sh', inputs: [input] }),
    backend: 'local',
    backend_id: null,
    status: 'completed',
    reason: null,
    exit_code: 0,
    priority: 0,
    gpus: 0,
    cpus: 1,
    memory_mb: 0,
    time_limit_s: 60,
    created_at: T0,
    created_by: author,
    started_at: T0,
    ended_at: T1,
    restarts: 0,
    code_commit: null,
    code_dirty: null,
    env_digest: null,
    output_version_id: null,
    reused_from: null,
    usage: canonicalJson({ elapsedS: 1, cpuSeconds: 1, gpuSeconds: 0 }),
    human_name: null,
    tags: canonicalJson({}),
    note: null,
    params: logged,
    metrics: points,
  };
  const target = { type: 'run', name: id };
  const events = [
    {
      action: 'run.submit',
      outcome: 'ok',
      time: T0,
      actor: { id: author },
      target,
      inputs: [`sha256:${input.digest}`],
      params: { runName: name, runKey: row.run_key, project, command: 'sh t.sh', params, resources: {} },
    },
    {
      action: 'run.finish',
      outcome: 'ok',
      time: T1,
      actor: { id: 'cairn-server' },
      target,
      outputs: [],
      params: {
        exitCode: 0,
        usage: { elapsedS: 1, cpuSeconds: 1, gpuSeconds: 0 },
        metricsDigest: metricsDigest(points),
        paramsDigest: paramsDigest(logged),
      },
    },
  ].map((e) => ({ ...e, params: { ...e.params, specDigest: `sha256:${row.spec_digest}` } }));
  return { row, events, secrets: [id, name, params.tok, points[0]!.name] };
}

/** A laptop log's claim on a run (what the server's import event passes on), as a voucher reads it. */
function laptopClaim(g: Gen, pusher: string): ImportedRun {
  const vouchers: RunVouchers = new Map();
  const entries = g.events.map((e, index) => JSON.stringify({ ...e, index, workspace: 'laptop-ws' }));
  collectRunVouchers(vouchers, { workspace: 'laptop-ws', origin: 'laptop' }, entries);
  const v = vouchers.get(g.row.id)![0]!;
  return {
    run: g.row.id,
    author: v.author,
    registrant: pusher,
    origin: 'laptop',
    workspace: 'laptop-ws',
    index: 0,
    record: true,
    claim: v.claim,
  };
}

/** A random history: the stored state (pushed runs), the server's trained runs, its log, and who made each run. */
function history(seed: number) {
  const r = mulberry32(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(r() * xs.length)]!;
  const log: Array<Record<string, unknown>> = [];
  const state: RemoteState = emptyState();
  state.datasets = PROJECTS.map((p) => ({ id: `ds-${p}`, name: `data-${p}` })) as RemoteState['datasets'];
  state.versions = PROJECTS.map((p, i) => ({
    id: `in-${p}`,
    dataset_id: `ds-${p}`,
    number: 1,
    digest: hex(i + 1),
    packs: [],
  })) as unknown as RemoteState['versions'];
  const trained: RunStateRow[] = [];
  const runs: Array<{ g: Gen; author: string }> = [];
  let n = 0;
  for (let step = 0; step < 2 + Math.floor(r() * 5); step++) {
    if (r() < 0.5) {
      // A push of 1–3 runs, of random projects (several in one push): the server's remote.pull
      // names them all, and its run.import events one project each.
      const pusher = pick(['alice', 'bob']);
      const pushed = Array.from({ length: 1 + Math.floor(r() * 3) }, () =>
        genRun(seed, n++, pick(PROJECTS), `${pusher}@laptop`),
      );
      const imported = pushed.map((g) => laptopClaim(g, pusher));
      const target = { type: 'remote', name: 'store' };
      log.push({
        action: 'remote.pull',
        outcome: 'ok',
        actor: { id: pusher },
        target,
        params: { importedRuns: imported },
      });
      for (const d of runImportEvents('store', imported)) log.push({ ...d, outcome: 'ok', actor: { id: pusher } });
      for (const g of pushed) {
        state.runs.push({ ...g.row, created_by: pusher });
        runs.push({ g, author: pusher });
      }
    } else {
      const g = genRun(seed, n++, pick(PROJECTS), pick(['alice', 'bob', 'carol']));
      if (r() < 0.6) g.output = genOutput(g, r() < 0.5);
      log.push(...(g.output?.events ?? []), ...g.events);
      trained.push(g.row);
      runs.push({ g, author: g.row.created_by });
    }
  }
  const entries = log.map((e, index) => JSON.stringify({ ...e, index, workspace: SERVER.workspace }));
  return { state, trained, entries, runs, r };
}

describe("a reader's pull of the runs on a team server (random histories)", () => {
  it('records only runs of her projects, vouched by what she was shown, as their author; nothing of the others reaches her', () => {
    for (let seed = 1; seed <= 150; seed++) {
      const { state, trained, entries, runs, r } = history(seed);
      const projects = PROJECTS.filter(() => r() < 0.5);
      const reader: Reader = {
        name: 'reader',
        readable: { all: false, projects: ['default', ...projects] },
        wholeLog: false,
      };
      const mine = (p: string) => projects.includes(p);
      const projectOf = new Map(runs.map((x) => [x.g.row.id, x.g.row.project]));

      // The server: the state it serves (its own outputs added), cut to her; its log as she is
      // shown it; the runs that vouches for.
      const full = servedState(state, {
        evaluations: [],
        ownLog: null,
        trained: { runs: trained, lineage: [], outputs: ownOutputs(runs.map((x) => x.g)) },
      });
      const where = `seed ${seed}, reads ${projects.join(',') || 'none'}`;
      const outputs = runs.flatMap((x) => (x.g.output ? [x.g] : []));
      expect(full.versions.length, `${where}: every output is served whole`).toBe(
        state.versions.length + outputs.length,
      );
      const hidden = outputs.filter((g) => !mine(g.row.project)).map((g) => `runs/${g.row.name}`);
      const hiddenOutputs = { refs: new Set(hidden.map((d) => `${d}@v1`)), datasets: new Set(hidden) };
      const cut = cutState(full, hiddenOutputs.refs, mine).state;
      const shown = redactLines(parseEntries(`${entries.join('\n')}\n`), (e) =>
        eventVisible(reader, e, (id) => projectOf.get(id) ?? null, hiddenOutputs),
      ).text;
      const lines = shown.replace(/\n$/, '').split('\n');
      const vouchers: RunVouchers = new Map();
      collectRunVouchers(vouchers, SERVER, lines);
      const served: RemoteState = { ...cut, runs: cut.runs.filter((x) => vouchers.has(x.id)) };

      // Her pull: the versions and model versions her share of the log vouches for (she holds the
      // inputs already), then the runs.
      const versionVouchers: Vouchers = new Map();
      collectVouchers(versionVouchers, SERVER, lines);
      const imports = planImport(served, versionVouchers, new Set(state.versions.map((v) => v.id)));
      const ours = outputs.filter((g) => mine(g.row.project));
      expect(imports.skipped, where).toEqual([]);
      expect(imports.skippedModels, where).toEqual([]);
      expect(imports.imported.map((v) => v.dataset).sort(), `${where}: her outputs, each vouched`).toEqual(
        ours.map((g) => `runs/${g.row.name}`).sort(),
      );
      expect(imports.importedModels.map((m) => m.model).sort(), `${where}: the models on her outputs`).toEqual(
        ours
          .filter((g) => g.output!.model)
          .map((g) => g.output!.own.models[0]!.name)
          .sort(),
      );
      for (const g of ours.filter((x) => x.output!.model))
        expect(served.lineage.map((e) => e.id).sort(), where).toEqual(
          expect.arrayContaining([`e-files-${g.row.name.slice(6)}`, `e-trained-${g.row.name.slice(6)}`]),
        );
      const versions = new Map(imports.state.versions.map((v) => [v.id, v.digest]));
      const plan = planRunImport(served, vouchers, { local: new Set(), versions, registrant: null });
      expect(plan.skipped, where).toEqual([]);
      const want = runs.filter((x) => mine(x.g.row.project));
      expect(plan.runs.map((x) => [x.id, x.created_by]).sort(), `${where}: every run of hers, as its author`).toEqual(
        want.map((x) => [x.g.row.id, x.author]).sort(),
      );
      for (const i of plan.imported) {
        expect(mine(i.claim.project), where).toBe(true);
        // The voucher is an event she was shown, and names the author recorded.
        expect(lines[i.index]!.startsWith('#redacted'), where).toBe(false);
        expect(i.author, where).toBe(runs.find((x) => x.g.row.id === i.run)!.author);
      }
      // Models are `default`'s: a `model.register` names its run and is shown to every reader of
      // `default` by design (docs/SERVER.md "What a reader of some projects sees"). Nothing else
      // she is served names another project's run, output, pack or model.
      const bytes =
        JSON.stringify(served) + lines.filter((l) => !l.startsWith('{"action":"model.register"')).join('\n');
      for (const x of runs.filter((y) => !mine(y.g.row.project)))
        for (const s of [...x.g.secrets, ...(x.g.output?.secrets ?? [])])
          expect(bytes.includes(s), `${where}: ${s} of ${x.g.row.project}`).toBe(false);
    }
  });
});

/** The server's own outputs of the runs that wrote one, as the composition root gathers them. */
function ownOutputs(gens: readonly Gen[]): OwnOutputs {
  const all = gens.flatMap((g) => (g.output ? [g.output.own] : []));
  return {
    datasets: all.flatMap((o) => o.datasets),
    versions: all.flatMap((o) => o.versions),
    packs: all.flatMap((o) => o.packs),
    models: all.flatMap((o) => o.models),
    modelVersions: all.flatMap((o) => o.modelVersions),
    lineage: all.flatMap((o) => o.lineage),
  };
}
