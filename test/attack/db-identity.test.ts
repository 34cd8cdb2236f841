/* eslint-disable @typescript-eslint/no-explicit-any -- HTTP answers are checked field by field */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSecret } from '../../src/identity/tokens.js';
import { rawSqlite } from '../../src/test-support/audit-tamper.js';
import { startTeam, type Team } from '../server/harness.js';

/**
 * Someone who can write the team server's metadata database but holds no key and no admin token
 * (a database operator, a stolen database password) gives themselves a role, a group, or a token
 * of the admin's whose secret they chose. The events that made accounts, grants and tokens say
 * what those rows must be: `audit verify` on the server names each forged row. Before, it
 * answered ok while the forged token signed in as the admin.
 */
let t: Team;
const SECRET = 'A'.repeat(43);
const forgedToken = () => `cairn_${t.tokenIds.admin}_${SECRET}`;

beforeAll(async () => {
  // auditor: the second admin, who verifies while the first one's token is forged.
  t = await startTeam({
    roles: { admin: 'admin', auditor: 'admin', alice: 'contributor', dana: 'approver', carol: 'viewer' },
  });
  expect(existsSync(join(t.dataDir, '.cairn', 'meta.db'))).toBe(true);
  // A revoked token and a disabled account, for the edits that undo them.
  const spare = await t.call('admin', 'POST', '/api/v1/tokens', { user: 'carol' });
  expect((await t.call('admin', 'DELETE', `/api/v1/tokens/${spare.json.id}`)).status).toBe(200);
  expect((await t.call('admin', 'POST', '/api/v1/accounts', { name: 'gone' })).status).toBe(200);
  expect((await t.call('admin', 'POST', '/api/v1/accounts/gone/disable')).status).toBe(200);
  ids.revoked = spare.json.id;
});
afterAll(async () => {
  await t?.close();
});
const ids = { revoked: '' };

async function verify(): Promise<any> {
  const r = await t.call('auditor', 'POST', '/api/v1/audit/verify', {});
  expect(r.status).toBe(200);
  return r.json;
}

/** Runs the edit (and a new identity generation, so the server reads it), `during`, verify, then the undo. */
async function forged(edit: string[], undo: string[], during?: () => Promise<void>): Promise<any> {
  const db = rawSqlite(t.dataDir);
  const bump = 'update identity_generation set n = n + 1';
  for (const s of [...edit, bump]) await db.run(s);
  await during?.();
  const r = await verify();
  for (const s of [...undo, bump]) await db.run(s);
  await db.close();
  return r;
}

