// An empty pack list is how an erased version's record travels, and a hostile remote can list ANY
// version so (or drop one of its packs). Before, a whole pull took the remote's word: the version
// came as metadata only (`withoutData`), its data withheld. Now a version listed without (all of)
// its data comes only as erased, and only when a verified log on the remote vouches for the
// erasure (the eraser's `dataset.erase`, uploaded by `data erase` before the packs go); otherwise
// the pull is refused (NOT_VOUCHED for an empty list, PACK_LIST_MISMATCH for a short one) and the
// workspace is as it was: every table but the audit log (which gains the failed `remote.pull`),
// and every file of the store. A remote written by an older Cairn (an erasure without its log)
// is let through only by name (`allowUnvouchedErasures`), recorded in the pull's event.
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { transferDeps } from '../../src/app/transfer-config.js';
import type { Workspace } from '../../src/app/workspace.js';
import { eraseVersion, type EraseDeps } from '../../src/compliance/erase.js';
import { addVersion } from '../../src/datasets/add.js';
import { checkoutVersion } from '../../src/datasets/checkout.js';
import { createLineageService } from '../../src/lineage/index.js';
import { createAdminService } from '../../src/store-admin/index.js';
import { readRemoteState, useWorkspaces, writeRemoteState } from '../../src/test-support/remote-fixtures.js';
import { eventCount, expectUnchanged, refusal, snapshot } from '../../src/test-support/workspace-snapshot.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';
import { pull } from '../../src/transfer/pull.js';
import { push } from '../../src/transfer/push.js';
import { addRemote } from '../../src/transfer/remote-admin.js';

const deps = (ws: Workspace) => transferDeps(ws);
const eraseDeps = (ws: Workspace): EraseDeps => ({
  ...deps(ws),
  lineage: createLineageService(ws),
  admin: createAdminService(ws),
});

