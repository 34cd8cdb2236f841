import { committed } from '../audit/verify/state/event-fields.js';
import { canonicalJson } from '../core/canonical-json.js';
import { metricsDigest, paramsDigest } from '../compute/index.js';
import type { RemoteState, RunStateRow } from './state.js';
import { TRAVELLING_RUNS } from './state-db.js';
import { eachOwnEvent } from './log-events.js';

/**
 * What the events of a verified log say about one finished run (docs/REMOTES.md "Runs"): its
 * `run.submit` (who, what spec, which inputs, which parameters) and the event that ended it
 * (`run.finish`, `run.fail`, `run.cancel`: status, exit code, output, usage and, in events from
 * now on, the digests of its metric points and parameters). An import event (`remote.pull`,
 * `workspace.clone`, and a team server's `run.import`, one per project of the runs it imported)
 * passes a claim on as it received it.
 */
export interface RunClaim {
  run: string;
  runKey: string;
  name: string;
  project: string;
  /** `sha256:<hex>` of the spec file. */
  specDigest: string;
  command: string | null;
  codeCommit: string | null;
  codeDirty: string | null;
  /** Canonical JSON of the spec's parameters and resources. */
  params: string;
  resources: string;
  humanName: string | null;
  /** Canonical JSON of the run's tags. */
  tags: string;
  note: string | null;
  /** `sha256:<hex>` of each input version, as the submission logged them. */
  inputs: string[];
  submittedAt: string;
  status: string;
  exitCode: number | null;
  endedAt: string;
  /** `sha256:<hex>` of the output version, or null. */
  output: string | null;
  /** Canonical JSON of `{ elapsedS, cpuSeconds, gpuSeconds }` (only `run.finish` logs it). */
  usage: string | null;
  /** Null in events from before the end of a run logged them: such a run comes without them. */
  metricsDigest: string | null;
  paramsDigest: string | null;
}

export interface RunVoucher {
  claim: RunClaim;
  /** Who submitted it, in that log (an import's registrant when it came in there). */
  author: string;
  origin: string;
  workspace: string;
  index: number;
}

/** Vouchers by run id (several logs may vouch for one run: the one that ran it, and those that imported it). */
export type RunVouchers = Map<string, RunVoucher[]>;

/**
 * What a `remote.pull` / `workspace.clone` event records per imported run (`params.importedRuns`):
 * the run, the claim it was imported under, the verified event that vouches for it (origin log,
 * its workspace and index), who submitted it there and who brought it here (`registrant`: on a
 * team server the authenticated account that pushed it).
 */
export interface ImportedRun {
  run: string;
  author: string;
  registrant: string;
  origin: string;
  workspace: string | null;
  index: number;
  /** Whether its metrics and logged parameters were vouched for (and imported). */
  record: boolean;
  claim: RunClaim;
}

export interface UnvouchedRun {
  run: string;
  name: string;
  status: string;
  why: string;
}

type Ev = {
  index?: unknown;
  workspace?: unknown;
  time?: unknown;
  action?: unknown;
  outcome?: unknown;
  reason?: unknown;
  actor?: { id?: unknown };
  target?: { type?: unknown; name?: unknown };
  inputs?: unknown;
  outputs?: unknown;
  params?: Record<string, unknown>;
};

const RELEVANT =
  /"action":"(?:run\.submit|run\.finish|run\.fail|run\.cancel|run\.import|remote\.pull|workspace\.clone)"/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;

const s = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const n = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const d = (v: unknown): string | null => (typeof v === 'string' && DIGEST.test(v) ? v : null);

