// Erasure by subject (issue 14): the planner alone, then real workspaces — packs on disk, lineage,
// holds, a crash between writing the replacements and purging, and random histories.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { transferDeps } from '../app/transfer-config.js';
import type { Workspace } from '../app/workspace.js';
import { createAuditService } from '../audit/index.js';
import { isCairnError } from '../core/errors.js';
import { addVersion, checkoutVersion, treeLoader } from '../datasets/index.js';
import { createLineageService } from '../lineage/index.js';
import { createAdminService } from '../store-admin/index.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace, writeTree } from '../test-support/workspace.js';
import type { EraseDeps } from './erase.js';
import { putHold } from './retention.js';
import { eraseSubject } from './subject-erase.js';
import { planSubjectErasure, subjectMatcher } from './subject-plan.js';

const mark = (who: string, n: number) => `PII of ${who} #${n}: ${who.toUpperCase()} lives at ${n} Example Road`;

function depsOf(ws: Workspace): EraseDeps {
  return { ...transferDeps(ws), lineage: createLineageService(ws), admin: createAdminService(ws) };
}

function allPackBytes(ws: Workspace): Buffer {
  const out: Buffer[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }))
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(readFileSync(join(d, e.name)));
  };
  walk(join(ws.cairnDir, 'objects'));
  return Buffer.concat(out);
}

