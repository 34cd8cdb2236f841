// Tamper experiments (issue 3): each one changes a workspace's log or store the way an attacker
// with write access to .cairn/ could, then runs the real CLI and checks that `cairn audit verify`
// fails and names the right entry.
import { createHash } from 'node:crypto';
import {
  closeSync,
  cpSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addVersion } from '../../src/datasets/add.js';
import { checkoutVersion } from '../../src/datasets/checkout.js';
import { tagVersion } from '../../src/datasets/tag.js';
import { Frontier } from '../../src/audit/merkle/index.js';
import {
  formatVerifierKey,
  generateSigningKeyPair,
  privateKeyToPem,
  publicKeyToPem,
  rawPublicKey,
  signCheckpoint,
  signerFromPrivateKey,
} from '../../src/audit/note/index.js';
import { canonicalJson } from '../../src/core/canonical-json.js';
import { removeTree } from '../../src/storage/cache/read-only.js';
import { cli, type CliResult } from '../../src/test-support/cli.js';
import { useTempDirs } from '../../src/test-support/temp.js';
import { newWorkspace, prng, writeTree } from '../../src/test-support/workspace.js';

interface Problem {
  index: number | null;
  rangeEnd?: number;
  kind: string;
  message: string;
}
interface VerifyReport {
  ok: boolean;
  size: number;
  firstBad: Problem | null;
  problems: Problem[];
}
interface Verdict {
  code: number;
  report: VerifyReport;
  error: { code: string; message: string; data: { firstBadIndex: number | null; kind: string | null } } | null;
}