/** A claim as an import event recorded it, if it is well formed. */
function claimOf(x: unknown): RunClaim | null {
  if (!x || typeof x !== 'object') return null;
  const c = x as Record<string, unknown>;
  const strings = [
    'run',
    'runKey',
    'name',
    'project',
    'params',
    'resources',
    'tags',
    'submittedAt',
    'status',
    'endedAt',
  ];
  if (strings.some((k) => typeof c[k] !== 'string') || !d(c.specDigest)) return null;
  if (!Array.isArray(c.inputs) || c.inputs.some((i) => !d(i))) return null;
  return {
    run: c.run as string,
    runKey: c.runKey as string,
    name: c.name as string,
    project: c.project as string,
    specDigest: c.specDigest as string,
    command: s(c.command),
    codeCommit: s(c.codeCommit),
    codeDirty: s(c.codeDirty),
    params: c.params as string,
    resources: c.resources as string,
    humanName: s(c.humanName),
    tags: c.tags as string,
    note: s(c.note),
    inputs: c.inputs as string[],
    submittedAt: c.submittedAt as string,
    status: c.status as string,
    exitCode: n(c.exitCode),
    endedAt: c.endedAt as string,
    output: d(c.output),
    usage: s(c.usage),
    metricsDigest: d(c.metricsDigest),
    paramsDigest: d(c.paramsDigest),
  };
}

/** A rolled-back refusal is logged with `<CODE>: <summary>` and changed nothing; a committed failure carries its own words. */
const isEnd = (e: Ev): boolean =>
  (e.action === 'run.finish' && e.outcome === 'ok') ||
  (e.action === 'run.cancel' && e.outcome === 'ok') ||
  (e.action === 'run.fail' && typeof e.params?.state === 'string' && committed(e as Parameters<typeof committed>[0]));

/**
 * Adds the run vouchers of one verified log (`entries`: its entry texts, in index order): each run
 * an `ok` `run.submit` made and an event of the same log ended, and each run an import event of
 * that log brought in. Entries that do not parse or claim another index or workspace vouch for
 * nothing.
 */
export function collectRunVouchers(
  into: RunVouchers,
  log: { workspace: string; origin: string },
  entries: readonly string[],
): void {
  const submitted = new Map<string, { e: Ev; index: number }>();
  const add = (claim: RunClaim, author: string, index: number) => {
    const list = into.get(claim.run) ?? [];
    list.push({ claim, author, origin: log.origin, workspace: log.workspace, index });
    into.set(claim.run, list);
  };
  eachOwnEvent<Ev>(entries, log.workspace, RELEVANT, (e, index) => {
    const id = s(e.target?.name);
    if (e.action === 'remote.pull' || e.action === 'workspace.clone' || e.action === 'run.import') {
      if (e.outcome !== 'ok' || !Array.isArray(e.params?.importedRuns)) return;
      // A team server's per-project record of an import vouches for that project's runs only:
      // it is what a reader of that project alone is shown.
      if (e.action === 'run.import' && (!id || e.target?.type !== 'project')) return;
      const project = e.action === 'run.import' ? id : null;
      for (const x of e.params.importedRuns as unknown[]) {
        const claim = claimOf((x as { claim?: unknown })?.claim);
        const registrant = s((x as { registrant?: unknown })?.registrant);
        if (!claim || !registrant || claim.run !== s((x as { run?: unknown }).run)) continue;
        if (project === null || claim.project === project) add(claim, registrant, index);
      }
      return;
    }
    if (!id) return;
    if (e.action === 'run.submit') {
      if (e.outcome === 'ok' && !submitted.has(id)) submitted.set(id, { e, index });
      return;
    }
    const sub = submitted.get(id);
    if (!sub || !isEnd(e)) return;
    submitted.delete(id);
    const claim = claimFromEvents(id, sub.e, e);
    const author = s(sub.e.actor?.id);
    if (claim && author) add(claim, author, sub.index);
  });
}

