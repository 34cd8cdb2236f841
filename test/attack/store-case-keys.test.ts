import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTeam, storeObject, type Team } from '../server/harness.js';

/**
 * Workspace ids are lower-case (UUIDs), but the store took `audit/<id>/…` writes with any case, and
 * a workspace's bundle belongs to whoever first wrote under that exact spelling. On a folder store
 * on a case-insensitive volume (macOS, an SMB or NTFS share) `audit/<ID IN CAPITALS>/entries.jsonl`
 * is the file of `audit/<id>/`: mallory claimed the capitalised name as her own and overwrote
 * alice's pushed log, so every pull of it failed to verify (and every macOS client keeps its pins
 * of pulled logs in `.cairn/remote-audit/<remote>/<workspace>/`, where the two names are one
 * folder too). Keys naming a workspace in capitals are now refused.
 */
let t: Team;
beforeAll(async () => {
  t = await startTeam({ roles: { alice: 'contributor', mallory: 'contributor', admin: 'admin' } });
}, 120_000);
afterAll(async () => {
  await t?.close();
});

describe('audit keys in the store are one spelling per workspace', () => {
  it("a workspace's log cannot be written again under its id in other case", async () => {
    const ws = '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
    expect((await storeObject(t, 'alice', 'PUT', `audit/${ws}/entries.jsonl`, 'alice\n')).status).toBe(200);
    for (const spelling of [ws.toUpperCase(), `0A${ws.slice(2)}`]) {
      const put = await storeObject(t, 'mallory', 'PUT', `audit/${spelling}/entries.jsonl`, 'mallory\n');
      expect([spelling, put.status]).toEqual([spelling, 403]);
    }
    // The server's own log too: refused under any spelling.
    const own = t.server.runtime.workspaceId;
    expect((await storeObject(t, 'mallory', 'PUT', `audit/${own.toUpperCase()}/files.json`, '[]')).status).toBe(403);
    expect((await storeObject(t, 'alice', 'GET', `audit/${ws}/entries.jsonl`)).json).toBe('alice\n');
  }, 60_000);
});
