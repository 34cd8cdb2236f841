// Erasure by subject inside files (issue 14) on real workspaces: a table's rows and a text found by
// the PII scanner or by a column, splits made by `data split` reached through lineage, the log.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { transferDeps } from '../app/transfer-config.js';
import type { Workspace } from '../app/workspace.js';
import { createAuditService } from '../audit/index.js';
import { isCairnError } from '../core/errors.js';
import { createDataPrepService } from '../dataprep/index.js';
import { addVersion, checkoutVersion, treeLoader } from '../datasets/index.js';
import { createLineageService } from '../lineage/index.js';
import { createAdminService } from '../store-admin/index.js';
import { useTempDirs } from '../test-support/temp.js';
import { newWorkspace, writeTree } from '../test-support/workspace.js';
import type { EraseDeps } from './erase.js';
import { eraseSubject } from './subject-erase.js';

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

/** A customer row: the subject's rows carry a marker that must leave every pack. */
const row = (i: number, mail: string) =>
  `c${i},${mail},"note ${i}: ${mail.split('@')[0]!.toUpperCase()} bought ${i * 7} items"`;

describe('data erase --subject --scan / --column', () => {
  const tmp = useTempDirs();
  let ws: Workspace | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  it('removes the rows of the subject from a table and its splits, texts holding it, and nothing else', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const d = depsOf(ws);
    const rows = Array.from({ length: 40 }, (_, i) =>
      row(i, i % 10 === 3 ? 'Alice@Example.com' : `user${i}@example.com`),
    );
    const csv = ['id,email,note', ...rows].join('\n') + '\n';
    writeTree(join(dir, 'crm'), { 'customers.csv': csv });
    const v1 = await addVersion(ws, { source: join(dir, 'crm'), name: 'crm' });
    const prep = createDataPrepService({ ...ws, pseudonymKey: () => Buffer.alloc(32, 7) });
    const split = await prep.split(v1.ref, { name: 'crm-split', ratios: 'train=0.5,test=0.5', seed: 1, format: 'csv' });
    expect(split.splits).toHaveLength(2);
    // Texts: one mentions the subject, one mentions a longer address that merely contains it.
    writeTree(join(dir, 'crm'), {
      'tickets/1.txt': 'Ticket 1 from alice@example.com: please delete my account',
      'tickets/2.txt': 'Ticket 2 from malice@example.com.au',
      'events.jsonl': '{"who":"alice@example.com","n":1}\n{"who":"bob@example.com","n":2}\n',
    });
    const v2 = await addVersion(ws, { source: join(dir, 'crm'), name: 'crm' });

    const size = await ws.audit.size();
    const plan = await eraseSubject(d, 'crm', { subject: 'alice@example.com', scan: true, dryRun: true });
    expect(await ws.audit.size()).toBe(size);
    const byRef = new Map(plan.versions.map((v) => [v.ref, v]));
    // The splits holding the subject's rows (by the split hash) are found through lineage; the others are untouched.
    const hit = split.splits.filter((s) => byRef.has(s.ref));
    expect(hit.length).toBeGreaterThan(0);
    expect([...byRef.keys()].sort()).toEqual([v1.ref, v2.ref, ...hit.map((s) => s.ref)].sort());
    for (const s of split.splits) if (!byRef.has(s.ref)) expect(plan.untouched).toContain(s.ref);
    expect(byRef.get(v1.ref)!.rewrite).toMatchObject([{ path: 'customers.csv', rows: [4, 14, 24, 34], total: 40 }]);
    expect(byRef.get(v2.ref)!.remove).toMatchObject([{ path: 'tickets/1.txt', why: 'scan' }]);
    expect(byRef.get(v2.ref)!.rewrite.map((w) => [w.path, w.rows])).toEqual([
      ['customers.csv', [4, 14, 24, 34]],
      ['events.jsonl', [1]],
    ]);
    const splitRows = hit.map((s) => byRef.get(s.ref)!.rewrite.reduce((n, w) => n + w.rows.length, 0));
    expect(splitRows.reduce((a, b) => a + b, 0)).toBe(4);
    expect(plan.rowsRemoved).toBe(4 + 4 + 1 + 4);

    const marker = Buffer.from('ALICE bought');
    expect(allPackBytes(ws).includes(marker)).toBe(true);
    const r = await eraseSubject(d, 'crm', { subject: 'alice@example.com', scan: true, reason: 'Art. 17 #44' });
    expect(r.erased.sort()).toEqual([...byRef.keys()].sort());
    const packs = allPackBytes(ws);
    expect(packs.includes(marker)).toBe(false);
    expect(packs.includes(Buffer.from('Alice@Example.com'))).toBe(false);
    // (tickets/2.txt's malice@example.com.au stays: a different address that only contains it.)
    for (const t of ['from alice@example.com', '"who":"alice@example.com"'])
      expect(packs.includes(Buffer.from(t)), t).toBe(false);
    expect(packs.includes(Buffer.from('malice@example.com.au'))).toBe(true);
    // Everyone else is still there, byte for byte, in the replacements.
    const rep2 = r.versions.find((v) => v.ref === v2.ref)!.replacement!;
    await checkoutVersion(ws, { ref: rep2.ref, dir: join(dir, 'co') });
    const left = readFileSync(join(dir, 'co', 'customers.csv'), 'utf8');
    expect(left).toBe(['id,email,note', ...rows.filter((_, i) => i % 10 !== 3)].join('\n') + '\n');
    expect(readFileSync(join(dir, 'co', 'events.jsonl'), 'utf8')).toBe('{"who":"bob@example.com","n":2}\n');
    expect(readdirSync(join(dir, 'co', 'tickets'))).toEqual(['2.txt']);
    for (const s of split.splits) {
      const rep = r.versions.find((v) => v.ref === s.ref)?.replacement ?? { ref: s.ref };
      await checkoutVersion(ws, { ref: rep.ref, dir: join(dir, 'co-' + s.name) });
      const text = readdirSync(join(dir, 'co-' + s.name), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.csv'))
        .map((f) => readFileSync(join(dir, 'co-' + s.name, f), 'utf8'))
        .join('');
      expect(text).not.toMatch(/alice@example\.com/i);
    }
    expect(isCairnError(await caught(checkoutVersion(ws, { ref: v1.ref, dir: join(dir, 'old') })), 'ERASED')).toBe(
      true,
    );
    // The log: counts and digests, never the subject, its rows' content, or the row numbers.
    const events = await ws.meta.db
      .selectFrom('audit_events')
      .select(['action', 'entry'])
      .where('time', '>=', '1970')
      .execute();
    const text = events.map((e) => e.entry).join('\n');
    expect(text).not.toMatch(/alice/i);
    const erasures = events.filter((e) => e.action === 'dataset.erase').map((e) => JSON.parse(e.entry));
    expect(erasures.map((e) => e.params.rowsRemoved).sort()).toEqual(
      [4, 5, ...splitRows].sort((a: number, b: number) => a - b),
    );
    expect((await verify(ws)).ok).toBe(true);

    // A rerun finds nothing left of the subject and changes nothing.
    const again = await eraseSubject(d, 'crm', { subject: 'alice@example.com', scan: true, reason: 'Art. 17 #44' });
    expect(again.versions).toEqual([]);
  }, 120_000);

  it('--column removes the rows whose column is the id; a column no table has is refused', async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const d = depsOf(ws);
    writeTree(join(dir, 'p'), {
      'visits.tsv': 'user_id\tpage\nu1\t/a\nu2\t/b\nu1\t/c\nu10\t/d\n',
      'readme.txt': 'u1 is mentioned here but a text has no columns',
    });
    const v = await addVersion(ws, { source: join(dir, 'p'), name: 'visits' });
    const typo = await caught(eraseSubject(d, 'visits', { subject: 'u1', column: 'userid', reason: 'r' }));
    expect(isCairnError(typo, 'INVALID_INPUT')).toBe(true);
    expect(String((typo as Error).message)).toContain('userid');
    const r = await eraseSubject(d, 'visits', { subject: 'u1', column: 'user_id', reason: 'r' });
    expect(r.versions.map((x) => [x.ref, x.rewrite.map((w) => w.rows), x.remove.length])).toEqual([
      [v.ref, [[1, 3]], 0],
    ]);
    await checkoutVersion(ws, { ref: r.versions[0]!.replacement!.ref, dir: join(dir, 'co') });
    expect(readFileSync(join(dir, 'co', 'visits.tsv'), 'utf8')).toBe('user_id\tpage\nu2\t/b\nu10\t/d\n');
    expect(readFileSync(join(dir, 'co', 'readme.txt'), 'utf8')).toContain('u1 is mentioned');
    expect(allPackBytes(ws).includes(Buffer.from('u1\t/c'))).toBe(false);
    // --scan needs a value the scanner knows; without any way to find the subject, a usage error.
    expect(
      isCairnError(
        await caught(eraseSubject(d, 'visits', { subject: 'u2', scan: true, dryRun: true })),
        'INVALID_INPUT',
      ),
    ).toBe(true);
    expect(isCairnError(await caught(eraseSubject(d, 'visits', { subject: 'u2', dryRun: true })), 'USAGE')).toBe(true);
  }, 120_000);
});
