// Issue 10, items 8 and 9 (remote part): a remote's state is not trusted on its word. Only
// versions that an event of a verified remote audit log vouches for are imported, and every
// remote is a witness of the pushing workspace's log. Real workspaces, real file:// remotes.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../app/workspace.js';
import { uuidv7 } from '../core/ids.js';
import { addVersion } from '../datasets/add.js';
import { checkoutVersion } from '../datasets/checkout.js';
import { rawSqlite, rewriteHistory } from '../test-support/audit-tamper.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace, prng, writeTree } from '../test-support/workspace.js';
import { readRemoteState, remoteStateFile, writeRemoteState } from '../test-support/remote-fixtures.js';
import { cloneInto } from './clone.js';
import { pull } from './pull.js';
import { push } from './push.js';
import { addRemote } from './remote-admin.js';
import { loadRemotesFile as loadRemotes, transferDeps } from '../app/transfer-config.js';

const deps = (ws: Workspace) => transferDeps(ws);

interface Ev {
  index: number;
  action: string;
  outcome: string;
  target: { name?: string; version?: number };
  params: Record<string, unknown>;
}

async function events(ws: Workspace): Promise<Ev[]> {
  const rows = await ws.meta.db.selectFrom('audit_events').select(['entry']).orderBy('idx').execute();
  return rows.map((r) => JSON.parse(r.entry) as Ev);
}