function claimFromEvents(id: string, sub: Ev, end: Ev): RunClaim | null {
  const p = sub.params ?? {};
  const q = end.params ?? {};
  const runKey = s(p.runKey);
  const name = s(p.runName);
  const project = s(p.project);
  const specDigest = d(p.specDigest);
  const submittedAt = s(sub.time);
  const endedAt = s(end.time);
  if (!runKey || !name || !project || !specDigest || !submittedAt || !endedAt) return null;
  const status = end.action === 'run.finish' ? 'completed' : end.action === 'run.cancel' ? 'cancelled' : s(q.state);
  if (!status) return null;
  const outs = Array.isArray(end.outputs) ? end.outputs : [];
  const u = q.usage && typeof q.usage === 'object' ? (q.usage as Record<string, unknown>) : null;
  return {
    run: id,
    runKey,
    name,
    project,
    specDigest,
    command: s(p.command),
    codeCommit: s(p.codeCommit),
    codeDirty: s(p.codeDirty),
    params: canonicalJson(p.params ?? {}),
    resources: canonicalJson(p.resources ?? {}),
    humanName: s(p.humanName),
    tags: canonicalJson(p.tags ?? {}),
    note: s(p.note),
    inputs: Array.isArray(sub.inputs) ? sub.inputs.filter((i): i is string => !!d(i)) : [],
    submittedAt,
    status,
    exitCode: n(q.exitCode),
    endedAt,
    output: end.action === 'run.finish' && outs.length ? d(outs[0]) : null,
    usage: u ? usageKey(u) : null,
    metricsDigest: d(q.metricsDigest),
    paramsDigest: d(q.paramsDigest),
  };
}

/** The part of a run's usage its `run.finish` logs, as one comparable string. */
function usageKey(u: Record<string, unknown>): string {
  return canonicalJson({
    elapsedS: u.elapsedS ?? null,
    cpuSeconds: u.cpuSeconds ?? null,
    gpuSeconds: u.gpuSeconds ?? null,
  });
}

/** What planRunImport needs of the receiving side. */
export interface RunImportContext {
  /** Ids of the runs this side holds already (left as they are). */
  local: ReadonlySet<string>;
  /** Digest (bare hex) of each dataset version this side will hold after the import, by id. */
  versions: ReadonlyMap<string, string>;
  /** Who brought the runs here: the pushing account on a team server; null keeps the voucher's author. */
  registrant: string | null;
}

export interface RunImportPlan {
  /** The rows to insert, rebuilt from what the voucher vouches for. */
  runs: RunStateRow[];
  imported: ImportedRun[];
  skipped: UnvouchedRun[];
}

/** What a run id may be where it arrives: one folder name (ids are UUIDv7s where they are minted). */
const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/**
 * The runs of a remote state that may be imported: each needs a voucher whose claim matches its
 * row exactly (run key, spec, parameters, code, inputs, status, exit code, output, usage and, when
 * the event logged their digests, its metric points and logged parameters), and its input and
 * output versions on this side (here already, or imported with it) at the digests the events
 * logged. The row's author is not taken from the state: the voucher's, or the pushing account on
 * a team server. A run whose end event predates the digests comes with the parameters it was
 * submitted with and no metric points; its usage is the figures its `run.finish` logged. Pure.
 */
