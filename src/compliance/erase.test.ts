// Erasure that keeps provenance, and the holds that block it (issue 14): real workspaces, real
// packs on disk, real gc; the log is verified after the bytes are gone.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { buildServices } from '../app/services.js';
import { transferDeps } from '../app/transfer-config.js';
import type { Workspace } from '../app/workspace.js';
import { createAuditService } from '../audit/index.js';
import { sha256Hex } from '../core/digest.js';
import { isCairnError } from '../core/errors.js';
import type { Clock } from '../core/time.js';
import { addVersion, checkoutVersion, createDatasetsService, treeLoader } from '../datasets/index.js';
import { createLineageService } from '../lineage/index.js';
import { createAdminService } from '../store-admin/index.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace, prng, writeTree } from '../test-support/workspace.js';
import { eraseVersion, type EraseDeps } from './erase.js';
import { listHolds, putHold, releaseHolds } from './retention.js';

const MARKER = 'subject-4711 Jane Example, 12 Main Street';

function depsOf(ws: Workspace, clock?: Clock): EraseDeps {
  return {
    ...transferDeps(ws),
    ...(clock ? { clock } : {}),
    lineage: createLineageService(ws),
    admin: createAdminService(ws),
  };
}

/** Every pack file's raw bytes, concatenated: erased content must appear in none. */
function allPackBytes(ws: Workspace): Buffer {
  const root = join(ws.cairnDir, 'objects');
  const out: Buffer[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(readFileSync(join(d, e.name)));
    }
  };
  walk(root);
  return Buffer.concat(out);
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
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

