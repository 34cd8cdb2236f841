import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { errorCatalogue } from '../../../core/errors.js';
import { mulberry32 } from '../../../test-support/prng.js';
import { ExpectedState, type LoggedEvent } from './expected-state.js';
import { reconcileState } from './reconcile-state.js';
import { emptyStateRows, type StateRows, type StateTable } from './state-rows.js';

/** Seeded (mulberry32), so every history is reproducible from its seed. */
function rng(seed: number) {
  const next = mulberry32(seed);
  return {
    next,
    int: (n: number) => Math.floor(next() * n),
    pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!,
  };
}

const digestOf = (s: string) => createHash('sha256').update(s).digest('hex');
const failedReason = (code: keyof typeof errorCatalogue) => `${code}: ${errorCatalogue[code].summary}`;

/**
 * A miniature Cairn: operations change normalized rows (by id, like the database) and append
 * the event the real service writes, with the same shape (src/datasets, src/dataprep,
 * src/models, src/compute, src/transfer). `rows()` joins them the way read-state-rows.ts does.
 */
class World {
  events: LoggedEvent[] = [];
  datasets = new Map<string, string>(); // name → id
  versions = new Map<string, { id: string; dataset: string; number: number; digest: string; author: string }>();
  tags = new Map<string, { dataset: string; tag: string; versionId: string }>();
  models = new Map<string, string>();
  modelVersions = new Map<
    string,
    {
      id: string;
      model: string;
      number: number;
      digest: string;
      filesVersionId: string;
      author: string;
      run: string | null;
      format: string;
    }
  >();
  aliases = new Map<string, { model: string; alias: string; versionId: string }>();
  history: Array<{ model: string; alias: string; versionId: string | null }> = [];
  approvals: Array<{ versionId: string; alias: string; approver: string }> = [];
  policies = new Map<string, { model: string; alias: string; policy: string }>();
  evaluations = new Map<
    string,
    { id: string; versionId: string; suite: string; suiteDigest: string; passed: boolean; report: string }
  >();
  deployments = new Map<
    string,
    { id: string; model: string; versionId: string; env: string; alias: string | null; status: string; by: string }
  >();
  runs = new Map<
    string,
    {
      id: string;
      runKey: string;
      name: string;
      project: string;
      specDigest: string;
      author: string;
      status: string;
      outputVersionId: string | null;
      reusedFrom: string | null;
    }
  >();
  releases: Array<{ versionId: string; release: string }> = [];
  #n = 0;
  actor = 'alice@example.com';

  constructor(readonly r: ReturnType<typeof rng>) {}

  id(prefix: string): string {
    return `${prefix}-${++this.#n}`;
  }

  emit(
    action: string,
    target: Record<string, unknown>,
    params: Record<string, unknown> = {},
    extra: { outcome?: string; reason?: string; outputs?: string[]; actor?: string } = {},
  ): void {
    this.events.push({
      index: this.events.length,
      action,
      actor: { id: extra.actor ?? this.actor },
      target,
      inputs: [],
      outputs: extra.outputs ?? [],
      params,
      outcome: extra.outcome ?? 'ok',
      ...(extra.reason ? { reason: extra.reason } : {}),
    });
  }

  /** recordVersion: the next number of a dataset, by the acting user. */
  newVersion(name: string, author = this.actor): { id: string; number: number; digest: string } {
    if (!this.datasets.has(name)) this.datasets.set(name, this.id('ds'));
    const number = [...this.versions.values()].filter((v) => v.dataset === name).length + 1;
    const v = { id: this.id('dv'), dataset: name, number, digest: digestOf(this.id('tree')), author };
    this.versions.set(v.id, v);
    return v;
  }

  addVersion(name: string): void {
    const v = this.newVersion(name);
    this.emit(
      this.r.next() < 0.8 ? 'dataset.version.create' : 'dataset.clean',
      { type: 'dataset', name, version: v.number, digest: `sha256:${v.digest}` },
      { message: 'm' },
      { outputs: [`sha256:${v.digest}`] },
    );
  }