export function planRunImport(remote: RemoteState, vouchers: RunVouchers, ctx: RunImportContext): RunImportPlan {
  const plan: RunImportPlan = { runs: [], imported: [], skipped: [] };
  for (const row of remote.runs) {
    if (ctx.local.has(row.id)) continue;
    const refuse = (why: string) => plan.skipped.push({ run: row.id, name: row.name, status: row.status, why });
    // Only finished runs travel: a row (and a log, whose owner holds its key) may say otherwise,
    // and a run imported queued or running was one this side's dispatcher and sync took for its own.
    if (!(TRAVELLING_RUNS as readonly string[]).includes(row.status)) {
      refuse(`it has not ended (${row.status}): only finished runs travel`);
      continue;
    }
    // The id names the run's folder here (`.cairn/runs/<id>`, its logs read from it): a log's owner
    // could vouch for `../<another run>` and be served that run's logs as her own.
    if (!RUN_ID.test(row.id)) {
      refuse('its id is not a run id (one name of letters, digits, . _ -): it would name a folder outside .cairn/runs');
      continue;
    }
    const list = vouchers.get(row.id) ?? [];
    if (!list.length) {
      refuse('no event of a verified audit log submitted and ended it');
      continue;
    }
    const missing = missingVersions(row, ctx.versions);
    if (missing) {
      refuse(missing);
      continue;
    }
    const checked = list.map((v) => ({ v, diffs: runDiffs(row, v.claim, ctx.versions) }));
    // Several logs may vouch for it (the laptop that ran it, the server that imported it): the
    // one naming the author the row names is taken, so a pull keeps who brought it there.
    const match =
      checked.find((c) => !c.diffs.length && c.v.author === row.created_by) ?? checked.find((c) => !c.diffs.length);
    if (!match) {
      refuse(checked[0]!.diffs.join('; '));
      continue;
    }
    const { v } = match;
    const registrant = ctx.registrant ?? v.author;
    const record = v.claim.metricsDigest !== null && v.claim.paramsDigest !== null;
    plan.runs.push({
      ...row,
      ...times(row, v.claim),
      created_by: registrant,
      // Only the figures run.finish logs (elapsed, CPU and GPU seconds): GPU samples and policy
      // actions are the origin machine's word, and a failed or cancelled run's usage is not logged.
      usage: v.claim.usage ?? canonicalJson({}),
      params: record ? row.params : submittedParams(v.claim),
      metrics: record ? row.metrics : [],
    });
    plan.imported.push({
      run: row.id,
      author: v.author,
      registrant,
      origin: v.origin,
      workspace: v.workspace,
      index: v.index,
      record,
      claim: v.claim,
    });
  }
  return plan;
}

/** The versions a run names that this side will not hold: the inputs in its stored spec, and its output. */
function missingVersions(row: RunStateRow, versions: ReadonlyMap<string, string>): string | null {
  const inputs = storedInputs(row);
  if (!inputs) return 'its stored spec does not parse';
  for (const i of inputs)
    if (!versions.has(i.versionId))
      return `its input ${i.name} (sha256:${i.digest.slice(0, 12)}…) is not on this side and was not pushed with it: push that version too`;
  if (row.output_version_id && !versions.has(row.output_version_id))
    return 'its output version is not on this side and was not pushed with it (or was refused)';
  return null;
}

interface StoredInput {
  name: string;
  versionId: string;
  digest: string;
}

function storedSpec(row: RunStateRow): {
  inputs: StoredInput[];
  command: unknown;
  spec: { params?: unknown; resources?: unknown };
} | null {
  try {
    const x = JSON.parse(row.spec) as { inputs?: unknown; command?: unknown; spec?: unknown };
    if (!Array.isArray(x.inputs) || !x.spec || typeof x.spec !== 'object') return null;
    const inputs = x.inputs as StoredInput[];
    if (inputs.some((i) => !i || typeof i.versionId !== 'string' || typeof i.digest !== 'string')) return null;
    return { inputs, command: x.command, spec: x.spec as { params?: unknown; resources?: unknown } };
  } catch {
    return null;
  }
}

function storedInputs(row: RunStateRow): StoredInput[] | null {
  return storedSpec(row)?.inputs ?? null;
}

