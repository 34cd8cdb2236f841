import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { initWorkspace, openWorkspace } from '../../app/workspace.js';
import { isCairnError } from '../../core/errors.js';
import { useTempDirs } from '../../test-support/temp.js';
import { newWorkspace } from '../../test-support/workspace.js';
import { verifyInclusion } from '../merkle/index.js';
import { formatVerifierKey, generateSigningKeyPair, rawPublicKey } from '../note/index.js';
import { getEvent, listEvents, loadVerifierKey, proveEvent, verifyWorkspaceLog, viewOf } from './audit-service.js';

describe('audit service', () => {
  const tmp = useTempDirs();

  it('listEvents filters by time relative to the workspace clock', async () => {
    const dir = tmp();
    let now = new Date('2026-03-01T06:00:00.000Z');
    const clock = { now: () => now };
    await (
      await initWorkspace(dir, { command: 'init', clock, env: { ...process.env, CAIRN_ACTOR: 'root@example.com' } })
    ).close(); // 0
    const ws = await openWorkspace({
      cwd: dir,
      command: 'test',
      clock,
      env: { ...process.env, CAIRN_ACTOR: 'a@example.com' },
    });
    const at = async (iso: string, name: string) => {
      now = new Date(iso);
      await ws.audit.record({ action: 'dataset.tag', target: { type: 'dataset', name, version: 1 } }, 'ok');
    };
    await at('2026-03-01T08:00:00.000Z', 'x'); // 1
    await at('2026-03-01T10:30:00.000Z', 'y'); // 2
    await at('2026-03-01T11:59:00.000Z', 'x'); // 3
    now = new Date('2026-03-01T12:00:00.000Z');
    const idx = async (f: Parameters<typeof listEvents>[1]) => (await listEvents(ws, f)).map((e) => e.index);
    expect(await idx({ since: '2h' })).toEqual([2, 3]);
    expect(await idx({ since: '1h' })).toEqual([3]);
    expect(await idx({ until: '1h' })).toEqual([0, 1, 2]);
    expect(await idx({ until: '1h', actor: 'a@example.com' })).toEqual([1, 2]);
    expect(await idx({ since: '2026-03-01T09:00:00Z', until: '2026-03-01T11:00:00Z' })).toEqual([2]);
    expect(await idx({ since: '1w', target: 'x' })).toEqual([1, 3]);
    expect(await idx({ limit: 2 })).toEqual([2, 3]);
    expect(await idx({ action: 'dataset.*', limit: 1 })).toEqual([3]);
    await expect(listEvents(ws, { since: 'soon' })).rejects.toSatisfy((e) => isCairnError(e, 'USAGE'));
    await expect(listEvents(ws, { until: '5y' })).rejects.toSatisfy((e) => isCairnError(e, 'USAGE'));
    await expect(listEvents(ws, { outcome: 'meh' })).rejects.toSatisfy((e) => isCairnError(e, 'USAGE'));
    const [v] = await listEvents(ws, { limit: 1 });
    expect(v).toMatchObject({
      index: 3,
      actor: 'a@example.com',
      action: 'dataset.tag',
      target: 'dataset:x@v1',
      outcome: 'ok',
      time: '2026-03-01T11:59:00.000Z',
    });
    await ws.close();
  });

  it('viewOf renders targets compactly', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    await ws.audit.record({ action: 'store.gc', target: { type: 'store' } }, 'ok');
    await ws.audit.record(
      { action: 'dataset.version.create', target: { type: 'dataset', name: 'd' } },
      'failed',
      'IO_ERROR: x',
    );
    const rows = await ws.meta.db.selectFrom('audit_events').selectAll().orderBy('idx').execute();
    expect(rows.map((r) => viewOf(r).target)).toEqual([`workspace:${ws.config.workspace.id}`, 'store', 'dataset:d']);
    expect(viewOf(rows[2]!)).toMatchObject({ index: 2, outcome: 'failed', event: { reason: 'IO_ERROR: x' } });
    await ws.close();
  });

  it('getEvent and proveEvent: a proof for an entry past the last checkpoint signs a new one first', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    for (let i = 0; i < 4; i++) await ws.audit.record({ action: 'store.fsck', target: { type: 'store' } }, 'ok');
    await ws.audit.checkpoint();
    await ws.audit.record({ action: 'store.gc', target: { type: 'store' } }, 'ok');
    expect((await ws.audit.checkpoints()).map((c) => c.size)).toEqual([5]);
    const inOld = await proveEvent(ws, 2);
    expect(inOld.treeSize).toBe(5);
    const p = await proveEvent(ws, 5);
    expect((await ws.audit.checkpoints()).map((c) => c.size)).toEqual([5, 6]);
    expect(p.treeSize).toBe(6);
    expect(p.verifierKey).toBe(formatVerifierKey(ws.config.audit.origin, ws.audit.keys.rawPublicKey));
    const row = await getEvent(ws, 5);
    expect([p.entry, p.leafHash]).toEqual([row.entry, row.leaf_hash]);
    const { checkpoint } = ws.audit.openOwnCheckpoint(p.checkpoint);
    expect(
      verifyInclusion(
        Buffer.from(p.leafHash, 'hex'),
        5,
        6,
        p.proof.map((h) => Buffer.from(h, 'hex')),
        checkpoint.rootHash,
      ),
    ).toBe(true);
    await expect(getEvent(ws, 6)).rejects.toSatisfy((e) => isCairnError(e, 'NOT_FOUND'));
    await expect(proveEvent(ws, 99)).rejects.toSatisfy((e) => isCairnError(e, 'NOT_FOUND'));
    await ws.close();
  });

  it('loadVerifierKey takes the key as text or as a file; anything else is a usage error', () => {
    const dir = tmp();
    const { publicKey } = generateSigningKeyPair();
    const vkey = formatVerifierKey('cairn.local/x', rawPublicKey(publicKey));
    const fromText = loadVerifierKey(vkey);
    expect(fromText.name).toBe('cairn.local/x');
    const file = join(dir, 'k.vkey');
    writeFileSync(file, `\n${vkey}\n`);
    expect(loadVerifierKey(file).keyId.equals(fromText.keyId)).toBe(true);
    expect(() => loadVerifierKey(join(dir, 'missing.vkey'))).toThrow(expect.objectContaining({ code: 'USAGE' }));
  });

  it('verifyWorkspaceLog: --against a missing file is an I/O error; a good trusted checkpoint is reported', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    await ws.audit.record({ action: 'store.gc', target: { type: 'store' } }, 'ok');
    const cp = (await ws.audit.checkpoint())!;
    const file = join(dir, 'cp.note');
    writeFileSync(file, cp.note);
    await ws.audit.record({ action: 'store.gc', target: { type: 'store' } }, 'ok');
    await ws.audit.checkpoint();
    await expect(verifyWorkspaceLog(ws, { againstFile: join(dir, 'nope.note') })).rejects.toSatisfy((e) =>
      isCairnError(e, 'IO_ERROR'),
    );
    // Without a key it would be checked with the workspace's own key, which proves only
    // self-consistency: refused (issue 10, item 8).
    await expect(verifyWorkspaceLog(ws, { againstFile: file })).rejects.toSatisfy((e) =>
      isCairnError(e, 'UNTRUSTED_KEY'),
    );
    const vkey = formatVerifierKey(ws.config.audit.origin, ws.audit.keys.rawPublicKey);
    const r = await verifyWorkspaceLog(ws, { againstFile: file, key: vkey });
    expect(r).toMatchObject({
      ok: true,
      size: 3,
      checkpoints: 2,
      trusted: { size: 2 },
      kept: { size: 3 },
      firstBad: null,
      artifacts: null,
    });
    // A key that did not sign it: the trusted checkpoint does not verify.
    const other = formatVerifierKey(ws.config.audit.origin, rawPublicKey(generateSigningKeyPair().publicKey));
    const bad = await verifyWorkspaceLog(ws, { againstFile: file, key: other });
    expect(bad.ok).toBe(false);
    expect(bad.trusted).toBeNull();
    expect(bad.problems.map((p) => p.kind)).toEqual(['trusted-signature']);
    await ws.close();
  });
});
