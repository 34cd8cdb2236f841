import { sha256Hex } from '../../core/digest.js';
import { CairnError } from '../../core/errors.js';
import type { LineageService } from '../../lineage/index.js';
import type { ReadDb } from '../../meta/read-db.js';
import { holdIsActive } from '../holds.js';
import { DossierBuilder } from './builder.js';
import { EventIndex } from './events.js';
import { cardSection } from './model.js';

const VERSION_MADE = ['dataset.version.create', 'dataset.clean', 'dataset.split', 'run.finish'];
const CITED_ACTIONS = [
  ...VERSION_MADE,
  'dataset.profile',
  'dataset.validate',
  'dataset.hold',
  'run.submit',
  'model.register',
  'model.evaluate',
  'model.promote',
  'model.rollback',
  'model.alias.remove',
  'model.approve',
  'model.release',
  'model.deploy',
];

export interface ModelFacts {
  name: string;
  modelId: string;
  version: {
    id: string;
    number: number;
    digest: string;
    format: string;
    run_id: string | null;
    card: string;
    signature: string | null;
    files_version_id: string;
    created_at: string;
    created_by: string;
  };
}

/** `name@vN` or `name@alias`: the model version a dossier is about. */
export async function resolveModelVersion(db: ReadDb, ref: string): Promise<ModelFacts> {
  const at = ref.lastIndexOf('@');
  if (at <= 0)
    throw new CairnError('INVALID_REF', `${JSON.stringify(ref)} is not <model>@<version>`, {
      hint: 'e.g. flight-late@v3 or flight-late@production',
    });
  const name = ref.slice(0, at);
  const which = ref.slice(at + 1);
  const m = await db.selectFrom('models').select('id').where('name', '=', name).executeTakeFirst();
  if (!m)
    throw new CairnError('NOT_FOUND', `no model named ${JSON.stringify(name)}`, {
      hint: 'list them with cairn model ls',
    });
  let q = db.selectFrom('model_versions').selectAll().where('model_id', '=', m.id);
  if (/^v\d+$/.test(which)) q = q.where('number', '=', Number(which.slice(1)));
  else {
    const a = await db
      .selectFrom('model_aliases')
      .select('version_id')
      .where('model_id', '=', m.id)
      .where('alias', '=', which)
      .executeTakeFirst();
    q = q.where('id', '=', a?.version_id ?? '');
  }
  const v = await q.executeTakeFirst();
  if (!v)
    throw new CairnError('NOT_FOUND', `model ${name} has no version ${which}`, {
      hint: `see cairn model versions ${name}`,
    });
  return { name, modelId: m.id, version: { ...v, number: Number(v.number) } };
}

export interface GatherDeps {
  db: ReadDb;
  lineage: LineageService;
  /** When the dossier is made: holds and retention periods are judged at this time. */
  now: Date;
}

/** Reads every recorded fact the dossier states and the log entries behind each. */
export async function gatherDossier(deps: GatherDeps, m: ModelFacts): Promise<DossierBuilder> {
  const b = new DossierBuilder();
  const ev = await EventIndex.load(deps.db, CITED_ACTIONS);
  const digest = m.version.digest;
  const registered = ev.first(['model.register'], [digest]);
  await general(deps, b, ev, m, registered);
  await development(deps, b, ev, m);
  await trainingData(deps, b, ev, m);
  await testing(deps, b, ev, m);
  limitations(b, m, registered);
  await changes(deps, b, ev, m);
  await retention(deps, b, ev, m);
  return b;
}

