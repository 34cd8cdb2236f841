// An empty pack list is how an erased version's record travels. A hostile remote can list ANY
// version with `packs: []`. What that does (checked here): a whole pull imports the version as
// metadata only (its row is vouched by the author's log; its bytes are not fetched); nothing is
// recorded as erased; a version already here keeps its bytes; asking for it by name is refused
// (PACK_LIST_MISMATCH); checkout says it is not here; gc and fsck count it as remote-only. So the
// remote can withhold data, not erase it. Before, the pull said nothing of it; now the pull's
// result and event name every version that came without data on the remote's word (`withoutData`).
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { transferDeps } from '../../src/app/transfer-config.js';
import type { Workspace } from '../../src/app/workspace.js';
import { isCairnError } from '../../src/core/errors.js';
import { addVersion } from '../../src/datasets/add.js';
import { checkoutVersion } from '../../src/datasets/checkout.js';
import { readRemoteState, useWorkspaces, writeRemoteState } from '../../src/test-support/remote-fixtures.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';
import { runFsck } from '../../src/store-admin/fsck.js';
import { runGc } from '../../src/store-admin/gc.js';
import { pull } from '../../src/transfer/pull.js';
import { push } from '../../src/transfer/push.js';
import { addRemote } from '../../src/transfer/remote-admin.js';

const deps = (ws: Workspace) => transferDeps(ws);

const code = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return isCairnError(err) ? err.code : String(err);
  }
  return null;
};

describe('attack: a remote that lists a live version with no packs (as if erased)', () => {
  const tmp = useTempDirs();
  const workspace = useWorkspaces(tmp);

  it('a whole pull brings it as metadata only, says so, records no erasure; by name it is refused; what is here stays', async () => {
    const a = await workspace('alice@example.com');
    const src = join(tmp(), 'src');
    for (let i = 1; i <= 2; i++) {
      writeTree(src, { [`f${i}.bin`]: prng(i, 5_000 + i * 900) });
      await addVersion(a, { source: src, name: 'mail' });
    }
    const remote = join(tmp(), 'remote');
    await addRemote(deps(a), 'origin', `file://${remote}`, {});
    await push(deps(a), []);
    // carol pulled both before the remote turned.
    const carol = await workspace('carol@example.com');
    await addRemote(deps(carol), 'origin', `file://${remote}`, {});
    await pull(deps(carol), []);

    const s = readRemoteState(remote);
    for (const v of s.versions) v.packs = [];
    writeRemoteState(remote, s);

    const b = await workspace('bob@example.com');
    await addRemote(deps(b), 'origin', `file://${remote}`, {});
    const r = await pull(deps(b), []);
    expect(r.withoutData).toEqual(['mail@v1', 'mail@v2']);
    expect(r.packs.fetched).toBe(0);
    const event = await b.meta.db
      .selectFrom('audit_events')
      .select('entry')
      .where('action', '=', 'remote.pull')
      .executeTakeFirstOrThrow();
    expect(JSON.parse(event.entry).params.withoutData).toEqual(['mail@v1', 'mail@v2']);
    // Not an erasure here: nothing says so, and nothing could be deleted by it.
    expect(await b.meta.db.selectFrom('version_erasures').selectAll().execute()).toEqual([]);
    expect(await code(checkoutVersion(b, { ref: 'mail@v2', dir: join(tmp(), 'co') }))).toBe('MISSING_OBJECT');
    expect(await code(pull(deps(b), ['mail@v2']))).toBe('PACK_LIST_MISMATCH');
    expect((await runFsck(b)).remoteOnlyVersions).toEqual(['mail@v1', 'mail@v2']);

    // carol, who holds the bytes, pulls again: nothing of hers changes, gc keeps it all.
    const again = await pull(deps(carol), []);
    expect(again.withoutData).toEqual([]);
    await runGc(carol);
    for (const n of [1, 2]) await checkoutVersion(carol, { ref: `mail@v${n}`, dir: join(tmp(), `carol-${n}`) });
    expect(await carol.meta.db.selectFrom('version_erasures').selectAll().execute()).toEqual([]);
  }, 120_000);
});
