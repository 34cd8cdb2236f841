import { errorCatalogue } from '../../../core/errors.js';

/** An event as parsed from the log; nothing in it is trusted to have any particular shape. */
export interface LoggedEvent {
  index?: unknown;
  action?: unknown;
  actor?: { id?: unknown } | null;
  target?: { type?: unknown; name?: unknown; version?: unknown; digest?: unknown } | null;
  inputs?: unknown;
  outputs?: unknown;
  params?: Record<string, unknown> | null;
  outcome?: unknown;
  reason?: unknown;
}

/** The actions whose events vouch for state; the shell parses only these entries fully. */
/** The parts of an event every handler reads, taken apart once. */
export interface EventFields {
  index: number;
  action: string;
  ok: boolean;
  p: Record<string, unknown>;
  actor: string | null;
  name: string | null;
  number: number | null;
  digest: string | null;
}

export const STATE_ACTIONS: ReadonlySet<string> = new Set([
  'dataset.version.create',
  'dataset.clean',
  'dataset.split',
  'dataset.tag',
  'remote.pull',
  'workspace.clone',
  'model.register',
  'model.promote',
  'model.rollback',
  'model.alias.remove',
  'model.approve',
  'model.policy.set',
  'model.evaluate',
  'model.deploy',
  'model.release',
  'run.submit',
  'run.reuse',
  'run.finish',
  'run.fail',
  'run.cancel',
  // Legal holds and retention periods (reconcile-holds.ts).
  'dataset.hold',
  'dataset.hold.release',
  // A team server's identity (identity-events.ts).
  'server.user.add',
  'server.user.disable',
  'server.grant',
  'server.token.create',
  'server.token.revoke',
]);

export function approvalKey(model: string, number: number, alias: string, approver: string): string {
  return `${model}@v${number} ${alias} by ${approver}`;
}

/**
 * Whether an event's state change was committed. A refused or failed attempt that changed
 * nothing is recorded after its transaction rolled back, with the reason `<CODE>: <the code's
 * generic summary>`; an outcome committed together with its rows (a failed evaluation, a
 * failed deployment, a refused run) carries its own reason.
 */
export function committed(e: LoggedEvent): boolean {
  if (e.outcome === 'ok') return true;
  const reason = typeof e.reason === 'string' ? e.reason : '';
  const m = /^([A-Z_]+): /.exec(reason);
  if (!m) return true;
  const entry = (errorCatalogue as Record<string, { summary: string } | undefined>)[m[1]!];
  return !(entry && reason === `${m[1]}: ${entry.summary}`);
}

/** `name@vN` → its parts (names never contain `@`). */
export function parseVersionRef(ref: unknown): { name: string; number: number } | null {
  if (typeof ref !== 'string') return null;
  const m = /^(.+)@v(\d+)$/.exec(ref);
  return m ? { name: m[1]!, number: Number(m[2]) } : null;
}

export function str(v: unknown): string | null {
  return typeof v === 'string' && v.length > 0 ? v : null;
}

export function int(v: unknown): number | null {
  return typeof v === 'number' && Number.isSafeInteger(v) ? v : null;
}

/** `sha256:<hex>` or bare hex → bare hex; anything else → null. */
export function hex(v: unknown): string | null {
  if (typeof v !== 'string') return null;
  const from = v.startsWith('sha256:') ? 7 : 0;
  if (v.length - from !== 64) return null;
  // A loop over char codes: the regex it replaces was a tenth of reconciling a million events.
  for (let i = from; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return null;
  }
  return from ? v.slice(from) : v;
}

/** The digests of a run's record an event logged, as `ended.record` keeps them (nothing when it logged none). */
export function recordOf(p: Record<string, unknown>): { record?: { metricsDigest: string; paramsDigest: string } } {
  const m = hex(p.metricsDigest);
  const q = hex(p.paramsDigest);
  return m !== null && q !== null ? { record: { metricsDigest: m, paramsDigest: q } } : {};
}