async function general(
  deps: GatherDeps,
  b: DossierBuilder,
  ev: EventIndex,
  m: ModelFacts,
  registered: ReturnType<EventIndex['first']>,
) {
  const v = m.version;
  const card = JSON.parse(v.card) as { intendedUse?: string };
  b.fact(
    'general',
    'model version',
    `${m.name} v${v.number}, ${v.format}, digest sha256:${v.digest}, registered ${v.created_at} by ${v.created_by}`,
    { name: m.name, version: v.number, digest: `sha256:${v.digest}`, format: v.format },
    [registered],
  );
  const purpose = cardSection(card.intendedUse ?? '', 'Intended use');
  if (purpose) b.fact('general', 'intended purpose', purpose, { cardSha256: sha256Hex(v.card) }, [registered]);
  else
    b.gap(
      'general',
      'intended purpose',
      'the model card has no "Intended use" text (empty or still the template); it is written when the version is registered (cairn model register … --intended-use <file>)',
    );
  const versions = await deps.db
    .selectFrom('model_versions')
    .select(['number', 'digest', 'created_at'])
    .where('model_id', '=', m.modelId)
    .orderBy('number')
    .execute();
  for (const o of versions)
    b.fact(
      'general',
      'versions of this model',
      `v${o.number}: sha256:${o.digest} (registered ${o.created_at})${Number(o.number) === v.number ? ' — this version' : ''}`,
      { version: Number(o.number), digest: `sha256:${o.digest}` },
      [ev.first(['model.register'], [o.digest])],
    );
  if (v.signature)
    b.fact('general', 'interface (input/output signature)', v.signature, JSON.parse(v.signature) as unknown, [
      registered,
    ]);
  else
    b.gap('general', 'interface (input/output signature)', 'no signature was declared when the model was registered');
  if (!v.run_id) {
    b.gap('general', 'hardware and compute used', 'the model was registered from files, not from a recorded run');
    return;
  }
  const run = await deps.db.selectFrom('runs').selectAll().where('id', '=', v.run_id).executeTakeFirst();
  if (!run) return;
  const submit = ev.first(['run.submit'], [run.id]);
  const finish = ev.first(['run.finish'], [run.id]);
  b.fact(
    'general',
    'hardware requested',
    `backend ${run.backend}; ${run.gpus} GPU(s), ${run.cpus} CPU(s), ${run.memory_mb ? `${run.memory_mb} MiB memory` : 'no memory limit'}, ${run.time_limit_s ? `time limit ${run.time_limit_s} s` : 'no time limit'}`,
    { backend: run.backend, gpus: run.gpus, cpus: run.cpus, memoryMb: run.memory_mb, timeLimitS: run.time_limit_s },
    [submit],
  );
  const usage = JSON.parse(run.usage) as Record<string, unknown> | null;
  if (usage && typeof usage.elapsedS === 'number')
    b.fact(
      'general',
      'compute used',
      `${String(usage.elapsedS)} s wall, ${String(usage.cpuSeconds ?? '?')} CPU-seconds, ${String(usage.gpuSeconds ?? 0)} GPU-seconds${typeof usage.maxRssKb === 'number' ? `, peak memory ${Math.round(usage.maxRssKb / 1024)} MiB` : ''}`,
      usage,
      [finish],
    );
  else b.gap('general', 'compute used', `run ${run.id} recorded no usage`);
}

