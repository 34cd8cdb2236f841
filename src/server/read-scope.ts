import { createHash } from 'node:crypto';
import type { operations, OperationId } from '../app/remote/contract.js';
import type { RequestScope, ServerRuntime } from '../app/server.js';
import type { Services } from '../app/services.js';
import { CairnError, isCairnError } from '../core/errors.js';
import type { Authenticated, IdentityView, KnownGrants, Readable } from '../identity/index.js';
import type { LineageGraph } from '../lineage/index.js';
import type { HandlerInput } from './handlers.js';
import { showDataset } from './show-dataset.js';

/**
 * What each read of the contract may show a caller who cannot read every project
 * (docs/SERVER.md "What a reader of some projects sees"). Datasets and models live in the
 * project `default`, runs in their own; a read either acts on one project (and is authorized on
 * it before it runs) or spans several (and is cut to the caller's projects here).
 *
 * - `default`: models and deployments: all of `default`, authorized on it. A model
 *   registered from a run of another project quotes that run on its card: registering needs
 *   read access to the run's project, so it is that reader's decision to publish it.
 * - `run`: one run, authorized on its own project (unreadable answers as an unknown run would).
 * - `runs`: several runs, each authorized on its own project.
 * - `cut`: spans projects; answered only from the caller's projects. Datasets are `default`'s,
 *   except a run's outputs (kept as versions of `runs/<spec name>`), which are its project's.
 *   The store (authorized on `default`) is cut in store-scope.ts: the packs of versions the
 *   caller may read, and other accounts' pushed logs redacted.
 * - `audit`: events shown only when the caller may see them (`eventVisible`); hashes always.
 * - `self`: about the caller only.
 * - `admin`: needs `admin`, which already sees everything.
 */
export type ReadRule = 'default' | 'run' | 'runs' | 'cut' | 'audit' | 'self' | 'admin';

type ReadOperation = {
  [K in OperationId]: (typeof operations)[K]['method'] extends 'GET' ? K : never;
}[OperationId];

/**
 * Every read, with its rule: a new GET route without one does not compile, and
 * test/attack/server-read-scope.test.ts probes each of them as a reader of another project.
 * `audit.verify` and `store.download` are POSTs that only read: they are listed too.
 */
export const READ_RULES: Record<ReadOperation | 'audit.verify' | 'store.download', ReadRule> = {
  whoami: 'self',
  'datasets.list': 'cut',
  'datasets.log': 'cut',
  'datasets.show': 'cut',
  'datasets.diff': 'cut',
  'datasets.report': 'cut',
  'runs.logs': 'run',
  'runs.find': 'cut',
  'runs.fields': 'cut',
  'runs.curves': 'runs',
  'runs.compare': 'runs',
  'runs.tail': 'run',
  'runs.list': 'cut',
  'runs.show': 'run',
  'runs.metrics': 'run',
  'runs.metricSeries': 'run',
  'runs.why': 'run',
  'models.list': 'default',
  'models.versions': 'default',
  'models.show': 'default',
  'models.card': 'default',
  'models.evaluations': 'default',
  'models.readiness': 'default',
  'models.history': 'default',
  'deployments.list': 'default',
  'deployments.dora': 'default',
  'audit.events': 'audit',
  'audit.event': 'audit',
  'audit.prove': 'audit',
  'audit.checkpoint': 'audit',
  'audit.verify': 'audit',
  'audit.bundle': 'audit',
  'lineage.of': 'cut',
  'compute.usage': 'cut',
  'compute.projects': 'cut',
  'compute.budgets': 'cut',
  'accounts.list': 'admin',
  'tokens.list': 'admin',
  'compliance.dossier': 'default',
  'compliance.holds': 'cut',
  'store.list': 'cut',
  'store.download': 'cut',
};

/** Who is reading, as far as what they may see goes. */
export interface Reader {
  name: string;
  readable: Readable;
  /**
   * Sees every event: someone who reads every project (a grant on `*`, as every admin who may
   * grant roles has). Anyone else, an admin of one project too, sees the events of their projects.
   */
  wholeLog: boolean;
}

// An admin on `*` holds a grant on `*`, which already makes every project readable: the whole
// log follows from `readable` alone, with no second authorization per request.
export async function readerOf(ids: IdentityView, who: Pick<Authenticated, 'principal'>): Promise<Reader> {
  const readable = await ids.readable(who.principal);
  return { name: who.principal.name, readable, wholeLog: readable.all };
}

/** readerOf answered from grants the view already read. */
export function knownReader(known: KnownGrants, who: Pick<Authenticated, 'principal'>): Reader {
  const readable = known.readable(who.principal);
  return { name: who.principal.name, readable, wholeLog: readable.all };
}

