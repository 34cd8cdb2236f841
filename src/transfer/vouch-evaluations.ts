import { committed } from '../audit/verify/state/event-fields.js';
import { sha256Hex } from '../core/digest.js';
import type { EvaluationStateRow, RemoteState } from './state.js';
import { eachOwnEvent } from './log-events.js';

/**
 * What a verified `model.evaluate` event says about one stored evaluation (docs/REMOTES.md
 * "Evaluations"): the digest of its report (which holds the verdict, every check, the metrics,
 * the test set's ref and the time), the verdict, the suite, the version evaluated and, in events
 * from now on, the evaluation's id and the test set's digest. An import event (`remote.pull`,
 * `workspace.clone`) passes a claim on as it received it.
 */
export interface EvaluationClaim {
  /** Null in events from before the id was logged. */
  evaluation: string | null;
  /** `sha256:<hex>` of the stored report (canonical JSON). */
  report: string;
  passed: boolean;
  suite: string;
  /** `sha256:<hex>` of the suite file. */
  suiteDigest: string;
  model: string;
  number: number;
  /** `sha256:<hex>` of the model version evaluated. */
  digest: string;
  /** `sha256:<hex>` of the test set; null in events from before it was logged. */
  dataDigest: string | null;
}

export interface EvaluationVoucher {
  claim: EvaluationClaim;
  /** Who ran it, in that log (an import's registrant when it came in there). */
  author: string;
  origin: string;
  workspace: string;
  index: number;
}

/** Vouchers by report digest (`sha256:<hex>`). */
export type EvaluationVouchers = Map<string, EvaluationVoucher[]>;

/** What an import event records per imported evaluation (`params.importedEvaluations`). */
export interface ImportedEvaluation {
  evaluation: string;
  author: string;
  registrant: string;
  origin: string;
  workspace: string | null;
  index: number;
  claim: EvaluationClaim;
}

export interface UnvouchedEvaluation {
  evaluation: string;
  suite: string;
  passed: boolean;
  why: string;
}

type Ev = {
  index?: unknown;
  workspace?: unknown;
  action?: unknown;
  outcome?: unknown;
  reason?: unknown;
  actor?: { id?: unknown };
  target?: { name?: unknown; version?: unknown; digest?: unknown };
  params?: Record<string, unknown>;
};

const RELEVANT = /"action":"(?:model\.evaluate|remote\.pull|workspace\.clone)"/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const s = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const d = (v: unknown): string | null => (typeof v === 'string' && DIGEST.test(v) ? v : null);

/** A claim as an event or an import recorded it, if it is well formed. */
function claimOf(c: Record<string, unknown>): EvaluationClaim | null {
  const report = d(c.report);
  const suiteDigest = d(c.suiteDigest);
  const digest = d(c.digest);
  const model = s(c.model);
  const suite = s(c.suite);
  if (!report || !suiteDigest || !digest || !model || !suite) return null;
  if (typeof c.passed !== 'boolean' || !Number.isSafeInteger(c.number)) return null;
  return {
    evaluation: s(c.evaluation),
    report,
    passed: c.passed,
    suite,
    suiteDigest,
    model,
    number: c.number as number,
    digest,
    dataDigest: d(c.dataDigest),
  };
}

/**
 * Adds the evaluation vouchers of one verified log (`entries`: its entry texts, in index order):
 * each committed `model.evaluate` (passed, or failed with its verdict stored), and each evaluation
 * an import event of that log brought in. Entries that do not parse or claim another index or
 * workspace vouch for nothing.
 */
export function collectEvaluationVouchers(
  into: EvaluationVouchers,
  log: { workspace: string; origin: string },
  entries: readonly string[],
): void {
  const add = (claim: EvaluationClaim, author: string, index: number) => {
    const list = into.get(claim.report) ?? [];
    list.push({ claim, author, origin: log.origin, workspace: log.workspace, index });
    into.set(claim.report, list);
  };
  eachOwnEvent<Ev>(entries, log.workspace, RELEVANT, (e, index) => {
    if (e.action === 'model.evaluate') {
      const p = e.params ?? {};
      const author = s(e.actor?.id);
      const claim = claimOf({ ...p, model: e.target?.name, number: e.target?.version, digest: e.target?.digest });
      if (author && claim && committed(e as Parameters<typeof committed>[0])) add(claim, author, index);
      return;
    }
    if (e.outcome !== 'ok' || !Array.isArray(e.params?.importedEvaluations)) return;
    for (const x of e.params.importedEvaluations as unknown[]) {
      const r = (x ?? {}) as Record<string, unknown>;
      const c = r.claim && typeof r.claim === 'object' ? claimOf(r.claim as Record<string, unknown>) : null;
      const registrant = s(r.registrant);
      if (c && registrant && (c.evaluation === null || c.evaluation === s(r.evaluation))) add(c, registrant, index);
    }
  });
}

