import { createHmac, timingSafeEqual } from 'node:crypto';
import { canonicalJson } from '../core/canonical-json.js';

/** The tables whose rows a team server authorizes from, sealed each (docs/SERVER.md "Back up, upgrade, secure"). */
export type SealedTable = 'principals' | 'api_tokens' | 'role_grants' | 'browser_sessions';

/**
 * The server's MAC over the columns of a row that decide who may do what, with the table's name
 * and the row's key inside it: a writer of the database who cannot read the data dir (where the
 * key is) can neither make a row nor move a sealed one to another key, table or content. What
 * it cannot stop is a row put back as it was earlier (a restored backup of one row): its seal
 * was the server's own.
 */
export interface RowSeal {
  mac(table: SealedTable, fields: Readonly<Record<string, unknown>>): string;
  /** Whether `mac` is this key's for that row; a null (unsealed) or malformed one is not. */
  verify(table: SealedTable, fields: Readonly<Record<string, unknown>>, mac: string | null): boolean;
}

/** A RowSeal with `key` (32 bytes, derived for this use only: the composition root's job). */
export function rowSeal(key: Buffer): RowSeal {
  const mac = (table: SealedTable, fields: Readonly<Record<string, unknown>>) =>
    `v1.${createHmac('sha256', key)
      .update(canonicalJson({ table, row: fields }))
      .digest('base64url')}`;
  return {
    mac,
    verify(table, fields, got) {
      if (got === null) return false;
      const a = Buffer.from(mac(table, fields));
      const b = Buffer.from(got);
      return a.length === b.length && timingSafeEqual(a, b);
    },
  };
}

/** A row's authorizing columns, for each table: the one definition the writers and the checks share. */
export const sealedFields = {
  principals: (r: { id: string; name: string; kind: string; groups: string; disabled_at: string | null }) => ({
    id: r.id,
    name: r.name,
    kind: r.kind,
    groups: r.groups,
    disabled_at: r.disabled_at,
  }),
  api_tokens: (r: {
    id: string;
    principal_id: string;
    secret_hash: string;
    expires_at: string | null;
    revoked_at: string | null;
  }) => ({
    id: r.id,
    principal_id: r.principal_id,
    secret_hash: r.secret_hash,
    expires_at: r.expires_at,
    revoked_at: r.revoked_at,
  }),
  role_grants: (r: { subject: string; project: string; role: string }) => ({
    subject: r.subject,
    project: r.project,
    role: r.role,
  }),
  browser_sessions: (r: { id_hash: string; principal: string; claims: string; expires_at: string }) => ({
    id_hash: r.id_hash,
    principal: r.principal,
    claims: r.claims,
    expires_at: r.expires_at,
  }),
} as const;

/** A RowSeal and what to do with a row that fails it (the server records `server.row.forged`). */
export interface RowGuard extends RowSeal {
  /** Called for each row that does not verify; never throws (a refusal must not fail on its record). */
  forged(table: SealedTable, key: string): Promise<void>;
}