async function development(deps: GatherDeps, b: DossierBuilder, ev: EventIndex, m: ModelFacts) {
  const runId = m.version.run_id;
  if (!runId) {
    b.gap('development', 'training method and parameters', 'no recorded training run');
    return;
  }
  const run = await deps.db.selectFrom('runs').selectAll().where('id', '=', runId).executeTakeFirst();
  if (!run) return;
  const submit = ev.first(['run.submit'], [run.id]);
  const spec = JSON.parse(run.spec) as {
    command?: string;
    spec?: { params?: Record<string, unknown>; environment?: { image?: string; lockfile?: string } };
  };
  b.fact(
    'development',
    'training run',
    `run ${run.human_name ?? run.name} (${run.id}), ${run.status}, ${run.started_at ?? '?'} → ${run.ended_at ?? '?'}, run key sha256:${run.run_key}`,
    { id: run.id, runKey: `sha256:${run.run_key}` },
    [submit, ev.first(['run.finish'], [run.id])],
  );
  if (spec.command) b.fact('development', 'method (command)', spec.command, spec.command, [submit]);
  b.fact('development', 'parameters', JSON.stringify(spec.spec?.params ?? {}), spec.spec?.params ?? {}, [submit]);
  if (run.code_commit || run.code_dirty)
    b.fact(
      'development',
      'code',
      `${run.code_commit ? `commit ${run.code_commit}` : 'outside git'}${run.code_dirty ? `, uncommitted changes sha256:${run.code_dirty}` : ''}`,
      { commit: run.code_commit, dirty: run.code_dirty },
      [submit],
    );
  else b.gap('development', 'code', 'no code commit or digest was recorded');
  const env = spec.spec?.environment;
  if (env?.image || env?.lockfile) b.fact('development', 'environment', JSON.stringify(env), env, [submit]);
  else b.gap('development', 'environment', 'the run declared neither a container image nor a lockfile');
  const card = JSON.parse(m.version.card) as { metrics?: Record<string, number> };
  for (const [k, val] of Object.entries(card.metrics ?? {}))
    b.fact('development', 'training metric (last logged)', `${k} = ${val}`, { [k]: val }, [
      ev.first(['run.finish'], [run.id]),
    ]);
}

/** A datasheet per dataset version the model was built from, walking lineage up. */
async function trainingData(deps: GatherDeps, b: DossierBuilder, ev: EventIndex, m: ModelFacts) {
  const g = await deps.lineage.of(`model:${m.name}@v${m.version.number}`, 'up');
  // Test data is not upstream of the model: walk up from each evaluation's data version too.
  const evalData = await deps.db
    .selectFrom('model_evaluations as e')
    .innerJoin('dataset_versions as v', 'v.id', 'e.data_version_id')
    .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
    .select(['d.name', 'v.number'])
    .where('e.version_id', '=', m.version.id)
    .distinct()
    .execute();
  for (const t of evalData) {
    const up = await deps.lineage.of(`${t.name}@v${t.number}`, 'up');
    for (const n of up.nodes) if (!g.nodes.some((x) => x.key === n.key)) g.nodes.push(n);
    for (const e of up.edges)
      if (!g.edges.some((x) => x.from === e.from && x.to === e.to && x.relation === e.relation)) g.edges.push(e);
  }
  const versions = g.nodes.filter((n) => n.type === 'dataset_version' && n.id !== m.version.files_version_id);
  if (versions.length === 0) b.gap('data', 'training data', 'no dataset version is recorded upstream of this model');
  if (evalData.length === 0) b.gap('data', 'test data', 'no evaluation names the data it tested on');
  for (const n of versions) {
    const row = await deps.db.selectFrom('dataset_versions').selectAll().where('id', '=', n.id).executeTakeFirst();
    if (!row) continue;
    const made = ev.first(VERSION_MADE, [row.digest]);
    b.fact(
      'data',
      `datasheet ${n.ref}`,
      `${n.ref}: ${row.file_count} file(s), ${row.total_bytes} bytes, digest sha256:${row.digest}, made ${row.created_at} by ${row.author}`,
      { ref: n.ref, digest: `sha256:${row.digest}`, files: row.file_count, bytes: row.total_bytes },
      [made],
    );
    for (const e of g.edges.filter((x) => x.to === n.key)) {
      const from = g.nodes.find((x) => x.key === e.from);
      const recipe = e.via?.startsWith('recipe:')
        ? await deps.db
            .selectFrom('documents')
            .select(['name', 'digest'])
            .where('digest', '=', e.via.slice(7))
            .executeTakeFirst()
        : undefined;
      b.fact(
        'data',
        `provenance ${n.ref}`,
        `${e.relation.replace(/_/g, ' ')} ${from?.ref ?? e.from}${recipe ? ` by recipe ${recipe.name} (sha256:${recipe.digest})` : ''}`,
        { relation: e.relation, from: from?.ref ?? e.from, ...(recipe ? { recipe: `sha256:${recipe.digest}` } : {}) },
        [made],
      );
    }
    const reports = await deps.db
      .selectFrom('reports')
      .select(['kind', 'digest', 'summary', 'created_at'])
      .where('version_id', '=', n.id)
      .orderBy('created_at')
      .execute();
    for (const r of reports) {
      const backed =
        ev.first(['dataset.profile', 'dataset.validate', 'dataset.clean', 'dataset.split'], [r.digest]) ??
        ev.first(r.kind === 'leakage' ? ['dataset.split'] : r.kind === 'clean' ? ['dataset.clean'] : [], [row.digest]);
      b.fact(
        'data',
        `${r.kind} report ${n.ref}`,
        `${r.kind} report of ${r.created_at}: ${r.summary}`,
        { kind: r.kind, digest: `sha256:${r.digest}`, summary: JSON.parse(r.summary) as unknown },
        [backed],
      );
    }
    if (!reports.some((r) => r.kind === 'validation') && !n.ref.startsWith('runs/'))
      b.gap('data', `validation ${n.ref}`, `${n.ref} was never validated against a suite (cairn data validate)`);
  }
  if (!versions.some((n) => g.edges.some((e) => e.to === n.key && e.relation === 'split_from')))
    b.gap('data', 'train/test split', 'no recorded split (with its leakage report) is upstream of this model');
}

