// Erasure reaching remotes (issue 14): after `data erase --subject`, no pack on the workspace or on
// any remote holds the subject's bytes, every live version still checks out byte-exact from the
// remote, a shared pack needed by a version this workspace lacks is kept (and said), and a remote
// that is down is pending until a rerun cleans it.
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadRemotesFile, transferDeps } from '../../src/app/transfer-config.js';
import type { Workspace } from '../../src/app/workspace.js';
import { eraseSubject } from '../../src/compliance/subject-erase.js';
import type { EraseDeps } from '../../src/compliance/erase.js';
import { eraseVersion } from '../../src/compliance/erase.js';
import { addVersion, checkoutVersion } from '../../src/datasets/index.js';
import { createLineageService } from '../../src/lineage/index.js';
import { createAdminService } from '../../src/store-admin/index.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { newWorkspace, writeTree } from '../../src/test-support/workspace.js';
import { CairnError } from '../../src/core/errors.js';
import { parseRemoteKey, createTransferService, planRemoteErasure, emptyState } from '../../src/transfer/index.js';

const mark = (who: string, n: number) => `PII of ${who} #${n}: ${who.toUpperCase()} lives at ${n} Example Road`;

function depsOf(ws: Workspace): EraseDeps {
  return { ...transferDeps(ws), lineage: createLineageService(ws), admin: createAdminService(ws) };
}

function bytesUnder(dir: string): Buffer {
  const out: Buffer[] = [];
  const walk = (d: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true }))
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(readFileSync(join(d, e.name)));
  };
  walk(dir);
  return Buffer.concat(out);
}

/** Every file of a checkout, by relative path. */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir, { recursive: true, withFileTypes: true }))
    if (f.isFile()) {
      const abs = join(f.parentPath, f.name);
      out[abs.slice(dir.length + 1)] = readFileSync(abs, 'utf8');
    }
  return out;
}

