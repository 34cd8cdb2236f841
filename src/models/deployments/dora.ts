import { CairnError } from '../../core/errors.js';
import { parseTimeBound, type Clock } from '../../core/time.js';
import type { DatasetDeps } from '../../datasets/index.js';

/** Where no figure can be computed from what was recorded, it is null and `reason` says why. */
export interface DoraReport {
  window: { since: string; until: string; days: number };
  model: string | null;
  /** Which deployments count as production ones. */
  production: string;
  deploymentFrequency: { deployments: number; perDay: number | null; perWeek: number | null; reason: string | null };
  leadTime: { versions: number; medianS: number | null; p90S: number | null; reason: string | null };
  changeFailureRate: {
    failed: number;
    total: number;
    rate: number | null;
    byEnv: Record<string, { failed: number; total: number }>;
    reason: string | null;
  };
  timeToRestore: { restored: number; unrestored: number; medianS: number | null; reason: string | null };
}

const PRODUCTION = 'production';
const DAY_MS = 86_400_000;

/** The middle value (the mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile: the smallest value with at least p% of the values at or below it. */
export function percentile(xs: readonly number[], p: number): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil((p / 100) * s.length) - 1)]!;
}

const isProduction = (d: { alias: string | null; env: string }) =>
  d.alias === PRODUCTION || (d.alias === null && d.env === PRODUCTION);
const isFailure = (status: string) => status === 'failed' || status === 'rolled_back';
const seconds = (fromIso: string, toIso: string) => (Date.parse(toIso) - Date.parse(fromIso)) / 1000;

/**
 * The four DORA figures, computed only from recorded deployments and model versions:
 *  - deployment frequency: successful production deployments that ended in the window, per day and per week;
 *  - lead time for changes: from a version's registration to the end of its first successful
 *    production deployment (versions whose first one ended in the window), median and p90;
 *  - change failure rate: failed or rolled-back deployments ÷ all finished ones (every env) that ended in the window;
 *  - time to restore: from the end of a failed (or rolled-back) deployment — the first of a run
 *    of failures — to the end of the next successful deployment of the same model to the same
 *    env; failures in the window, median. A failure not yet followed by a success is counted as
 *    unrestored and not guessed at.
 */
export async function doraMetrics(
  deps: Pick<DatasetDeps, 'meta' | 'clock'>,
  opts: { model?: string; since?: string; until?: string } = {},
): Promise<DoraReport> {
  const window = doraWindow(deps.clock, opts);
  const db = deps.meta.db;
  let modelId: string | null = null;
  if (opts.model) {
    const m = await db.selectFrom('models').select('id').where('name', '=', opts.model).executeTakeFirst();
    if (!m)
      throw new CairnError('NOT_FOUND', `no model named ${JSON.stringify(opts.model)}`, {
        hint: 'list models with cairn model ls',
      });
    modelId = m.id;
  }
  let q = db
    .selectFrom('deployments as d')
    .innerJoin('model_versions as v', 'v.id', 'd.version_id')
    .select([
      'd.id',
      'd.model_id',
      'd.version_id',
      'd.env',
      'd.alias',
      'd.status',
      'd.started_at',
      'd.ended_at',
      'v.created_at as version_created_at',
    ])
    .where('d.status', '!=', 'pending')
    .where('d.ended_at', 'is not', null)
    .where('d.ended_at', '<=', window.until)
    .orderBy('d.ended_at')
    .orderBy('d.started_at')
    .orderBy('d.id');
  if (modelId) q = q.where('d.model_id', '=', modelId);
  const rows = (await q.execute()) as FinishedDeployment[];
  return doraReport(rows, window, opts.model ?? null);
}

/** A finished deployment, with when the version it deployed was registered. */
export interface FinishedDeployment {
  id: string;
  model_id: string;
  version_id: string;
  env: string;
  alias: string | null;
  status: string;
  started_at: string;
  ended_at: string;
  version_created_at: string;
}

type Window = DoraReport['window'];