describe("the team server's accounts, grants and tokens edited in its database", () => {
  it('verify clean untouched (the cases below fail for their edit)', async () => {
    const r = await verify();
    expect([r.ok, r.problems]).toEqual([true, []]);
  });

  it("a token of the admin's whose hash was swapped for one of a chosen secret", async () => {
    const db = rawSqlite(t.dataDir);
    const [row] = await db.all<{ secret_hash: string }>('select secret_hash from api_tokens where id = ?', [
      t.tokenIds.admin,
    ]);
    await db.close();
    const r = await forged(
      [`update api_tokens set secret_hash = '${hashSecret(SECRET)}' where id = '${t.tokenIds.admin}'`],
      [`update api_tokens set secret_hash = '${row!.secret_hash}' where id = '${t.tokenIds.admin}'`],
      async () => {
        // The attack itself: the forged token would be the admin's. The row's seal (a MAC under
        // the data dir's key, docs/SERVER.md) now refuses it at the door; verify names it too.
        const who = await t.call(forgedToken(), 'GET', '/api/v1/whoami');
        expect([who.status, who.json.error?.code]).toEqual([401, 'UNAUTHENTICATED']);
      },
    );
    expect(r.ok).toBe(false);
    expect(r.firstBad).toMatchObject({ kind: 'state-mismatch', table: 'api_tokens', key: t.tokenIds.admin });
    expect(r.firstBad.message).toMatch(/secret hash is not the one it was issued with/);
  });

  it.each<[string, string[], string[], Record<string, unknown>, RegExp]>([
    [
      'a grant written in',
      [
        "insert into role_grants values ('user:carol', 'secretproj', 'admin', '2026-01-01T00:00:00.000Z', 'admin', null)",
      ],
      ["delete from role_grants where subject = 'user:carol' and project = 'secretproj'"],
      { kind: 'state-unvouched', table: 'role_grants', key: 'user:carol on secretproj' },
      /no event in the log accounts for it/,
    ],
    [
      'a role raised',
      ["update role_grants set role = 'admin' where subject = 'user:alice'"],
      ["update role_grants set role = 'contributor' where subject = 'user:alice'"],
      { kind: 'state-mismatch', table: 'role_grants', key: 'user:alice on *' },
      /grants admin but the log recorded contributor/,
    ],
    [
      'a grant taken away',
      // Moved aside and back rather than deleted and re-inserted: the row keeps its seal.
      ["update role_grants set subject = 'user:dana-aside' where subject = 'user:dana'"],
      ["update role_grants set subject = 'user:dana' where subject = 'user:dana-aside'"],
      { kind: 'state-missing', table: 'role_grants', key: 'user:dana on *' },
      /is missing from the database/,
    ],
    [
      'a group joined',
      [`update principals set groups = '["admins"]' where name = 'carol'`],
      [`update principals set groups = '[]' where name = 'carol'`],
      { kind: 'state-mismatch', table: 'principals', key: 'carol' },
      /groups are \["admins"\] but the log recorded \[\]/,
    ],
    [
      'a disabled account enabled',
      ["update principals set disabled_at = null where name = 'gone'"],
      ["update principals set disabled_at = '2026-01-01T00:00:00.000Z' where name = 'gone'"],
      { kind: 'state-mismatch', table: 'principals', key: 'gone' },
      /the log disabled it but it is enabled/,
    ],
    [
      'a revoked token restored',
      ['update api_tokens set revoked_at = null where id = ?'],
      ["update api_tokens set revoked_at = '2026-01-01T00:00:00.000Z' where id = ?"],
      { kind: 'state-mismatch', table: 'api_tokens' },
      /the log revoked it but it is not revoked/,
    ],
    [
      "a token's expiry lifted",
      ['update api_tokens set expires_at = null where id = ?'],
      [],
      { kind: 'state-mismatch', table: 'api_tokens' },
      /expires never but the log recorded/,
    ],
  ])('%s is named', async (what, edit, undo, bad, message) => {
    const target = what.includes('expiry') ? t.tokenIds.carol! : ids.revoked;
    const bind = (s: string) => s.replace('?', `'${target}'`);
    let expires: string | null = null;
    if (what.includes('expiry')) {
      const db = rawSqlite(t.dataDir);
      expires = (await db.all<{ expires_at: string }>('select expires_at from api_tokens where id = ?', [target]))[0]!
        .expires_at;
      await db.close();
    }
    const undoAll = expires ? [`update api_tokens set expires_at = '${expires}' where id = ?`] : undo;
    const r = await forged(edit.map(bind), undoAll.map(bind));
    expect(r.ok).toBe(false);
    expect(r.problems).toContainEqual(expect.objectContaining(bad));
    expect(r.problems.find((p: any) => p.table === bad.table && p.kind === bad.kind).message).toMatch(message);
  });

  it('a token row written in is named, and every edit above was undone (the log verifies clean)', async () => {
    const r = await forged(
      [
        `insert into api_tokens select 'tokForged0000', principal_id, secret_hash, null, created_at, null, null, null from api_tokens where id = '${t.tokenIds.admin}'`,
      ],
      ["delete from api_tokens where id = 'tokForged0000'"],
    );
    expect(r.problems).toContainEqual(
      expect.objectContaining({ kind: 'state-unvouched', table: 'api_tokens', key: 'tokForged0000' }),
    );
    expect((await verify()).ok).toBe(true);
  });
});