  split(base: string): void {
    const made = ['train', 'test'].map((s) => ({ name: `${base}/${s}`, ...this.newVersion(`${base}/${s}`) }));
    this.emit(
      'dataset.split',
      { type: 'dataset', name: base },
      { ratios: [], splits: made.map((m) => `${m.name}@v${m.number}`), leakageOk: true },
      { outputs: made.map((m) => `sha256:${m.digest}`) },
    );
  }

  /** A pull from a remote: versions written elsewhere (another author), listed in the event. */
  pull(): void {
    const name = `remote-${this.r.int(3)}`;
    const imported = [this.newVersion(name, 'carol@example.com')];
    const tags: Array<Record<string, unknown>> = [];
    if (this.r.next() < 0.5) {
      const v = imported[0]!;
      this.tags.set(`${name}@shared`, { dataset: name, tag: 'shared', versionId: v.id });
      tags.push({ dataset: name, tag: 'shared', number: v.number, digest: `sha256:${v.digest}` });
    }
    this.emit(
      'remote.pull',
      { type: 'remote', name: 'origin' },
      {
        url: 'file:///r',
        imported: imported.map((v) => ({
          dataset: name,
          number: v.number,
          digest: `sha256:${v.digest}`,
          author: 'carol@example.com',
          origin: 'cairn.local/other',
          index: 3,
        })),
        importedTags: tags,
      },
    );
  }

  tag(): void {
    const vs = [...this.versions.values()];
    if (!vs.length) return;
    const v = this.r.pick(vs);
    const tag = this.r.pick(['prod', 'stable', 'x']);
    const key = `${v.dataset}@${tag}`;
    const existing = this.tags.get(key);
    if (existing && existing.versionId !== v.id && this.r.next() < 0.3) {
      // Refused without --force: recorded, nothing changes.
      this.emit(
        'dataset.tag',
        { type: 'dataset', name: v.dataset, version: v.number, digest: `sha256:${v.digest}` },
        { tag, force: false },
        { outcome: 'failed', reason: failedReason('ALREADY_EXISTS') },
      );
      return;
    }
    if (existing?.versionId === v.id) return;
    this.tags.set(key, { dataset: v.dataset, tag, versionId: v.id });
    this.emit(
      'dataset.tag',
      { type: 'dataset', name: v.dataset, version: v.number, digest: `sha256:${v.digest}` },
      { tag, force: Boolean(existing) },
      { outputs: [`sha256:${v.digest}`] },
    );
  }

  register(): void {
    const model = this.r.pick(['toy', 'spam']);
    const files = this.newVersion(`models/${model}`);
    this.emit(
      'dataset.version.create',
      { type: 'dataset', name: `models/${model}`, version: files.number, digest: `sha256:${files.digest}` },
      {},
      { outputs: [`sha256:${files.digest}`] },
    );
    if (!this.models.has(model)) this.models.set(model, this.id('m'));
    const number = [...this.modelVersions.values()].filter((v) => v.model === model).length + 1;
    const runs = [...this.runs.values()].filter((r) => r.status === 'completed');
    const run = runs.length && this.r.next() < 0.5 ? this.r.pick(runs).id : null;
    const mv = {
      id: this.id('mv'),
      model,
      number,
      digest: files.digest,
      filesVersionId: files.id,
      author: this.actor,
      run,
      format: 'onnx',
    };
    this.modelVersions.set(mv.id, mv);
    this.emit(
      'model.register',
      { type: 'model', name: model, version: number, digest: `sha256:${files.digest}` },
      { format: 'onnx', run, codeCommit: null, files: 1 },
      { outputs: [`sha256:${files.digest}`] },
    );
  }

  anyModelVersion() {
    const vs = [...this.modelVersions.values()];
    return vs.length ? this.r.pick(vs) : null;
  }

  moveAlias(model: string, alias: string, versionId: string | null): void {
    this.history.push({ model, alias, versionId });
    if (versionId === null) this.aliases.delete(`${model}@${alias}`);
    else this.aliases.set(`${model}@${alias}`, { model, alias, versionId });
  }

  promote(): void {
    const v = this.anyModelVersion();
    if (!v) return;
    const alias = this.r.pick(['staging', 'production']);
    const target = { type: 'model', name: v.model, version: v.number, digest: `sha256:${v.digest}` };
    if (this.r.next() < 0.2) {
      this.emit('model.promote', target, { alias, unmet: ['x'] }, { outcome: 'denied', reason: 'POLICY_UNMET: x' });
      return;
    }
    this.moveAlias(v.model, alias, v.id);
    this.emit('model.promote', target, { alias, how: 'promote' });
  }