/** The window `--since`/`--until` name (default: the last 30 days up to now). */
export function doraWindow(clock: Clock, opts: { since?: string; until?: string }): Window {
  const until = opts.until ? parseTimeBound(opts.until, clock) : clock.now();
  if (!until)
    throw new CairnError('USAGE', `--until ${JSON.stringify(opts.until)} is not an ISO time or an age like 7d`);
  const since = parseTimeBound(opts.since ?? '30d', { now: () => until });
  if (!since)
    throw new CairnError('USAGE', `--since ${JSON.stringify(opts.since)} is not an ISO time or an age like 30d`);
  if (since.getTime() >= until.getTime())
    throw new CairnError('USAGE', `the window is empty: ${since.toISOString()} is not before ${until.toISOString()}`);
  return { since: since.toISOString(), until: until.toISOString(), days: (until.getTime() - since.getTime()) / DAY_MS };
}

/** The four figures from finished deployments (all history up to the window's end, ordered by end). */
export function doraReport(rows: readonly FinishedDeployment[], window: Window, model: string | null): DoraReport {
  const inWindow = (t: string | null): t is string => t !== null && t >= window.since && t <= window.until;
  const prodOk = rows.filter((d) => d.status === 'succeeded' && isProduction(d));
  return {
    window,
    model,
    production: `deployments to an environment serving the ${PRODUCTION} alias (or named ${PRODUCTION} when it serves no alias)`,
    deploymentFrequency: deploymentFrequency(prodOk.filter((d) => inWindow(d.ended_at)).length, window.days),
    leadTime: leadTime(prodOk, inWindow),
    changeFailureRate: changeFailureRate(rows.filter((d) => inWindow(d.ended_at))),
    timeToRestore: timeToRestore(rows, inWindow),
  };
}

function deploymentFrequency(shipped: number, days: number): DoraReport['deploymentFrequency'] {
  return shipped
    ? { deployments: shipped, perDay: shipped / days, perWeek: (shipped * 7) / days, reason: null }
    : {
        deployments: 0,
        perDay: null,
        perWeek: null,
        reason: 'no successful production deployment ended in the window',
      };
}

/** Each version's first successful production deployment (over all history) that ended in the window. */
function leadTime(
  prodOk: readonly FinishedDeployment[],
  inWindow: (t: string | null) => t is string,
): DoraReport['leadTime'] {
  const first = new Map<string, FinishedDeployment>();
  for (const d of prodOk) if (!first.has(d.version_id)) first.set(d.version_id, d);
  const leads = [...first.values()]
    .filter((d) => inWindow(d.ended_at))
    .map((d) => seconds(d.version_created_at, d.ended_at));
  return leads.length
    ? { versions: leads.length, medianS: median(leads), p90S: percentile(leads, 90), reason: null }
    : {
        versions: 0,
        medianS: null,
        p90S: null,
        reason: 'no version had its first successful production deployment in the window',
      };
}

/** Over every environment. */
function changeFailureRate(finished: readonly FinishedDeployment[]): DoraReport['changeFailureRate'] {
  const byEnv: Record<string, { failed: number; total: number }> = {};
  for (const d of finished) {
    const e = (byEnv[d.env] ??= { failed: 0, total: 0 });
    e.total++;
    if (isFailure(d.status)) e.failed++;
  }
  const failed = finished.filter((d) => isFailure(d.status)).length;
  return finished.length
    ? { failed, total: finished.length, rate: failed / finished.length, byEnv, reason: null }
    : { failed: 0, total: 0, rate: null, byEnv, reason: 'no deployment finished in the window' };
}

/** Per model and environment: from the first failure of a run of failures to the next success. */
function timeToRestore(
  rows: readonly FinishedDeployment[],
  inWindow: (t: string | null) => t is string,
): DoraReport['timeToRestore'] {
  const restores: number[] = [];
  let unrestored = 0;
  const groups = new Map<string, FinishedDeployment[]>();
  for (const d of rows) {
    const k = `${d.model_id}\u0000${d.env}`;
    const g = groups.get(k);
    if (g) g.push(d);
    else groups.set(k, [d]);
  }
  for (const g of groups.values()) {
    let down: string | null = null;
    for (const d of g) {
      if (isFailure(d.status)) down ??= d.ended_at;
      else if (d.status === 'succeeded' && down !== null) {
        if (inWindow(down)) restores.push(seconds(down, d.ended_at));
        down = null;
      }
    }
    if (down !== null && inWindow(down)) unrestored++;
  }
  return restores.length
    ? { restored: restores.length, unrestored, medianS: median(restores), reason: null }
    : {
        restored: 0,
        unrestored,
        medianS: null,
        reason: unrestored
          ? 'no failure in the window has been followed by a successful deployment yet'
          : 'no deployment failed in the window',
      };
}