describe('attack: a remote that lists a version without (all of) its data', () => {
  const tmp = useTempDirs();
  const workspace = useWorkspaces(tmp);

  /** alice's mail@v1 and @v2 (v2 adds a file, so it lists two packs), pushed; bob pulled v1 before. */
  const published = async () => {
    const a = await workspace('alice@example.com');
    const src = join(tmp(), 'src');
    for (let i = 1; i <= 2; i++) {
      writeTree(src, { [`f${i}.bin`]: prng(i, 5_000 + i * 900) });
      await addVersion(a, { source: src, name: 'mail' });
    }
    const remote = join(tmp(), 'remote');
    await addRemote(deps(a), 'origin', `file://${remote}`, {});
    await push(deps(a), []);
    const b = await workspace('bob@example.com');
    await addRemote(deps(b), 'origin', `file://${remote}`, {});
    await pull(deps(b), ['mail@v1']);
    return { a, b, remote };
  };

  it('an emptied pack list is refused with nothing changed; let through by name it comes as metadata only, on record', async () => {
    const { b, remote } = await published();
    // carol holds both versions before the remote turns: a pull never takes away what is here.
    const carol = await workspace('carol@example.com');
    await addRemote(deps(carol), 'origin', `file://${remote}`, {});
    await pull(deps(carol), []);
    const s = readRemoteState(remote);
    s.versions.find((v) => v.number === 2)!.packs = [];
    writeRemoteState(remote, s);

    for (const refs of [[], ['mail@v2']]) {
      const before = await snapshot(b);
      const events = await eventCount(b);
      const got = await refusal(pull(deps(b), refs));
      expect(got).toMatchObject({
        code: 'NOT_VOUCHED',
        data: { remote: 'origin', unvouchedErasures: [{ version: 'mail@v2' }] },
      });
      expect(got!.message).toContain('mail@v2');
      expect(got!.hint).toContain('--allow-unvouched-erasures mail@v2');
      await expectUnchanged(b, before, events);
    }

    const again = await pull(deps(carol), []);
    expect([again.erased, again.withoutData]).toEqual([[], []]);
    await checkoutVersion(carol, { ref: 'mail@v2', dir: join(tmp(), 'carol-2') });

    const let_ = await pull(deps(b), [], { allowUnvouchedErasures: ['mail@v2'] });
    expect([let_.withoutData, let_.erased]).toEqual([['mail@v2'], []]);
    const last = await b.meta.db.selectFrom('audit_events').select('entry').orderBy('idx', 'desc').limit(1).execute();
    expect(JSON.parse(last[0]!.entry)).toMatchObject({
      action: 'remote.pull',
      outcome: 'ok',
      params: { withoutData: ['mail@v2'] },
    });
    // Not an erasure here: nothing says so.
    expect(await b.meta.db.selectFrom('version_erasures').selectAll().execute()).toEqual([]);
    expect((await refusal(checkoutVersion(b, { ref: 'mail@v2', dir: join(tmp(), 'co') })))?.code).toBe(
      'MISSING_OBJECT',
    );
  }, 120_000);

  it('a list that drops the one of its two packs with its new data is refused after fetching, and nothing fetched stays in the store', async () => {
    const { b, remote } = await published();
    const s = readRemoteState(remote);
    const v1 = s.versions.find((v) => v.number === 1)!;
    const v2 = s.versions.find((v) => v.number === 2)!;
    expect(v2.packs.length).toBe(2);
    v2.packs = [...v1.packs];
    writeRemoteState(remote, s);
    const fresh = await workspace('dave@example.com');
    await addRemote(deps(fresh), 'origin', `file://${remote}`, {});
    for (const ws of [b, fresh]) {
      const before = await snapshot(ws);
      const events = await eventCount(ws);
      const got = await refusal(pull(deps(ws), []));
      expect(got).toMatchObject({ code: 'PACK_LIST_MISMATCH', data: { versions: [{ version: 'mail@v2' }] } });
      expect(got!.message).toContain('origin');
      await expectUnchanged(ws, before, events);
    }
  }, 120_000);

  it('a real erasure on a file:// remote comes as erased, vouched by the log erase uploads, and passes on', async () => {
    const { a, b, remote } = await published();
    const erased = await eraseVersion(eraseDeps(a), 'mail@v1', { reason: 'Art. 17 #9' });
    expect(erased.remoteErasure).toMatchObject([{ remote: 'origin', status: 'cleaned' }]);
    expect(readRemoteState(remote).versions.find((v) => v.number === 1)!.packs).toEqual([]);

    // bob holds mail@v1 already: his bytes stay, nothing is recorded as erased here.
    const kept = await pull(deps(b), []);
    expect(kept.erased).toEqual([]);
    await checkoutVersion(b, { ref: 'mail@v1', dir: join(tmp(), 'bob-1') });

    const c = await workspace('carol@example.com');
    await addRemote(deps(c), 'origin', `file://${remote}`, {});
    const got = await pull(deps(c), []);
    expect(got.erased).toMatchObject([
      { dataset: 'mail', number: 1, digest: erased.digest, erasedBy: 'alice@example.com' },
    ]);
    expect(got.withoutData).toEqual([]);
    expect(await c.meta.db.selectFrom('version_erasures').select('digest').execute()).toEqual([
      { digest: erased.digest.slice(7) },
    ]);
    expect((await refusal(checkoutVersion(c, { ref: 'mail@v1', dir: join(tmp(), 'c-1') })))?.code).toBe('ERASED');
    await checkoutVersion(c, { ref: 'mail@v2', dir: join(tmp(), 'c-2') });

    // carol's pull event vouches for the erasure onward: dave pulls it from a remote only carol pushed to.
    const second = join(tmp(), 'second');
    await addRemote(deps(c), 'second', `file://${second}`, {});
    await push(deps(c), [], { remote: 'second' });
    const d = await workspace('dave@example.com');
    await addRemote(deps(d), 'second', `file://${second}`, {});
    const onward = await pull(deps(d), []);
    expect(onward.erased).toMatchObject([{ dataset: 'mail', number: 1, digest: erased.digest }]);
  }, 180_000);

  it('an old remote (the erasure without its log there) is refused with a hint, and let through by name', async () => {
    const { a, remote } = await published();
    // What an older Cairn left: the packs gone and the list empty, the eraser's log as it was before.
    const oldLog = join(tmp(), 'old-log');
    const logDir = join(remote, 'audit', a.config.workspace.id);
    cpSync(logDir, oldLog, { recursive: true });
    const oldEntry = readRemoteState(remote).audit;
    await eraseVersion(eraseDeps(a), 'mail@v1', { reason: 'Art. 17 #10' });
    rmSync(logDir, { recursive: true });
    cpSync(oldLog, logDir, { recursive: true });
    writeRemoteState(remote, { ...readRemoteState(remote), audit: oldEntry });

    const c = await workspace('carol@example.com');
    await addRemote(deps(c), 'origin', `file://${remote}`, {});
    const before = await snapshot(c);
    const events = await eventCount(c);
    const got = await refusal(pull(deps(c), []));
    expect(got).toMatchObject({ code: 'NOT_VOUCHED', data: { unvouchedErasures: [{ version: 'mail@v1' }] } });
    await expectUnchanged(c, before, events);
    const let_ = await pull(deps(c), [], { allowUnvouchedErasures: ['mail@v1'] });
    expect(let_.withoutData).toEqual(['mail@v1']);
    await checkoutVersion(c, { ref: 'mail@v2', dir: join(tmp(), 'c-2') });

    // Once the eraser pushes (its log carries the erasure), the same remote vouches for it.
    await push(deps(a), []);
    const e = await workspace('erin@example.com');
    await addRemote(deps(e), 'origin', `file://${remote}`, {});
    expect((await pull(deps(e), [])).erased).toMatchObject([{ dataset: 'mail', number: 1 }]);
  }, 180_000);
});