  rollback(): void {
    const a = [...this.aliases.values()];
    if (!a.length) return;
    const cur = this.r.pick(a);
    const to = this.r.pick([...this.modelVersions.values()].filter((v) => v.model === cur.model));
    this.moveAlias(cur.model, cur.alias, to.id);
    // Older rollbacks name the version only by its row id.
    const legacy = this.r.next() < 0.5;
    this.emit(
      'model.rollback',
      legacy
        ? { type: 'model', name: cur.model }
        : { type: 'model', name: cur.model, version: to.number, digest: `sha256:${to.digest}` },
      { alias: cur.alias, from: cur.versionId, to: to.id },
    );
  }

  removeAlias(): void {
    const a = [...this.aliases.values()];
    if (!a.length) return;
    const cur = this.r.pick(a);
    this.moveAlias(cur.model, cur.alias, null);
    this.emit('model.alias.remove', { type: 'model', name: cur.model }, { alias: cur.alias });
  }

  approve(): void {
    const v = this.anyModelVersion();
    if (!v) return;
    const alias = 'production';
    const approver = this.r.pick(['bob@example.com', 'dan@example.com']);
    this.approvals.push({ versionId: v.id, alias, approver });
    this.emit(
      'model.approve',
      { type: 'model', name: v.model, version: v.number, digest: `sha256:${v.digest}` },
      { alias, approver },
      { actor: approver },
    );
  }

  setPolicy(): void {
    const models = [...this.models.keys()];
    if (!models.length) return;
    const model = this.r.pick(models);
    const policy = {
      suites: this.r.next() < 0.5 ? ['gate'] : [],
      approvals: this.r.int(3),
      separateApprover: this.r.next() < 0.5,
    };
    this.policies.set(`${model}@production`, { model, alias: 'production', policy: JSON.stringify(policy) });
    this.emit('model.policy.set', { type: 'model', name: model }, { alias: 'production', ...policy });
  }

  evaluate(): void {
    const v = this.anyModelVersion();
    if (!v) return;
    const passed = this.r.next() < 0.6;
    const report = JSON.stringify({ model: `${v.model}@v${v.number}`, passed, n: this.id('report') });
    const suiteDigest = digestOf('suite');
    const e = { id: this.id('ev'), versionId: v.id, suite: 'gate', suiteDigest, passed, report };
    this.evaluations.set(e.id, e);
    this.emit(
      'model.evaluate',
      { type: 'model', name: v.model, version: v.number, digest: `sha256:${v.digest}` },
      {
        suite: 'gate',
        suiteDigest: `sha256:${suiteDigest}`,
        data: 'd@v1',
        passed,
        failed: passed ? [] : ['auc'],
        report: `sha256:${digestOf(report)}`,
      },
      passed ? {} : { outcome: 'failed', reason: 'CHECK_FAILED: 1 check(s) failed' },
    );
  }

  deploy(): void {
    const v = this.anyModelVersion();
    if (!v) return;
    const alias = this.r.next() < 0.5 ? 'production' : null;
    const target = { type: 'model', name: v.model, version: v.number, digest: `sha256:${v.digest}` };
    const d = {
      id: this.id('dep'),
      model: v.model,
      versionId: v.id,
      env: 'prod',
      alias,
      status: 'pending',
      by: this.actor,
    };
    this.deployments.set(d.id, d);
    this.emit('model.deploy', target, { env: 'prod', deployment: d.id, alias, status: 'pending', hook: 'command' });
    if (this.r.next() < 0.2) return; // still pending (its process died)
    const status = this.r.pick(['succeeded', 'failed', 'rolled_back']);
    d.status = status;
    const params: Record<string, unknown> = {
      env: 'prod',
      deployment: d.id,
      alias,
      status,
      hook: { kind: 'command' },
      health: null,
      error: null,
    };
    if (alias && status === 'succeeded') {
      this.moveAlias(v.model, alias, v.id);
      params.aliasMove = { alias, from: null, to: `${v.model}@v${v.number}` };
    }
    if (alias && status === 'rolled_back') {
      const prev = this.r.pick([...this.modelVersions.values()].filter((m) => m.model === v.model));
      this.moveAlias(v.model, alias, prev.id);
      params.aliasMove = { alias, from: `${v.model}@v${v.number}`, to: `${v.model}@v${prev.number}` };
    }
    this.emit(
      'model.deploy',
      target,
      params,
      status === 'succeeded'
        ? {}
        : {
            outcome: 'failed',
            reason: status === 'rolled_back' ? 'the deployment failed and was rolled back' : 'the deployment failed',
          },
    );
  }