async function verify(ws: Workspace) {
  return createAuditService({
    meta: ws.meta,
    audit: ws.audit,
    clock: ws.clock,
    origin: ws.config.audit.origin,
    store: () => ({ index: ws.index, packs: ws.packs, pool: ws.pool, load: treeLoader(ws) }),
  }).verify({ artifacts: true });
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

async function versionCount(ws: Workspace): Promise<number> {
  return (await ws.meta.db.selectFrom('dataset_versions').select('id').execute()).length;
}

describe('the subject pattern (--key)', () => {
  it('matches the subject literally and refuses patterns that could reach other subjects or leave the version', () => {
    const m = subjectMatcher('users/{subject}/**', 'u1');
    expect(m('users/u1/a.jpg')).toBe(true);
    expect(m('users/u1/deep/er/b.png')).toBe(true);
    expect(m('users/u10/a.jpg')).toBe(false);
    expect(m('x/users/u1/a.jpg')).toBe(false);
    // A subject holding wildcard characters is no wildcard.
    const star = subjectMatcher('{subject}_*.txt', '*');
    expect(star('*_1.txt')).toBe(true);
    expect(star('u1_1.txt')).toBe(false);
    const dot = subjectMatcher('{subject}.txt', 'a.b');
    expect(dot('aXb.txt')).toBe(false);
    const any = subjectMatcher('**/{subject}-?.jpg', 'u1');
    expect(any('u1-3.jpg')).toBe(true);
    expect(any('a/b/u1-3.jpg')).toBe(true);
    expect(any('a/b/u1-33.jpg')).toBe(false);
    for (const [key, subject] of [
      ['users/**', 'u1'],
      ['/users/{subject}', 'u1'],
      ['../{subject}/**', 'u1'],
      ['users/../{subject}', 'u1'],
      ['users//{subject}', 'u1'],
      ['users\\{subject}', 'u1'],
      ['users/{subject}/**', '..'],
      ['users/{subject}/**', 'u1/../u2'],
      ['users/{subject}/**', ''],
      ['users/{subject}\n', 'u1'],
      ['users/{subject}', 'u\u00001'],
    ] as const) {
      const e = (() => {
        try {
          subjectMatcher(key, subject);
        } catch (err) {
          return err;
        }
        return null;
      })();
      expect(isCairnError(e, 'INVALID_INPUT'), `${key} / ${subject}`).toBe(true);
    }
  });

  it('follows the bytes of a matched file into versions that renamed it, but not the empty file', () => {
    const m = subjectMatcher('users/{subject}/**', 'u1');
    const plan = planSubjectErasure(
      [
        {
          ref: 'p@v1',
          versionId: '1',
          digest: 'd1',
          erased: false,
          files: [
            { path: 'users/u1/a', sha256: 'aa' },
            { path: 'users/u1/empty', sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
            { path: 'users/u2/b', sha256: 'bb' },
          ],
        },
        {
          ref: 'thumbs@v1',
          versionId: '2',
          digest: 'd2',
          erased: false,
          files: [
            { path: 'x/0001', sha256: 'aa' },
            { path: 'x/0002', sha256: 'bb' },
            { path: 'x/empty', sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' },
          ],
        },
        { ref: 'other@v1', versionId: '3', digest: 'd3', erased: false, files: [{ path: 'y', sha256: 'cc' }] },
      ],
      m,
    );
    expect(plan.versions.map((v) => [v.ref, v.remove.map((f) => `${f.path}:${f.why}`), v.keep.length])).toEqual([
      ['p@v1', ['users/u1/a:path', 'users/u1/empty:path'], 1],
      ['thumbs@v1', ['x/0001:content'], 2],
    ]);
    expect(plan.untouched).toEqual(['other@v1']);
  });
});

describe('data erase --subject', () => {
  const tmp = useTempDirs();
  let ws: Workspace | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  it('replaces every version holding the subject (derived ones too), erases the old ones, and keeps everyone else', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const d = depsOf(ws);
    writeTree(join(dir, 'p'), { 'users/u1/a.txt': mark('u1', 1), 'users/u2/b.txt': mark('u2', 1) });
    const v1 = await addVersion(ws, { source: join(dir, 'p'), name: 'people' });
    writeTree(join(dir, 'p'), { 'users/u1/c.txt': mark('u1', 2) });
    const v2 = await addVersion(ws, { source: join(dir, 'p'), name: 'people' });
    // A derived version that renamed the files: found through lineage and the bytes.
    writeTree(join(dir, 't'), { '0001.txt': mark('u1', 1), '0002.txt': mark('u2', 1) });
    const thumbs = await addVersion(ws, { source: join(dir, 't'), name: 'thumbs', from: [v1.ref] });
    writeTree(join(dir, 'o'), { 'x.txt': 'unrelated' });
    await addVersion(ws, { source: join(dir, 'o'), name: 'other' });

    const before = await versionCount(ws);
    const size = await ws.audit.size();
    const plan = await eraseSubject(d, 'people', { subject: 'u1', key: 'users/{subject}/**', dryRun: true });
    expect(plan.versions.map((v) => [v.ref, v.remove.map((f) => f.path)])).toEqual([
      [v1.ref, ['users/u1/a.txt']],
      [v2.ref, ['users/u1/a.txt', 'users/u1/c.txt']],
      [thumbs.ref, ['0001.txt']],
    ]);
    // thumbs@v1 is built from people@v1 but is erased itself: it is in the plan, not in the impact list.
    expect(plan.impact.datasets).toEqual([]);
    // A dry run changes nothing, not even the log.
    expect(await versionCount(ws)).toBe(before);
    expect(await ws.audit.size()).toBe(size);
    expect(allPackBytes(ws).includes(Buffer.from(mark('u1', 1)))).toBe(true);

    const r = await eraseSubject(d, 'people', { subject: 'u1', key: 'users/{subject}/**', reason: 'Art. 17 #9' });
    // Without u1, v1 and v2 hold the same files: one replacement serves both (content addressing).
    expect(r.versions.map((v) => v.replacement?.ref)).toEqual(['people@v3', 'people@v3', 'thumbs@v2']);
    expect(r.erased).toEqual([v1.ref, v2.ref, thumbs.ref].sort());
    for (const n of [1, 2]) expect(allPackBytes(ws).includes(Buffer.from(mark('u1', n)))).toBe(false);
    expect(allPackBytes(ws).includes(Buffer.from(mark('u2', 1)))).toBe(true);
    for (const old of [v1.ref, v2.ref, thumbs.ref])
      expect(isCairnError(await caught(checkoutVersion(ws, { ref: old, dir: join(dir, 'co', old) })), 'ERASED')).toBe(
        true,
      );
    await checkoutVersion(ws, { ref: 'people@v3', dir: join(dir, 'co4') });
    expect(readFileSync(join(dir, 'co4', 'users/u2/b.txt'), 'utf8')).toBe(mark('u2', 1));
    expect(readdirSync(join(dir, 'co4', 'users'))).toEqual(['u2']);
    // The replacement keeps the upstream lineage of the version it replaces.
    const up = await d.lineage.of('thumbs@v2', 'up');
    expect(up.nodes.map((n) => n.ref)).toContain(v1.ref);
    // One signed erasure per version, naming no file and no subject.
    const events = await ws.meta.db
      .selectFrom('audit_events')
      .select('entry')
      .where('action', '=', 'dataset.erase')
      .where('outcome', '=', 'ok')
      .execute();
    expect(events).toHaveLength(3);
    const text = events.map((e) => e.entry).join('\n');
    expect(text).not.toContain('u1');
    expect(text).not.toContain('Art. 17 #9');
    expect((await verify(ws)).ok).toBe(true);
  });

  it('refuses the whole erasure when any version it would touch is held, changing nothing', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const d = depsOf(ws);
    writeTree(join(dir, 'p'), { 'users/u1/a.txt': mark('u1', 1), 'users/u2/b.txt': mark('u2', 1) });
    const v1 = await addVersion(ws, { source: join(dir, 'p'), name: 'people' });
    writeTree(join(dir, 't'), { '0001.txt': mark('u1', 1) });
    const thumbs = await addVersion(ws, { source: join(dir, 't'), name: 'thumbs', from: [v1.ref] });
    await putHold(d, thumbs.ref, { reason: 'litigation' });
    const before = await versionCount(ws);
    const e = await caught(eraseSubject(d, 'people', { subject: 'u1', key: 'users/{subject}/**', reason: 'r' }));
    expect(isCairnError(e, 'HELD'), String(e)).toBe(true);
    expect(await versionCount(ws)).toBe(before);
    expect(allPackBytes(ws).includes(Buffer.from(mark('u1', 1)))).toBe(true);
    const denied = await ws.meta.db
      .selectFrom('audit_events')
      .select('outcome')
      .where('action', '=', 'dataset.erase')
      .execute();
    expect(denied.map((x) => x.outcome)).toEqual(['denied']);
  });

  it('a crash after the replacements are recorded and before the bytes go: a rerun completes without a second replacement', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    writeTree(join(dir, 'p'), { 'users/u1/a.txt': mark('u1', 1), 'users/u2/b.txt': mark('u2', 1) });
    await addVersion(ws, { source: join(dir, 'p'), name: 'people' });
    const crashing = {
      ...depsOf(ws),
      admin: { ...createAdminService(ws), gc: () => Promise.reject(new Error('killed')) },
    };
    const opts = { subject: 'u1', key: 'users/{subject}/**', reason: 'r' };
    await expect(eraseSubject(crashing, 'people', opts)).rejects.toThrow('killed');
    expect(allPackBytes(ws).includes(Buffer.from(mark('u1', 1)))).toBe(true);
    const count = await versionCount(ws);
    const r = await eraseSubject(depsOf(ws), 'people', opts);
    // Nothing left to replace: the old version is erased already; the rerun's gc takes the bytes.
    expect(r.versions).toEqual([]);
    expect(await versionCount(ws)).toBe(count);
    expect(allPackBytes(ws).includes(Buffer.from(mark('u1', 1)))).toBe(false);
    expect((await verify(ws)).ok).toBe(true);
  });

  it('a crash before the erasure is recorded: the rerun reuses the replacement already written', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    writeTree(join(dir, 'p'), { 'users/u1/a.txt': mark('u1', 1), 'users/u2/b.txt': mark('u2', 1) });
    await addVersion(ws, { source: join(dir, 'p'), name: 'people' });
    const d = depsOf(ws);
    const real = d.audit.audited.bind(d.audit);
    // The process dies at the first erasure event, after the replacement was recorded.
    const crashing: EraseDeps = {
      ...d,
      audit: Object.assign(Object.create(d.audit) as typeof d.audit, {
        audited: ((draft: { action: string }, fn: never) =>
          draft.action === 'dataset.erase' ? Promise.reject(new Error('killed')) : real(draft as never, fn)) as never,
      }),
    };
    const opts = { subject: 'u1', key: 'users/{subject}/**', reason: 'r' };
    await expect(eraseSubject(crashing, 'people', opts)).rejects.toThrow('killed');
    expect(await versionCount(ws)).toBe(2);
    const r = await eraseSubject(d, 'people', opts);
    expect(r.versions.map((v) => [v.ref, v.replacement?.ref])).toEqual([['people@v1', 'people@v2']]);
    expect(await versionCount(ws)).toBe(2);
    expect(allPackBytes(ws).includes(Buffer.from(mark('u1', 1)))).toBe(false);
    expect((await verify(ws)).ok).toBe(true);
  });

  // Random histories: versions gaining and losing subjects' files, derived versions copying some
  // of them under other names; then one subject is erased.
  it('property: after erasing a subject no pack holds its bytes, everyone else checks out, the log verifies', async () => {
    for (let seed = 1; seed <= 6; seed++) {
      let x = seed * 7919;
      const rnd = (n: number) => {
        x = (x * 1103515245 + 12345) % 2147483648;
        return x % n;
      };
      const dir = tmp();
      ws = await newWorkspace(dir);
      const subjects = ['s0', 's1', 's2'];
      const live = new Map<string, string>();
      const refs: string[] = [];
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
        refs.push((await addVersion(ws, { source: join(dir, 'p'), name: 'people' })).ref);
        if (rnd(2) === 0) {
          const copies = Object.fromEntries([...live.values()].map((v, j) => [`c${i}/${j}.txt`, v]));
          writeTree(join(dir, `d${i}`), copies);
          await addVersion(ws, { source: join(dir, `d${i}`), name: 'derived', from: [refs.at(-1)!] });
        }
      }
      const victim = subjects[rnd(3)]!;
      const r = await eraseSubject(depsOf(ws), 'people', { subject: victim, key: 'users/{subject}/**', reason: 'r' });
      const packs = allPackBytes(ws);
      for (let i = 0; i < steps; i++) expect(packs.includes(Buffer.from(mark(victim, i))), `seed ${seed}`).toBe(false);
      // Everyone else's files of the last version check out byte-identical from it or its replacement.
      const last = refs.at(-1)!;
      const latest = r.versions.find((v) => v.ref === last)?.replacement?.ref ?? last;
      const out = join(dir, `co-${seed}`);
      const keptAny = [...live.keys()].some((k) => !k.startsWith(`users/${victim}/`));
      if (keptAny) {
        await checkoutVersion(ws, { ref: latest, dir: out });
        for (const [k, v] of live)
          if (!k.startsWith(`users/${victim}/`)) expect(readFileSync(join(out, k), 'utf8'), `seed ${seed}`).toBe(v);
      }
      expect((await verify(ws)).ok, `seed ${seed}`).toBe(true);
      await ws.close();
      ws = null;
    }
  }, 300_000);
});