describe('data erase reaches remotes', () => {
  const tmp = useTempDirs();
  const open: Workspace[] = [];
  afterEach(async () => {
    for (const w of open.splice(0)) await w.close();
  });
  const workspace = async (dir: string) => {
    const w = await newWorkspace(dir);
    open.push(w);
    return w;
  };

  it('plans: a pack shared with a live version this workspace cannot re-send is kept', async () => {
    const s = emptyState();
    s.datasets = [{ id: 'd', name: 'p' } as never];
    const v = (id: string, n: number, digest: string, packs: string[]) =>
      ({ id, dataset_id: 'd', number: n, digest, packs }) as never;
    s.versions = [
      v('1', 1, 'a'.repeat(64), ['p1', 'p2']),
      v('2', 2, 'b'.repeat(64), ['p2']),
      v('3', 3, 'c'.repeat(64), ['p1', 'p3']),
    ];
    // v1 is erased; v2 shares p2 and is held here (repacked into p9); v3 shares p1 and is not held here.
    const plan = await planRemoteErasure(s, new Set(['a'.repeat(64)]), async (d) =>
      d === 'b'.repeat(64) ? ['p9'] : null,
    );
    expect(plan.dirty).toEqual(['a'.repeat(64)]);
    expect(plan.drop).toEqual(['p2']);
    expect([...plan.repoint]).toEqual([['2', ['p9']]]);
    expect(plan.kept).toEqual([{ pack: 'p1', neededBy: ['p@v3'] }]);
  });

  // Random histories pushed at random moments to two remotes; one subject erased; then the
  // remotes are cloned into fresh workspaces and every live version checked out.
  it('property: no pack here or on a remote holds the subject; every live version checks out byte-exact from each remote', async () => {
    let sent = 0;
    const deleted = new Map<string, number>();
    for (let seed = 1; seed <= 5; seed++) {
      let x = seed * 7919;
      const rnd = (n: number) => {
        x = (x * 1103515245 + 12345) % 2147483648;
        return x % n;
      };
      const dir = tmp();
      const ws = await workspace(join(dir, 'ws'));
      const t = createTransferService(transferDeps(ws));
      const remotes = ['a', 'b'];
      // b is encrypted client-side: its pack names are keyed hashes, deleted through the same layer.
      for (const r of remotes) await t.addRemote(r, `file://${join(dir, 'remote-' + r)}`, { encrypt: r === 'b' });
      const subjects = ['s0', 's1', 's2'];
      const live = new Map<string, string>();
      const steps = 2 + rnd(4);
      for (let i = 0; i < steps; i++) {
        const who = subjects[rnd(3)]!;
        const p = `users/${who}/f${i}.txt`;
        if (live.size && rnd(3) === 0) {
          const gone = [...live.keys()][rnd(live.size)]!;
          live.delete(gone);
          rmSync(join(dir, 'p', gone));
        }
        live.set(p, mark(who, i));
        writeTree(join(dir, 'p'), { [p]: mark(who, i) });
        const v = await addVersion(ws, { source: join(dir, 'p'), name: 'people' });
        if (rnd(2) === 0) {
          writeTree(join(dir, `d${i}`), Object.fromEntries([...live.values()].map((c, j) => [`c${i}/${j}.txt`, c])));
          await addVersion(ws, { source: join(dir, `d${i}`), name: 'derived', from: [v.ref] });
        }
        if (rnd(2) === 0) await t.push([], { remote: remotes[rnd(2)]! });
      }
      for (const r of remotes) await t.push([], { remote: r });
      const pushed = new Set(
        (
          await ws.meta.db
            .selectFrom('dataset_versions as v')
            .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
            .select(['d.name', 'v.number'])
            .execute()
        ).map((v) => `${v.name}@v${v.number}`),
      );
      const victim = subjects[rnd(3)]!;
      const res = await eraseSubject(depsOf(ws), 'people', { subject: victim, key: 'users/{subject}/**', reason: 'r' });
      expect(
        res.remoteErasure.map((e) => [e.remote, e.status, e.kept.length]),
        `seed ${seed}`,
      ).toEqual(remotes.map((r) => [r, res.versions.length ? 'cleaned' : 'clean', 0]));
      for (const e of res.remoteErasure) {
        sent += e.packsSent;
        deleted.set(e.remote, (deleted.get(e.remote) ?? 0) + e.packsDeleted);
      }
      for (const where of [join(ws.cairnDir, 'objects'), ...remotes.map((r) => join(dir, 'remote-' + r, 'packs'))]) {
        const all = bytesUnder(where);
        for (let i = 0; i < steps; i++)
          expect(all.includes(Buffer.from(mark(victim, i))), `seed ${seed} ${where}`).toBe(false);
      }
      // The truth: every live version as this workspace checks it out.
      const versions = await ws.meta.db
        .selectFrom('dataset_versions as v')
        .innerJoin('datasets as d', 'd.id', 'v.dataset_id')
        .leftJoin('version_erasures as e', 'e.version_id', 'v.id')
        .select(['d.name', 'v.number', 'e.version_id as erased'])
        .execute();
      // The live versions the remotes hold (the replacements are new: a later push sends them).
      const liveRefs = versions
        .filter((v) => !v.erased)
        .map((v) => `${v.name}@v${v.number}`)
        .filter((r) => pushed.has(r));
      const truth = new Map<string, Record<string, string>>();
      for (const ref of liveRefs) {
        await checkoutVersion(ws, { ref, dir: join(dir, 'truth', ref) });
        truth.set(ref, tree(join(dir, 'truth', ref)));
      }
      for (const r of remotes) {
        const other = await workspace(join(dir, 'clone-' + r));
        const ot = createTransferService(transferDeps(other));
        const key = r === 'b' ? { key: parseRemoteKey(await t.exportRemoteKey('b')) } : {};
        await ot.clone({ name: r, config: loadRemotesFile(ws.cairnDir).remotes[r]! }, key);
        await ot.pull(liveRefs);
        for (const ref of liveRefs) {
          const out = join(dir, `co-${r}`, ref);
          await checkoutVersion(other, { ref, dir: out });
          expect(tree(out), `seed ${seed} ${r} ${ref}`).toEqual(truth.get(ref));
        }
      }
    }
    // The histories did make shared packs: live versions were re-sent, erased packs deleted.
    expect(sent).toBeGreaterThan(0);
    expect(deleted.get('a')).toBeGreaterThan(0);
    expect(deleted.get('b')).toBeGreaterThan(0);
  }, 600_000);

  it('a remote that is down is pending, and a rerun cleans it', async () => {
    const dir = tmp();
    const ws = await workspace(join(dir, 'ws'));
    const t = createTransferService(transferDeps(ws));
    const remote = join(dir, 'remote');
    await t.addRemote('origin', `file://${remote}`, {});
    writeTree(join(dir, 'p'), { 'users/u1/a.txt': mark('u1', 1), 'users/u2/b.txt': mark('u2', 1) });
    const v1 = await addVersion(ws, { source: join(dir, 'p'), name: 'people' });
    await t.push([]);
    expect(bytesUnder(join(remote, 'packs')).includes(Buffer.from(mark('u1', 1)))).toBe(true);

    const plan = await eraseSubject(depsOf(ws), 'people', { subject: 'u1', key: 'users/{subject}/**', dryRun: true });
    expect(plan.remoteErasure).toMatchObject([{ remote: 'origin', status: 'planned', packsDeleted: 1 }]);
    expect(bytesUnder(join(remote, 'packs')).includes(Buffer.from(mark('u1', 1)))).toBe(true);

    // The remote's folder is replaced by a file: every request fails.
    renameSync(remote, remote + '.away');
    writeFileSync(remote, 'not a folder');
    const r = await eraseSubject(depsOf(ws), 'people', { subject: 'u1', key: 'users/{subject}/**', reason: 'r' });
    expect(r.remoteErasure).toMatchObject([{ remote: 'origin', status: 'pending' }]);
    expect(r.remoteErasure[0]!.error?.code).toBeTruthy();
    // Back up: the rerun finds nothing left to erase here, and cleans the remote.
    renameSync(remote, remote + '.file');
    renameSync(remote + '.away', remote);
    const again = await eraseSubject(depsOf(ws), 'people', { subject: 'u1', key: 'users/{subject}/**', reason: 'r' });
    expect(again.versions).toEqual([]);
    expect(again.remoteErasure).toMatchObject([{ remote: 'origin', status: 'cleaned', packsDeleted: 1, packsSent: 0 }]);
    expect(bytesUnder(join(remote, 'packs')).includes(Buffer.from(mark('u1', 1)))).toBe(false);
    // The replacement goes up with the next push, without u1.
    await t.push([]);
    expect(bytesUnder(join(remote, 'packs')).includes(Buffer.from(mark('u2', 1)))).toBe(true);
    expect(bytesUnder(join(remote, 'packs')).includes(Buffer.from(mark('u1', 1)))).toBe(false);
    // Once more: nothing left anywhere. And --local-only leaves remotes alone.
    expect((await eraseVersion(depsOf(ws), v1.ref, { reason: 'r' })).remoteErasure).toMatchObject([
      { remote: 'origin', status: 'clean' },
    ]);
    expect((await eraseVersion(depsOf(ws), v1.ref, { reason: 'r', localOnly: true })).remoteErasure).toEqual([]);
    // The log: one failed and one ok remote.erase, naming no subject.
    const events = await ws.meta.db
      .selectFrom('audit_events')
      .select(['outcome', 'entry'])
      .where('action', '=', 'remote.erase')
      .execute();
    expect(events.map((e) => e.outcome)).toEqual(['failed', 'ok']);
    expect(events.map((e) => e.entry).join('')).not.toContain('u1');
  }, 300_000);

  it('a connection lost while deleting packs: pending, the live version already repointed, and a rerun finishes', async () => {
    const dir = tmp();
    const ws = await workspace(join(dir, 'ws'));
    const t = createTransferService(transferDeps(ws));
    const remote = join(dir, 'remote');
    await t.addRemote('origin', `file://${remote}`, {});
    writeTree(join(dir, 'p'), { 'users/u1/a.txt': mark('u1', 1), 'users/u2/b.txt': mark('u2', 1) });
    await addVersion(ws, { source: join(dir, 'p'), name: 'people' });
    rmSync(join(dir, 'p', 'users', 'u1'), { recursive: true });
    writeTree(join(dir, 'p'), { 'users/u3/c.txt': mark('u3', 1) });
    // people@v2 holds no file of u1 but shares people@v1's pack (u2's file).
    await addVersion(ws, { source: join(dir, 'p'), name: 'people' });
    await t.push([]);
    const base = depsOf(ws);
    const broken: EraseDeps = {
      ...base,
      remotes: {
        ...base.remotes,
        backend: async (config, opts) => {
          const b = await base.remotes.backend(config, opts);
          return {
            url: b.url,
            head: (k) => b.head(k),
            get: (k) => b.get(k),
            put: (k, body) => b.put(k, body),
            list: (p) => b.list(p),
            delete: async () => {
              throw new CairnError('IO_ERROR', 'connection reset while deleting');
            },
            close: () => b.close(),
          };
        },
      },
    };
    const r = await eraseSubject(broken, 'people', { subject: 'u1', key: 'users/{subject}/**', reason: 'r' });
    expect(r.versions.map((v) => v.ref)).toEqual(['people@v1']);
    expect(r.remoteErasure).toMatchObject([{ remote: 'origin', status: 'pending', error: { code: 'IO_ERROR' } }]);
    expect(bytesUnder(join(remote, 'packs')).includes(Buffer.from(mark('u1', 1)))).toBe(true);
    // Meanwhile the remote is consistent: people@v2 checks out from it.
    const check = async (name: string) => {
      const other = await workspace(join(dir, name));
      const ot = createTransferService(transferDeps(other));
      await ot.clone({ name: 'origin', config: loadRemotesFile(ws.cairnDir).remotes.origin! });
      await ot.pull(['people@v2']);
      await checkoutVersion(other, { ref: 'people@v2', dir: join(dir, name, 'co') });
      return tree(join(dir, name, 'co'));
    };
    const want = { 'users/u2/b.txt': mark('u2', 1), 'users/u3/c.txt': mark('u3', 1) };
    expect(await check('mid')).toEqual(want);
    // The rerun sends nothing: the repacked pack went up before the connection was lost.
    const again = await eraseSubject(base, 'people', { subject: 'u1', key: 'users/{subject}/**', reason: 'r' });
    expect(again.remoteErasure).toMatchObject([{ remote: 'origin', status: 'cleaned', packsDeleted: 1, packsSent: 0 }]);
    expect(bytesUnder(join(remote, 'packs')).includes(Buffer.from(mark('u1', 1)))).toBe(false);
    expect(await check('after')).toEqual(want);
  }, 300_000);
});