describe('data erase', () => {
  const tmp = useTempDirs();
  let ws: Workspace | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  it('deletes the bytes from the packs (rewriting a pack shared with live data), keeps the log verifiable and lists exactly what was built from it', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const shared = prng(7, 3000);
    writeTree(join(dir, 'people'), { 'subject.txt': MARKER, 'shared.bin': shared });
    const a = await addVersion(ws, { source: join(dir, 'people'), name: 'people' });
    // b reuses a's shared chunk, which lives in a's pack: erasing a must rewrite that pack.
    writeTree(join(dir, 'other'), { 'shared.bin': shared, 'own.txt': 'unrelated' });
    const b = await addVersion(ws, { source: join(dir, 'other'), name: 'other' });
    writeTree(join(dir, 'derived'), { 'agg.csv': 'n\n1\n' });
    const c = await addVersion(ws, { source: join(dir, 'derived'), name: 'derived', from: [a.ref] });
    writeTree(join(dir, 'unrelated'), { 'x.txt': 'x' });
    await addVersion(ws, { source: join(dir, 'unrelated'), name: 'unrelated', from: [b.ref] });
    expect(allPackBytes(ws).includes(Buffer.from(MARKER))).toBe(true);

    const r = await eraseVersion(depsOf(ws), a.ref, { reason: 'erasure request of Jane Example' });

    expect(allPackBytes(ws).includes(Buffer.from(MARKER))).toBe(false);
    expect(r.gc.packsRepacked).toBeGreaterThanOrEqual(1);
    expect(r.impact.datasets.map((d) => d.ref)).toEqual([c.ref]);
    expect([...r.impact.runs, ...r.impact.models, ...r.impact.releases, ...r.impact.deployments]).toEqual([]);
    expect(r.keptShared.map((f) => f.path)).toEqual(['shared.bin']);
    expect(r.versions).toEqual([a.ref]);
    expect(r.laterVersions).toEqual([]);

    const err = await caught(checkoutVersion(ws, { ref: a.ref, dir: join(dir, 'co-a') }));
    expect(isCairnError(err, 'ERASED'), String(err)).toBe(true);
    // The record stays showable; reading its files is refused as ERASED, not as damage.
    const shown = await createDatasetsService(ws).show(a.ref);
    expect(shown.erased?.by).toBe('tester@example.com');
    expect(shown.listing).toEqual([]);
    expect(shown.digest).toBe(a.digest);
    expect(isCairnError(await caught(createDatasetsService(ws).diff(a.ref, b.ref)), 'ERASED')).toBe(true);
    await checkoutVersion(ws, { ref: b.ref, dir: join(dir, 'co-b') });
    expect(sha256Hex(readFileSync(join(dir, 'co-b', 'shared.bin')))).toBe(sha256Hex(shared));

    const report = await verify(ws);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.artifacts?.erased).toBe(1);

    // The event commits to digests, never to the reason's text or the files' content.
    const ev = await ws.meta.db
      .selectFrom('audit_events')
      .select(['entry', 'outcome'])
      .where('action', '=', 'dataset.erase')
      .execute();
    expect(ev.map((e) => e.outcome)).toEqual(['ok']);
    const entry = ev[0]!.entry;
    expect(entry).toContain(a.digest);
    expect(entry).toContain(sha256Hex('erasure request of Jane Example'));
    expect(entry).not.toContain('Jane');
    expect(entry).not.toContain('subject.txt');
    // A second erase is idempotent: nothing new to delete, no second event.
    const again = await eraseVersion(depsOf(ws), a.ref, { reason: 'again' });
    expect(again.alreadyErased).toBe(true);
    expect(again.impact).toEqual(r.impact);
  });

  it('without objects in any other version, no file of the erased version is kept', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    writeTree(join(dir, 'p'), { 'a.txt': MARKER, 'b.bin': prng(3, 200_000) });
    const a = await addVersion(ws, { source: join(dir, 'p'), name: 'p' });
    const r = await eraseVersion(depsOf(ws), a.ref, { reason: 'r' });
    expect(r.keptShared).toEqual([]);
    expect(r.gc.packsDeleted).toBeGreaterThanOrEqual(1);
    expect(await ws.index.locate([sha256Hex(MARKER)])).toEqual(new Map());
    expect((await verify(ws)).ok).toBe(true);
  });

  it('names the later versions edited from the erased one, and the files they still share', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    writeTree(join(dir, 'p'), { 'a.txt': MARKER });
    const a = await addVersion(ws, { source: join(dir, 'p'), name: 'p' });
    writeTree(join(dir, 'p'), { 'c.txt': 'an edit' });
    const next = await addVersion(ws, { source: join(dir, 'p'), name: 'p' });
    writeTree(join(dir, 'p'), { 'd.txt': 'another edit' });
    const third = await addVersion(ws, { source: join(dir, 'p'), name: 'p' });
    const r = await eraseVersion(depsOf(ws), a.ref, { reason: 'r' });
    expect(r.laterVersions).toEqual([next.ref, third.ref]);
    expect(r.keptShared.map((f) => f.path)).toEqual(['a.txt']);
    expect(r.impact.datasets).toEqual([]);
  });

  it('a legal hold refuses erasure (a denied event) until it is lifted; a retention period until it lapses', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    writeTree(join(dir, 'p'), { 'a.txt': MARKER });
    const a = await addVersion(ws, { source: join(dir, 'p'), name: 'p' });
    let now = new Date('2030-01-01T00:00:00Z');
    const clock: Clock = { now: () => now };
    const d = depsOf(ws, clock);

    const reasonless = await caught(putHold(d, a.ref, { reason: ' ' }));
    expect(isCairnError(reasonless, 'USAGE')).toBe(true);
    const past = await caught(putHold(d, a.ref, { reason: 'r', retainUntil: '2029-12-31' }));
    expect(isCairnError(past, 'USAGE'), String(past)).toBe(true);

    const hold = await putHold(d, a.ref, { reason: 'litigation 12' });
    const retention = await putHold(d, a.ref, { reason: 'keep 1 year', retainUntil: '2030-06-30' });
    expect(retention.until).toBe('2030-06-30T23:59:59.999Z');

    const e1 = await caught(eraseVersion(d, a.ref, { reason: 'request' }));
    expect(isCairnError(e1, 'HELD'), String(e1)).toBe(true);
    const denied = await ws.meta.db
      .selectFrom('audit_events')
      .select('outcome')
      .where('action', '=', 'dataset.erase')
      .execute();
    expect(denied.map((x) => x.outcome)).toEqual(['denied']);

    // Only the legal hold is lifted; the retention period still blocks.
    const lifted = await releaseHolds(d, a.ref, { reason: 'case closed' });
    expect(lifted.map((h) => h.id)).toEqual([hold.id]);
    const again = await caught(releaseHolds(d, a.ref, { reason: 'x' }));
    expect(isCairnError(again, 'HELD'), String(again)).toBe(true);
    expect(isCairnError(await caught(eraseVersion(d, a.ref, { reason: 'request' })), 'HELD')).toBe(true);

    now = new Date('2030-07-01T00:00:00Z');
    const listed = await listHolds(d, a.ref);
    expect(listed.map((h) => [h.kind, h.active])).toEqual([
      ['hold', false],
      ['retention', false],
    ]);
    await eraseVersion(d, a.ref, { reason: 'request' });
    const after = await caught(checkoutVersion(ws, { ref: a.ref, dir: join(dir, 'co') }));
    expect(isCairnError(after, 'ERASED')).toBe(true);
    // Nothing is left to hold.
    expect(isCairnError(await caught(putHold(d, a.ref, { reason: 'late' })), 'ERASED')).toBe(true);
  });

  it('a crash after the erasure is recorded and before the bytes go: a repeated erase finishes the job', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    writeTree(join(dir, 'p'), { 'a.txt': MARKER });
    const a = await addVersion(ws, { source: join(dir, 'p'), name: 'p' });
    const crashing = {
      ...depsOf(ws),
      admin: {
        ...createAdminService(ws),
        gc: () => Promise.reject(new Error('killed')),
      },
    };
    await expect(eraseVersion(crashing, a.ref, { reason: 'r' })).rejects.toThrow('killed');
    // Recorded (checkout refuses), but the bytes are still there until gc runs.
    expect(isCairnError(await caught(checkoutVersion(ws, { ref: a.ref, dir: join(dir, 'co') })), 'ERASED')).toBe(true);
    expect(allPackBytes(ws).includes(Buffer.from(MARKER))).toBe(true);
    const r = await eraseVersion(depsOf(ws), a.ref, { reason: 'r' });
    expect(r.alreadyErased).toBe(true);
    expect(allPackBytes(ws).includes(Buffer.from(MARKER))).toBe(false);
    expect((await verify(ws)).ok).toBe(true);
  });

  it('after an erasure push still works (the record travels, not the bytes) and erase names the remotes that may hold copies', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const s = buildServices(ws);
    writeTree(join(dir, 'p'), { 'a.txt': MARKER });
    const a = await addVersion(ws, { source: join(dir, 'p'), name: 'p' });
    writeTree(join(dir, 'q'), { 'b.txt': 'other data' });
    await addVersion(ws, { source: join(dir, 'q'), name: 'q' });
    await s.transfer.addRemote('backup', `file://${join(dir, 'remote')}`, {});
    await s.transfer.push([]);
    const r = await eraseVersion(depsOf(ws), a.ref, { reason: 'r' });
    expect(r.remotes).toEqual(['backup']);
    const pushed = await s.transfer.push([]);
    expect(pushed.versions).toBe(2);
    expect(allPackBytes(ws).includes(Buffer.from(MARKER))).toBe(false);
  });

  it('erasing bytes that two versions share erases both, and a hold on either blocks it', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    writeTree(join(dir, 'p'), { 'a.txt': MARKER });
    const a = await addVersion(ws, { source: join(dir, 'p'), name: 'first' });
    const b = await addVersion(ws, { source: join(dir, 'p'), name: 'second' });
    expect(b.digest).toBe(a.digest);
    await putHold(depsOf(ws), b.ref, { reason: 'hold the copy' });
    expect(isCairnError(await caught(eraseVersion(depsOf(ws), a.ref, { reason: 'r' })), 'HELD')).toBe(true);
    await releaseHolds(depsOf(ws), b.ref, { reason: 'done' });
    const r = await eraseVersion(depsOf(ws), a.ref, { reason: 'r' });
    expect(r.versions).toEqual([a.ref, b.ref]);
    expect(allPackBytes(ws).includes(Buffer.from(MARKER))).toBe(false);
    expect(isCairnError(await caught(checkoutVersion(ws, { ref: b.ref, dir: join(dir, 'co') })), 'ERASED')).toBe(true);
  });
});