  run(): void {
    const id = this.id('run');
    const key = digestOf(`key-${this.r.int(4)}`);
    const params = {
      runName: 'train',
      runKey: key,
      project: 'default',
      backend: 'local',
      command: 'x',
      codeCommit: null,
      codeDirty: null,
      params: {},
      resources: {},
      specDigest: `sha256:${digestOf('spec')}`,
    };
    const hit = [...this.runs.values()].find((r) => r.runKey === key && r.status === 'completed');
    if (hit && this.r.next() < 0.7) {
      this.runs.set(id, {
        id,
        runKey: key,
        name: 'train',
        project: 'default',
        specDigest: digestOf('spec'),
        author: this.actor,
        status: 'reused',
        outputVersionId: hit.outputVersionId,
        reusedFrom: hit.id,
      });
      this.emit('run.reuse', { type: 'run', name: id }, { ...params, reusedFrom: hit.id, savedGpuSeconds: 0 });
      return;
    }
    const refused = this.r.next() < 0.1;
    const row = {
      id,
      runKey: key,
      name: 'train',
      project: 'default',
      specDigest: digestOf('spec'),
      author: this.actor,
      status: refused ? 'refused' : 'queued',
      outputVersionId: null as string | null,
      reusedFrom: null,
    };
    this.runs.set(id, row);
    this.emit(
      'run.submit',
      { type: 'run', name: id },
      params,
      refused ? { outcome: 'denied', reason: 'BUDGET_EXCEEDED: over 10 GPU-hours' } : {},
    );
    if (refused) return;
    const fate = this.r.int(5);
    if (fate === 0) return; // still queued
    row.status = 'running';
    this.emit('run.start', { type: 'run', name: id }, { backend: 'local' });
    if (fate === 1) return; // still running
    if (fate === 2) {
      const out = this.newVersion('runs/train');
      this.emit(
        'dataset.version.create',
        { type: 'dataset', name: 'runs/train', version: out.number, digest: `sha256:${out.digest}` },
        {},
        { outputs: [`sha256:${out.digest}`] },
      );
      row.status = 'completed';
      row.outputVersionId = out.id;
      this.emit('run.finish', { type: 'run', name: id }, { exitCode: 0 }, { outputs: [`sha256:${out.digest}`] });
    } else if (fate === 3) {
      row.status = 'failed';
      this.emit(
        'run.fail',
        { type: 'run', name: id },
        { state: 'failed', exitCode: 1, reason: 'exited with status 1' },
        { outcome: 'failed', reason: 'EXIT: exited with status 1' },
      );
    } else {
      row.status = 'cancelled';
      this.emit('run.cancel', { type: 'run', name: id }, { state: 'cancelled', exitCode: null, reason: 'cancelled' });
    }
  }

  release(): void {
    const v = this.anyModelVersion();
    if (!v) return;
    const release = `abcd1234:${digestOf(this.id('manifest'))}`;
    this.releases.push({ versionId: v.id, release });
    this.emit(
      'model.release',
      { type: 'model', name: v.model, version: v.number, digest: `sha256:${v.digest}` },
      { keyid: 'abcd1234', files: 1, proofs: 1, evaluations: 0, release },
    );
  }

  /** A failed attempt: recorded, nothing changed. */
  failure(): void {
    const action = this.r.pick(['dataset.version.create', 'model.register', 'model.promote', 'run.submit']);
    this.emit(
      action,
      { type: 'dataset', name: 'nope', version: 99, digest: `sha256:${digestOf('nope')}` },
      { alias: 'production', tag: 'x' },
      { outcome: 'failed', reason: failedReason('IO_ERROR') },
    );
  }