/** How the row differs from what the claim vouches for (empty: it is exactly that run). */
export function runDiffs(row: RunStateRow, c: RunClaim, versions: ReadonlyMap<string, string>): string[] {
  const diffs: string[] = [];
  const spec = storedSpec(row);
  const eq = (what: string, a: unknown, b: unknown) => {
    if (a !== b) diffs.push(`its ${what} differ(s) from what the log recorded`);
  };
  eq('run key', row.run_key, c.runKey);
  eq('spec name', row.name, c.name);
  eq('project', row.project, c.project);
  eq('spec digest', `sha256:${row.spec_digest}`, c.specDigest);
  eq('status', row.status, c.status);
  eq('exit code', row.exit_code, c.exitCode);
  eq('name', row.human_name, c.humanName);
  eq('tags', canonicalJson(safeParse(row.tags)), c.tags);
  eq('note', row.note, c.note);
  eq('code commit', row.code_commit, c.codeCommit);
  eq('uncommitted-changes digest', row.code_dirty, c.codeDirty);
  eq('command', spec?.command ?? null, c.command);
  eq('spec parameters', canonicalJson(spec?.spec.params ?? {}), c.params);
  eq('resources', canonicalJson(spec?.spec.resources ?? {}), c.resources);
  const inputs = (spec?.inputs ?? []).map((i) => `sha256:${versions.get(i.versionId) ?? i.digest}`).sort();
  eq('inputs', inputs.join(), [...c.inputs].sort().join());
  const output = row.output_version_id ? `sha256:${versions.get(row.output_version_id) ?? '?'}` : null;
  eq('output', output, c.output);
  if (c.usage !== null) {
    const u = safeParse(row.usage);
    eq('usage', canonicalJson(u && typeof u === 'object' ? pickUsage(u as Record<string, unknown>) : {}), c.usage);
  }
  if (c.metricsDigest !== null) eq('metrics', metricsDigest(row.metrics), c.metricsDigest);
  if (c.paramsDigest !== null) eq('logged parameters', paramsDigest(row.params), c.paramsDigest);
  if (row.reused_from !== null) diffs.push('it names a run it reused, but the log recorded it ran');
  return diffs;
}

function pickUsage(u: Record<string, unknown>) {
  return { elapsedS: u.elapsedS ?? null, cpuSeconds: u.cpuSeconds ?? null, gpuSeconds: u.gpuSeconds ?? null };
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

/** The parameters a run was submitted with, as `run` stores them: what an older event vouches for. */
function submittedParams(c: RunClaim): RunStateRow['params'] {
  const p = safeParse(c.params);
  if (!p || typeof p !== 'object') return [];
  return Object.entries(p as Record<string, unknown>).map(([name, value]) => ({ name, value: JSON.stringify(value) }));
}

/**
 * The row's times where they fit the events (submitted no later than the submission was logged,
 * started after that, ended no later than the end was logged), else the events' own times: the
 * times a row claims are not otherwise vouched for.
 */
function times(row: RunStateRow, c: RunClaim): Pick<RunStateRow, 'created_at' | 'started_at' | 'ended_at'> {
  const ok =
    row.created_at <= c.submittedAt &&
    (row.started_at === null || row.started_at >= row.created_at) &&
    row.ended_at !== null &&
    row.ended_at <= c.endedAt &&
    (row.started_at === null || row.started_at <= row.ended_at);
  return ok
    ? { created_at: row.created_at, started_at: row.started_at, ended_at: row.ended_at }
    : { created_at: c.submittedAt, started_at: null, ended_at: c.endedAt };
}

/**
 * The state with only the runs this side keeps (its own and those planned), and of the lineage
 * only edges whose runs are among them: an edge to a refused run would point nowhere.
 */
export function keepRuns(state: RemoteState, plan: RunImportPlan, local: ReadonlySet<string>): RemoteState {
  const ok = new Set([...local, ...plan.runs.map((r) => r.id)]);
  return {
    ...state,
    runs: plan.runs,
    lineage: state.lineage.filter(
      (e) => (e.src_type !== 'run' || ok.has(e.src_id)) && (e.dst_type !== 'run' || ok.has(e.dst_id)),
    ),
  };
}

/** `run 0193… (train, completed): why` — for messages that name refused runs. */
export function describeUnvouchedRun(r: UnvouchedRun): string {
  return `run ${r.run} (${r.name}, ${r.status}): ${r.why}`;
}
