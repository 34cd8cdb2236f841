import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import { addVersion } from '../datasets/add.js';
import { checkoutVersion } from '../datasets/checkout.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace, prng, writeTree } from '../test-support/workspace.js';
import { cloneInto } from './clone.js';
import { materializeShared } from '../datasets/cluster-cache.js';
import { pull } from './pull.js';
import { push } from './push.js';
import { addRemote } from './remote-admin.js';
import { packKey } from './remote-layout.js';
import { loadRemotesFile as loadRemotes, transferDeps } from '../app/transfer-config.js';

const deps = (ws: Workspace) => transferDeps(ws);

async function events(
  ws: Workspace,
): Promise<Array<{ action: string; outcome: string; params: Record<string, unknown> }>> {
  const rows = await ws.meta.db.selectFrom('audit_events').select(['entry']).orderBy('idx').execute();
  return rows.map((r) => JSON.parse(r.entry) as { action: string; outcome: string; params: Record<string, unknown> });
}

describe('push, pull and clone over a file:// remote', () => {
  const tmp = useTempDirs();
  const open: Workspace[] = [];
  afterEach(async () => {
    for (const ws of open.splice(0)) await ws.close();
  });
  const workspace = async (actor = 'alice@example.com') => {
    const ws = await newWorkspace(join(tmp(), 'ws'), { actor });
    open.push(ws);
    return ws;
  };
  /** A workspace with two versions of a dataset (small files and a 3 MiB one). */
  const seeded = async () => {
    const ws = await workspace();
    const src = join(tmp(), 'src');
    writeTree(src, { 'a.txt': 'alpha\n', 'sub/b.bin': prng(7, 3 * 1024 * 1024) });
    await addVersion(ws, { source: src, name: 'mail' });
    writeTree(src, { 'c.txt': 'gamma\n' });
    await addVersion(ws, { source: src, name: 'mail' });
    return { ws, src };
  };

  it('push, clone, pull and checkout give back every byte; a second push sends nothing', async () => {
    const { ws, src } = await seeded();
    const remoteDir = join(tmp(), 'remote');
    await addRemote(deps(ws), 'origin', `file://${remoteDir}`, {});
    const first = await push(deps(ws), []);
    expect(first).toMatchObject({
      remote: 'origin',
      versions: 2,
      packs: { sent: first.packs.needed, skipped: 0 },
      encrypted: false,
    });
    expect(first.bytesSent).toBeGreaterThan(3 * 1024 * 1024);
    const again = await push(deps(ws), []);
    expect(again.packs).toEqual({ needed: first.packs.needed, sent: 0, skipped: first.packs.needed });
    expect(again.bytesSent).toBe(0);

    const other = await workspace('bob@example.com');
    await addRemote(deps(other), 'origin', `file://${remoteDir}`, {});
    const cloned = await cloneInto(deps(other), {
      name: 'origin',
      config: loadRemotes(other.cairnDir).remotes.origin!,
    });
    expect(cloned).toMatchObject({ datasets: 1, versions: 2 });
    expect(cloned.auditLogs).toEqual([expect.objectContaining({ workspace: ws.config.workspace.id, ok: true })]);
    // metadata only so far: the data stays remote
    await expect(checkoutVersion(other, { ref: 'mail@v2', dir: join(tmp(), 'early') })).rejects.toMatchObject({
      code: 'MISSING_OBJECT',
    });
    const pulled = await pull(deps(other), ['mail@v2']);
    expect(pulled.packs).toEqual({ needed: first.packs.needed, fetched: first.packs.needed, resumed: 0, present: 0 });
    const out = join(tmp(), 'out');
    await checkoutVersion(other, { ref: 'mail@v2', dir: out });
    for (const f of ['a.txt', 'c.txt', 'sub/b.bin'])
      expect(readFileSync(join(out, f)).equals(readFileSync(join(src, f))), f).toBe(true);
    expect((await pull(deps(other), [])).packs.fetched).toBe(0);

    const actions = (await events(other)).map((e) => `${e.action}:${e.outcome}`);
    expect(actions).toEqual([
      'workspace.init:ok',
      'remote.add:ok',
      'workspace.clone:ok',
      'dataset.checkout:failed',
      'remote.pull:ok',
      'dataset.checkout:ok',
      'remote.pull:ok',
    ]);
    const pushes = (await events(ws)).filter((e) => e.action === 'remote.push');
    expect(pushes.map((e) => [e.outcome, e.params.versions, (e.params.packs as { sent: number }).sent])).toEqual([
      ['ok', 2, first.packs.needed],
      ['ok', 2, 0],
    ]);
  });

  it('a push that died part-way re-sends only what the remote lacks', async () => {
    const { ws } = await seeded();
    const remoteDir = join(tmp(), 'remote');
    await addRemote(deps(ws), 'origin', `file://${remoteDir}`, {});
    const full = await push(deps(ws), []);
    // As if the process had been killed after some uploads: drop one pack and the metadata.
    const packs = readdirSync(join(remoteDir, 'packs'), { recursive: true }).filter((p) => String(p).endsWith('.pack'));
    expect(packs.length).toBe(full.packs.needed);
    const lost = String(packs[0]);
    const { rmSync } = await import('node:fs');
    rmSync(join(remoteDir, 'packs', lost));
    rmSync(join(remoteDir, 'meta'), { recursive: true });
    const resumed = await push(deps(ws), []);
    expect(resumed.packs).toEqual({ needed: full.packs.needed, sent: 1, skipped: full.packs.needed - 1 });
    expect(existsSync(join(remoteDir, 'packs', lost))).toBe(true);
  });

  it('a corrupted pack on the remote is refused on arrival: nothing is stored, and a good copy pulls later', async () => {
    const { ws } = await seeded();
    const remoteDir = join(tmp(), 'remote');
    await addRemote(deps(ws), 'origin', `file://${remoteDir}`, {});
    await push(deps(ws), []);
    const other = await workspace('bob@example.com');
    await addRemote(deps(other), 'origin', `file://${remoteDir}`, {});
    await cloneInto(deps(other), { name: 'origin', config: loadRemotes(other.cairnDir).remotes.origin! });
    const packFile = readdirSync(join(remoteDir, 'packs'), { recursive: true })
      .map((p) => join(remoteDir, 'packs', String(p)))
      .filter((p) => p.endsWith('.pack'))
      .sort((a, b) => statSync(b).size - statSync(a).size)[0]!;
    const good = readFileSync(packFile);
    const bad = Buffer.from(good);
    bad[1000]! ^= 0xff;
    writeFileSync(packFile, bad);
    await expect(pull(deps(other), ['mail@v2'])).rejects.toMatchObject({
      code: 'CORRUPT_OBJECT',
      message: expect.stringContaining('(needed by mail@v2)'),
      data: expect.objectContaining({ versions: ['mail@v2'] }),
    });
    expect(await other.meta.db.selectFrom('packs').select('id').execute()).toEqual([]);
    expect(readdirSync(other.packs.tmpDir)).toEqual([]);
    expect((await events(other)).at(-1)).toMatchObject({ action: 'remote.pull', outcome: 'failed' });
    writeFileSync(packFile, good);
    const ok = await pull(deps(other), ['mail@v2']);
    expect(ok.packs.fetched).toBeGreaterThan(0);
  });

  it('two workspaces with different data under one name: the second push is refused before anything is sent', async () => {
    const { ws } = await seeded();
    const remoteDir = join(tmp(), 'remote');
    await addRemote(deps(ws), 'origin', `file://${remoteDir}`, {});
    await push(deps(ws), []);
    const other = await workspace('bob@example.com');
    const src = join(tmp(), 'other');
    writeTree(src, { 'z.txt': 'something else\n' });
    await addVersion(other, { source: src, name: 'mail' });
    await addRemote(deps(other), 'origin', `file://${remoteDir}`, {});
    const before = readdirSync(join(remoteDir, 'packs'), { recursive: true }).length;
    await expect(push(deps(other), [])).rejects.toMatchObject({
      code: 'DIVERGED',
      message: expect.stringContaining('dataset mail'),
    });
    expect(readdirSync(join(remoteDir, 'packs'), { recursive: true }).length).toBe(before);
    await expect(pull(deps(other), [])).rejects.toMatchObject({ code: 'DIVERGED' });
  });

  it('clone refuses a tampered audit log on the remote, and a file list that climbs out of its folder', async () => {
    const { ws } = await seeded();
    const remoteDir = join(tmp(), 'remote');
    await addRemote(deps(ws), 'origin', `file://${remoteDir}`, {});
    await push(deps(ws), []);
    const auditDir = join(remoteDir, 'audit', ws.config.workspace.id);
    const entries = join(auditDir, 'entries.jsonl');
    const original = readFileSync(entries, 'utf8');
    writeFileSync(entries, original.replace('alice@example.com', 'mallory@example.com'));
    const other = await workspace('bob@example.com');
    await addRemote(deps(other), 'origin', `file://${remoteDir}`, {});
    const config = loadRemotes(other.cairnDir).remotes.origin!;
    await expect(cloneInto(deps(other), { name: 'origin', config })).rejects.toMatchObject({ code: 'CHECK_FAILED' });
    expect(await other.meta.db.selectFrom('dataset_versions').select('id').execute()).toEqual([]);
    writeFileSync(entries, original);
    writeFileSync(join(auditDir, 'files.json'), JSON.stringify(['../../../escape.txt']));
    await expect(cloneInto(deps(other), { name: 'origin', config })).rejects.toMatchObject({ code: 'PATH_UNSAFE' });
    expect(existsSync(join(other.cairnDir, 'escape.txt'))).toBe(false);
  });

  it('an encrypted remote: only ciphertext there, deduplicated, readable with the key backup alone', async () => {
    const { ws, src } = await seeded();
    const remoteDir = join(tmp(), 'remote');
    const info = await addRemote(deps(ws), 'vault', `file://${remoteDir}`, { encrypt: true });
    expect(info.encrypted).toBe(true);
    const first = await push(deps(ws), []);
    expect(first.encrypted).toBe(true);
    expect((await push(deps(ws), [])).packs.sent).toBe(0);
    expect(readdirSync(remoteDir).sort()).toEqual(['.cairn-tmp', 'cairn-remote.json', 'o']);
    expect(readdirSync(join(remoteDir, '.cairn-tmp'))).toEqual([]);
    for (const f of readdirSync(join(remoteDir, 'o'))) {
      const body = readFileSync(join(remoteDir, 'o', f));
      expect(body.includes(Buffer.from('alpha')), f).toBe(false);
      expect(body.includes(Buffer.from('mail')), f).toBe(false);
    }
    const { exportRemoteKey } = await import('./remote-admin.js');
    const keyFile = join(tmp(), 'vault.key');
    writeFileSync(keyFile, exportRemoteKey(deps(ws), 'vault'));
    const other = await workspace('bob@example.com');
    await expect(
      addRemote(deps(other), 'vault', `file://${remoteDir}`, {}).then(() =>
        cloneInto(deps(other), { name: 'vault', config: loadRemotes(other.cairnDir).remotes.vault! }),
      ),
    ).rejects.toMatchObject({ code: 'USAGE' });
    await addRemote(deps(other), 'vault', `file://${remoteDir}`, { keyFile, force: true });
    await cloneInto(deps(other), { name: 'vault', config: loadRemotes(other.cairnDir).remotes.vault! });
    await pull(deps(other), ['mail']);
    const out = join(tmp(), 'out');
    await checkoutVersion(other, { ref: 'mail', dir: out });
    expect(readFileSync(join(out, 'sub/b.bin')).equals(readFileSync(join(src, 'sub/b.bin')))).toBe(true);
    expect(packKey('ab'.repeat(32))).toBe(`packs/ab/${'ab'.repeat(32)}.pack`);
  });

  it('the cluster cache materializes a version once, read-only, for concurrent jobs', async () => {
    const { ws } = await seeded();
    const cache = join(tmp(), 'cache');
    const v = await ws.meta.db
      .selectFrom('dataset_versions')
      .select('digest')
      .where('number', '=', 2)
      .executeTakeFirstOrThrow();
    const [a, b] = await Promise.all([
      materializeShared(ws, v.digest, cache, { pollMs: 5 }),
      materializeShared(ws, v.digest, cache, { pollMs: 5 }),
    ]);
    expect(a).toBe(b);
    expect(a).toBe(join(cache, 'versions', v.digest));
    expect(readFileSync(join(a, 'c.txt'), 'utf8')).toBe('gamma\n');
    expect(statSync(join(a, 'c.txt')).mode & 0o222).toBe(0);
    expect(readdirSync(join(cache, 'versions'))).toEqual([v.digest]);
    expect(readdirSync(join(cache, 'locks'))).toEqual([]);
  });
});