  step(): void {
    const ops = [
      () => this.addVersion(this.r.pick(['a', 'b', 'c/d'])),
      () => this.split(this.r.pick(['a', 'b'])),
      () => this.pull(),
      () => this.tag(),
      () => this.tag(),
      () => this.register(),
      () => this.promote(),
      () => this.rollback(),
      () => this.removeAlias(),
      () => this.approve(),
      () => this.setPolicy(),
      () => this.evaluate(),
      () => this.deploy(),
      () => this.run(),
      () => this.release(),
      () => this.failure(),
    ];
    this.r.pick(ops)();
  }

  rows(): StateRows {
    const dv = (id: string) => this.versions.get(id);
    const mv = (id: string) => this.modelVersions.get(id);
    const out = emptyStateRows();
    out.datasetVersions = [...this.versions.values()].map((v) => ({
      dataset: v.dataset,
      number: v.number,
      digest: v.digest,
      author: v.author,
    }));
    out.datasetTags = [...this.tags.values()].map((t) => ({
      dataset: t.dataset,
      tag: t.tag,
      number: dv(t.versionId)?.number ?? null,
      digest: dv(t.versionId)?.digest ?? null,
    }));
    out.modelVersions = [...this.modelVersions.values()].map((v) => ({
      model: v.model,
      number: v.number,
      digest: v.digest,
      author: v.author,
      run: v.run,
      format: v.format,
      filesDigest: dv(v.filesVersionId)?.digest ?? null,
    }));
    out.aliases = [...this.aliases.values()].map((a) => ({
      model: a.model,
      alias: a.alias,
      versionId: a.versionId,
      number: mv(a.versionId)?.number ?? null,
      digest: mv(a.versionId)?.digest ?? null,
    }));
    out.aliasHistory = this.history.map((h) => ({
      model: h.model,
      alias: h.alias,
      versionId: h.versionId,
      number: h.versionId === null ? null : (mv(h.versionId)?.number ?? null),
      digest: h.versionId === null ? null : (mv(h.versionId)?.digest ?? null),
    }));
    out.approvals = this.approvals.map((a) => ({
      model: mv(a.versionId)?.model ?? '?',
      number: mv(a.versionId)?.number ?? null,
      alias: a.alias,
      approver: a.approver,
    }));
    out.policies = [...this.policies.values()];
    out.evaluations = [...this.evaluations.values()].map((e) => ({
      id: e.id,
      model: mv(e.versionId)?.model ?? '?',
      number: mv(e.versionId)?.number ?? null,
      suite: e.suite,
      suiteDigest: e.suiteDigest,
      passed: e.passed,
      reportDigest: digestOf(e.report),
    }));
    out.deployments = [...this.deployments.values()].map((d) => ({
      id: d.id,
      model: d.model,
      number: mv(d.versionId)?.number ?? null,
      digest: mv(d.versionId)?.digest ?? null,
      env: d.env,
      alias: d.alias,
      status: d.status,
      by: d.by,
    }));
    out.runs = [...this.runs.values()].map((r) => ({
      id: r.id,
      runKey: r.runKey,
      name: r.name,
      project: r.project,
      specDigest: r.specDigest,
      author: r.author,
      status: r.status,
      outputDigest:
        r.outputVersionId === null ? null : (dv(r.outputVersionId)?.digest ?? `missing:${r.outputVersionId}`),
      reusedFrom: r.reusedFrom,
      humanName: null,
      tags: '{}',
      note: null,
    }));
    out.releases = this.releases.map((r) => ({
      model: mv(r.versionId)?.model ?? '?',
      number: mv(r.versionId)?.number ?? null,
      release: r.release,
    }));
    return out;
  }
}

function reconcile(w: World) {
  const e = new ExpectedState();
  w.events.forEach((ev, i) => e.apply(i, JSON.parse(JSON.stringify(ev)) as LoggedEvent));
  return reconcileState(e, w.rows());
}

/** One SQL-only forgery of the kind issue 10 describes: which table and row it should be named at. */
type Tamper = { table: StateTable; key: string; kinds: string[] };