async function testing(deps: GatherDeps, b: DossierBuilder, ev: EventIndex, m: ModelFacts) {
  const evals = await deps.db
    .selectFrom('model_evaluations')
    .selectAll()
    .where('version_id', '=', m.version.id)
    .orderBy('at')
    .execute();
  if (evals.length === 0) b.gap('testing', 'evaluation', 'the version was never evaluated (cairn model evaluate)');
  let sliced = false;
  for (const e of evals) {
    const report = JSON.parse(e.report) as {
      metrics?: Record<string, number>;
      checks?: Array<{ kind: string; name: string; passed: boolean; message: string }>;
      rows?: number;
      data?: string;
    };
    const signed =
      ev.first(['model.evaluate'], [sha256Hex(e.report)]) ??
      ev.first(['model.evaluate'], [m.version.digest, `"suite":"${e.suite}"`]);
    b.fact(
      'testing',
      `verdict ${e.suite}`,
      `suite ${e.suite} (sha256:${e.suite_digest}) on ${report.data ?? 'no data'}${report.rows !== undefined ? ` (${report.rows} rows)` : ''}: ${e.passed ? 'PASSED' : 'FAILED'} at ${e.at} by ${e.by}`,
      { suite: e.suite, passed: e.passed === 1, data: report.data ?? null },
      [signed],
    );
    for (const [k, v] of Object.entries(report.metrics ?? {}))
      b.fact('testing', `metric ${e.suite}`, `${k} = ${v}`, { [k]: v }, [signed]);
    for (const c of report.checks ?? []) {
      if (/slice|fair/i.test(c.kind)) sliced = true;
      b.fact(
        'testing',
        `${/slice|fair/i.test(c.kind) ? 'per-slice / fairness' : 'check'} ${e.suite}`,
        `${c.passed ? 'passed' : 'FAILED'}: ${c.message}`,
        { kind: c.kind, name: c.name, passed: c.passed },
        [signed],
      );
    }
  }
  if (!sliced)
    b.gap(
      'testing',
      'per-slice and fairness results',
      'no evaluation of this version ran a per-slice or fairness check',
    );
}