/** The projects a cut read is answered from: null for every project. */
export function projectsOf(r: Reader): readonly string[] | null {
  return r.readable.all ? null : r.readable.projects;
}

export function mayRead(r: Reader, project: string): boolean {
  return r.readable.all || r.readable.projects.includes(project);
}

type Scoped = (s: Services, i: HandlerInput, rt: ServerRuntime, r: Reader, scope: RequestScope) => Promise<unknown>;

const num = (v: unknown): number | undefined => (v === undefined ? undefined : Number(v));
const opt = (v: unknown): string | undefined => (v === undefined || v === '' ? undefined : String(v));

/**
 * The cut reads, answered for a caller who cannot read every project (and who named none: a
 * read of one named project is authorized on it and answered whole). The others run as
 * `handlers` has them.
 */
export const scopedReads: Partial<Record<OperationId, Scoped>> = {
  'runs.list': (s, i, _rt, r) =>
    s.runs.list(
      defined({
        projects: projectsOf(r) ?? undefined,
        status: opt(i.query.status),
        limit: num(i.query.limit),
      }),
    ),
  // The count of matches is counted over the caller's projects too: counting every project's
  // matches of `params.lr > 0.5` would answer the filter about runs it cannot see.
  'runs.find': (s, i, _rt, r) =>
    s.runs.find(
      defined({
        projects: projectsOf(r) ?? undefined,
        status: opt(i.query.status),
        filter: opt(i.query.filter),
        sort: opt(i.query.sort),
        columns: i.query.columns ? String(i.query.columns).split(',') : undefined,
        limit: num(i.query.limit),
        offset: num(i.query.offset),
      }),
    ),
  'runs.fields': (s, _i, _rt, r) => s.runs.fields(defined({ projects: projectsOf(r) ?? undefined })),
  'compute.usage': (s, i, _rt, r) =>
    s.computeUsage.usage(
      defined({
        by: ((i.query.by as string | undefined) ?? 'project') as 'project' | 'user' | 'run',
        since: i.query.since ? new Date(String(i.query.since)) : undefined,
        interval: opt(i.query.interval) as 'day' | 'week' | 'month' | undefined,
        projects: projectsOf(r) ?? undefined,
      }),
    ),
  'compute.projects': async (s, _i, _rt, r) => (await s.computeUsage.projects()).filter((p) => mayRead(r, p.name)),
  'compute.budgets': async (s, _i, _rt, r) => (await s.computeUsage.budgets()).filter((p) => mayRead(r, p.name)),
  'lineage.of': async (s, i, _rt, r) => {
    const hidden = await hiddenOutputs(s, r);
    const g = await s.lineage.of(String(i.query.ref), ((i.query.direction as string | undefined) ?? 'both') as never);
    const root = g.nodes.find((n) => n.key === g.root);
    if (root && hidden.refs.has(root.ref)) throw unknownVersion(String(i.query.ref));
    return visibleLineage(g, r, s, hidden);
  },
  // A run's outputs are kept as a version of `runs/<spec name>`: they are the run's project's.
  'datasets.list': async (s, _i, _rt, r) => {
    const hidden = await hiddenOutputs(s, r);
    return (await s.datasets.list()).filter(
      (d) => d.latest_number === null || !hidden.refs.has(`${d.name}@v${d.latest_number}`),
    );
  },
  'datasets.log': async (s, i, _rt, r) => {
    const hidden = await hiddenOutputs(s, r);
    const all = await s.datasets.log(String(i.query.name));
    const shown = all.filter((v) => !hidden.refs.has(`${v.dataset}@v${v.version}`));
    if (all.length > 0 && shown.length === 0) throw unknownVersion(String(i.query.name));
    return shown;
  },
  'datasets.show': async (s, i, rt, r) => {
    const out = await showDataset(s, rt, String(i.query.ref), defined({ limit: num(i.query.limit) }));
    await readableVersion(s, r, String(i.query.ref));
    return out;
  },
  'datasets.diff': async (s, i, _rt, r) => {
    await readableVersion(s, r, String(i.query.from));
    await readableVersion(s, r, String(i.query.to));
    return s.datasets.diff(String(i.query.from), String(i.query.to));
  },
  'datasets.report': async (s, i, _rt, r) => {
    await readableVersion(s, r, String(i.query.ref));
    return s.datasets.report(String(i.query.ref), opt(i.query.kind));
  },
  'compliance.holds': async (s, i, _rt, r) => {
    if (i.query.ref !== undefined) await readableVersion(s, r, String(i.query.ref));
    const hidden = await hiddenOutputs(s, r);
    return (await s.compliance.holds(opt(i.query.ref))).filter((h) => !hidden.refs.has(h.ref));
  },
};