function tamper(w: World): Tamper | null {
  const r = w.r;
  const moves: Array<() => Tamper | null> = [
    () => {
      // Point a version at another tree.
      const vs = [...w.versions.values()];
      if (!vs.length) return null;
      const v = r.pick(vs);
      v.digest = digestOf(`forged-${r.next()}`);
      return { table: 'dataset_versions', key: `${v.dataset}@v${v.number}`, kinds: ['state-mismatch'] };
    },
    () => {
      const vs = [...w.versions.values()];
      if (!vs.length) return null;
      const v = r.pick(vs);
      v.author = 'mallory@example.com';
      return { table: 'dataset_versions', key: `${v.dataset}@v${v.number}`, kinds: ['state-mismatch'] };
    },
    () => {
      // A version inserted by hand.
      const name = r.pick(['a', 'forged']);
      const v = w.newVersion(name);
      return { table: 'dataset_versions', key: `${name}@v${v.number}`, kinds: ['state-unvouched'] };
    },
    () => {
      // Move a tag.
      const ts = [...w.tags.values()];
      if (!ts.length) return null;
      const t = r.pick(ts);
      const others = [...w.versions.values()].filter((v) => v.dataset === t.dataset && v.id !== t.versionId);
      if (!others.length) return null;
      t.versionId = r.pick(others).id;
      return { table: 'dataset_tags', key: `${t.dataset}@${t.tag}`, kinds: ['state-mismatch'] };
    },
    () => {
      const ts = [...w.tags.entries()];
      if (!ts.length) return null;
      const [k] = r.pick(ts);
      w.tags.delete(k);
      return { table: 'dataset_tags', key: k, kinds: ['state-missing'] };
    },
    () => {
      // Point a model version at another version's files.
      const ms = [...w.modelVersions.values()];
      const files = [...w.versions.values()];
      if (!ms.length) return null;
      const m = r.pick(ms);
      const other = files.filter((f) => f.digest !== m.digest);
      if (!other.length) return null;
      if (r.next() < 0.5) m.filesVersionId = r.pick(other).id;
      else m.digest = r.pick(other).digest;
      return { table: 'model_versions', key: `${m.model}@v${m.number}`, kinds: ['state-mismatch'] };
    },
    () => {
      const as = [...w.aliases.values()];
      if (!as.length) return null;
      const a = r.pick(as);
      const others = [...w.modelVersions.values()].filter((v) => v.model === a.model && v.id !== a.versionId);
      if (!others.length) return null;
      a.versionId = r.pick(others).id;
      return { table: 'model_aliases', key: `${a.model}@${a.alias}`, kinds: ['state-mismatch'] };
    },
    () => {
      const v = w.anyModelVersion();
      if (!v || w.aliases.has(`${v.model}@canary`)) return null;
      w.aliases.set(`${v.model}@canary`, { model: v.model, alias: 'canary', versionId: v.id });
      return { table: 'model_aliases', key: `${v.model}@canary`, kinds: ['state-unvouched'] };
    },
    () => {
      // Rewrite the alias history, so that a rollback would go elsewhere.
      const hs = w.history.filter((h) => h.versionId !== null);
      if (!hs.length) return null;
      const h = r.pick(hs);
      const others = [...w.modelVersions.values()].filter((v) => v.model === h.model && v.id !== h.versionId);
      if (!others.length) return null;
      h.versionId = r.pick(others).id;
      const n = w.history.filter((x) => x.model === h.model && x.alias === h.alias).indexOf(h) + 1;
      return { table: 'model_alias_events', key: `${h.model}@${h.alias} #${n}`, kinds: ['state-mismatch'] };
    },
    () => {
      const v = w.anyModelVersion();
      if (!v) return null;
      w.approvals.push({ versionId: v.id, alias: 'production', approver: 'mallory@example.com' });
      return {
        table: 'model_approvals',
        key: `${v.model}@v${v.number} production by mallory@example.com`,
        kinds: ['state-unvouched'],
      };
    },
    () => {
      const ps = [...w.policies.values()];
      if (!ps.length) return null;
      const p = r.pick(ps);
      p.policy = JSON.stringify({ suites: [], approvals: 0, separateApprover: false, forged: true });
      return { table: 'model_policies', key: `${p.model}@${p.alias}`, kinds: ['state-mismatch'] };
    },
    () => {
      // Turn a failed evaluation into a pass, or delete the latest one.
      const es = [...w.evaluations.values()];
      if (!es.length) return null;
      const e = r.pick(es);
      if (r.next() < 0.5) {
        e.passed = !e.passed;
        return {
          table: 'model_evaluations',
          key: `${e.id} (report sha256:${digestOf(e.report).slice(0, 12)}…)`,
          kinds: ['state-mismatch'],
        };
      }
      w.evaluations.delete(e.id);
      return { table: 'model_evaluations', key: '', kinds: ['state-missing'] };
    },
    () => {
      const ds = [...w.deployments.values()];
      if (!ds.length) return null;
      const d = r.pick(ds);
      d.status = d.status === 'succeeded' ? 'failed' : 'succeeded';
      return { table: 'deployments', key: d.id, kinds: ['state-mismatch'] };
    },
    () => {
      const rs = [...w.runs.values()];
      if (!rs.length) return null;
      const run = r.pick(rs);
      if (r.next() < 0.5) run.status = run.status === 'completed' ? 'failed' : 'completed';
      else run.author = 'mallory@example.com';
      return { table: 'runs', key: run.id, kinds: ['state-mismatch'] };
    },
    () => {
      const v = w.anyModelVersion();
      if (!v) return null;
      const release = `abcd1234:${digestOf('forged-release')}`;
      w.releases.push({ versionId: v.id, release });
      return { table: 'releases', key: `${v.model}@v${v.number} ${release}`, kinds: ['state-unvouched'] };
    },
  ];
  for (let tries = 0; tries < 20; tries++) {
    const t = r.pick(moves)();
    if (t) return t;
  }
  return null;
}

