import { loggedEvents } from '../audit/service/logged-events.js';
import type { DatasetDeps } from '../datasets/index.js';
import type { ModelRow, ModelVersionRow } from './registry.js';

/** What the log says a model version is, and where the database disagrees. */
export interface LoggedModelVersion {
  /** The digest (bare hex) its `model.register` event recorded; null when no event vouches for it. */
  digest: string | null;
  /** The index of that event. */
  index: number | null;
  /** How the row (or the files it points at) differs from the log; empty when it does not. */
  problems: string[];
}

/**
 * The digest a model version was registered with, read from its `model.register` event
 * (verified against the log's signed checkpoint), and every way the database row now
 * differs from it: its digest, the dataset version that holds its files, its author. The
 * log is the source of truth (docs/AUDIT.md, "State bound to the log"); what goes live or
 * ships must be what was registered.
 */
export async function loggedModelVersion(
  deps: Pick<DatasetDeps, 'meta' | 'audit'>,
  model: ModelRow,
  version: ModelVersionRow,
): Promise<LoggedModelVersion> {
  // Only this version's events are proven: a model with many versions must not make every check slower.
  const found = await loggedEvents(deps, 'model.register', model.name, (e) => e.target.version === version.number);
  const mine = found.events.filter((e) => e.event.outcome === 'ok' && e.event.target.version === version.number);
  const bad = [...found.problems];
  const registered = mine[mine.length - 1];
  // A version that came in by pull (or a push to a team server) is vouched for by the import
  // event that recorded it, with the registrant it recorded (docs/REMOTES.md "Model versions").
  const imported = registered ? null : await importEvent(deps, model.name, version.number, bad);
  const problems: string[] = [];
  const last = registered
    ? {
        index: registered.index,
        action: 'model.register',
        digest: registered.event.target.digest,
        author: registered.event.actor.id,
      }
    : imported;
  if (!last) {
    // An entry that does not check out may have been this version's event: say so.
    problems.push(
      `no model.register event in the audit log vouches for ${model.name}@v${version.number}${bad.length ? `, and ${bad.map((p) => p.message).join('; ')}` : ' (it was written to the database directly?)'}`,
    );
    return { digest: null, index: null, problems };
  }
  const t = last.digest;
  const digest = typeof t === 'string' && t.startsWith('sha256:') ? t.slice(7) : null;
  if (!digest) {
    problems.push(`entry ${last.index} does not record the digest of ${model.name}@v${version.number}`);
    return { digest: null, index: last.index, problems };
  }
  const short = (d: string) => `sha256:${d.slice(0, 12)}…`;
  if (version.digest !== digest)
    problems.push(
      `its row says ${short(version.digest)} but entry ${last.index} (${last.action}) recorded ${short(digest)}`,
    );
  const files = await deps.meta.db
    .selectFrom('dataset_versions')
    .select('digest')
    .where('id', '=', version.files_version_id)
    .executeTakeFirst();
  if (!files) problems.push('the dataset version that holds its files is gone');
  else if (files.digest !== digest)
    problems.push(
      `its row points at the files ${short(files.digest)}, not the ${short(digest)} entry ${last.index} (${last.action}) recorded`,
    );
  if (version.created_by !== last.author)
    problems.push(
      `its row says it was registered by ${version.created_by}, but entry ${last.index} says ${last.author}`,
    );
  return { digest, index: last.index, problems };
}

/**
 * The latest import event (`remote.pull`, `workspace.clone`) whose `params.importedModels` lists
 * `name@vN`, proven like any vouching event. Imports are few (one per pull or team-server push)
 * and only those naming this version are proven.
 */
async function importEvent(
  deps: Pick<DatasetDeps, 'meta' | 'audit'>,
  name: string,
  number: number,
  bad: Array<{ index: number; message: string }>,
): Promise<{ index: number; action: string; digest: unknown; author: unknown } | null> {
  const lists = (e: { params?: Record<string, unknown> }) =>
    (Array.isArray(e.params?.importedModels) ? (e.params.importedModels as Array<Record<string, unknown>>) : []).filter(
      (m) => m && m.model === name && m.number === number,
    );
  let best: { index: number; action: string; digest: unknown; author: unknown } | null = null;
  for (const action of ['remote.pull', 'workspace.clone'] as const) {
    const targets = await deps.meta.db
      .selectFrom('audit_events')
      .select('target_name')
      .distinct()
      .where('action', '=', action)
      .execute();
    for (const { target_name: target } of targets) {
      if (target === null) continue;
      const found = await loggedEvents(deps, action, target, (e) => lists(e).length > 0);
      bad.push(...found.problems);
      for (const e of found.events) {
        const m = lists(e.event)[0];
        if (e.event.outcome !== 'ok' || !m || (best && best.index > e.index)) continue;
        best = { index: e.index, action, digest: m.digest, author: m.registrant };
      }
    }
  }
  return best;
}
