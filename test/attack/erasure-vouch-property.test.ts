// Property: over random histories of versions added and pushed, versions erased (which reaches the
// remote: packs deleted, the list emptied, the eraser's log uploaded first) and, at the end, one
// forged pack list (emptied, or one pack dropped), a pull by a fresh workspace either imports
// exactly the vouched state — every version listed, the erased ones recorded as erased here and
// no other, every live one checking out byte-identical to the author's — or refuses having changed
// nothing but its own failed event. An honest remote is never refused; an emptied list of a live
// version always is.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { transferDeps } from '../../src/app/transfer-config.js';
import type { Workspace } from '../../src/app/workspace.js';
import { eraseVersion } from '../../src/compliance/erase.js';
import { addVersion } from '../../src/datasets/add.js';
import { checkoutVersion } from '../../src/datasets/checkout.js';
import { createLineageService } from '../../src/lineage/index.js';
import { createAdminService } from '../../src/store-admin/index.js';
import { mulberry32 } from '../../src/test-support/prng.js';
import { readRemoteState, useWorkspaces, writeRemoteState } from '../../src/test-support/remote-fixtures.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';
import { eventCount, expectUnchanged, refusal, snapshot } from '../../src/test-support/workspace-snapshot.js';
import { pull } from '../../src/transfer/pull.js';
import { push } from '../../src/transfer/push.js';
import { addRemote } from '../../src/transfer/remote-admin.js';

const deps = (ws: Workspace) => transferDeps(ws);

/** Every file of a checkout, by relative path. */
function files(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (f.isFile())
      out[join(f.parentPath, f.name).slice(dir.length + 1)] = readFileSync(join(f.parentPath, f.name), 'hex');
  return out;
}

describe('property: a pull imports exactly the vouched state, or refuses having changed nothing', () => {
  const tmp = useTempDirs();
  const workspace = useWorkspaces(tmp);

  it('random push / erase / forge histories', async () => {
    const seen = { refused: 0, erasedImported: 0, accepted: 0 };
    for (let seed = 1; seed <= 4; seed++) {
      const rnd = mulberry32(seed);
      const a = await workspace('alice@example.com');
      const src = join(tmp(), 'src');
      const remote = join(tmp(), 'remote');
      await addRemote(deps(a), 'origin', `file://${remote}`, {});
      let n = 0;
      const add = async () => {
        n++;
        writeTree(src, { [`d${n % 2}/f${n}.bin`]: prng(seed * 100 + n, 2_000 + Math.floor(rnd() * 4_000)) });
        await addVersion(a, { source: src, name: 'mail' });
      };
      const erasedHere = new Set<number>();
      await add();
      await add();
      await push(deps(a), []);
      for (let step = 0; step < 3; step++) {
        const live = Array.from({ length: n }, (_, i) => i + 1).filter((k) => !erasedHere.has(k));
        if (rnd() < 0.5 || live.length < 2) {
          await add();
          await push(deps(a), []);
        } else {
          const k = live[Math.floor(rnd() * live.length)]!;
          const deps2 = { ...deps(a), lineage: createLineageService(a), admin: createAdminService(a) };
          const r = await eraseVersion(deps2, `mail@v${k}`, { reason: `request ${seed}-${step}` });
          expect(
            r.remoteErasure.map((x) => x.status),
            `seed ${seed}`,
          ).toEqual(['cleaned']);
          erasedHere.add(k);
        }
      }
      // The forgery, if any: one version's list emptied, or one of its packs dropped.
      const s = readRemoteState(remote);
      let forgedLive: 'empty' | 'short' | null = null;
      if (rnd() < 0.7) {
        const v = s.versions[Math.floor(rnd() * s.versions.length)]!;
        const before = v.packs.length;
        if (rnd() < 0.5 || v.packs.length < 2) v.packs = [];
        else v.packs.splice(Math.floor(rnd() * v.packs.length), 1);
        if (!erasedHere.has(v.number) && v.packs.length < before) forgedLive = v.packs.length ? 'short' : 'empty';
        writeRemoteState(remote, s);
      }

      const b = await workspace('bob@example.com');
      await addRemote(deps(b), 'origin', `file://${remote}`, {});
      const before = await snapshot(b);
      const events = await eventCount(b);
      const got = await refusal(pull(deps(b), []));
      if (got) {
        expect(forgedLive, `seed ${seed}: an honest remote is refused (${got.message})`).not.toBeNull();
        expect(got.code).toBe(forgedLive === 'empty' ? 'NOT_VOUCHED' : 'PACK_LIST_MISMATCH');
        await expectUnchanged(b, before, events);
        seen.refused++;
        continue;
      }
      expect(forgedLive, `seed ${seed}: an emptied live list was accepted`).not.toBe('empty');
      seen.accepted++;
      const rows = await b.meta.db.selectFrom('dataset_versions').select('number').execute();
      expect(rows.map((r) => Number(r.number)).sort((x, y) => x - y)).toEqual(
        Array.from({ length: n }, (_, i) => i + 1),
      );
      const erasedThere = await b.meta.db
        .selectFrom('version_erasures as e')
        .innerJoin('dataset_versions as v', 'v.id', 'e.version_id')
        .select('v.number')
        .execute();
      expect(new Set(erasedThere.map((r) => Number(r.number)))).toEqual(erasedHere);
      seen.erasedImported += erasedHere.size;
      for (let k = 1; k <= n; k++) {
        if (erasedHere.has(k)) continue;
        const mine = join(tmp(), `a-${k}`);
        const theirs = join(tmp(), `b-${k}`);
        await checkoutVersion(a, { ref: `mail@v${k}`, dir: mine });
        await checkoutVersion(b, { ref: `mail@v${k}`, dir: theirs });
        expect(files(theirs), `seed ${seed} mail@v${k}`).toEqual(files(mine));
      }
    }
    expect(seen.refused).toBeGreaterThan(0);
    expect(seen.accepted).toBeGreaterThan(0);
    expect(seen.erasedImported).toBeGreaterThan(0);
  }, 300_000);
});