describe('reconcileState over random histories', () => {
  it('an untouched history reconciles with no problems, after every step (20 seeds × 150 steps)', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const w = new World(rng(seed));
      const expected = new ExpectedState();
      for (let i = 0; i < 150; i++) {
        const from = w.events.length;
        w.step();
        for (let j = from; j < w.events.length; j++)
          expected.apply(j, JSON.parse(JSON.stringify(w.events[j])) as LoggedEvent);
        const r = reconcileState(expected, w.rows());
        if (r.problems.length) throw new Error(`seed ${seed}, step ${i}: ${JSON.stringify(r.problems.slice(0, 3))}`);
      }
      expect(reconcile(w).unverifiable).toEqual([]);
    }
  });

  it('every SQL-only forgery is named at its table and row (200 seeds)', () => {
    let forged = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const w = new World(rng(seed * 7919));
      const steps = 20 + w.r.int(120);
      for (let i = 0; i < steps; i++) w.step();
      const t = tamper(w);
      if (!t) continue;
      forged++;
      const r = reconcile(w);
      const hit = r.problems.find(
        (p) => p.table === t.table && (t.key === '' || p.key === t.key) && t.kinds.includes(p.kind),
      );
      if (!hit)
        throw new Error(
          `seed ${seed}: ${t.table} ${t.key} (${t.kinds.join('/')}) not reported; got ${JSON.stringify(r.problems)}`,
        );
      // A mismatch or a missing row names the event that vouched for it.
      if (hit.kind !== 'state-unvouched') {
        expect(hit.index).not.toBeNull();
        expect(w.events[hit.index!]).toBeDefined();
      } else expect(hit.index).toBeNull();
    }
    expect(forged).toBeGreaterThan(150);
  });
});

