import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CairnError } from '../core/errors.js';
import { rowSeal } from '../identity/index.js';
import { KEY_CHECK_ROW, ROWS_SEALED_FILE, ROWS_SEALED_ROW, sealIdentityRows } from './row-guard.js';
import { buildServices } from './services.js';
import { SESSION_KEY_FILE, sessionKeys } from './session-seal.js';
import { openWorkspace, type Workspace } from './workspace.js';

/** What `cairn server reseal` did. */
export interface Resealed {
  accounts: number;
  tokens: number;
  grants: number;
  /** Browser sessions ended (their refresh tokens were sealed with the old key). */
  sessions: number;
  keyFile: string;
}

/** The tables whose rows the reseal vouches for through the log before sealing them again. */
const VOUCHED = new Set(['principals', 'api_tokens', 'role_grants']);

/**
 * A lost or leaked `keys/session.key`: every row the server authorizes from was sealed with it,
 * so without it nobody signs in (and the server does not start). This makes a new key and seals
 * the accounts, tokens and grants again, on the host, as its account — only when the audit log
 * vouches for every one of them: a row written into the database meanwhile would otherwise be
 * blessed by the new seal. Browser sessions end. Run with the server stopped.
 */
export async function resealServer(opts: { dataDir: string; env?: NodeJS.ProcessEnv }): Promise<Resealed> {
  const env = opts.env ?? process.env;
  const { CAIRN_ACTOR: _actor, ...hostEnv } = env;
  const ws = await openWorkspace({ cwd: resolve(opts.dataDir), command: 'server reseal', env: hostEnv });
  try {
    await refuseUnvouched(ws, hostEnv);
    return await reseal(ws);
  } finally {
    await ws.close();
  }
}

async function refuseUnvouched(ws: Workspace, env: NodeJS.ProcessEnv): Promise<void> {
  const report = await buildServices(ws, env).audit.verify({});
  // A problem of the log itself (no table) leaves nothing to vouch with; one of another table
  // (a dataset's row) is not this command's business.
  const bad = report.problems.filter((p) => !('table' in p) || !p.table || VOUCHED.has(String(p.table)));
  if (bad.length)
    throw new CairnError(
      'STATE_MISMATCH',
      `the audit log does not vouch for the server's accounts, tokens and grants as they are (${bad
        .slice(0, 3)
        .map((p) => p.message)
        .join('; ')}${bad.length > 3 ? `; and ${bad.length - 3} more` : ''}): nothing was sealed`,
      {
        hint: 'run cairn audit verify in the data dir, remove or fix what it names, then run this again',
        data: { problems: bad.length },
      },
    );
}

async function reseal(ws: Workspace): Promise<Resealed> {
  const keyFile = join(ws.cairnDir, SESSION_KEY_FILE);
  const raw = randomBytes(32);
  const keys = sessionKeys(raw);
  const seal = rowSeal(keys.rowKey);
  // The new key goes in place only once the rows are sealed with it: a failure in between
  // leaves the database and the old file (if any) as they were.
  mkdirSync(join(ws.cairnDir, 'keys'), { recursive: true, mode: 0o700 });
  const tmp = `${keyFile}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(tmp, `${raw.toString('hex')}\n`, { mode: 0o600, flag: 'wx' });
  let counts: Omit<Resealed, 'keyFile'>;
  try {
    counts = await ws.audit.audited(
      { action: 'server.keys.reseal', target: { type: 'store', name: 'keys' } },
      (commit, draft) =>
        commit(async (tx) => {
          const db = tx.db;
          const sealed = await sealIdentityRows(db, seal, false);
          const marks = [KEY_CHECK_ROW, ROWS_SEALED_ROW];
          const ended = await db.deleteFrom('browser_sessions').where('id_hash', 'not in', marks).executeTakeFirst();
          await db.deleteFrom('browser_sessions').where('id_hash', 'in', marks).execute();
          const now = new Date().toISOString();
          const mark = (id_hash: string, claims: string) => ({
            id_hash,
            principal: '',
            claims,
            expires_at: '9999-12-31T23:59:59.999Z',
            created_at: now,
          });
          await db
            .insertInto('browser_sessions')
            .values([mark(KEY_CHECK_ROW, JSON.stringify(keys.check)), mark(ROWS_SEALED_ROW, JSON.stringify(now))])
            .execute();
          const out = { ...sealed, sessions: Number(ended.numDeletedRows ?? 0) };
          // The event is appended after this, in the same transaction: it says what was done.
          draft.params = { ...out };
          return out;
        }),
    );
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  renameSync(tmp, keyFile);
  writeFileSync(join(ws.cairnDir, ROWS_SEALED_FILE), `${new Date().toISOString()}\n`, { mode: 0o600 });
  return { ...counts, keyFile };
}
