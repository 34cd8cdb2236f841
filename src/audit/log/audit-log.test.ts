import { createHash } from 'node:crypto';
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { openWorkspace, type Workspace } from '../../app/workspace.js';
import { canonicalJson } from '../../core/canonical-json.js';
import { errorCatalogue, isCairnError, type ErrorCode } from '../../core/errors.js';
import { packageRoot } from '../../core/package-root.js';
import { addVersion } from '../../datasets/add.js';
import { checkoutVersion } from '../../datasets/checkout.js';
import { tagVersion } from '../../datasets/tag.js';
import { runFsck } from '../../store-admin/fsck.js';
import { runGc } from '../../store-admin/gc.js';
import { cli } from '../../test-support/cli.js';
import { useTempDirs } from '../../test-support/temp.js';
import { newWorkspace, prng, reopen, writeTree } from '../../test-support/workspace.js';
import { auditActions } from '../actions.js';
import { AUDIT_SCHEMA, parseEvent, type AuditEvent } from '../event.js';
import { Frontier, nodeHash } from '../merkle/index.js';

const UUIDV7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ISO_MS_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const VERSION = (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;

interface Row {
  idx: number;
  event_id: string;
  time: string;
  actor: string;
  action: string;
  target_type: string;
  target_name: string | null;
  outcome: string;
  leaf_hash: string;
  entry: string;
}

async function events(ws: Workspace): Promise<Row[]> {
  const rows = await ws.meta.db.selectFrom('audit_events').selectAll().orderBy('idx').execute();
  return rows.map((r) => ({ ...r, idx: Number(r.idx) }));
}

/** Failed events keep the stable code and its generic summary, never the message (which names files). */
const reasonFor = (code: ErrorCode) => `${code}: ${errorCatalogue[code].summary}`;

const parsed = (r: Row): AuditEvent => JSON.parse(r.entry) as AuditEvent;
const leafOf = (entry: string) =>
  createHash('sha256')
    .update(Buffer.from([0]))
    .update(entry, 'utf8')
    .digest('hex');

async function countRows(
  ws: Workspace,
  table: 'datasets' | 'dataset_versions' | 'packs' | 'blobs' | 'audit_events' | 'dataset_tags',
): Promise<number> {
  const r = await ws.meta.db
    .selectFrom(table)
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

describe('audit events', () => {
  const tmp = useTempDirs();

  it('data add appends exactly one dataset.version.create event, with the full event shape', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    writeTree(join(dir, 'src'), { 'a.bin': prng(1, 3000), 'sub/b.txt': 'hello\n' });
    const r = await addVersion(ws, { source: join(dir, 'src'), name: 'images', message: 'first cut' });
    const rows = await events(ws);
    expect(rows.map((x) => [x.idx, x.action, x.outcome])).toEqual([
      [0, 'workspace.init', 'ok'],
      [1, 'dataset.version.create', 'ok'],
    ]);
    const versions = await ws.meta.db.selectFrom('dataset_versions').select(['number', 'digest']).execute();
    expect(versions).toEqual([{ number: 1, digest: r.digest.slice(7) }]);

    const row = rows[1]!;
    const e = parsed(row);
    expect(e).toEqual({
      schema: AUDIT_SCHEMA,
      index: 1,
      prev: rows[0]!.leaf_hash,
      id: row.event_id,
      time: row.time,
      actor: { id: 'tester@example.com', auth: 'environment' },
      host: hostname(),
      process: { pid: process.pid, command: 'test' },
      client: `cairn/${VERSION}`,
      workspace: ws.config.workspace.id,
      action: 'dataset.version.create',
      target: { type: 'dataset', name: 'images', version: 1, digest: r.digest },
      inputs: [],
      outputs: [r.digest],
      params: { message: 'first cut', files: 2, bytes: 3006, newBytes: r.newBytes },
      outcome: 'ok',
    });
    expect(e.schema).toBe('cairn.audit/v1');
    expect(e.id).toMatch(UUIDV7);
    expect(e.time).toMatch(ISO_MS_UTC);
    expect(new Date(e.time).toISOString()).toBe(e.time);
    // UUIDv7 carries the same millisecond as the event time.
    expect(parseInt(e.id.replace(/-/g, '').slice(0, 12), 16)).toBe(Date.parse(e.time));
    expect(Object.keys(auditActions)).toContain(e.action);
    // The indexed columns mirror the entry.
    expect([row.actor, row.action, row.target_type, row.target_name, row.outcome]).toEqual([
      'tester@example.com',
      'dataset.version.create',
      'dataset',
      'images',
      'ok',
    ]);
    // The entry is canonical JSON and passes the verifier's shape check.
    expect(canonicalJson(JSON.parse(row.entry))).toBe(row.entry);
    expect('event' in parseEvent(row.entry)).toBe(true);
    expect(row.leaf_hash).toBe(leafOf(row.entry));
    await ws.close();
  });

  it('every state-changing operation adds exactly one event, chained by index and prev', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    writeTree(join(dir, 'd1'), { 'x.bin': prng(2, 5000) });
    writeTree(join(dir, 'd2'), { 'y.bin': prng(3, 5000) });
    const before = async () => (await events(ws)).length;
    let n = await before();
    expect(n).toBe(1);
    const ops: Array<[string, () => Promise<unknown>]> = [
      ['dataset.version.create', () => addVersion(ws, { source: join(dir, 'd1'), name: 'a' })],
      ['dataset.version.create', () => addVersion(ws, { source: join(dir, 'd2'), name: 'b', from: ['a@v1'] })],
      ['dataset.tag', () => tagVersion(ws, 'a@v1', 'prod')],
      ['dataset.checkout', () => checkoutVersion(ws, { ref: 'b@v1', dir: join(dir, 'out') })],
      ['store.fsck', () => runFsck(ws)],
      ['store.gc', () => runGc(ws)],
    ];
    for (const [action, op] of ops) {
      await op();
      const rows = await events(ws);
      expect(rows.length).toBe(n + 1);
      expect(rows[n]!.action).toBe(action);
      n++;
    }
    const rows = await events(ws);
    rows.forEach((r, i) => {
      const e = parsed(r);
      expect(r.idx).toBe(i);
      expect(e.index).toBe(i);
      expect(e.prev).toBe(i === 0 ? null : rows[i - 1]!.leaf_hash);
      expect(r.leaf_hash).toBe(leafOf(r.entry));
      expect(canonicalJson(e)).toBe(r.entry);
    });
    // Lineage inputs are digests of the versions it came from.
    const a1 = parsed(rows[1]!).outputs[0]!;
    expect(parsed(rows[2]!).inputs).toEqual([a1]);
    expect(parsed(rows[3]!)).toMatchObject({
      target: { type: 'dataset', name: 'a', version: 1, digest: a1 },
      outputs: [a1],
      params: { tag: 'prod', force: false },
    });
    expect(parsed(rows[4]!)).toMatchObject({ action: 'dataset.checkout', outcome: 'ok', params: { dir: 'out' } });
    expect(parsed(rows[5]!)).toMatchObject({
      action: 'store.fsck',
      outcome: 'ok',
      target: { type: 'store' },
      params: { corrupt: 0, missing: 0, brokenVersions: [] },
    });
    expect(parsed(rows[6]!)).toMatchObject({ action: 'store.gc', outcome: 'ok', target: { type: 'store' } });
    // A checkout outside the workspace records no path (home directories name people).
    const elsewhere = tmp();
    await checkoutVersion(ws, { ref: 'b@v1', dir: join(elsewhere, 'copy') });
    const outside = parsed((await events(ws)).at(-1)!);
    expect(outside.params).toMatchObject({ dir: null, outsideWorkspace: true });
    expect(JSON.stringify(outside)).not.toContain(elsewhere);
    rows.push(...(await events(ws)).slice(rows.length));
    // A dry run changes nothing and records nothing.
    await runGc(ws, { dryRun: true });
    expect((await events(ws)).length).toBe(rows.length);
    // The head agrees with the stored log.
    const head = await ws.meta.db.selectFrom('audit_head').selectAll().executeTakeFirstOrThrow();
    expect([Number(head.size), head.last_leaf]).toEqual([rows.length, rows[rows.length - 1]!.leaf_hash]);
    const f = new Frontier();
    for (const r of rows) f.append(Buffer.from(r.leaf_hash, 'hex'));
    expect(JSON.parse(head.frontier)).toEqual(f.toJSON());
    await ws.close();
  });

  it('fsck that finds damage records one failed event (and no ok event)', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    writeTree(join(dir, 'd'), { 'x.bin': prng(9, 50_000) });
    await addVersion(ws, { source: join(dir, 'd'), name: 'a' });
    const [pack] = await ws.meta.db.selectFrom('packs').select('id').execute();
    const file = ws.packs.packPath(pack!.id);
    const bytes = readFileSync(file);
    const mid = Math.floor(bytes.length / 2);
    bytes[mid] = bytes[mid]! ^ 0xff;
    writeFileSync(file, bytes);
    const n = (await events(ws)).length;
    const report = await runFsck(ws);
    expect(report.ok).toBe(false);
    const rows = await events(ws);
    expect(rows.length).toBe(n + 1);
    expect(parsed(rows[n]!)).toMatchObject({
      action: 'store.fsck',
      outcome: 'failed',
      reason: 'CHECK_FAILED: 1 version(s) damaged',
      params: { brokenVersions: ['a@v1'] },
    });
    await ws.close();
  });

  it('re-adding unchanged content and re-setting the same tag change nothing and record nothing', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    writeTree(join(dir, 'd'), { 'x.bin': prng(4, 2000) });
    await addVersion(ws, { source: join(dir, 'd'), name: 'a' });
    await tagVersion(ws, 'a@v1', 'prod');
    const n = (await events(ws)).length;
    const again = await addVersion(ws, { source: join(dir, 'd'), name: 'a' });
    expect(again.unchanged).toBe(true);
    await tagVersion(ws, 'a@v1', 'prod');
    expect((await events(ws)).length).toBe(n);
    await ws.close();
  });

  it('the event is written in the same transaction as the change: a failing append rolls the add back', async () => {
    const dir = tmp();
    await (await newWorkspace(dir)).close();
    writeTree(join(dir, 'd'), { 'x.bin': prng(5, 4000) });
    // Damage the log head so that appending fails after the version row was inserted.
    const raw = new Database(join(dir, '.cairn', 'meta.db'));
    raw.prepare('update audit_head set frontier = ? where id = 1').run('{"size": 1, "hashes": [');
    raw.close();
    const ws = await reopen(dir);
    await expect(addVersion(ws, { source: join(dir, 'd'), name: 'a' })).rejects.toThrow();
    expect(await countRows(ws, 'dataset_versions')).toBe(0);
    expect(await countRows(ws, 'datasets')).toBe(0);
    expect(await countRows(ws, 'packs')).toBe(0);
    expect(await countRows(ws, 'blobs')).toBe(0);
    expect(await countRows(ws, 'audit_events')).toBe(1);
    expect(ws.audit.appendedCount).toBe(0);
    await ws.close();
  });

  it('the same holds through the CLI: data add fails and leaves no version', async () => {
    const dir = tmp();
    expect(cli(['init', dir], { cwd: dir }).code).toBe(0);
    writeTree(join(dir, 'd'), { 'x.bin': prng(6, 4000) });
    const raw = new Database(join(dir, '.cairn', 'meta.db'));
    raw.prepare('update audit_head set frontier = ? where id = 1').run('not json');
    raw.close();
    const r = cli(['data', 'add', 'd', '--name', 'a', '--json'], { cwd: dir });
    expect(r.code).toBe(1);
    expect((r.json as { error: { code: string } }).error.code).toBe('INTERNAL');
    const db = new Database(join(dir, '.cairn', 'meta.db'), { readonly: true });
    expect(db.prepare('select count(*) as n from dataset_versions').get()).toEqual({ n: 0 });
    expect(db.prepare('select count(*) as n from audit_events').get()).toEqual({ n: 1 });
    db.close();
  });

  it('a checkout over local changes is refused and recorded as failed with its error code', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    writeTree(join(dir, 'd'), { 'x.txt': 'one\n' });
    await addVersion(ws, { source: join(dir, 'd'), name: 'a' });
    writeFileSync(join(dir, 'd', 'x.txt'), 'two\n');
    await addVersion(ws, { source: join(dir, 'd'), name: 'a' });
    const out = join(dir, 'out');
    await checkoutVersion(ws, { ref: 'a@v1', dir: out });
    writeFileSync(join(out, 'x.txt'), 'edited by hand\n');
    const n = (await events(ws)).length;
    await expect(checkoutVersion(ws, { ref: 'a@v2', dir: out })).rejects.toSatisfy((e) =>
      isCairnError(e, 'LOCAL_CHANGES'),
    );
    const rows = await events(ws);
    expect(rows.length).toBe(n + 1);
    const e = parsed(rows[n]!);
    expect(e).toMatchObject({
      action: 'dataset.checkout',
      outcome: 'failed',
      target: { type: 'dataset', name: 'a', version: 2 },
    });
    expect(e.reason).toBe(reasonFor('LOCAL_CHANGES'));
    expect(rows[n]!.outcome).toBe('failed');
    // The file the user edited is untouched.
    expect(readFileSync(join(out, 'x.txt'), 'utf8')).toBe('edited by hand\n');
    await ws.close();
  });

  it('an add of a tree with an escaping symlink fails, is recorded as failed, and stores no version', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    writeTree(join(dir, 'd'), { 'x.bin': prng(7, 1000) });
    symlinkSync('/etc/passwd', join(dir, 'd', 'escape'));
    await expect(addVersion(ws, { source: join(dir, 'd'), name: 'a' })).rejects.toSatisfy((e) =>
      isCairnError(e, 'PATH_UNSAFE'),
    );
    const rows = await events(ws);
    expect(rows.length).toBe(2);
    const e = parsed(rows[1]!);
    expect(e).toMatchObject({
      action: 'dataset.version.create',
      outcome: 'failed',
      target: { type: 'dataset', name: 'a' },
      inputs: [],
      outputs: [],
    });
    expect(e.reason).toBe(reasonFor('PATH_UNSAFE'));
    expect(await countRows(ws, 'dataset_versions')).toBe(0);
    await ws.close();
  });

  it('a refused tag move is recorded as failed (ALREADY_EXISTS); usage errors record nothing', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    writeTree(join(dir, 'd'), { 'x.txt': 'one\n' });
    await addVersion(ws, { source: join(dir, 'd'), name: 'a' });
    writeFileSync(join(dir, 'd', 'x.txt'), 'two\n');
    await addVersion(ws, { source: join(dir, 'd'), name: 'a' });
    await tagVersion(ws, 'a@v1', 'prod');
    const n = (await events(ws)).length;
    await expect(tagVersion(ws, 'a@v2', 'prod')).rejects.toSatisfy((e) => isCairnError(e, 'ALREADY_EXISTS'));
    let rows = await events(ws);
    expect(rows.length).toBe(n + 1);
    expect(parsed(rows[n]!)).toMatchObject({
      action: 'dataset.tag',
      outcome: 'failed',
      params: { tag: 'prod', force: false },
    });
    expect(parsed(rows[n]!).reason).toBe(reasonFor('ALREADY_EXISTS'));

    await expect(addVersion(ws, { source: join(dir, 'd'), name: 'Bad Name!' })).rejects.toSatisfy((e) =>
      isCairnError(e, 'INVALID_NAME'),
    );
    await expect(tagVersion(ws, 'a@v1', 'bad tag')).rejects.toSatisfy((e) => isCairnError(e, 'INVALID_NAME'));
    await expect(tagVersion(ws, 'a@@', 'x')).rejects.toSatisfy((e) => isCairnError(e, 'INVALID_REF'));
    rows = await events(ws);
    expect(rows.length).toBe(n + 1);
    await ws.close();
  });

  it('events carry no local path and no file names of the data (only the account id is personal)', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    const src = join(dir, 'patients-of-dr-jane-doe');
    writeTree(src, { 'john_smith_1961-04-02.csv': 'id,diagnosis\n1,flu\n', 'scans/mary_major_mri.bin': prng(8, 2000) });
    await addVersion(ws, { source: src, name: 'clinic', message: 'weekly import' });
    await tagVersion(ws, 'clinic@v1', 'reviewed');
    await checkoutVersion(ws, { ref: 'clinic@v1', dir: join(dir, 'work') });
    // A failed add of the same folder (an escaping link) must not leak names through its reason.
    symlinkSync('/etc/hostname', join(src, 'link_to_alice_notes'));
    await expect(addVersion(ws, { source: src, name: 'clinic' })).rejects.toSatisfy((e) =>
      isCairnError(e, 'PATH_UNSAFE'),
    );
    writeFileSync(join(dir, 'work', 'john_smith_1961-04-02.csv'), 'changed\n');
    await expect(checkoutVersion(ws, { ref: 'clinic@v1', dir: join(dir, 'work') })).rejects.toSatisfy((e) =>
      isCairnError(e, 'LOCAL_CHANGES'),
    );
    const rows = await events(ws);
    expect(rows.map((r) => [r.action, r.outcome])).toEqual([
      ['workspace.init', 'ok'],
      ['dataset.version.create', 'ok'],
      ['dataset.tag', 'ok'],
      ['dataset.checkout', 'ok'],
      ['dataset.version.create', 'failed'],
      ['dataset.checkout', 'failed'],
    ]);
    const all = rows.map((r) => r.entry).join('\n');
    for (const secret of [
      dir,
      src,
      'patients-of-dr-jane-doe',
      'john_smith',
      'mary_major',
      'scans/',
      'alice',
      '/etc/hostname',
    ]) {
      expect(all, `events mention ${secret}`).not.toContain(secret);
    }
    // The only person named is the actor, by account id.
    expect(new Set(rows.map((r) => parsed(r).actor.id))).toEqual(new Set(['tester@example.com']));
    await ws.close();
  });
});

