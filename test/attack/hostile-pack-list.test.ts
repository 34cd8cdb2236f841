// A version's pack list is the sender's claim. A hostile remote (or a pushing client) can send a
// vouched version whose list omits packs its tree needs, or names packs that hold none of its
// blobs. Before: the pull fetched what the list named, recorded the version, answered ok, and
// the version failed at checkout (MISSING_OBJECT: "pull it again", which fetched the same list).
// Now the receiver walks each fetched version's tree in what it holds and what it fetched, and
// refuses the pull (PACK_LIST_MISMATCH) with nothing recorded: no version row, no pack row.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { transferDeps } from '../../src/app/transfer-config.js';
import type { Workspace } from '../../src/app/workspace.js';
import { isCairnError } from '../../src/core/errors.js';
import { addVersion } from '../../src/datasets/add.js';
import { checkoutVersion } from '../../src/datasets/checkout.js';
import { mulberry32 } from '../../src/test-support/prng.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { prng, writeTree } from '../../src/test-support/workspace.js';
import { pull } from '../../src/transfer/pull.js';
import { push } from '../../src/transfer/push.js';
import { addRemote } from '../../src/transfer/remote-admin.js';
import { readRemoteState, useWorkspaces, writeRemoteState } from '../../src/test-support/remote-fixtures.js';

const deps = (ws: Workspace) => transferDeps(ws);

describe('attack: a remote whose version pack lists do not match the versions’ trees', () => {
  const tmp = useTempDirs();
  const workspace = useWorkspaces(tmp);
  /** alice's mail@v1..vN (each adds a file, so each adds a pack), pushed to a new file:// remote. */
  const published = async (n = 2, seed = 1) => {
    const a = await workspace('alice@example.com');
    const src = join(tmp(), 'src');
    for (let i = 1; i <= n; i++) {
      writeTree(src, { [`d${i % 2}/f${i}.bin`]: prng(seed * 100 + i, 3_000 + i * 700) });
      await addVersion(a, { source: src, name: 'mail' });
    }
    const remote = join(tmp(), 'remote');
    await addRemote(deps(a), 'origin', `file://${remote}`, {});
    await push(deps(a), []);
    return { a, remote };
  };
  const puller = async (remote: string) => {
    const b = await workspace('bob@example.com');
    await addRemote(deps(b), 'origin', `file://${remote}`, {});
    return b;
  };
  const counts = async (ws: Workspace) => ({
    versions: (await ws.meta.db.selectFrom('dataset_versions').select('id').execute()).length,
    packs: (await ws.meta.db.selectFrom('packs').select('id').execute()).length,
  });
  const refusal = async (p: Promise<unknown>) => {
    try {
      await p;
    } catch (err) {
      return isCairnError(err) ? { code: err.code, data: err.data } : { code: String(err) };
    }
    return null;
  };
  /** Each of `numbers` checks out (checkout re-hashes every blob it reads). */
  const checksOut = async (ws: Workspace, numbers: readonly number[]) => {
    for (const n of numbers) await checkoutVersion(ws, { ref: `mail@v${n}`, dir: join(tmp(), `co-${n}`) });
    return numbers.length;
  };
  const upTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

  it('a version whose list omits a pack it needs is refused; nothing of the pull is recorded', async () => {
    const { remote } = await published();
    const s = readRemoteState(remote);
    const v1 = s.versions.find((v) => v.number === 1)!;
    const v2 = s.versions.find((v) => v.number === 2)!;
    expect(v2.packs.some((p) => !v1.packs.includes(p))).toBe(true);
    v2.packs = [...v1.packs];
    writeRemoteState(remote, s);
    const b = await puller(remote);
    const got = await refusal(pull(deps(b), []));
    expect(got).toMatchObject({ code: 'PACK_LIST_MISMATCH', data: { versions: [{ version: 'mail@v2' }] } });
    expect(await counts(b)).toEqual({ versions: 0, packs: 0 });
    // The refusal is on record, as failed.
    const last = await b.meta.db.selectFrom('audit_events').select('entry').orderBy('idx', 'desc').limit(1).execute();
    expect(JSON.parse(last[0]!.entry)).toMatchObject({ action: 'remote.pull', outcome: 'failed' });
  });

  it('a version whose list names a pack holding none of its blobs is refused', async () => {
    const { remote } = await published();
    const s = readRemoteState(remote);
    const v1 = s.versions.find((v) => v.number === 1)!;
    const v2 = s.versions.find((v) => v.number === 2)!;
    const other = v2.packs.find((p) => !v1.packs.includes(p))!;
    v1.packs = [...v1.packs, other];
    writeRemoteState(remote, s);
    const b = await puller(remote);
    expect(await refusal(pull(deps(b), ['mail@v1']))).toMatchObject({
      code: 'PACK_LIST_MISMATCH',
      data: { versions: [{ version: 'mail@v1', extra: [other] }] },
    });
    expect(await counts(b)).toEqual({ versions: 0, packs: 0 });
  });

  it('a version listed with no packs at all is refused when asked for by name (no log vouches for an erasure)', async () => {
    const { remote } = await published();
    const s = readRemoteState(remote);
    s.versions.find((v) => v.number === 2)!.packs = [];
    writeRemoteState(remote, s);
    const b = await puller(remote);
    expect(await refusal(pull(deps(b), ['mail@v2']))).toMatchObject({ code: 'NOT_VOUCHED' });
    expect(await counts(b)).toEqual({ versions: 0, packs: 0 });
  });

  it('random histories: an honest remote always imports fully; one edited pack list is refused or harmless', async () => {
    let refused = 0;
    for (let seed = 1; seed <= 8; seed++) {
      const rnd = mulberry32(seed);
      const n = 2 + Math.floor(rnd() * 3);
      const { remote } = await published(n, seed);
      const honest = await puller(remote);
      await pull(deps(honest), []);
      expect(await checksOut(honest, upTo(n))).toBe(n);

      const s = readRemoteState(remote);
      const all = [...new Set(s.versions.flatMap((v) => v.packs))];
      const v = s.versions[Math.floor(rnd() * s.versions.length)]!;
      const edit = Math.floor(rnd() * 3);
      if (edit === 0 && v.packs.length) v.packs.splice(Math.floor(rnd() * v.packs.length), 1);
      else if (edit === 1) v.packs.push(all[Math.floor(rnd() * all.length)]!);
      else v.packs = [all[Math.floor(rnd() * all.length)]!];
      v.packs = [...new Set(v.packs)];
      writeRemoteState(remote, s);
      const b = await puller(remote);
      // The whole remote, or only the edited version (then no other version's packs come along).
      const one = rnd() < 0.5;
      const got = await refusal(pull(deps(b), one ? [`mail@v${v.number}`] : []));
      if (got) {
        // An emptied list is an erasure claim no log vouches for (NOT_VOUCHED), any other a mismatch.
        expect(got.code, `seed ${seed}`).toBe(v.packs.length ? 'PACK_LIST_MISMATCH' : 'NOT_VOUCHED');
        expect(await counts(b)).toEqual({ versions: 0, packs: 0 });
        refused++;
      } else {
        // Harmless: the edit left a list that still covers the tree with no stray pack.
        expect(await checksOut(b, one ? [v.number] : upTo(n)), `seed ${seed}`).toBe(one ? 1 : n);
      }
    }
    expect(refused).toBeGreaterThan(0);
  }, 180_000);
});