/** What planEvaluationImport needs of the receiving side. */
export interface EvaluationImportContext {
  /** Ids and report digests (`sha256:<hex>`) of the evaluations this side holds already. */
  local: { ids: ReadonlySet<string>; reports: ReadonlySet<string> };
  /** Each model version this side will hold after the import, by id. */
  modelVersions: ReadonlyMap<string, { model: string; number: number; digest: string }>;
  /** Digest (bare hex) of each dataset version this side will hold after the import, by id. */
  versions: ReadonlyMap<string, string>;
  /** `name@vN` of each of those versions: what an event without the test set's digest is checked by (the report names it). */
  versionRefs: ReadonlyMap<string, string>;
  /** Who brought them here: the pushing account on a team server; null keeps the voucher's author. */
  registrant: string | null;
}

export interface EvaluationImportPlan {
  evaluations: EvaluationStateRow[];
  imported: ImportedEvaluation[];
  skipped: UnvouchedEvaluation[];
}

/**
 * The evaluations of a remote state that may be imported: each needs a voucher whose claim
 * matches its row exactly (report, verdict, suite, id, version evaluated, test set, and who ran
 * it), and the version and the test set on this side at the digests the event logged. One report
 * comes in once: an evaluation whose report this side holds already is left out, a second row
 * claiming the same report is refused. Pure.
 */
export function planEvaluationImport(
  remote: RemoteState,
  vouchers: EvaluationVouchers,
  ctx: EvaluationImportContext,
): EvaluationImportPlan {
  const plan: EvaluationImportPlan = { evaluations: [], imported: [], skipped: [] };
  const taken = new Set(ctx.local.reports);
  for (const row of remote.evaluations) {
    if (ctx.local.ids.has(row.id)) continue;
    const report = `sha256:${sha256Hex(row.report)}`;
    const refuse = (why: string) =>
      plan.skipped.push({ evaluation: row.id, suite: row.suite, passed: row.passed === 1, why });
    if (taken.has(report)) {
      if (!ctx.local.reports.has(report)) refuse('another evaluation with the same report came in with it');
      continue;
    }
    const list = vouchers.get(report) ?? [];
    if (!list.length) {
      refuse(
        'no event of a verified audit log recorded it (its report, or its verdict, differs from every logged one)',
      );
      continue;
    }
    const missing = missingOf(row, ctx);
    if (missing) {
      refuse(missing);
      continue;
    }
    const checked = list.map((v) => ({ v, diffs: evaluationDiffs(row, v, ctx) }));
    const match = checked.find((c) => !c.diffs.length);
    if (!match) {
      refuse(checked[0]!.diffs.join('; '));
      continue;
    }
    const { v } = match;
    taken.add(report);
    const registrant = ctx.registrant ?? v.author;
    plan.evaluations.push({ ...row, by: registrant });
    plan.imported.push({
      evaluation: row.id,
      author: v.author,
      registrant,
      origin: v.origin,
      workspace: v.workspace,
      index: v.index,
      claim: v.claim,
    });
  }
  return plan;
}

function missingOf(row: EvaluationStateRow, ctx: EvaluationImportContext): string | null {
  if (!ctx.modelVersions.has(row.version_id))
    return 'the model version it evaluates is not on this side and was not pushed with it (or was refused)';
  if (row.data_version_id === null || !ctx.versions.has(row.data_version_id))
    return 'its test set is not on this side and was not pushed with it: push that version too';
  return null;
}

/** How the row differs from what the voucher vouches for (empty: it is exactly that evaluation). */
export function evaluationDiffs(row: EvaluationStateRow, v: EvaluationVoucher, ctx: EvaluationImportContext): string[] {
  const c = v.claim;
  const diffs: string[] = [];
  const eq = (what: string, a: unknown, b: unknown) => {
    if (a !== b) diffs.push(`its ${what} differ(s) from what the log recorded`);
  };
  const mv = ctx.modelVersions.get(row.version_id)!;
  if (c.evaluation !== null) eq('id', row.id, c.evaluation);
  eq('verdict', row.passed === 1, c.passed);
  eq('verdict in the report', reportPassed(row.report), c.passed);
  eq('suite', row.suite, c.suite);
  eq('suite digest', `sha256:${row.suite_digest}`, c.suiteDigest);
  eq('model version', `${mv.model}@v${mv.number} sha256:${mv.digest}`, `${c.model}@v${c.number} ${c.digest}`);
  if (c.dataDigest !== null) eq('test set', `sha256:${ctx.versions.get(row.data_version_id ?? '')}`, c.dataDigest);
  else eq('test set', ctx.versionRefs.get(row.data_version_id ?? ''), reportField(row.report, 'data'));
  if (row.by !== v.author) diffs.push(`it names ${row.by} as who ran it but the log recorded ${v.author}`);
  return diffs;
}

function reportPassed(report: string): boolean | null {
  const v = reportField(report, 'passed');
  return typeof v === 'boolean' ? v : null;
}

function reportField(report: string, field: string): unknown {
  try {
    return (JSON.parse(report) as Record<string, unknown>)[field];
  } catch {
    return undefined;
  }
}

/** The state with only the evaluations this side takes. */
export function keepEvaluations(state: RemoteState, plan: EvaluationImportPlan): RemoteState {
  return { ...state, evaluations: plan.evaluations };
}

/** `evaluation 0193… (acceptance, passed): why` — for messages that name refused evaluations. */
export function describeUnvouchedEvaluation(e: UnvouchedEvaluation): string {
  return `evaluation ${e.evaluation} (${e.suite}, ${e.passed ? 'passed' : 'failed'}): ${e.why}`;
}