/** Output versions of runs the reader cannot read: `name@vN` refs, and the datasets they belong to. */
export interface HiddenOutputs {
  refs: ReadonlySet<string>;
  datasets: ReadonlySet<string>;
}

const NONE: HiddenOutputs = { refs: new Set(), datasets: new Set() };

export async function hiddenOutputs(s: Services, r: Reader): Promise<HiddenOutputs> {
  if (r.readable.all) return NONE;
  const outs = await s.runs.outputs({ exceptProjects: r.readable.projects });
  return {
    refs: new Set(outs.map((o) => `${o.dataset}@v${o.version}`)),
    datasets: new Set(outs.map((o) => o.dataset)),
  };
}

/**
 * Whether an import event (`remote.pull`, `workspace.clone`: the server's import of a push, or a
 * pushed workspace's own pull) may be shown to a reader who reads only the projects
 * `readsProject` accepts. Such an event names what it brought: the runs it imported carry their
 * project, name, parameters and metric digests, a refused run its name, a version its dataset.
 * One that names another project's run (or a run it refused, whose project it does not say), or
 * another project's run output, is withheld whole (its hash stays). Other events pass. Pure.
 */
export function importShown(
  event: unknown,
  outputs: HiddenOutputs,
  readsProject: (project: string) => boolean,
): boolean {
  const e = (event ?? {}) as { action?: unknown; params?: Record<string, unknown> };
  if (e.action !== 'remote.pull' && e.action !== 'workspace.clone') return true;
  const list = (k: string): unknown[] => (Array.isArray(e.params?.[k]) ? (e.params[k] as unknown[]) : []);
  if (list('skippedRuns').length) return false;
  const project = (x: unknown) => (x as { claim?: { project?: unknown } } | null)?.claim?.project;
  if (list('importedRuns').some((x) => typeof project(x) !== 'string' || !readsProject(project(x) as string)))
    return false;
  const hiddenVersion = (x: unknown) => {
    const v = (x ?? {}) as { dataset?: unknown; number?: unknown };
    if (typeof v.dataset !== 'string' || !outputs.datasets.has(v.dataset)) return false;
    return typeof v.number !== 'number' || outputs.refs.has(`${v.dataset}@v${v.number}`);
  };
  return !list('imported').some(hiddenVersion) && !list('skipped').some(hiddenVersion);
}

/** Refuses a dataset ref that resolves to another project's run outputs, as if it did not exist. */
async function readableVersion(s: Services, r: Reader, ref: string): Promise<void> {
  const hidden = await hiddenOutputs(s, r);
  if (hidden.refs.size === 0) return;
  const v = await s.datasets.show(ref, { limit: 1 });
  if (hidden.refs.has(`${v.dataset}@v${v.version}`)) throw unknownVersion(ref);
}

/**
 * An evaluation reads its test set (its report names slice values and row counts): one that is
 * another project's run output is refused as if it did not exist. A pushed version is fetched
 * from the store first, as the evaluation would, to learn which version the ref names.
 */
export async function readableTestSet(s: Services, r: Reader, ref: string): Promise<void> {
  const hidden = await hiddenOutputs(s, r);
  if (hidden.refs.size === 0) return;
  const show = () => s.datasets.show(ref, { limit: 1 });
  const v = await show().catch(async (e: unknown) => {
    if (!isCairnError(e, 'MISSING_OBJECT')) throw e;
    await s.transfer.pull([ref], { remote: 'store' });
    return show();
  });
  if (hidden.refs.has(`${v.dataset}@v${v.version}`)) throw unknownVersion(ref);
}

function unknownVersion(ref: string): CairnError {
  return new CairnError('NOT_FOUND', `no dataset version ${ref}`, { hint: 'list them with cairn data ls' });
}

/**
 * A lineage graph without the runs of projects the reader cannot read: their nodes, the edges
 * that touch them, and whatever was reached only through them (a dataset another project's
 * run wrote is still in `default`, but that it came from that run is not the reader's to know).
 */
