import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTeam, storeObject, type Team } from '../server/harness.js';

/**
 * The store's bookkeeping is the server's: which account owns each pushed log (owners/), who
 * uploaded each pack (uploaders/), and uploads still staged (incoming/: bytes nobody has checked
 * or recorded yet, of any project). A reader of every project read them through the store's
 * object route like any pack; now, like proposals/ and own-log/, nobody does.
 */
let t: Team;
beforeAll(async () => {
  t = await startTeam({ roles: { admin: 'admin', vera: 'viewer' } });
  const store = join(t.dataDir, 'store');
  for (const [key, body] of [
    ['owners/ws-someone.json', '{"name":"alice"}'],
    ['uploaders/packs/ab/x.json', '{"name":"alice"}'],
    ['incoming/upload-1.pack', 'staged bytes of an unfinished upload'],
    ['cairn-remote.json', '{"format":"cairn.remote/v1"}'],
  ]) {
    mkdirSync(dirname(join(store, key!)), { recursive: true });
    writeFileSync(join(store, key!), body!);
  }
}, 120_000);
afterAll(async () => {
  await t?.close();
});

describe("the store's bookkeeping through the object route", () => {
  it.each(['owners/ws-someone.json', 'uploaders/packs/ab/x.json', 'incoming/upload-1.pack'])(
    '%s is refused to a reader of every project',
    async (key) => {
      for (const who of ['admin', 'vera']) {
        const r = await storeObject(t, who, 'GET', key);
        expect([who, r.status, r.json?.error?.code]).toEqual([who, 403, 'PERMISSION_DENIED']);
      }
    },
  );

  it('what clients read is still served', async () => {
    expect((await storeObject(t, 'vera', 'GET', 'cairn-remote.json')).status).toBe(200);
  });
});
