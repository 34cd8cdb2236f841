// The data-preparation services in process, against a real workspace: what each stores
// (versions, reports, documents, lineage, audit events) and what a failure leaves behind
// (nothing). The CLI end-to-end tests live in test/dataprep/.
import { createHash, createHmac } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Workspace } from '../../app/workspace.js';
import { addVersion } from '../../datasets/add.js';
import { materializedVersion } from '../../datasets/materialized.js';
import { listAll, reportOf } from '../../datasets/queries.js';
import { rejectsWith } from '../../test-support/assert.js';
import { useTempDirs } from '../../test-support/temp.js';
import { newWorkspace, writeTree } from '../../test-support/workspace.js';
import { openEngine } from '../tables/engine.js';
import { cleanVersion } from './clean.js';
import type { DataprepDeps } from './context.js';
import { inferSuiteFor } from './infer.js';
import { profileVersion, type FilesProfile } from './profile.js';
import { splitVersion } from './split.js';
import { validateVersion } from './validate.js';

const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const KEY = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');

interface Entry {
  action: string;
  outcome: string;
  reason?: string;
  target: { name?: string; version?: number; digest?: string };
  inputs?: string[];
  outputs?: string[];
  params?: Record<string, unknown>;
}

describe('data-preparation services (in process)', () => {
  const tmp = useTempDirs();
  let ws: Workspace | null = null;
  afterEach(async () => {
    await ws?.close();
    ws = null;
  });

  const setup = async () => {
    const dir = tmp();
    ws = await newWorkspace(dir);
    const deps: DataprepDeps = { ...ws, pseudonymKey: () => KEY };
    let n = 0;
    const add = async (name: string, files: Record<string, string | Buffer>) => {
      const src = join(dir, 'src', `${name}-${++n}`);
      writeTree(src, files);
      return addVersion(deps, { source: src, name });
    };
    const file = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    const entries = async (): Promise<Entry[]> =>
      (await deps.meta.db.selectFrom('audit_events').select('entry').orderBy('idx').execute()).map(
        (r) => JSON.parse(r.entry) as Entry,
      );
    const packs = () => {
      const d = join(dir, '.cairn', 'objects', 'packs');
      return existsSync(d)
        ? readdirSync(d, { recursive: true, withFileTypes: true })
            .filter((e) => e.isFile())
            .map((e) => e.name)
            .sort()
        : [];
    };
    const leftovers = () => {
      const d = join(dir, '.cairn', 'tmp');
      return existsSync(d)
        ? readdirSync(d, { recursive: true, withFileTypes: true })
            .filter((e) => e.isFile())
            .map((e) => e.name)
        : [];
    };
    const rows = async (digest: string, sql: (file: string) => string) => {
      const m = await materializedVersion(deps, digest.replace(/^sha256:/, ''));
      const engine = await openEngine({ tempDir: join(dir, 'duck') });
      try {
        return await engine.all(sql(join(m, 'data.parquet').replace(/'/g, "''")));
      } finally {
        engine.close();
      }
    };
    return { dir, deps, add, file, entries, packs, leftovers, rows };
  };

  it('cleanVersion: pseudonyms are HMAC-SHA256 under the injected key; recipe stored by digest; lineage via it', async () => {
    const { deps, add, file, entries, rows } = await setup();
    const input = await add('users', { 'u.csv': 'id,email\n1,a@example.com\n2,b@example.org\n2,b@example.org\n3,\n' });
    const text = 'recipe: users\nsteps:\n  - drop_duplicates: {}\n  - pseudonymize: [email]\n';
    const res = await cleanVersion(deps, 'users', { recipePath: file('users.yaml', text), name: 'users-clean' });
    expect(res).toMatchObject({
      ref: 'users-clean@v1',
      from: 'users@v1',
      recipe: 'users',
      recipeDigest: `sha256:${sha(text)}`,
    });
    const hmac = (v: string) => createHmac('sha256', KEY).update(v).digest('hex');
    expect(
      await rows(res.digest, (f) => `SELECT id::INTEGER AS id, email FROM read_parquet('${f}') ORDER BY id`),
    ).toEqual([
      { id: 1, email: hmac('a@example.com') },
      { id: 2, email: hmac('b@example.org') },
      { id: 3, email: null },
    ]);
    const doc = await deps.meta.db
      .selectFrom('documents')
      .selectAll()
      .where('digest', '=', sha(text))
      .executeTakeFirst();
    expect(doc).toMatchObject({ kind: 'recipe', name: 'users.yaml', body: text });
    const edges = await deps.meta.db.selectFrom('lineage_edges').selectAll().execute();
    expect(edges.map((e) => [e.relation, e.via_type, e.via_id])).toEqual([['cleaned_from', 'recipe', sha(text)]]);
    const report = await reportOf(deps, res.ref, 'clean');
    expect(report.body).toEqual(res.report);
    const ev = (await entries()).filter((e) => e.action === 'dataset.clean');
    expect(ev).toEqual([expect.objectContaining({ outcome: 'ok', inputs: [input.digest], outputs: [res.digest] })]);
    const all = JSON.stringify(await entries());
    expect(all).not.toContain(KEY.toString('hex'));
    expect(JSON.stringify(report)).not.toContain(KEY.toString('hex'));
  });

  it('cleanVersion that fails mid-recipe writes no version, no pack, no temp file, and records the failed attempt', async () => {
    const { deps, add, file, entries, packs, leftovers } = await setup();
    await add('t', { 't.csv': 'id,v\n1,10\n2,x\n' });
    const before = { packs: packs(), datasets: await listAll(deps) };
    const e = await rejectsWith(
      cleanVersion(deps, 't', {
        recipePath: file(
          'r.yaml',
          'steps:\n  - drop_duplicates: {}\n  - cast: { columns: { v: BIGINT }, on_error: reject }\n',
        ),
        name: 't-clean',
      }),
      'INVALID_INPUT',
    );
    expect(e.message).toMatch(/^recipe step 2 \(cast, line 3\): 1 value of column "v" is not BIGINT, e\.g\. "x"/);
    await rejectsWith(
      cleanVersion(deps, 't', { recipePath: file('r2.yaml', 'steps:\n  - filter: "nope > 1"\n'), name: 't-clean' }),
      'INVALID_INPUT',
    );
    expect(packs()).toEqual(before.packs);
    expect(await listAll(deps)).toEqual(before.datasets);
    expect(leftovers()).toEqual([]);
    const failed = (await entries()).filter((x) => x.action === 'dataset.clean');
    expect(failed.map((x) => [x.outcome, x.target.name, x.reason?.split(':')[0]])).toEqual([
      ['failed', 't-clean', 'INVALID_INPUT'],
      ['failed', 't-clean', 'INVALID_INPUT'],
    ]);
    expect(failed[0]!.outputs ?? []).toEqual([]);
  });

  it('splitVersion refused for leakage discards the packs it wrote; allowed, it records both splits with lineage and the options document', async () => {
    const { deps, add, entries, packs, leftovers } = await setup();
    const csv =
      [
        'id,text,label',
        ...Array.from({ length: 50 }, (_, i) => `${i},a${i},x`),
        ...Array.from({ length: 80 }, (_, i) => `${i},b${i},y`),
      ].join('\n') + '\n';
    const input = await add('shared', { 'd.csv': csv });
    const before = { packs: packs(), datasets: await listAll(deps) };
    const opts = { name: 'sh', ratios: 'train=0.5,test=0.5', key: ['id'], stratify: 'label' };
    const e = await rejectsWith(splitVersion(deps, 'shared', opts), 'CHECK_FAILED');
    expect((e.data.leakage as { findings: Array<{ kind: string }> }).findings.map((f) => f.kind)).toEqual([
      'key-overlap',
    ]);
    expect(packs()).toEqual(before.packs);
    expect(await listAll(deps)).toEqual(before.datasets);
    expect(leftovers()).toEqual([]);

    const res = await splitVersion(deps, 'shared', { ...opts, allowLeakage: true });
    expect(res.allowedLeakage).toBe(true);
    expect(res.splits.map((s) => s.ref)).toEqual(['sh/train@v1', 'sh/test@v1']);
    const optionsText = JSON.stringify({
      from: input.digest,
      ratios: [
        { name: 'train', ratio: 0.5 },
        { name: 'test', ratio: 0.5 },
      ],
      seed: 0,
      key: ['id'],
      stratify: 'label',
      group: null,
      time: null,
      cutoff: null,
      text: null,
      labels: null,
      manifest: null,
    });
    const edges = await deps.meta.db.selectFrom('lineage_edges').selectAll().execute();
    expect(edges.map((x) => [x.relation, x.via_type])).toEqual([
      ['split_from', 'split'],
      ['split_from', 'split'],
    ]);
    const doc = await deps.meta.db
      .selectFrom('documents')
      .selectAll()
      .where('digest', '=', edges[0]!.via_id!)
      .executeTakeFirstOrThrow();
    expect(doc.kind).toBe('split');
    expect(JSON.parse(doc.body)).toEqual(JSON.parse(optionsText));
    const ev = (await entries()).filter((x) => x.action === 'dataset.split');
    expect(ev.map((x) => [x.outcome, x.params?.allowLeakage])).toEqual([
      ['failed', false],
      ['ok', true],
    ]);
    expect(ev[1]!.outputs).toEqual(res.splits.map((s) => s.digest));
  });

  it('splitVersion that fails while storing a later split removes the packs of the earlier ones', async () => {
    const { deps, add, packs, leftovers, entries } = await setup();
    await add('big', { 'b.csv': `id,v\n${Array.from({ length: 500 }, (_, i) => `${i},${i * i}`).join('\n')}\n` });
    const before = packs();
    // The store fails (disk full) when the second split's output is stored.
    let ensures = 0;
    const failing = Object.create(deps.packs) as typeof deps.packs;
    failing.ensure = async () => {
      if (++ensures === 2) throw new Error('ENOSPC: no space left on device');
      return deps.packs.ensure();
    };
    await expect(
      splitVersion({ ...deps, packs: failing }, 'big', { name: 'bs', ratios: 'train=0.5,test=0.5' }),
    ).rejects.toThrow(/ENOSPC/);
    expect(ensures).toBe(2);
    expect(packs()).toEqual(before);
    expect(leftovers()).toEqual([]);
    expect((await listAll(deps)).map((d) => d.name)).toEqual(['big']);
    expect((await entries()).filter((e) => e.action === 'dataset.split').map((e) => e.outcome)).toEqual(['failed']);
  });

  it('validateVersion with profile stores the same profile as profileVersion and uses it as its own drift reference', async () => {
    const { deps, add, file, entries } = await setup();
    await add('p', { 'p.csv': 'x,c\n1,a\n2,b\n3,a\n4,\n' });
    const suite = file(
      'd.yaml',
      'suite: d\nchecks:\n  - drift: { reference: p@v1 }\n  - range: { column: x, min: 1, max: 3 }\n',
    );
    const report = await validateVersion(deps, 'p@v1', { suitePath: suite, profile: true });
    expect(report.checks.map((c) => [c.kind, c.status, c.evaluated, c.failed])).toEqual([
      ['drift', 'passed', 2, 0],
      ['range', 'failed', 4, 1],
    ]);
    const fromValidate = (await reportOf(deps, 'p', 'profile')).body;
    // No separate profile event: the profile rides in the validate event's transaction.
    expect((await entries()).map((e) => e.action)).not.toContain('dataset.profile');
    const ev = (await entries()).find((e) => e.action === 'dataset.validate')!;
    expect(ev.params?.profile).toMatch(/^sha256:[0-9a-f]{64}$/);
    const alone = await profileVersion(deps, 'p@v1');
    expect(fromValidate).toEqual(alone.profile);
  });

  it('validateVersion stores the suite by digest and the report with the version, whatever the outcome', async () => {
    const { deps, add, file, entries } = await setup();
    await add('n', { 'n.csv': 'x\n1\n2\n3\n' });
    const passing = 'suite: p\nchecks:\n  - range: { column: x, min: 1, max: 3 }\n';
    const failing = 'suite: f\nchecks:\n  - range: { column: x, max: 2 }\n';
    const ok = await validateVersion(deps, 'n', { suitePath: file('p.yaml', passing) });
    const bad = await validateVersion(deps, 'n', { suitePath: file('f.yaml', failing) });
    expect([ok.ok, bad.ok]).toEqual([true, false]);
    expect(bad.checks[0]).toMatchObject({ status: 'failed', evaluated: 3, failed: 1 });
    const docs = await deps.meta.db
      .selectFrom('documents')
      .select(['digest', 'kind', 'body'])
      .orderBy('name')
      .execute();
    expect(docs).toEqual([
      { digest: sha(failing), kind: 'suite', body: failing },
      { digest: sha(passing), kind: 'suite', body: passing },
    ]);
    expect((await reportOf(deps, 'n', 'validation')).body).toEqual(bad);
    const ev = (await entries()).filter((x) => x.action === 'dataset.validate');
    expect(ev.map((x) => [x.outcome, x.params?.suiteDigest, x.reason ?? null])).toEqual([
      ['ok', `sha256:${sha(passing)}`, null],
      ['failed', `sha256:${sha(failing)}`, expect.stringMatching(/^CHECK_FAILED/)],
    ]);
  });

  it('profileVersion of a file collection reads only the listing', async () => {
    const { deps, add } = await setup();
    await add('docs', {
      'a/1.txt': 'x'.repeat(10),
      'a/2.txt': 'y'.repeat(30),
      'b/3.png': Buffer.alloc(100),
      'c.md': 'hello',
    });
    const p = await profileVersion(deps, 'docs');
    expect(p.kind).toBe('files');
    const f = p.profile as FilesProfile;
    expect(f).toMatchObject({ format: 'files', files: 4, bytes: 145, sizes: { min: 5, p50: 30, p95: 100, max: 100 } });
    expect(f.extensions).toEqual(
      expect.arrayContaining([
        { ext: '.txt', files: 2, bytes: 40 },
        { ext: '.png', files: 1, bytes: 100 },
        { ext: '.md', files: 1, bytes: 5 },
      ]),
    );
    expect(f.topFolders).toEqual([
      { folder: 'a', files: 2 },
      { folder: '.', files: 1 },
      { folder: 'b', files: 1 },
    ]);
    expect((await reportOf(deps, 'docs', 'profile')).body).toEqual(f);
    await rejectsWith(inferSuiteFor(deps, 'docs'), 'INVALID_INPUT');
  });

  it('a folder of files with a CSV manifest: files-only suites, recipes and --labels splits work on the files', async () => {
    const { deps, add, file } = await setup();
    const files: Record<string, string> = {};
    const manifest = ['path,label,owner'];
    for (let i = 0; i < 40; i++) {
      files[`docs/${i}.txt`] =
        `document ${i} written by someone, contact owner${i % 5}@example.com ${'word '.repeat(i)}`;
      manifest.push(`docs/${i}.txt,${i % 4 === 0 ? 'rare' : 'common'},o${i % 5}`);
    }
    files['manifest.csv'] = manifest.join('\n') + '\n';
    await add('corpus', files);

    // A table suite still reads the manifest as a table …
    const table = await validateVersion(deps, 'corpus', {
      suitePath: file('t.yaml', 'checks:\n  - row_count: { min: 40, max: 40 }\n'),
    });
    expect(table).toMatchObject({ kind: 'table', ok: true, size: 40 });
    // … a files-only suite checks the files, with labels from the manifest.
    const rep = await validateVersion(deps, 'corpus', {
      suitePath: file(
        'f.yaml',
        'files:\n  - labels: { from: manifest, allowed: [rare, common] }\n  - pii: { kinds: [email] }\n',
      ),
    });
    expect(rep).toMatchObject({ kind: 'files', size: 41 });
    expect(rep.checks.map((c) => [c.name, c.status, c.evaluated, c.failed])).toEqual([
      ['labels', 'passed', 40, 0],
      ['pii', 'failed', 41, 40],
    ]);
    expect(rep.checks[0]!.details).toMatchObject({ labels: { common: 30, rare: 10 } });

    const cleaned = await cleanVersion(deps, 'corpus', {
      recipePath: file('r.yaml', 'files:\n  - redact_pii: { kinds: [email] }\n'),
      name: 'corpus-clean',
    });
    expect(cleaned.ref).toBe('corpus-clean@v1');
    expect((cleaned.report as { steps: Array<{ kind: string; details: { files: number } }> }).steps[0]).toMatchObject({
      kind: 'redact_pii',
      details: { files: 40 },
    });

    const s = await splitVersion(deps, 'corpus', {
      name: 'cs',
      ratios: 'train=0.5,test=0.5',
      stratify: 'label',
      labels: 'manifest',
    });
    // The manifest is not split; each split gets its own copy cut down to its files.
    expect(s.splits.reduce((n, x) => n + x.size, 0)).toBe(40);
    const g = await splitVersion(deps, 'corpus', {
      name: 'cg',
      ratios: 'train=0.6,test=0.4',
      group: 'owner',
      manifest: 'manifest.csv',
    });
    expect(g.leakage.checked).toContain('group-overlap');
    expect(g.leakage.ok).toBe(true);
    expect(g.splits.reduce((n, x) => n + x.size, 0)).toBe(40);
  });

  it('a version that is not a table is refused by table-only services, with nothing written', async () => {
    const { deps, add, file, entries } = await setup();
    await add('plain', { 'a.txt': 'hello' });
    const n = (await entries()).length;
    await rejectsWith(
      validateVersion(deps, 'plain', { suitePath: file('t.yaml', 'checks:\n  - row_count: { min: 1 }\n') }),
      'INVALID_INPUT',
    );
    await rejectsWith(
      cleanVersion(deps, 'plain', { recipePath: file('r.yaml', 'steps:\n  - drop_duplicates: {}\n'), name: 'p2' }),
      'INVALID_INPUT',
    );
    expect((await listAll(deps)).map((d) => d.name)).toEqual(['plain']);
    // (validate records its failed attempt; clean refuses before starting one, as it does for a
    // recipe that does not parse.)
    expect((await entries()).slice(n).every((e) => e.outcome === 'failed')).toBe(true);
  });
});