/** Every JSON document on stdout. */
function jsonDocs(stdout: string): unknown[] {
  return stdout
    .split(/\n(?=[{[])/)
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => JSON.parse(s) as unknown);
}

function verify(ws: string, ...args: string[]): Verdict {
  const r: CliResult = cli(['audit', 'verify', ...args, '--json'], { cwd: ws });
  const docs = jsonDocs(r.stdout) as Array<Record<string, unknown>>;
  expect(docs.length, r.stdout).toBe(1); // --json: one document, the report inside the error on failure
  const err = docs.find((d) => 'error' in d) as
    { error: Verdict['error'] & { data: { report?: VerifyReport } } } | undefined;
  const report = (docs.find((d) => 'problems' in d) as VerifyReport | undefined) ?? err?.error?.data.report;
  if (!report) throw new Error(`no report on stdout (exit ${r.code}): ${r.stdout}\n${r.stderr}`);
  return { code: r.code, report, error: err?.error ?? null };
}

function expectCaught(v: Verdict, index: number, kind: string): void {
  expect(v.code, JSON.stringify(v.report.problems)).toBe(1);
  expect(v.report.ok).toBe(false);
  expect(v.error?.code).toBe('CHECK_FAILED');
  expect(v.error?.data.firstBadIndex).toBe(index);
  expect(v.error?.data.kind).toBe(kind);
  expect(v.report.firstBad).toMatchObject({ index, kind });
  expect(v.error?.message).toContain(`at entry ${index}`);
}

function expectClean(v: Verdict, size: number): void {
  expect(v.report.problems).toEqual([]);
  expect(v.code).toBe(0);
  expect(v.report).toMatchObject({ ok: true, size, firstBad: null });
}

const leafOf = (entry: string) =>
  createHash('sha256')
    .update(Buffer.from([0]))
    .update(entry, 'utf8')
    .digest('hex');

function openDb(ws: string): Database.Database {
  return new Database(join(ws, '.cairn', 'meta.db'));
}

/**
 * What a careful attacker does after editing rows: rebuild the stored tree and the head from
 * the leaf hashes now in the table, so nothing but the signatures and the chain can tell.
 */
function rebuildTree(db: Database.Database): void {
  const leaves = db.prepare('select leaf_hash from audit_events order by idx').all() as Array<{ leaf_hash: string }>;
  const f = new Frontier();
  const nodes: Array<[number, number, string]> = [];
  for (const l of leaves)
    for (const n of f.append(Buffer.from(l.leaf_hash, 'hex'))) nodes.push([n.level, n.index, n.hash.toString('hex')]);
  db.prepare('delete from audit_nodes').run();
  const ins = db.prepare('insert into audit_nodes (level, idx, hash) values (?, ?, ?)');
  for (const n of nodes) ins.run(...n);
  db.prepare('update audit_head set size = ?, last_leaf = ?, frontier = ? where id = 1').run(
    f.size,
    leaves[leaves.length - 1]?.leaf_hash ?? null,
    JSON.stringify(f.toJSON()),
  );
}

/** Rewrites entry `from` with `edit`, then re-chains and re-hashes every later entry, as a forger would. */
function rewriteHistory(db: Database.Database, from: number, edit: (e: Record<string, unknown>) => void): void {
  const rows = db
    .prepare('select idx, entry, leaf_hash from audit_events where idx >= ? order by idx')
    .all(from - 1) as Array<{ idx: number; entry: string; leaf_hash: string }>;
  let prev = from === 0 ? null : rows.shift()!.leaf_hash;
  const upd = db.prepare('update audit_events set entry = ?, leaf_hash = ? where idx = ?');
  for (const r of rows) {
    const e = JSON.parse(r.entry) as Record<string, unknown>;
    if (r.idx === from) edit(e);
    e.prev = prev;
    const entry = canonicalJson(e);
    prev = leafOf(entry);
    upd.run(entry, prev, r.idx);
  }
  rebuildTree(db);
}

/** Deletes the rows entries 7-9 made (c@v1 from a@v2, its tag x, a@v3), as a forger cutting them off would. */
function forgetTail(db: Database.Database): void {
  db.prepare("delete from dataset_tags where tag = 'x'").run();
  const gone = db
    .prepare(
      "select v.id from dataset_versions v join datasets d on d.id = v.dataset_id where (d.name = 'c' and v.number = 1) or (d.name = 'a' and v.number = 3)",
    )
    .all() as Array<{ id: string }>;
  for (const { id } of gone) {
    db.prepare('delete from lineage_edges where src_id = ? or dst_id = ?').run(id, id);
    db.prepare('delete from dataset_versions where id = ?').run(id);
  }
  db.prepare("delete from datasets where name = 'c'").run();
}

/** Changes one byte of an entry without breaking its JSON. */
function flipOneByte(entry: string): string {
  const at = entry.indexOf('tester@example.com');
  expect(at).toBeGreaterThan(0);
  return `${entry.slice(0, at)}T${entry.slice(at + 1)}`;
}

/**
 * A workspace whose log has 10 events, each followed by a signed checkpoint (sizes 1…10), and
 * whose store holds the data those events name.
 *   0 workspace.init   1 add a@v1   2 tag a@v1 prod   3 add b@v1   4 add a@v2
 *   5 tag b@v1 gold    6 checkout a@v2   7 add c@v1 (from a@v2)   8 tag c@v1 x   9 add a@v3
 */
async function buildLog(ws: string): Promise<void> {
  const w = await newWorkspace(ws);
  await w.audit.checkpoint();
  const data = (name: string, seed: number) => {
    writeTree(join(ws, name), { 'part-0.bin': prng(seed, 40_000), 'part-1.bin': prng(seed + 100, 20_000) });
    return join(ws, name);
  };
  const steps: Array<() => Promise<unknown>> = [
    () => addVersion(w, { source: data('da', 1), name: 'a' }),
    () => tagVersion(w, 'a@v1', 'prod'),
    () => addVersion(w, { source: data('db', 2), name: 'b' }),
    () => addVersion(w, { source: data('da', 3), name: 'a' }),
    () => tagVersion(w, 'b@v1', 'gold'),
    () => checkoutVersion(w, { ref: 'a@v2', dir: join(ws, 'out') }),
    () => addVersion(w, { source: data('dc', 4), name: 'c', from: ['a@v2'] }),
    () => tagVersion(w, 'c@v1', 'x'),
    () => addVersion(w, { source: data('da', 5), name: 'a' }),
  ];
  for (const s of steps) {
    await s();
    await w.audit.checkpoint();
  }
  await w.close();
}

describe('tamper experiments: cairn audit verify fails and names the right entry', () => {
  const tmp = useTempDirs();
  // The log is built and checked once; each experiment tampers with a copy of its own (copies
  // share nothing: the workspace holds no absolute path).
  let template = '';
  beforeAll(async () => {
    template = mkdtempSync(join(tmpdir(), 'cairn-tamper-'));
    const ws = template;
    await buildLog(ws);
    const db = openDb(ws);
    expect(db.prepare('select count(*) as n from audit_events').get()).toEqual({ n: 10 });
    expect(
      (db.prepare('select size from audit_checkpoints order by size').all() as Array<{ size: number }>).map(
        (r) => r.size,
      ),
    ).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    db.close();
    expectClean(verify(ws), 10);
  });
  afterAll(() => {
    if (template && !process.env.CAIRN_KEEP_TEST_DIRS) removeTree(template);
  });

  async function fresh(): Promise<string> {
    const ws = tmp();
    cpSync(template, ws, { recursive: true });
    return ws;
  }

  it('edit one byte of one event', async () => {
    const ws = await fresh();
    const db = openDb(ws);
    const { entry } = db.prepare('select entry from audit_events where idx = 4').get() as { entry: string };
    db.prepare('update audit_events set entry = ? where idx = 4').run(flipOneByte(entry));
    db.close();
    const v = verify(ws);
    expectCaught(v, 4, 'leaf-mismatch');
    expect(v.report.problems).toContainEqual({ index: 4, kind: 'chain-broken', message: expect.any(String) });
    // Every signed checkpoint from size 5 on disagrees, and each says the change lies after 4.
    expect(v.report.problems.filter((p) => p.kind === 'checkpoint-mismatch').map((p) => [p.index, p.rangeEnd])).toEqual(
      [
        [4, 5],
        [4, 6],
        [4, 7],
        [4, 8],
        [4, 9],
        [4, 10],
      ],
    );
  });

  it('edit one byte and recompute its leaf hash (and the stored tree): the hash chain still names it', async () => {
    const ws = await fresh();
    const db = openDb(ws);
    const { entry } = db.prepare('select entry from audit_events where idx = 4').get() as { entry: string };
    const forged = flipOneByte(entry);
    db.prepare('update audit_events set entry = ?, leaf_hash = ? where idx = 4').run(forged, leafOf(forged));
    rebuildTree(db);
    db.close();
    const v = verify(ws);
    expectCaught(v, 4, 'chain-broken');
    expect(v.report.problems.filter((p) => p.kind === 'leaf-mismatch')).toEqual([]);
  });

  it('edit an event and re-chain everything after it (without the key): the signed checkpoints name it', async () => {
    const ws = await fresh();
    const db = openDb(ws);
    rewriteHistory(db, 4, (e) => {
      e.actor = { id: 'someone-else@example.com', auth: 'environment' };
    });
    db.close();
    const v = verify(ws);
    expectCaught(v, 4, 'checkpoint-mismatch');
    expect(v.report.firstBad).toMatchObject({ index: 4, rangeEnd: 5 });
  });

  it('delete an event in the middle', async () => {
    const ws = await fresh();
    const db = openDb(ws);
    db.prepare('delete from audit_events where idx = 5').run();
    rebuildTree(db);
    db.close();
    expectCaught(verify(ws), 5, 'gap');
  });

  it('delete an event in the middle and renumber the rest: the entries still say where they belong', async () => {
    const ws = await fresh();
    const db = openDb(ws);
    db.prepare('delete from audit_events where idx = 5').run();
    for (let i = 6; i < 10; i++) db.prepare('update audit_events set idx = ? where idx = ?').run(i - 1, i);
    rebuildTree(db);
    db.close();
    expectCaught(verify(ws), 5, 'index-mismatch');
  });

  it('swap two events', async () => {
    const ws = await fresh();
    const db = openDb(ws);
    const a = db.prepare('select * from audit_events where idx = 3').get() as Record<string, unknown>;
    const b = db.prepare('select * from audit_events where idx = 6').get() as Record<string, unknown>;
    db.prepare('update audit_events set idx = -1 where idx = 3').run();
    db.prepare('update audit_events set idx = 3 where idx = 6').run();
    db.prepare('update audit_events set idx = 6 where idx = -1').run();
    expect((db.prepare('select entry from audit_events where idx = 3').get() as { entry: string }).entry).toBe(b.entry);
    expect((db.prepare('select entry from audit_events where idx = 6').get() as { entry: string }).entry).toBe(a.entry);
    rebuildTree(db);
    db.close();
    const v = verify(ws);
    expectCaught(v, 3, 'index-mismatch');
    expect(v.report.problems).toContainEqual({ index: 6, kind: 'index-mismatch', message: expect.any(String) });
  });

  it('duplicate an event (a copy inserted at the end under a new index)', async () => {
    const ws = await fresh();
    const db = openDb(ws);
    const r = db.prepare('select * from audit_events where idx = 4').get() as Record<string, unknown>;
    db.prepare(
      'insert into audit_events (idx, event_id, time, actor, action, target_type, target_name, outcome, leaf_hash, entry) values (10, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ).run(
      '01a21a40-0000-7000-8000-000000000000',
      r.time,
      r.actor,
      r.action,
      r.target_type,
      r.target_name,
      r.outcome,
      r.leaf_hash,
      r.entry,
    );
    rebuildTree(db);
    db.close();
    expectCaught(verify(ws), 10, 'index-mismatch');
  });

  it('cut off the tail: caught against the checkpoint kept beside the key, and against one exported earlier', async () => {
    const ws = await fresh();
    const kept = join(tmp(), 'checkpoint-10.note');
    const exported = cli(['audit', 'checkpoint', '--out', kept, '--json'], { cwd: ws });
    expect(exported.code).toBe(0);
    expect(exported.json).toMatchObject({ size: 10, created: false });
    const key = (exported.json as { verifierKey: string }).verifierKey;
    const db = openDb(ws);
    db.prepare('delete from audit_events where idx >= 7').run();
    db.prepare('delete from audit_checkpoints where size > 7').run();
    rebuildTree(db);
    // The rows the cut events made are still there: a plain verify names them, since no event
    // accounts for them any more (issue 10, item 5), besides the checkpoint kept beside the key…
    const careless = verify(ws);
    expect(careless.code).toBe(1);
    expect(careless.report.problems.map((p) => [p.kind, (p as { key?: string }).key])).toEqual([
      ['kept-beyond-log', undefined],
      ['state-unvouched', 'c@v1'],
      ['state-unvouched', 'a@v3'],
      ['state-unvouched', 'c@x'],
    ]);
    // …so a careful forger deletes them too; then only the exported checkpoint can tell.
    forgetTail(db);
    db.close();
    // The database alone cannot forget: the copy outside it covers 10 entries (issue 10, item 6).
    expectCaught(verify(ws), 7, 'kept-beyond-log');
    // Whoever can also write .cairn/keys/ removes that copy: only a checkpoint kept elsewhere remains.
    rmSync(join(ws, '.cairn', 'keys', 'checkpoint'));
    expectClean(verify(ws), 7);
    const v = verify(ws, '--against', kept, '--key', key);
    expectCaught(v, 7, 'truncated');
    expect(v.report.problems).toEqual([
      { index: 7, kind: 'truncated', message: expect.stringContaining('covers 10 entries but the log has only 7') },
    ]);
  });

  it('cut off the tail and grow the log again: the exported checkpoint still disagrees', async () => {
    const ws = await fresh();
    const kept = join(tmp(), 'checkpoint-10.note');
    const exported = cli(['audit', 'checkpoint', '--out', kept, '--json'], { cwd: ws });
    expect(exported.code).toBe(0);
    const key = (exported.json as { verifierKey: string }).verifierKey;
    const db = openDb(ws);
    db.prepare('delete from audit_events where idx >= 7').run();
    db.prepare('delete from audit_checkpoints where size > 7').run();
    rebuildTree(db);
    forgetTail(db);
    db.close();
    // (With the copy beside the key in place, no command would sign the cut log: forged-history.test.ts.)
    rmSync(join(ws, '.cairn', 'keys', 'checkpoint'));
    for (const tag of ['t1', 't2', 't3', 't4']) expect(cli(['data', 'tag', 'a@v2', tag], { cwd: ws }).code).toBe(0);
    expectClean(verify(ws), 11);
    const v = verify(ws, '--against', kept, '--key', key);
    expect(v.code).toBe(1);
    expect(v.error?.data.kind).toBe('trusted-mismatch');
    // A root mismatch can only say "somewhere before 10": the workspace's own checkpoints after
    // the cut are signed with the real key but cannot vouch for anything the trusted one disputes.
    expect(v.report.firstBad).toMatchObject({ index: 0, rangeEnd: 10, kind: 'trusted-mismatch' });
    expect(v.error?.data.firstBadIndex).toBe(0);
    expect(v.report.problems.map((p) => p.kind)).toEqual(['trusted-mismatch']);
  });

  it('rewrite history, generate a new key and re-sign every checkpoint: caught with the exported checkpoint and the old key', async () => {
    const ws = await fresh();
    const kept = join(tmp(), 'checkpoint-10.note');
    const exported = cli(['audit', 'checkpoint', '--out', kept, '--json'], { cwd: ws });
    const oldKey = (exported.json as { verifierKey: string }).verifierKey;
    const oldKeyFile = join(tmp(), 'log.vkey');
    writeFileSync(oldKeyFile, `${oldKey}\n`);

    // The forger: change who did entry 3, re-chain and re-hash everything after it, replace the
    // workspace key, and sign every checkpoint again with the new key.
    const origin = oldKey.split('+')[0]!;
    const { privateKey, publicKey } = generateSigningKeyPair();
    writeFileSync(join(ws, '.cairn', 'keys', 'signing.key'), privateKeyToPem(privateKey), { mode: 0o600 });
    writeFileSync(join(ws, '.cairn', 'keys', 'signing.pub'), publicKeyToPem(publicKey));
    const signer = signerFromPrivateKey(origin, privateKey);
    const db = openDb(ws);
    rewriteHistory(db, 3, (e) => {
      e.actor = { id: 'scapegoat@example.com', auth: 'environment' };
    });
    // …and the row the entry vouches for, so that rows and log agree (issue 10, item 5).
    db.prepare(
      "update dataset_versions set author = 'scapegoat@example.com' where number = 1 and dataset_id = (select id from datasets where name = 'b')",
    ).run();
    const leaves = (
      db.prepare('select leaf_hash from audit_events order by idx').all() as Array<{ leaf_hash: string }>
    ).map((r) => Buffer.from(r.leaf_hash, 'hex'));
    for (const { size } of db.prepare('select size from audit_checkpoints').all() as Array<{ size: number }>) {
      const f = new Frontier();
      for (const l of leaves.slice(0, size)) f.append(l);
      const root = f.root();
      db.prepare('update audit_checkpoints set root = ?, note = ? where size = ?').run(
        root.toString('hex'),
        signCheckpoint({ origin, size, rootHash: root }, signer),
        size,
      );
    }
    db.close();
    // The checkpoint kept beside the key would give it away: the forger (who holds .cairn/) removes it.
    rmSync(join(ws, '.cairn', 'keys', 'checkpoint'));
    const newKey = formatVerifierKey(origin, rawPublicKey(publicKey));
    expect(newKey).not.toBe(oldKey);

    // Internally the forgery is consistent…
    expectClean(verify(ws), 10);
    const shown = cli(['audit', 'show', '3', '--json'], { cwd: ws });
    expect((shown.json as { event: { actor: { id: string } } }).event.actor.id).toBe('scapegoat@example.com');
    // …checking the exported checkpoint with the workspace's own key is refused: it would prove
    // only self-consistency (issue 10, item 8)…
    const noKey = cli(['audit', 'verify', '--against', kept, '--json'], { cwd: ws });
    expect(noKey.code).toBe(1);
    expect((noKey.json as { error: { code: string } }).error.code).toBe('UNTRUSTED_KEY');
    // …the exported checkpoint does not verify with the (replaced) workspace key…
    const withNew = verify(ws, '--against', kept, '--key', newKey);
    expect(withNew.code).toBe(1);
    expect(withNew.error?.data.kind).toBe('trusted-signature');
    expect(withNew.report.problems[0]?.message).toContain('was the signing key replaced?');
    // …and with the old key it verifies but does not match what the log holds now.
    for (const key of [oldKey, oldKeyFile]) {
      const v = verify(ws, '--against', kept, '--key', key);
      expect(v.code).toBe(1);
      expect(v.error?.data.kind).toBe('trusted-mismatch');
      // The range covers the rewritten entry (3): the re-signed checkpoints cannot narrow it.
      expect(v.report.firstBad).toMatchObject({ index: 0, rangeEnd: 10, kind: 'trusted-mismatch' });
      expect(v.error?.data.firstBadIndex).toBe(0);
      expect(v.report.problems.map((p) => p.kind)).toEqual(['trusted-mismatch']);
    }
  });

  it('alter a stored object an event names: caught with --artifacts, naming the event that referenced it', async () => {
    const ws = await fresh();
    const db = openDb(ws);
    const c = db
      .prepare("select v.digest from dataset_versions v join datasets d on d.id = v.dataset_id where d.name = 'c'")
      .get() as { digest: string };
    const packs = db
      .prepare('select distinct pack_id from blobs where pack_id in (select pack_id from blobs where id = ?)')
      .all(c.digest) as Array<{ pack_id: string }>;
    // c@v1's tree and files went into packs of their own (its data is new).
    const first = (
      db.prepare('select min(idx) as i from audit_events where entry like ?').get(`%${c.digest}%`) as { i: number }
    ).i;
    db.close();
    expect(first).toBe(7);
    expect(packs.length).toBe(1);
    const pid = packs[0]!.pack_id;
    const file = join(ws, '.cairn', 'objects', 'packs', pid.slice(0, 2), `${pid}.pack`);
    const at = Math.floor(statSync(file).size / 2);
    const fd = openSync(file, 'r+');
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0x01;
    writeSync(fd, b, 0, 1, at);
    closeSync(fd);

    expectClean(verify(ws), 10);
    const v = verify(ws, '--artifacts');
    expectCaught(v, 7, 'artifact');
    expect(v.report.firstBad?.message).toContain(`sha256:${c.digest}`);
    expect(v.report.firstBad?.message).toContain('named by entry 7');
    expect(v.report.problems.every((p) => p.kind === 'artifact')).toBe(true);
  });

  it('an untouched log with its stored objects verifies with --artifacts', async () => {
    const ws = await fresh();
    const r = cli(['audit', 'verify', '--artifacts', '--json'], { cwd: ws });
    expect(r.code).toBe(0);
    expect(r.json).toMatchObject({ ok: true, size: 10, checkpoints: 10, artifacts: { digests: 5 } });
    expect((r.json as { artifacts: { checked: number } }).artifacts.checked).toBeGreaterThan(0);
    // The trusted-checkpoint path on an untouched log.
    const kept = join(tmp(), 'cp.note');
    const exported = cli(['audit', 'checkpoint', '--out', kept, '--json'], { cwd: ws });
    expect(exported.code).toBe(0);
    const key = (exported.json as { verifierKey: string }).verifierKey;
    const again = cli(['audit', 'verify', '--against', kept, '--key', key, '--json'], { cwd: ws });
    expect(again.code).toBe(0);
    expect(again.json).toMatchObject({ ok: true, trusted: { size: 10 } });
    expect(readFileSync(kept, 'utf8')).toMatch(/^cairn\.local\/[0-9a-f-]+\n10\n/);
  });
});