describe('checkpoints', () => {
  const tmp = useTempDirs();

  it('the CLI signs one checkpoint after every command that appends, and none otherwise', () => {
    const dir = tmp();
    const run = (args: string[], code = 0) => {
      const r = cli(args, { cwd: dir });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(code);
      return r;
    };
    const checkpointSizes = () => {
      const db = new Database(join(dir, '.cairn', 'meta.db'), { readonly: true });
      const sizes = (
        db.prepare('select size from audit_checkpoints order by size').all() as Array<{ size: number }>
      ).map((r) => r.size);
      const n = (db.prepare('select count(*) as n from audit_events').get() as { n: number }).n;
      db.close();
      return { sizes, events: n };
    };
    run(['init', '.']);
    writeTree(join(dir, 'd'), { 'x.txt': 'one\n' });
    run(['data', 'add', 'd', '--name', 'a']);
    writeFileSync(join(dir, 'd', 'x.txt'), 'two\n');
    run(['data', 'add', 'd', '--name', 'a']);
    run(['data', 'tag', 'a@v1', 'prod']);
    run(['data', 'tag', 'a@v2', 'prod'], 1); // refused: recorded as failed, so it appends
    expect(checkpointSizes()).toEqual({ sizes: [1, 2, 3, 4, 5], events: 5 });
    // Read-only commands, no-ops and usage errors append nothing and sign nothing.
    run(['data', 'ls']);
    run(['data', 'log', 'a']);
    run(['audit', 'log']);
    run(['audit', 'verify']);
    run(['data', 'add', 'd', '--name', 'a']); // unchanged
    run(['data', 'add', 'd', '--name', 'Not Valid'], 2);
    run(['data', 'tag', 'a@v1', 'prod']); // already there
    expect(checkpointSizes()).toEqual({ sizes: [1, 2, 3, 4, 5], events: 5 });
    run(['data', 'checkout', 'a@v2', 'out']);
    expect(checkpointSizes()).toEqual({ sizes: [1, 2, 3, 4, 5, 6], events: 6 });
    // `audit checkpoint` on an unchanged log returns the latest instead of signing another.
    const r = run(['audit', 'checkpoint', '--json']);
    expect(r.json).toMatchObject({ size: 6, created: false });
    expect(checkpointSizes().sizes).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('AuditLog.checkpoint() signs only when the log grew, and the note verifies with the log key', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    const first = await ws.audit.checkpoint();
    expect(first?.size).toBe(1);
    expect(await ws.audit.checkpoint()).toBeNull();
    await ws.audit.record({ action: 'store.gc', target: { type: 'store' } }, 'ok');
    const second = await ws.audit.checkpoint();
    expect(second?.size).toBe(2);
    const opened = ws.audit.openOwnCheckpoint(second!.note);
    expect(opened.checkpoint.size).toBe(2);
    expect(opened.checkpoint.rootHash.toString('hex')).toBe(second!.root);
    expect((await ws.audit.rootAt(2)).toString('hex')).toBe(second!.root);
    expect((await ws.audit.checkpoints()).map((c) => c.size)).toEqual([1, 2]);
    await ws.close();
  });

  it('refuses (AUDIT_INCONSISTENT) to sign when the stored tree no longer matches the last checkpoint', async () => {
    const dir = tmp();
    const ws = await newWorkspace(dir);
    for (let i = 0; i < 6; i++)
      await ws.audit.record({ action: 'store.fsck', target: { type: 'store' }, params: { i } }, 'ok');
    const cp = await ws.audit.checkpoint();
    expect(cp?.size).toBe(7);
    await ws.close();

    // Rewrite leaf 2 and every stored node above it, so the stored tree is self-consistent but
    // no longer the one the checkpoint signed.
    const raw = new Database(join(dir, '.cairn', 'meta.db'));
    const fake = createHash('sha256').update('forged').digest('hex');
    raw.prepare('update audit_events set leaf_hash = ? where idx = 2').run(fake);
    const leaves = (
      raw.prepare('select leaf_hash from audit_events order by idx').all() as Array<{ leaf_hash: string }>
    ).map((r) => Buffer.from(r.leaf_hash, 'hex'));
    let level: Buffer[] = leaves;
    for (let l = 1; level.length > 1; l++) {
      const next: Buffer[] = [];
      for (let i = 0; i + 1 < level.length; i += 2) next.push(nodeHash(level[i]!, level[i + 1]!));
      next.forEach((h, i) =>
        raw.prepare('update audit_nodes set hash = ? where level = ? and idx = ?').run(h.toString('hex'), l, i),
      );
      level = next;
    }
    raw.close();

    const ws2 = await reopen(dir);
    await ws2.audit.record({ action: 'store.gc', target: { type: 'store' } }, 'ok');
    await expect(ws2.audit.checkpoint()).rejects.toSatisfy(
      (e) => isCairnError(e, 'AUDIT_INCONSISTENT') && e.data.size === 7,
    );
    expect((await ws2.audit.checkpoints()).map((c) => c.size)).toEqual([7]);
    // Closing tries to sign as well, and refuses the same way.
    await expect(ws2.close()).rejects.toSatisfy((e) => isCairnError(e, 'AUDIT_INCONSISTENT'));
  });

  it('checkpoints are signed with the workspace key and form one consistent history', async () => {
    const dir = tmp();
    let ws = await newWorkspace(dir);
    await ws.close();
    for (let i = 0; i < 5; i++) {
      ws = await openWorkspace({
        cwd: dir,
        command: 'test',
        env: { ...process.env, CAIRN_ACTOR: 'tester@example.com' },
      });
      for (let j = 0; j <= i; j++) await ws.audit.record({ action: 'store.fsck', target: { type: 'store' } }, 'ok');
      await ws.close();
    }
    ws = await reopen(dir);
    const cps = await ws.audit.checkpoints();
    expect(cps.map((c) => c.size)).toEqual([1, 2, 4, 7, 11, 16]);
    const { verifyConsistency } = await import('../merkle/index.js');
    for (let i = 1; i < cps.length; i++) {
      const a = cps[i - 1]!;
      const b = cps[i]!;
      const proof = (await ws.audit.consistency(a.size, b.size)).map((h) => Buffer.from(h, 'hex'));
      expect(verifyConsistency(a.size, b.size, Buffer.from(a.root, 'hex'), Buffer.from(b.root, 'hex'), proof)).toBe(
        true,
      );
    }
    await ws.close();
  });
});