export async function visibleLineage(
  g: LineageGraph,
  r: Reader,
  s: Services,
  outputs: HiddenOutputs = NONE,
): Promise<LineageGraph> {
  if (r.readable.all) return g;
  const hidden = new Set<string>();
  for (const n of g.nodes) {
    if (n.type === 'dataset_version' && outputs.refs.has(n.ref)) hidden.add(n.key);
    if (n.type !== 'run') continue;
    const run = await s.runs.details(n.id).catch(() => null);
    if (!run || !mayRead(r, run.project)) hidden.add(n.key);
  }
  if (hidden.size === 0) return g;
  const edges = g.edges.filter((e) => !hidden.has(e.from) && !hidden.has(e.to));
  const reached = new Set<string>([g.root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const e of edges)
      if (reached.has(e.from) !== reached.has(e.to)) {
        reached.add(e.from);
        reached.add(e.to);
        grew = true;
      }
  }
  return {
    ...g,
    nodes: g.nodes.filter((n) => reached.has(n.key)),
    edges: edges.filter((e) => reached.has(e.from)).map((e) => (e.via && hidden.has(e.via) ? { ...e, via: null } : e)),
  };
}

/**
 * Target types of events about what lives in `default`: datasets and models, and the store and
 * remotes their versions travel through (a push's import names the versions it brought).
 */
const DEFAULT_TARGETS = new Set([
  'store',
  'remote',
  'dataset',
  'dataset_version',
  'model',
  'model_version',
  'deployment',
  'evaluation',
  'release',
]);

/**
 * Whether a reader may see an event's content. `wholeLog` readers see every event; anyone sees their
 * own (denials of them included), audit-key rotations (what verifying the log needs), events
 * about `default` when they may read it, and events about a run or a project when they may
 * read that project. Everything else — other people's requests, accounts, tokens, grants,
 * the server's configuration — is only for `wholeLog` readers. The event's hash is never hidden.
 */
export function eventVisible(
  r: Reader,
  event: unknown,
  projectOfRun: (id: string) => string | null,
  outputs: HiddenOutputs = NONE,
): boolean {
  if (r.wholeLog) return true;
  const e = (event ?? {}) as {
    actor?: { id?: unknown };
    action?: unknown;
    target?: { type?: unknown; name?: unknown; version?: unknown };
  };
  if (e.actor?.id === r.name) return true;
  if (e.action === 'keys.rotate') return true;
  // Requests to the server are their maker's: the store's (`server.store.*`: which packs someone
  // planned, sent, committed or fetched) would name packs the reader may not read.
  if (typeof e.action === 'string' && e.action.startsWith('server.')) return false;
  const type = e.target?.type;
  const name = typeof e.target?.name === 'string' ? e.target.name : null;
  if (typeof type !== 'string') return false;
  // Another project's run outputs: hidden by version when the event names one, else by dataset.
  if ((type === 'dataset' || type === 'dataset_version') && name !== null && outputs.datasets.has(name))
    if (typeof e.target?.version !== 'number' || outputs.refs.has(`${name}@v${e.target.version}`)) return false;
  if (!importShown(event, outputs, (p) => mayRead(r, p))) return false;
  if (DEFAULT_TARGETS.has(type)) return mayRead(r, 'default');
  if (type === 'project' && name !== null) return mayRead(r, name);
  if (type === 'run' && name !== null) {
    const project = projectOfRun(name);
    return project !== null && mayRead(r, project);
  }
  return false;
}

/** Each run's project, read once per request: an event listing names the same runs many times. */
export function runProjects(rt: ServerRuntime, scope: RequestScope) {
  const known = new Map<string, string | null>();
  return {
    async load(ids: Iterable<string>): Promise<void> {
      for (const id of ids) {
        if (known.has(id)) continue;
        const run = await rt.runAs(scope, () => rt.services.runs.details(id)).catch(() => null);
        known.set(id, run && run.id === id ? run.project : null);
      }
    },
    of: (id: string) => known.get(id) ?? null,
  };
}

const runTargetOf = (event: unknown): string | null => {
  const t = (event as { target?: { type?: unknown; name?: unknown } } | null)?.target;
  return t?.type === 'run' && typeof t.name === 'string' ? t.name : null;
};

/**
 * `audit log` for a reader of some projects: the newest `limit` events among those they may
 * see. The service's limit counts every event, so it is widened until enough visible ones are
 * found or the log is exhausted.
 */
export async function visibleEvents(
  rt: ServerRuntime,
  scope: RequestScope,
  r: Reader,
  query: Record<string, unknown>,
): Promise<unknown[]> {
  const limit = num(query.limit);
  const runs = runProjects(rt, scope);
  const outputs = await rt.runAs(scope, () => hiddenOutputs(rt.services, r));
  for (let ask = limit === undefined ? undefined : limit * 2; ; ask = ask! * 4) {
    const q = defined({ ...query, limit: ask });
    const all = (await rt.runAs(scope, () => rt.services.audit.events(q as never))) as Array<{ event: unknown }>;
    await runs.load(all.map((e) => runTargetOf(e.event)).filter((x): x is string => x !== null));
    const shown = all.filter((e) => eventVisible(r, e.event, runs.of, outputs));
    if (limit === undefined || shown.length >= limit || all.length < ask!) return shown.slice(-(limit ?? 0) || 0);
  }
}

