import { canonicalJson } from '../core/canonical-json.js';
import { CairnError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import { isoUtc } from '../core/time.js';
import type { DatasetDeps } from '../datasets/index.js';
import type { WriteTx } from '../meta/write-tx.js';
import { loggedModelVersion } from './logged-version.js';
import { assertVerified, resolveModel, verifyModel, type ModelRow, type ModelVersionRow } from './registry.js';

export interface AliasPolicy {
  /** Evaluation suites (by name) the version must have passed. */
  suites: string[];
  /** Approvals needed for this alias. */
  approvals: number;
  /** Approvers must differ from whoever trained or registered the version. */
  separateApprover: boolean;
  /**
   * Whether evaluations that came by push, pull or clone count (docs/SERVER.md "Evaluations"). By
   * default (absent or false) only the evaluations this side ran count: an imported verdict was
   * computed on someone's laptop and is only as good as that person's word.
   */
  acceptImported?: boolean;
}

const ALIAS = /^[a-z][a-z0-9_-]{0,63}$/;

export function checkAlias(a: string): string {
  if (!ALIAS.test(a) || a === 'latest' || /^v\d+$/.test(a))
    throw new CairnError('INVALID_NAME', `${JSON.stringify(a)} is not a valid alias`, {
      hint: 'lowercase letters, digits, - and _ (e.g. staging, production); not latest or vN',
    });
  return a;
}

export async function policyOf(
  deps: Pick<DatasetDeps, 'meta'>,
  modelId: string,
  alias: string,
): Promise<AliasPolicy | null> {
  const p = await deps.meta.db
    .selectFrom('model_policies')
    .select('policy')
    .where('model_id', '=', modelId)
    .where('alias', '=', alias)
    .executeTakeFirst();
  return p ? (JSON.parse(p.policy) as AliasPolicy) : null;
}

export async function setPolicy(
  deps: DatasetDeps,
  name: string,
  alias: string,
  policy: AliasPolicy,
): Promise<AliasPolicy> {
  checkAlias(alias);
  if (!Number.isInteger(policy.approvals) || policy.approvals < 0)
    throw new CairnError('USAGE', '--approvals must be a whole number ≥ 0');
  const m = await deps.meta.db.selectFrom('models').selectAll().where('name', '=', name).executeTakeFirst();
  if (!m) throw new CairnError('NOT_FOUND', `no model named ${JSON.stringify(name)}`);
  const now = isoUtc(deps.clock.now());
  // Stored (and logged) only when set: a policy without it reads as before.
  const { acceptImported, ...rest } = policy;
  policy = acceptImported === true ? { ...rest, acceptImported: true } : rest;
  await deps.audit.audited(
    { action: 'model.policy.set', target: { type: 'model', name }, params: { alias, ...policy } },
    async (commit) => {
      await commit(async (tx) => {
        await tx.db
          .insertInto('model_policies')
          .values({ model_id: m.id, alias, policy: canonicalJson(policy), set_at: now, set_by: deps.actor().id })
          .onConflict((oc) =>
            oc
              .columns(['model_id', 'alias'])
              .doUpdateSet({ policy: canonicalJson(policy), set_at: now, set_by: deps.actor().id }),
          )
          .execute();
      });
    },
  );
  return policy;
}

/** Who trained and who registered a version: the people who may not approve it under a separate-approver policy. */
/** Whoever registered the version and whoever started the run that trained it. */
export async function authorsOf(deps: Pick<DatasetDeps, 'meta'>, v: ModelVersionRow): Promise<string[]> {
  const out = new Set([v.created_by]);
  if (v.run_id) {
    const r = await deps.meta.db.selectFrom('runs').select('created_by').where('id', '=', v.run_id).executeTakeFirst();
    if (r) out.add(r.created_by);
  }
  return [...out];
}

/** The conditions of `alias`'s policy that `v` does not meet (empty: it may be promoted). */
export async function unmetConditions(
  deps: Pick<DatasetDeps, 'meta'>,
  model: ModelRow,
  v: ModelVersionRow,
  alias: string,
): Promise<string[]> {
  const policy = await policyOf(deps, model.id, alias);
  if (!policy) return [];
  const unmet: string[] = [];
  for (const suite of policy.suites) {
    let q = deps.meta.db
      .selectFrom('model_evaluations')
      .select(['passed'])
      .where('version_id', '=', v.id)
      .where('suite', '=', suite);
    if (!policy.acceptImported)
      q = q.where('id', 'not in', deps.meta.db.selectFrom('evaluation_imports').select('evaluation_id'));
    const e = await q.orderBy('at', 'desc').limit(1).executeTakeFirst();
    if (e) {
      if (!e.passed) unmet.push(`suite ${suite} failed on v${v.number} (its latest evaluation)`);
      continue;
    }
    const imported = policy.acceptImported ? null : await importedVerdict(deps, v.id, suite);
    unmet.push(
      imported === null
        ? `suite ${suite} has not been run on v${v.number}`
        : `suite ${suite} has not been run on v${v.number} here (an imported evaluation, ${imported ? 'passed' : 'failed'} elsewhere, does not count: run cairn model evaluate against this side)`,
    );
  }
  const approvals = await deps.meta.db
    .selectFrom('model_approvals')
    .select('approver')
    .where('version_id', '=', v.id)
    .where('alias', '=', alias)
    .execute();
  const authors = await authorsOf(deps, v);
  const valid = new Set(
    approvals.map((a) => a.approver).filter((a) => !policy.separateApprover || !authors.includes(a)),
  );
  if (valid.size < policy.approvals)
    unmet.push(
      `${policy.approvals} approval(s) for ${alias} needed${policy.separateApprover ? ' from someone other than who trained or registered it' : ''}; ${valid.size} given`,
    );
  return unmet;
}

/** The latest imported verdict of a suite on a version, or null: named in a refusal, never counted. */
async function importedVerdict(
  deps: Pick<DatasetDeps, 'meta'>,
  versionId: string,
  suite: string,
): Promise<boolean | null> {
  const e = await deps.meta.db
    .selectFrom('model_evaluations')
    .select(['passed'])
    .where('version_id', '=', versionId)
    .where('suite', '=', suite)
    .where('id', 'in', deps.meta.db.selectFrom('evaluation_imports').select('evaluation_id'))
    .orderBy('at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return e ? Boolean(e.passed) : null;
}

/** Points an alias at a version (null removes it) and appends the move to its history. */
export async function moveAlias(
  tx: WriteTx,
  deps: Pick<DatasetDeps, 'clock' | 'actor'>,
  modelId: string,
  alias: string,
  versionId: string | null,
  action: string,
): Promise<string | null> {
  const now = isoUtc(deps.clock.now());
  const prev = await tx.db
    .selectFrom('model_aliases')
    .select('version_id')
    .where('model_id', '=', modelId)
    .where('alias', '=', alias)
    .executeTakeFirst();
  if (versionId === null)
    await tx.db.deleteFrom('model_aliases').where('model_id', '=', modelId).where('alias', '=', alias).execute();
  else
    await tx.db
      .insertInto('model_aliases')
      .values({ model_id: modelId, alias, version_id: versionId, set_at: now, set_by: deps.actor().id })
      .onConflict((oc) =>
        oc.columns(['model_id', 'alias']).doUpdateSet({ version_id: versionId, set_at: now, set_by: deps.actor().id }),
      )
      .execute();
  await tx.db
    .insertInto('model_alias_events')
    .values({
      id: uuidv7(),
      model_id: modelId,
      alias,
      version_id: versionId,
      previous_version_id: prev?.version_id ?? null,
      action,
      at: now,
      by: deps.actor().id,
    })
    .execute();
  return prev?.version_id ?? null;
}

/**
 * Points `alias` at a version after checking the alias's policy (suites passed, approvals by
 * someone other than the authors). A refusal lists every unmet condition, exits non-zero
 * (POLICY_UNMET) and is recorded as a denied event.
 */
export async function promote(
  deps: DatasetDeps,
  ref: string,
  alias: string,
  action: 'promote' | 'set' = 'promote',
): Promise<{ ref: string; alias: string; previous: string | null }> {
  checkAlias(alias);
  const r = await resolveModel(deps, ref);
  // What goes live must be the bytes that were registered and evaluated: the tree its
  // model.register event logged, which its row (and files) must still match.
  assertVerified(await verifyModel(deps, r.ref), `become ${alias}`);
  const unmet = await unmetConditions(deps, r.model, r.version, alias);
  const target = { type: 'model', name: r.model.name, version: r.version.number, digest: `sha256:${r.version.digest}` };
  if (unmet.length) {
    await deps.audit.record(
      { action: 'model.promote', target, params: { alias, unmet } },
      'denied',
      `POLICY_UNMET: ${unmet.join('; ')}`,
    );
    throw new CairnError('POLICY_UNMET', `${r.ref} cannot become ${alias}:\n  ${unmet.join('\n  ')}`, {
      data: { alias, unmet },
      hint: 'evaluate it (cairn model evaluate) and get approvals (cairn model approve) first',
    });
  }
  let previous: string | null = null;
  await deps.audit.audited({ action: 'model.promote', target, params: { alias, how: action } }, async (commit) => {
    await commit(async (tx) => {
      previous = await moveAlias(tx, deps, r.model.id, alias, r.version.id, action);
    });
  });
  return { ref: r.ref, alias, previous: previous ? await versionRef(deps, previous) : null };
}

export async function removeAlias(deps: DatasetDeps, name: string, alias: string): Promise<void> {
  const m = await deps.meta.db.selectFrom('models').selectAll().where('name', '=', name).executeTakeFirst();
  if (!m) throw new CairnError('NOT_FOUND', `no model named ${JSON.stringify(name)}`);
  const cur = await deps.meta.db
    .selectFrom('model_aliases')
    .select('version_id')
    .where('model_id', '=', m.id)
    .where('alias', '=', alias)
    .executeTakeFirst();
  if (!cur) throw new CairnError('NOT_FOUND', `${name} has no alias ${alias}`);
  await deps.audit.audited(
    { action: 'model.alias.remove', target: { type: 'model', name }, params: { alias } },
    async (commit) => {
      await commit(async (tx) => {
        await moveAlias(tx, deps, m.id, alias, null, 'remove');
      });
    },
  );
}

/** Records an approval; approving a version you trained or registered is refused (and recorded) under a separate-approver policy. */
export async function approve(
  deps: DatasetDeps,
  ref: string,
  alias: string,
): Promise<{ ref: string; alias: string; approver: string }> {
  checkAlias(alias);
  const r = await resolveModel(deps, ref);
  const me = deps.actor().id;
  const policy = await policyOf(deps, r.model.id, alias);
  const target = { type: 'model', name: r.model.name, version: r.version.number, digest: `sha256:${r.version.digest}` };
  // An approval vouches for what the log registered: a row changed with SQL (its digest, files or
  // author, which decides who may approve) is refused before anyone's name goes on it.
  const logged = await loggedModelVersion(deps, r.model, r.version);
  if (logged.problems.length) {
    await deps.audit.record(
      { action: 'model.approve', target, params: { alias, approver: me } },
      'failed',
      `STATE_MISMATCH: ${logged.problems.join('; ')}`,
    );
    throw new CairnError(
      'STATE_MISMATCH',
      `${r.ref} is not what the audit log says was registered: ${logged.problems.join('; ')}`,
      {
        hint: 'run `cairn audit verify` to see every row that differs from the log',
      },
    );
  }
  if ((policy?.separateApprover ?? true) && (await authorsOf(deps, r.version)).includes(me)) {
    await deps.audit.record(
      { action: 'model.approve', target, params: { alias, approver: me } },
      'denied',
      'PERMISSION_DENIED: self-approval',
    );
    throw new CairnError('PERMISSION_DENIED', `${me} trained or registered ${r.ref} and may not approve it`, {
      hint: 'ask a second person to run cairn model approve',
    });
  }
  await deps.audit.audited({ action: 'model.approve', target, params: { alias, approver: me } }, async (commit) => {
    await commit(async (tx) => {
      await tx.db
        .insertInto('model_approvals')
        .values({ id: uuidv7(), version_id: r.version.id, alias, approver: me, at: isoUtc(deps.clock.now()) })
        .execute();
    });
  });
  return { ref: r.ref, alias, approver: me };
}

/**
 * Moves the alias back to the version it pointed at before its latest move, under the alias's
 * policy like a promotion: a version that failed (or never ran) a required suite, or lacks the
 * approvals, is refused (POLICY_UNMET, recorded as denied) unless `override` gives a reason,
 * which the audit event records with the conditions it overrode.
 */
export async function rollback(
  deps: DatasetDeps,
  name: string,
  alias: string,
  opts: { override?: string; expect?: string } = {},
): Promise<{ alias: string; from: string | null; to: string; overridden: string[] }> {
  const m = await deps.meta.db.selectFrom('models').selectAll().where('name', '=', name).executeTakeFirst();
  if (!m) throw new CairnError('NOT_FOUND', `no model named ${JSON.stringify(name)}`);
  const events = await deps.meta.db
    .selectFrom('model_alias_events')
    .selectAll()
    .where('model_id', '=', m.id)
    .where('alias', '=', alias)
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .execute();
  const last = events[0];
  // The version before the current one: moves that left the alias where it was (a deploy of
  // the live version) are not a change to undo.
  const previous = events.find((e) => e.previous_version_id && e.previous_version_id !== last?.version_id);
  if (!last || !previous?.previous_version_id)
    throw new CairnError('NOT_FOUND', `${name}@${alias} has no earlier version to roll back to`);
  const to = previous.previous_version_id;
  // The server checked who may put `expect` live (separation of duties); returning anywhere else
  // would move a protected alias onto a version nobody checked.
  if (opts.expect !== undefined && (await versionRef(deps, to)) !== opts.expect) {
    const e = aliasMoved(name, alias, `it would now return to ${await versionRef(deps, to)}, not ${opts.expect}`);
    await deps.audit.record(
      { action: 'model.rollback', target: { type: 'model', name }, params: { alias, to, expect: opts.expect } },
      'denied',
      `ALIAS_MOVED: ${e.message}`,
    );
    throw e;
  }
  // Putting back a version is putting it live: it must still be what was registered, byte for byte.
  assertVerified(await verifyModel(deps, await versionRef(deps, to)), `become ${alias} again`);
  // The event names the version it moves to by number and digest, as a promotion does, so
  // `audit verify` can check the alias against it (older rollbacks carry only the row ids).
  const toRow = await deps.meta.db
    .selectFrom('model_versions')
    .select(['number', 'digest'])
    .where('id', '=', to)
    .executeTakeFirst();
  const target = toRow
    ? { type: 'model', name, version: toRow.number, digest: `sha256:${toRow.digest}` }
    : { type: 'model', name };
  const unmet = await rollbackUnmet(deps, m, to, alias);
  if (unmet.length && !opts.override?.trim()) {
    await deps.audit.record(
      { action: 'model.rollback', target, params: { alias, from: last.version_id, to, unmet } },
      'denied',
      `POLICY_UNMET: ${unmet.join('; ')}`,
    );
    throw new CairnError('POLICY_UNMET', `${name}@${alias} cannot roll back:\n  ${unmet.join('\n  ')}`, {
      data: { alias, unmet },
      hint: `fix the cause, or roll back anyway with --override "<reason>" (recorded in the audit log)`,
    });
  }
  const override = unmet.length ? { override: opts.override!.trim(), overridden: unmet } : {};
  await deps.audit.audited(
    { action: 'model.rollback', target, params: { alias, from: last.version_id, to, ...override } },
    async (commit) => {
      await commit(async (tx) => {
        // Where it returns to was worked out from the moves read above: a move committed since
        // (another promotion, another rollback) would make that the wrong version to put back.
        if ((await latestMove(tx, m.id, alias)) !== last.id)
          throw aliasMoved(name, alias, 'it moved while the rollback was being checked');
        await moveAlias(tx, deps, m.id, alias, to, 'rollback');
      });
    },
  );
  return {
    alias,
    from: last.version_id ? await versionRef(deps, last.version_id) : null,
    to: await versionRef(deps, to),
    overridden: unmet,
  };
}

/** The id of the alias's latest move, read inside the write's transaction. */
async function latestMove(tx: WriteTx, modelId: string, alias: string): Promise<string | undefined> {
  const latest = await tx.db
    .selectFrom('model_alias_events')
    .select('id')
    .where('model_id', '=', modelId)
    .where('alias', '=', alias)
    .orderBy('at', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return latest?.id;
}

function aliasMoved(name: string, alias: string, why: string): CairnError {
  return new CairnError('ALIAS_MOVED', `${name}@${alias} was not rolled back: ${why}`, {
    hint: `see cairn model history ${name} --alias ${alias}, then roll back again if that is still what you want`,
  });
}

async function rollbackUnmet(deps: DatasetDeps, m: ModelRow, versionId: string, alias: string): Promise<string[]> {
  const v = await deps.meta.db.selectFrom('model_versions').selectAll().where('id', '=', versionId).executeTakeFirst();
  if (!v) return [`the version ${versionId} is gone`];
  return unmetConditions(deps, m, v, alias);
}

/** Every move of a model's aliases, or what each alias pointed at at time `at`. */
export async function history(deps: Pick<DatasetDeps, 'meta'>, name: string, opts: { alias?: string; at?: Date } = {}) {
  const m = await deps.meta.db.selectFrom('models').selectAll().where('name', '=', name).executeTakeFirst();
  if (!m) throw new CairnError('NOT_FOUND', `no model named ${JSON.stringify(name)}`);
  let q = deps.meta.db
    .selectFrom('model_alias_events')
    .selectAll()
    .where('model_id', '=', m.id)
    .orderBy('at')
    .orderBy('id');
  if (opts.alias) q = q.where('alias', '=', opts.alias);
  const events = await q.execute();
  const refOf = async (id: string | null) => (id ? await versionRef(deps, id) : null);
  if (opts.at) {
    const t = opts.at.toISOString();
    const live = new Map<string, string | null>();
    for (const e of events) if (e.at <= t) live.set(e.alias, e.version_id);
    return {
      at: t,
      live: Object.fromEntries(await Promise.all([...live].map(async ([a, v]) => [a, await refOf(v)] as const))),
    };
  }
  return {
    events: await Promise.all(
      events.map(async (e) => ({
        at: e.at,
        alias: e.alias,
        action: e.action,
        version: await refOf(e.version_id),
        previous: await refOf(e.previous_version_id),
        by: e.by,
      })),
    ),
  };
}

async function versionRef(deps: Pick<DatasetDeps, 'meta'>, versionId: string): Promise<string> {
  const v = await deps.meta.db
    .selectFrom('model_versions as v')
    .innerJoin('models as m', 'm.id', 'v.model_id')
    .select(['m.name', 'v.number'])
    .where('v.id', '=', versionId)
    .executeTakeFirst();
  return v ? `${v.name}@v${v.number}` : versionId;
}