describe('reconcileState on logs written before events itemised imports', () => {
  const ev = (
    action: string,
    target: Record<string, unknown>,
    params: Record<string, unknown>,
    actor = 'alice@example.com',
  ): LoggedEvent => ({ action, actor: { id: actor }, target, params, outputs: [], outcome: 'ok' });
  const d = (s: string) => digestOf(s);

  it('versions a counted import brought in are unverifiable while their number fits, and all reported beyond it', () => {
    const e = new ExpectedState();
    e.apply(
      0,
      ev('dataset.version.create', { type: 'dataset', name: 'a', version: 1, digest: `sha256:${d('a1')}` }, {}),
    );
    e.apply(
      1,
      ev(
        'remote.pull',
        { type: 'remote', name: 'origin' },
        { url: 'file:///r', imported: { datasets: 1, versions: 2 } },
      ),
    );
    const rows = emptyStateRows();
    rows.datasetVersions = [
      { dataset: 'a', number: 1, digest: d('a1'), author: 'alice@example.com' },
      { dataset: 'r', number: 1, digest: d('r1'), author: 'carol@example.com' },
      { dataset: 'r', number: 2, digest: d('r2'), author: 'carol@example.com' },
    ];
    const ok = reconcileState(e, rows);
    expect(ok.problems).toEqual([]);
    expect(ok.unverifiable.map((u) => [u.table, u.key, u.index])).toEqual([
      ['dataset_versions', 'r@v1', 1],
      ['dataset_versions', 'r@v2', 1],
    ]);
    rows.datasetVersions.push({ dataset: 'r', number: 3, digest: d('r3'), author: 'mallory@example.com' });
    const over = reconcileState(e, rows);
    expect(over.problems.map((p) => [p.kind, p.key])).toEqual([
      ['state-unvouched', 'r@v1'],
      ['state-unvouched', 'r@v2'],
      ['state-unvouched', 'r@v3'],
    ]);
    expect(over.unverifiable).toEqual([]);
  });

  it('a tag that differs after an import that did not list tags is unverifiable; before any import it is a mismatch', () => {
    const e = new ExpectedState();
    e.apply(
      0,
      ev('dataset.version.create', { type: 'dataset', name: 'a', version: 1, digest: `sha256:${d('a1')}` }, {}),
    );
    e.apply(
      1,
      ev('dataset.version.create', { type: 'dataset', name: 'a', version: 2, digest: `sha256:${d('a2')}` }, {}),
    );
    e.apply(
      2,
      ev('dataset.tag', { type: 'dataset', name: 'a', version: 1, digest: `sha256:${d('a1')}` }, { tag: 'prod' }),
    );
    const rows = emptyStateRows();
    rows.datasetVersions = [
      { dataset: 'a', number: 1, digest: d('a1'), author: 'alice@example.com' },
      { dataset: 'a', number: 2, digest: d('a2'), author: 'alice@example.com' },
    ];
    rows.datasetTags = [{ dataset: 'a', tag: 'prod', number: 2, digest: d('a2') }];
    expect(reconcileState(e, rows).problems).toMatchObject([
      { kind: 'state-mismatch', table: 'dataset_tags', key: 'a@prod', index: 2 },
    ]);
    e.apply(
      3,
      ev('workspace.clone', { type: 'remote', name: 'origin' }, { url: 'file:///r', datasets: 0, versions: 0 }),
    );
    const after = reconcileState(e, rows);
    expect(after.problems).toEqual([]);
    expect(after.unverifiable).toMatchObject([{ table: 'dataset_tags', key: 'a@prod', index: 3 }]);
  });

  it('a rollback that names its version only by row id is checked on that id', () => {
    const e = new ExpectedState();
    e.apply(
      0,
      ev(
        'model.register',
        { type: 'model', name: 'm', version: 1, digest: `sha256:${d('m1')}` },
        { format: 'onnx', run: null },
      ),
    );
    e.apply(1, ev('model.rollback', { type: 'model', name: 'm' }, { alias: 'production', from: 'row-2', to: 'row-1' }));
    const rows = emptyStateRows();
    rows.modelVersions = [
      {
        model: 'm',
        number: 1,
        digest: d('m1'),
        author: 'alice@example.com',
        run: null,
        format: 'onnx',
        filesDigest: d('m1'),
      },
    ];
    rows.aliases = [{ model: 'm', alias: 'production', versionId: 'row-1', number: 1, digest: d('m1') }];
    rows.aliasHistory = [{ model: 'm', alias: 'production', versionId: 'row-1', number: 1, digest: d('m1') }];
    expect(reconcileState(e, rows).problems).toEqual([]);
    rows.aliases[0]!.versionId = 'row-9';
    expect(reconcileState(e, rows).problems).toMatchObject([
      { kind: 'state-mismatch', table: 'model_aliases', key: 'm@production', index: 1 },
    ]);
  });
});
