import { sha256Hex } from '../core/digest.js';
import { CairnError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import { isoUtc } from '../core/time.js';
import type { DatasetDeps } from '../datasets/index.js';
import { allHolds, holdsOf, insertHold, markHoldReleased } from '../meta/repos/retention.js';
import { holdIsActive, holdView, parseRetainUntil, type HoldView } from './holds.js';
import { resolveTarget, targetOf } from './target.js';

/**
 * The reason a person types may name a data subject or a case ("request of J. Doe"). The signed
 * log is kept forever and cannot be edited, so an event carries only the reason's SHA-256; the
 * text lives in the row, which can be erased, and the digest still proves which text it was.
 */
export function reasonParams(reason: string): { reasonDigest: string } {
  return { reasonDigest: `sha256:${sha256Hex(reason)}` };
}

export function requireReason(reason: string | undefined, what: string): string {
  const r = (reason ?? '').trim();
  if (!r)
    throw new CairnError('USAGE', `${what} needs --reason: the record must say why`, {
      hint: 'e.g. --reason "litigation hold, case 2026-114"',
    });
  return r;
}

export async function putHold(
  deps: DatasetDeps,
  ref: string,
  opts: { reason?: string; retainUntil?: string },
): Promise<HoldView> {
  const reason = requireReason(opts.reason, opts.retainUntil ? 'a retention period' : 'a legal hold');
  const now = deps.clock.now();
  let until: string | null = null;
  if (opts.retainUntil !== undefined) {
    const u = parseRetainUntil(opts.retainUntil, now);
    if (!(u instanceof Date)) throw new CairnError('USAGE', `--retain-until: ${u.problem}`);
    until = isoUtc(u);
  }
  const t = await resolveTarget(deps.meta.db, ref);
  const id = uuidv7(now.getTime());
  const kind = until ? 'retention' : 'hold';
  const row = {
    id,
    version_id: t.versionId,
    kind,
    reason,
    retain_until: until,
    created_at: isoUtc(now),
    created_by: deps.actor().id,
    released_at: null,
    released_by: null,
    release_reason: null,
  };
  await deps.audit.audited(
    {
      action: 'dataset.hold',
      target: targetOf(t),
      params: { hold: id, kind, ...(until ? { until } : {}), ...reasonParams(reason) },
    },
    async (commit) => {
      const erased = await deps.meta.db
        .selectFrom('version_erasures')
        .select('erased_at')
        .where('version_id', '=', t.versionId)
        .executeTakeFirst();
      if (erased)
        throw new CairnError('ERASED', `${t.ref} was erased on ${erased.erased_at}: there is nothing left to hold`);
      await commit((tx) => insertHold(tx, row));
    },
  );
  return holdView(row, t.ref, now);
}

/** Lifts the active legal holds of a version (or the one named by `holdId`); retention periods only lapse. */
export async function releaseHolds(
  deps: DatasetDeps,
  ref: string,
  opts: { reason?: string; holdId?: string },
): Promise<HoldView[]> {
  const reason = requireReason(opts.reason, 'lifting a hold');
  const t = await resolveTarget(deps.meta.db, ref);
  const now = deps.clock.now();
  const rows = (await holdsOf(deps.meta.db, [t.versionId])).filter(
    (h) => holdIsActive(h, now) && (opts.holdId === undefined || h.id === opts.holdId),
  );
  const legal = rows.filter((h) => h.kind === 'hold');
  if (legal.length === 0) {
    const retained = rows.filter((h) => h.kind === 'retention');
    if (retained.length)
      throw new CairnError(
        'HELD',
        `${t.ref} has no legal hold to lift, only a retention period until ${retained.map((h) => h.retain_until).join(', ')}: it lapses, it is not released`,
      );
    throw new CairnError(
      'NOT_FOUND',
      `${t.ref} has no active legal hold${opts.holdId ? ` with id ${opts.holdId}` : ''}`,
      {
        hint: `see cairn data holds ${ref}`,
      },
    );
  }
  const at = isoUtc(now);
  const by = deps.actor().id;
  for (const h of legal) {
    await deps.audit.audited(
      { action: 'dataset.hold.release', target: targetOf(t), params: { hold: h.id, ...reasonParams(reason) } },
      (commit) => commit((tx) => markHoldReleased(tx, h.id, { at, by, reason })),
    );
  }
  return legal.map((h) => holdView({ ...h, released_at: at, released_by: by, release_reason: reason }, t.ref, now));
}

/** Holds of one version, or of every version; released and lapsed ones too (`active` says which protect now). */
export async function listHolds(deps: Pick<DatasetDeps, 'meta' | 'clock'>, ref?: string): Promise<HoldView[]> {
  const now = deps.clock.now();
  if (ref !== undefined) {
    const t = await resolveTarget(deps.meta.db, ref);
    return (await holdsOf(deps.meta.db, [t.versionId])).map((h) => holdView(h, t.ref, now));
  }
  const rows = await allHolds(deps.meta.db);
  const refs = new Map<string, string>();
  for (const v of await deps.meta.db
    .selectFrom('dataset_versions as v')
    .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
    .select(['v.id', 'v.number', 'd.name'])
    .where('v.id', 'in', rows.length ? [...new Set(rows.map((r) => r.version_id))] : [''])
    .execute())
    refs.set(v.id, `${v.name}@v${v.number}`);
  return rows.map((h) => holdView(h, refs.get(h.version_id) ?? h.version_id, now));
}