function limitations(b: DossierBuilder, m: ModelFacts, registered: ReturnType<EventIndex['first']>) {
  const card = JSON.parse(m.version.card) as { intendedUse?: string };
  for (const [title, field] of [
    ['Limitations', 'known limitations'],
    ['Slices and fairness', 'groups checked (card)'],
  ] as const) {
    const text = cardSection(card.intendedUse ?? '', title);
    if (text) b.fact('limitations', field, text, undefined, [registered]);
    else b.gap('limitations', field, `the model card's "${title}" section is empty or still the template`);
  }
  b.gap(
    'limitations',
    'human oversight measures',
    'Cairn records approvals and policies (section 6), not the oversight procedure around the model: describe it in the card',
  );
}

async function changes(deps: GatherDeps, b: DossierBuilder, ev: EventIndex, m: ModelFacts) {
  const byId = new Map(
    (
      await deps.db
        .selectFrom('model_versions')
        .select(['id', 'number', 'digest'])
        .where('model_id', '=', m.modelId)
        .execute()
    ).map((v) => [v.id, v]),
  );
  const moves = await deps.db
    .selectFrom('model_alias_events')
    .selectAll()
    .where('model_id', '=', m.modelId)
    .orderBy('at')
    .execute();
  for (const a of moves) {
    const to = a.version_id ? byId.get(a.version_id) : undefined;
    const action =
      a.action === 'rollback' ? 'model.rollback' : a.action === 'remove' ? 'model.alias.remove' : 'model.promote';
    b.fact(
      'changes',
      'alias history',
      `${a.at}: ${a.alias} ${a.action} → ${to ? `v${to.number}` : '(removed)'} by ${a.by}`,
      { alias: a.alias, action: a.action, version: to ? Number(to.number) : null, at: a.at },
      [ev.nearest([action, 'model.deploy'], [`"${a.alias}"`, ...(to ? [to.digest] : [])], a.at)],
    );
  }
  const releases = await deps.db
    .selectFrom('lineage_edges')
    .select(['dst_id', 'created_at'])
    .where('src_type', '=', 'model_version')
    .where('src_id', '=', m.version.id)
    .where('relation', '=', 'released')
    .execute();
  for (const r of releases)
    b.fact('changes', 'releases', `release ${r.dst_id} written ${r.created_at}`, { release: r.dst_id }, [
      ev.first(['model.release'], [r.dst_id]),
    ]);
  const deps_ = await deps.db
    .selectFrom('deployments')
    .selectAll()
    .where('version_id', '=', m.version.id)
    .orderBy('started_at')
    .execute();
  for (const d of deps_)
    b.fact(
      'changes',
      'deployments',
      `deployed to ${d.env} ${d.started_at} by ${d.by}: ${d.status}${d.ended_at ? ` (ended ${d.ended_at})` : ''}`,
      { deployment: d.id, env: d.env, status: d.status },
      ev.all(['model.deploy'], [d.id]),
    );
  if (moves.length === 0 && releases.length === 0 && deps_.length === 0)
    b.gap('changes', 'change history', 'no alias move, release or deployment is recorded');
}

async function retention(deps: GatherDeps, b: DossierBuilder, ev: EventIndex, m: ModelFacts) {
  const holds = await deps.db
    .selectFrom('version_holds')
    .selectAll()
    .where('version_id', '=', m.version.files_version_id)
    .orderBy('created_at')
    .execute();
  const now = deps.now;
  const active = holds.filter((h) => holdIsActive(h, now));
  for (const h of active)
    b.fact(
      'logging',
      'retention of the model files',
      h.kind === 'retention'
        ? `retention period until ${h.retain_until}, set ${h.created_at} by ${h.created_by}`
        : `legal hold since ${h.created_at} by ${h.created_by}`,
      { hold: h.id, kind: h.kind, until: h.retain_until },
      [ev.first(['dataset.hold'], [h.id])],
    );
  if (active.length === 0)
    b.gap(
      'logging',
      'retention of the model files',
      'no retention period or legal hold is set on this version (cairn data hold model:<name>@vN --retain-until …)',
    );
}