describe('remote trust: only vouched versions come in; every remote witnesses the log', () => {
  const tmp = useTempDirs();
  const open: Workspace[] = [];
  afterEach(async () => {
    for (const ws of open.splice(0)) await ws.close().catch(() => {});
  });
  const workspace = async (actor: string) => {
    const ws = await newWorkspace(join(tmp(), 'ws'), { actor });
    open.push(ws);
    return ws;
  };
  const remoteOf = async (ws: Workspace, dir: string, name = 'origin') => {
    await addRemote(deps(ws), name, `file://${dir}`, {});
    return { name, config: loadRemotes(ws.cairnDir).remotes[name]! };
  };
  /** alice's workspace with mail@v1 and mail@v2, pushed to a new file:// remote. */
  const published = async () => {
    const a = await workspace('alice@example.com');
    const src = join(tmp(), 'src');
    writeTree(src, { 'a.txt': 'alpha\n', 'b.bin': prng(3, 50_000) });
    await addVersion(a, { source: src, name: 'mail' });
    writeTree(src, { 'c.txt': 'gamma\n' });
    await addVersion(a, { source: src, name: 'mail' });
    const remote = join(tmp(), 'remote');
    await remoteOf(a, remote);
    await push(deps(a), []);
    return { a, remote };
  };

  it('a legitimate clone and pull record, per imported version, the remote event that vouches for it', async () => {
    const { a, remote } = await published();
    const creates = (await events(a)).filter((e) => e.action === 'dataset.version.create');
    const b = await workspace('bob@example.com');
    const cloned = await cloneInto(deps(b), await remoteOf(b, remote));
    const expected = creates.map((e) => ({
      dataset: 'mail',
      number: e.target.version,
      digest: expect.stringMatching(/^sha256:[0-9a-f]{64}$/),
      author: 'alice@example.com',
      origin: a.config.audit.origin,
      index: e.index,
    }));
    expect(cloned).toMatchObject({ datasets: 1, versions: 2, skipped: [] });
    expect(cloned.imported).toEqual(expected);
    const clone = (await events(b)).find((e) => e.action === 'workspace.clone')!;
    expect(clone.params.imported).toEqual(expected);
    const rows = await b.meta.db
      .selectFrom('dataset_versions')
      .select(['number', 'digest', 'author'])
      .orderBy('number')
      .execute();
    expect(rows.map((r) => [r.number, `sha256:${r.digest}`, r.author])).toEqual(
      cloned.imported.map((i) => [i.number, i.digest, i.author]),
    );
    // A pull that brings nothing new imports nothing, and says so.
    const pulled = await pull(deps(b), ['mail@v2']);
    expect(pulled).toMatchObject({ vouched: [], skipped: [] });
    expect((await events(b)).at(-1)).toMatchObject({ action: 'remote.pull', outcome: 'ok', params: { imported: [] } });
  });

  it('a version added to the remote state by hand is neither cloned nor pulled, and is named', async () => {
    const { a, remote } = await published();
    const s = readRemoteState(remote);
    const v1 = s.versions.find((v) => v.number === 1)!;
    const v2 = s.versions.find((v) => v.number === 2)!;
    // A plausible forgery: v3 with v1's content (its packs are there), by "alice", never audited.
    s.versions.push({
      ...v1,
      id: uuidv7(),
      number: 3,
      parent_id: v2.id,
      author: 'alice@example.com',
      message: 'hotfix',
    });
    writeRemoteState(remote, s);

    const b = await workspace('bob@example.com');
    const cloned = await cloneInto(deps(b), await remoteOf(b, remote));
    expect(cloned.versions).toBe(2);
    expect(cloned.skipped).toEqual([
      {
        dataset: 'mail',
        number: 3,
        digest: `sha256:${v1.digest}`,
        author: 'alice@example.com',
        why: 'no event of a verified audit log records it',
      },
    ]);
    expect(
      (await b.meta.db.selectFrom('dataset_versions').select('number').orderBy('number').execute()).map(
        (r) => r.number,
      ),
    ).toEqual([1, 2]);
    const clone = (await events(b)).find((e) => e.action === 'workspace.clone')!;
    expect(clone.params.skipped).toEqual([
      { dataset: 'mail', number: 3, digest: `sha256:${v1.digest}`, author: 'alice@example.com' },
    ]);

    // A pull of everything skips it again; naming it is refused, and the refusal is on record.
    const all = await pull(deps(b), []);
    expect(all.skipped.map((x) => `${x.dataset}@v${x.number}`)).toEqual(['mail@v3']);
    await expect(pull(deps(b), ['mail@v3'])).rejects.toMatchObject({
      code: 'NOT_VOUCHED',
      message: expect.stringContaining('mail@v3'),
    });
    expect((await events(b)).at(-1)).toMatchObject({ action: 'remote.pull', outcome: 'failed' });
    await expect(checkoutVersion(b, { ref: 'mail@v3', dir: join(tmp(), 'x') })).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });
    void a;
  });

  it('a real version whose author was changed on the remote is refused; its successor goes with it', async () => {
    const { remote } = await published();
    const s = readRemoteState(remote);
    s.versions.find((v) => v.number === 1)!.author = 'mallory@example.com';
    writeRemoteState(remote, s);
    const b = await workspace('bob@example.com');
    const cloned = await cloneInto(deps(b), await remoteOf(b, remote));
    expect(cloned.skipped.map((x) => [x.number, x.why])).toEqual([
      [1, 'the event that records it names another author (alice@example.com)'],
      [2, 'its parent version is refused or missing'],
    ]);
    expect(cloned.versions).toBe(0);
  });

  it('versions pass on from remote to remote: the importing workspace’s own log vouches for them', async () => {
    const { remote } = await published();
    const b = await workspace('bob@example.com');
    await cloneInto(deps(b), await remoteOf(b, remote));
    await pull(deps(b), []);
    const second = join(tmp(), 'second');
    await remoteOf(b, second, 'backup');
    await push(deps(b), [], { remote: 'backup' });
    const bClone = (await events(b)).find((e) => e.action === 'workspace.clone')!;

    const c = await workspace('carol@example.com');
    const cloned = await cloneInto(deps(c), await remoteOf(c, second));
    expect(cloned.versions).toBe(2);
    expect(cloned.imported.map((i) => [i.number, i.author, i.origin, i.index])).toEqual([
      [1, 'alice@example.com', b.config.audit.origin, bClone.index],
      [2, 'alice@example.com', b.config.audit.origin, bClone.index],
    ]);
    await pull(deps(c), ['mail@v2']);
    const out = join(tmp(), 'out');
    await checkoutVersion(c, { ref: 'mail@v2', dir: out });
    expect(readFileSync(join(out, 'c.txt'), 'utf8')).toBe('gamma\n');
  });

  it('a remote log replaced after it was verified (another key) is refused on the next pull', async () => {
    const { a, remote } = await published();
    const b = await workspace('bob@example.com');
    await cloneInto(deps(b), await remoteOf(b, remote));
    // Someone with write access to the remote puts another workspace's (self-consistent) log in
    // the place of alice's, vouching for whatever they like.
    const m = await workspace('mallory@example.com');
    const scratch = join(tmp(), 'scratch');
    writeTree(join(tmp(), 'm'), { 'z.txt': 'z\n' });
    await remoteOf(m, scratch);
    await push(deps(m), []);
    const from = join(scratch, 'audit', m.config.workspace.id);
    const to = join(remote, 'audit', a.config.workspace.id);
    rmSync(to, { recursive: true });
    const { cpSync } = await import('node:fs');
    cpSync(from, to, { recursive: true });
    const s = readRemoteState(remote);
    const mine = readRemoteState(scratch).audit[0]!;
    s.audit = s.audit.map((x) =>
      x.workspace === a.config.workspace.id ? { ...x, size: mine.size, root: mine.root } : x,
    );
    writeRemoteState(remote, s);
    await expect(pull(deps(b), [])).rejects.toMatchObject({
      code: 'CHECK_FAILED',
      message: expect.stringContaining('is now signed by another key'),
    });
  });

  it('an entry rewritten under an intact stored tree: the bytes that would travel do not extend the remote, so the log is not uploaded', async () => {
    const { a, remote } = await published();
    const auditDir = join(remote, 'audit', a.config.workspace.id);
    const entriesBefore = readFileSync(join(auditDir, 'entries.jsonl'), 'utf8');
    const keptRemote = readFileSync(join(auditDir, 'checkpoint'), 'utf8');
    const row = await a.meta.db
      .selectFrom('audit_events')
      .select(['entry'])
      .where('idx', '=', 1)
      .executeTakeFirstOrThrow();
    const forged = row.entry.replace('alice@example.com', 'mallory@example.com');
    const { createHash } = await import('node:crypto');
    const leaf = createHash('sha256')
      .update(Buffer.from([0]))
      .update(forged, 'utf8')
      .digest('hex');
    const sql = rawSqlite(a.root);
    await sql.run('update audit_events set entry = ?, leaf_hash = ? where idx = 1', [forged, leaf]);
    await sql.close();
    await expect(push(deps(a), [])).rejects.toMatchObject({
      code: 'AUDIT_INCONSISTENT',
      message: expect.stringContaining('no longer hash to the checkpoint on remote origin'),
    });
    expect(readFileSync(join(auditDir, 'entries.jsonl'), 'utf8')).toBe(entriesBefore);
    expect(readFileSync(join(auditDir, 'checkpoint'), 'utf8')).toBe(keptRemote);
  });

  it('push refuses to send a log that does not extend what the remote holds, before sending anything', async () => {
    const { a, remote } = await published();
    const before = readFileSync(remoteStateFile(remote), 'utf8');
    const keptRemote = readFileSync(join(remote, 'audit', a.config.workspace.id, 'checkpoint'), 'utf8');
    expect(keptRemote).toBe((await a.audit.latestCheckpoint())!.note);
    // Someone with the workspace (key included) rewrites entry 1 and removes every local trace
    // of the old checkpoints; only the remote still knows what the log committed to.
    await a.close();
    const sql = rawSqlite(join(a.root));
    await sql.run('delete from audit_checkpoints');
    await rewriteHistory(sql, 1, (e) => {
      e.actor = { id: 'scapegoat@example.com', auth: 'environment' };
    });
    await sql.close();
    rmSync(join(a.cairnDir, 'keys', 'checkpoint'));
    const { reopen } = await import('../test-support/workspace.js');
    const a2 = await reopen(a.root, 'alice@example.com');
    open.push(a2);
    const more = join(tmp(), 'more');
    writeTree(more, { 'new.bin': prng(9, 40_000) });
    await addVersion(a2, { source: more, name: 'other' });
    const packsBefore = readdirSync(join(remote, 'packs'), { recursive: true }).length;
    await expect(push(deps(a2), [])).rejects.toMatchObject({
      code: 'AUDIT_INCONSISTENT',
      message: expect.stringContaining('on remote origin'),
    });
    expect(readFileSync(remoteStateFile(remote), 'utf8')).toBe(before);
    expect(readdirSync(join(remote, 'packs'), { recursive: true }).length).toBe(packsBefore);
    expect(readFileSync(join(remote, 'audit', a.config.workspace.id, 'checkpoint'), 'utf8')).toBe(keptRemote);
    // The refused push is on record, and nothing signs the rewritten log in this process.
    expect((await events(a2)).at(-1)).toMatchObject({ action: 'remote.push', outcome: 'failed' });
    await expect(a2.audit.checkpoint()).rejects.toMatchObject({ code: 'AUDIT_INCONSISTENT' });
    expect(await a2.audit.checkpoints()).toEqual([]);
    expect(existsSync(join(a.cairnDir, 'keys', 'checkpoint'))).toBe(false);
  });
});
