import type { AuditActor } from '../audit/event.js';
import type { AuditLog } from '../audit/log/audit-log.js';
import { sha256Hex } from '../core/digest.js';
import { CairnError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import { checkName } from '../core/names.js';
import { isoUtc, type Clock } from '../core/time.js';
import type { ReadDb } from '../meta/read-db.js';
import type { WriteTx } from '../meta/write-tx.js';
import { decide, type Decision, type Grant, type Principal, type Role, isRole } from './roles.js';
import { sealedFields, type RowGuard, type SealedTable } from './row-seal.js';
import { issueToken, parseToken, secretMatches } from './tokens.js';

export interface IdentityDeps {
  meta: { db: ReadDb };
  audit: AuditLog;
  clock: Clock;
  actor(): AuditActor;
  /**
   * The server's seal on the rows it authorizes from: given, every row written carries it and a
   * row read to authorize without it is refused (docs/SERVER.md "Back up, upgrade, secure").
   */
  rows?: RowGuard;
}

export interface AccountView {
  name: string;
  kind: 'user' | 'service';
  email: string | null;
  groups: string[];
  created: string;
  disabled: string | null;
  /** A grant whose row fails the server's seal is listed with `forged` (it counts as none). */
  grants: Array<{ project: string; role: Role; forged?: true }>;
  /** The account's row fails the server's seal: written in the database without its key; refused. */
  forged?: true;
}

export interface TokenView {
  id: string;
  user: string;
  label: string | null;
  created: string;
  expires: string | null;
  revoked: string | null;
  /** The token's row fails the server's seal: written in the database without its key; refused. */
  forged?: true;
}

/** Who a request proved to be: the principal and the credential that proved it. */
export interface Authenticated {
  principal: Principal;
  actor: AuditActor;
}

export async function addAccount(
  deps: IdentityDeps,
  input: { name: string; kind?: 'user' | 'service'; email?: string; groups?: string[]; role?: Role; project?: string },
): Promise<AccountView> {
  checkName(input.name, 'user');
  const kind = input.kind ?? 'user';
  const groups = [...new Set(input.groups ?? [])].sort();
  for (const g of groups) checkName(g, 'group');
  const existing = await findPrincipal(deps.meta.db, input.name);
  if (existing) throw new CairnError('ALREADY_EXISTS', `an account named ${input.name} exists`);
  const now = isoUtc(deps.clock.now());
  const by = deps.actor().id;
  const project = input.project ?? '*';
  await deps.audit.audited(
    {
      action: 'server.user.add',
      target: { type: 'account', name: input.name },
      params: { kind, groups, ...(input.role ? { role: input.role, project } : {}) },
    },
    async (commit) =>
      commit(async (tx) => {
        await bumpGeneration(tx);
        const row = { id: uuidv7(), name: input.name, kind, groups: JSON.stringify(groups), disabled_at: null };
        await tx.db
          .insertInto('principals')
          .values({
            ...row,
            email: input.email ?? null,
            created_at: now,
            created_by: by,
            row_mac: macOf(deps, 'principals', sealedFields.principals(row)),
          })
          .execute();
        if (input.role) await insertGrant(deps, tx, { subject: `user:${input.name}`, project, role: input.role }, now);
      }),
  );
  return (await listAccounts(deps)).find((a) => a.name === input.name)!;
}

export async function listAccounts(deps: Pick<IdentityDeps, 'meta' | 'rows'>): Promise<AccountView[]> {
  const rows = await deps.meta.db.selectFrom('principals').selectAll().orderBy('name').execute();
  const grants = await deps.meta.db.selectFrom('role_grants').selectAll().execute();
  // An admin is shown what the server refuses, not only told by the log (server.row.forged).
  const forged = (table: SealedTable, fields: Record<string, unknown>, mac: string | null) =>
    deps.rows && !deps.rows.verify(table, fields, mac) ? { forged: true as const } : {};
  return rows.map((r) => ({
    name: r.name,
    kind: r.kind as 'user' | 'service',
    email: r.email,
    groups: JSON.parse(r.groups) as string[],
    created: r.created_at,
    disabled: r.disabled_at,
    grants: grants
      .filter((g) => g.subject === `user:${r.name}`)
      .map((g) => ({
        project: g.project,
        role: g.role as Role,
        ...forged('role_grants', sealedFields.role_grants(g), g.row_mac),
      })),
    ...forged('principals', sealedFields.principals(r), r.row_mac),
  }));
}

export async function disableAccount(deps: IdentityDeps, name: string): Promise<void> {
  const p = await requirePrincipal(deps.meta.db, name);
  await deps.audit.audited({ action: 'server.user.disable', target: { type: 'account', name } }, async (commit) =>
    commit(async (tx) => {
      await bumpGeneration(tx);
      const disabled_at = isoUtc(deps.clock.now());
      await tx.db
        .updateTable('principals')
        .set({ disabled_at, row_mac: macOf(deps, 'principals', sealedFields.principals({ ...p, disabled_at })) })
        .where('id', '=', p.id)
        .execute();
    }),
  );
}

/** Grants `role` on `project` ('*' for all) to `user:<name>` or `group:<name>`; role null takes the grant away. */
export async function setGrant(deps: IdentityDeps, subject: string, project: string, role: Role | null): Promise<void> {
  if (!/^(user|group):[A-Za-z0-9][A-Za-z0-9._@-]*$/.test(subject))
    throw new CairnError('USAGE', `a grant goes to user:<name> or group:<name>, not ${JSON.stringify(subject)}`);
  if (project !== '*') checkName(project, 'project');
  if (subject.startsWith('user:')) await requirePrincipal(deps.meta.db, subject.slice(5));
  const now = isoUtc(deps.clock.now());
  await deps.audit.audited(
    { action: 'server.grant', target: { type: 'grant', name: subject }, params: { project, role: role ?? 'none' } },
    async (commit) =>
      commit(async (tx) => {
        await bumpGeneration(tx);
        await tx.db.deleteFrom('role_grants').where('subject', '=', subject).where('project', '=', project).execute();
        if (role) await insertGrant(deps, tx, { subject, project, role }, now);
      }),
  );
}

export async function createToken(
  deps: IdentityDeps,
  user: string,
  opts: { expiresInMs?: number | null; label?: string } = {},
): Promise<TokenView & { token: string }> {
  const p = await requirePrincipal(deps.meta.db, user);
  if (p.disabled_at) throw new CairnError('PERMISSION_DENIED', `${user} is disabled`);
  const issued = issueToken();
  const now = deps.clock.now();
  const expires = opts.expiresInMs ? isoUtc(new Date(now.getTime() + opts.expiresInMs)) : null;
  await deps.audit.audited(
    {
      action: 'server.token.create',
      target: { type: 'account', name: user },
      // secretCheck: SHA-256 of the stored hash, so `audit verify` notices a hash swapped in the
      // database (one whose secret its writer knows); it reveals no more than the hash does.
      params: { token: issued.id, expires, label: opts.label ?? null, secretCheck: sha256Hex(issued.secretHash) },
    },
    async (commit) =>
      commit(async (tx) => {
        await bumpGeneration(tx);
        const row = {
          id: issued.id,
          principal_id: p.id,
          secret_hash: issued.secretHash,
          expires_at: expires,
          revoked_at: null,
        };
        await tx.db
          .insertInto('api_tokens')
          .values({
            ...row,
            label: opts.label ?? null,
            created_at: isoUtc(now),
            row_mac: macOf(deps, 'api_tokens', sealedFields.api_tokens(row)),
          })
          .execute();
      }),
  );
  return {
    id: issued.id,
    user,
    label: opts.label ?? null,
    created: isoUtc(now),
    expires,
    revoked: null,
    token: issued.token,
  };
}

export async function revokeToken(deps: IdentityDeps, id: string): Promise<void> {
  const row = await lookupToken(deps.meta.db, id);
  if (!row) throw new CairnError('NOT_FOUND', `no token ${id}`);
  if (row.revoked_at) return;
  await deps.audit.audited(
    { action: 'server.token.revoke', target: { type: 'account', name: row.name }, params: { token: id } },
    async (commit) =>
      commit(async (tx) => {
        await bumpGeneration(tx);
        const revoked_at = isoUtc(deps.clock.now());
        await tx.db
          .updateTable('api_tokens')
          .set({ revoked_at, row_mac: macOf(deps, 'api_tokens', sealedFields.api_tokens({ ...row, revoked_at })) })
          .where('id', '=', id)
          .execute();
      }),
  );
}

export async function listTokens(deps: Pick<IdentityDeps, 'meta' | 'rows'>, user?: string): Promise<TokenView[]> {
  let q = deps.meta.db
    .selectFrom('api_tokens')
    .innerJoin('principals', 'principals.id', 'api_tokens.principal_id')
    .select([
      'api_tokens.id',
      'api_tokens.principal_id',
      'api_tokens.secret_hash',
      'api_tokens.row_mac',
      'principals.name',
      'api_tokens.label',
      'api_tokens.created_at',
      'api_tokens.expires_at',
      'api_tokens.revoked_at',
    ]);
  if (user) q = q.where('principals.name', '=', user);
  const rows = await q.orderBy('api_tokens.created_at').execute();
  return rows.map((r) => ({
    id: r.id,
    user: r.name,
    label: r.label,
    created: r.created_at,
    expires: r.expires_at,
    revoked: r.revoked_at,
    ...(deps.rows && !deps.rows.verify('api_tokens', sealedFields.api_tokens(r), r.row_mac)
      ? { forged: true as const }
      : {}),
  }));
}

/** The identity a bearer token proves, or UNAUTHENTICATED with the reason (never which part was wrong to the client). */
export type TokenRow = NonNullable<Awaited<ReturnType<typeof lookupToken>>>;

/** A token's stored hash and its account, by token id (undefined when there is none). */
export async function lookupToken(db: ReadDb, id: string) {
  return db
    .selectFrom('api_tokens')
    .innerJoin('principals', 'principals.id', 'api_tokens.principal_id')
    .select([
      'api_tokens.id',
      'api_tokens.principal_id',
      'api_tokens.secret_hash',
      'api_tokens.expires_at',
      'api_tokens.revoked_at',
      'api_tokens.row_mac as token_mac',
      'principals.id as pid',
      'principals.name',
      'principals.kind',
      'principals.groups',
      'principals.disabled_at',
      'principals.row_mac as principal_mac',
    ])
    .where('api_tokens.id', '=', id)
    .executeTakeFirst();
}

export async function authenticateToken(
  deps: Pick<IdentityDeps, 'meta' | 'clock' | 'rows'>,
  token: string,
  find: (id: string) => Promise<TokenRow | undefined> = (id) => lookupToken(deps.meta.db, id),
): Promise<Authenticated> {
  const { id, secret } = parseToken(token);
  const row = await find(id);
  if (!row || !secretMatches(secret, row.secret_hash))
    throw new CairnError('UNAUTHENTICATED', 'the token is not valid', { data: { token: id } });
  if (row.revoked_at) throw new CairnError('UNAUTHENTICATED', `token ${id} was revoked`, { data: { token: id } });
  if (row.expires_at && row.expires_at <= isoUtc(deps.clock.now()))
    throw new CairnError('UNAUTHENTICATED', `token ${id} expired at ${row.expires_at}`, {
      data: { token: id },
      hint: 'ask an admin for a new token (cairn server token create)',
    });
  if (row.disabled_at) throw new CairnError('UNAUTHENTICATED', `account ${row.name} is disabled`);
  await checkTokenSeals(deps, row);
  return {
    principal: { id: row.pid, name: row.name, kind: row.kind as 'user' | 'service', groups: JSON.parse(row.groups) },
    actor: { id: row.name, auth: 'token', credential: id },
  };
}

/** The identity an OpenID provider vouched for: an account matched by name (or made on first sign-in), groups from the provider. */
export async function principalFor(
  deps: Pick<IdentityDeps, 'meta' | 'rows'>,
  name: string,
  groups: readonly string[],
): Promise<Principal | null> {
  const row = await findPrincipal(deps.meta.db, name);
  if (row && !(await sealHolds(deps, 'principals', row.id, sealedFields.principals(row), row.row_mac)))
    throw forgedCredential('principals');
  if (row?.disabled_at) return null;
  const own = row ? (JSON.parse(row.groups) as string[]) : [];
  return { id: row?.id ?? `oidc:${name}`, name, kind: 'user', groups: [...new Set([...own, ...groups])] };
}

export async function authorize(
  deps: Pick<IdentityDeps, 'meta' | 'rows'>,
  principal: Principal,
  need: Role,
  project: string,
  grants: () => Promise<Grant[]> = () => readGrants(deps),
): Promise<Decision> {
  return decide(principal, await grants(), need, project);
}

/** The grants that count: a grant without the server's seal is none (and is reported). */
export async function readGrants(deps: Pick<IdentityDeps, 'meta' | 'rows'>): Promise<Grant[]> {
  const rows = await deps.meta.db.selectFrom('role_grants').select(['subject', 'project', 'role', 'row_mac']).execute();
  const out: Grant[] = [];
  for (const { row_mac, ...r } of rows) {
    if (!isRole(r.role)) continue;
    if (!(await sealHolds(deps, 'role_grants', `${r.subject} ${r.project}`, sealedFields.role_grants(r), row_mac)))
      continue;
    out.push({ ...r, role: r.role });
  }
  return out;
}

/**
 * A token row and its account's row must both carry the server's seal (checked once the secret
 * matched, so guessing ids reports nothing): else a database writer could plant a token hash of
 * her own, or un-revoke, extend, re-enable or regroup what the server wrote.
 */
async function checkTokenSeals(deps: Pick<IdentityDeps, 'rows'>, row: TokenRow): Promise<void> {
  if (!(await sealHolds(deps, 'api_tokens', row.id, sealedFields.api_tokens(row), row.token_mac)))
    throw forgedCredential('api_tokens', row.id);
  const account = { id: row.pid, name: row.name, kind: row.kind, groups: row.groups, disabled_at: row.disabled_at };
  if (!(await sealHolds(deps, 'principals', row.pid, sealedFields.principals(account), row.principal_mac)))
    throw forgedCredential('principals', row.id);
}

/** Whether a row verifies (always, for a service without a seal: a workspace's own, not a server's). */
async function sealHolds(
  deps: Pick<IdentityDeps, 'rows'>,
  table: SealedTable,
  key: string,
  fields: Record<string, unknown>,
  mac: string | null,
): Promise<boolean> {
  if (!deps.rows || deps.rows.verify(table, fields, mac)) return true;
  await deps.rows.forged(table, key);
  return false;
}

function forgedCredential(table: SealedTable, token?: string): CairnError {
  return new CairnError(
    'UNAUTHENTICATED',
    `the server's record of this credential (${table}) does not carry its seal`,
    {
      data: { forged: table, ...(token ? { token } : {}) },
      hint: "a row was written or edited in the database by someone without the server's data dir; see the audit event server.row.forged",
    },
  );
}

function macOf(deps: Pick<IdentityDeps, 'rows'>, table: SealedTable, fields: Record<string, unknown>): string | null {
  return deps.rows ? deps.rows.mac(table, fields) : null;
}

async function insertGrant(
  deps: IdentityDeps,
  tx: WriteTx,
  g: { subject: string; project: string; role: Role },
  now: string,
): Promise<void> {
  await tx.db
    .insertInto('role_grants')
    .values({
      ...g,
      granted_at: now,
      granted_by: deps.actor().id,
      row_mac: macOf(deps, 'role_grants', sealedFields.role_grants(g)),
    })
    .execute();
}

/** The counter every identity change increments in its transaction (migration 0009). */
export async function identityGeneration(db: ReadDb): Promise<number> {
  const row = await db.selectFrom('identity_generation').select('n').where('id', '=', 1).executeTakeFirst();
  return row?.n ?? -1;
}

async function bumpGeneration(tx: WriteTx): Promise<void> {
  await tx.db
    .updateTable('identity_generation')
    .set((eb) => ({ n: eb('n', '+', 1) }))
    .where('id', '=', 1)
    .execute();
}

async function findPrincipal(db: ReadDb, name: string) {
  return db.selectFrom('principals').selectAll().where('name', '=', name).executeTakeFirst();
}

async function requirePrincipal(db: ReadDb, name: string) {
  const p = await findPrincipal(db, name);
  if (!p) throw new CairnError('NOT_FOUND', `no account named ${JSON.stringify(name)}`);
  return p;
}