/** One event, or a refusal when its content is not the reader's to see (its hash is in any bundle). */
export async function visibleEvent(
  rt: ServerRuntime,
  scope: RequestScope,
  r: Reader,
  event: unknown,
): Promise<boolean> {
  const runs = runProjects(rt, scope);
  const run = runTargetOf(event);
  if (run) await runs.load([run]);
  return eventVisible(r, event, runs.of, await rt.runAs(scope, () => hiddenOutputs(rt.services, r)));
}

/** The marker a redacted bundle carries instead of an entry: its leaf hash, which is all a verifier needs. */
export const REDACTED_PREFIX = '#redacted ';

/**
 * A bundle's `entries.jsonl` for a reader: each entry they may not see becomes `#redacted <leaf
 * hash>`. Every checkpoint, consistency and inclusion proof stays: the log verifies whole.
 */
export async function redactEntries(
  rt: ServerRuntime,
  scope: RequestScope,
  r: Reader,
  text: string,
): Promise<{ text: string; redacted: number }> {
  if (r.wholeLog) return { text, redacted: 0 };
  const parsed = parseEntries(text);
  const runs = runProjects(rt, scope);
  await runs.load(parsed.map((p) => runTargetOf(p.event)).filter((x): x is string => x !== null));
  const outputs = await rt.runAs(scope, () => hiddenOutputs(rt.services, r));
  return redactLines(parsed, (e) => eventVisible(r, e, runs.of, outputs));
}

/** A bundle's entry lines, each with its event parsed (null: not an event, so never shown). */
export function parseEntries(text: string): Array<{ line: string; event: unknown }> {
  const lines = text.length ? text.replace(/\n$/, '').split('\n') : [];
  return lines.map((line) => {
    try {
      return { line, event: JSON.parse(line) as unknown };
    } catch {
      return { line, event: null };
    }
  });
}

/** Each entry whose event is not `visible` becomes `#redacted <leaf hash>` (a line already redacted stays as it is). */
export function redactLines(
  entries: ReadonlyArray<{ line: string; event: unknown }>,
  visible: (event: unknown) => boolean,
): { text: string; redacted: number } {
  let redacted = 0;
  const out = entries.map(({ line, event }) => {
    if (event !== null && visible(event)) return line;
    redacted++;
    return line.startsWith(REDACTED_PREFIX) ? line : `${REDACTED_PREFIX}${leafHex(line)}`;
  });
  return { text: out.length ? `${out.join('\n')}\n` : '', redacted };
}

/**
 * A request about one run that the reader may not read is answered as a request about a run
 * that does not exist (a 403 would confirm that a name or prefix matches someone else's run).
 */
export function unknownRun(ref: string): CairnError {
  return new CairnError('NOT_FOUND', `no run ${ref}`, {
    hint: 'give a run id, a run name or a unique prefix of either (cairn run ls lists them)',
  });
}

/**
 * An ambiguous run reference lists its candidates: a reader who cannot read every project sees
 * only theirs (and not how many others there were); with none of theirs, the run is unknown.
 */
export async function scopedAmbiguity(
  err: unknown,
  r: Reader,
  projectOf: (id: string) => Promise<string | null>,
): Promise<unknown> {
  if (r.readable.all || !isCairnError(err, 'AMBIGUOUS_REF')) return err;
  const data = err.data as { ref?: string; candidates?: Array<{ id: string; name: string | null }> } | undefined;
  const shown: Array<{ id: string; name: string | null }> = [];
  for (const c of data?.candidates ?? []) {
    const p = await projectOf(c.id);
    if (p !== null && mayRead(r, p)) shown.push({ id: c.id, name: c.name });
  }
  const ref = data?.ref ?? '';
  if (shown.length === 0) return unknownRun(ref);
  return new CairnError(
    'AMBIGUOUS_REF',
    `${ref} matches more than one run, among them:\n${shown.map((c) => `  ${c.id}  ${c.name ?? ''}`).join('\n')}`,
    { hint: 'give more characters, or the full run id', data: { ref, candidates: shown } },
  );
}

/** RFC 6962's leaf hash, SHA-256(0x00 ‖ entry): what the log committed to for each entry. */
function leafHex(entry: string): string {
  return createHash('sha256')
    .update(Buffer.from([0]))
    .update(entry, 'utf8')
    .digest('hex');
}

function defined<T extends Record<string, unknown>>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as never;
}
