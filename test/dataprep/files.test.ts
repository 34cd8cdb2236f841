// File collections end to end through the real CLI, on real e-mails that no one here wrote
// (SpamAssassin, two folders), plus a duplicate, a binary file named .txt and an empty file:
// validation with exact failures, cleaning (no address survives, untouched files keep their
// digests), stratified splits and exact-duplicate leakage between splits.
import { createHash } from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkout,
  datasets,
  emailsIn,
  expectUnchanged,
  fails,
  initWs,
  keyText,
  lastEvent,
  makeTemp,
  ok,
  rmTemp,
  snapshot,
  SPAM,
  splitPosition,
  tmpFiles,
  type SplitOut,
} from './support.js';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const PER_FOLDER = 100;

interface FileCheckOut {
  name: string;
  status: string;
  evaluated: number;
  failed: number;
  sample: Array<{ path: string; reason: string }>;
  details: Record<string, unknown>;
}
interface ShowOut {
  ref: string;
  digest: string;
  listing: Array<{ path: string; digest: string; size: number }>;
  truncated: boolean;
}

/** UTF-8 byte order, as the duplicates rule orders paths. */
const byteOrder = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));

describe('file collections end to end (CLI, SpamAssassin e-mails)', () => {
  let cwd = '';
  let tree = '';
  /** path → bytes of everything in the collection. */
  const files = new Map<string, Buffer>();
  let original = '';
  let duplicate = '';
  let raw: { ref: string; digest: string } = { ref: '', digest: '' };

  beforeAll(() => {
    cwd = makeTemp('files');
    initWs(cwd);
    tree = join(cwd, 'mail');
    for (const [from, label] of [
      ['spam-1', 'spam'],
      ['easy-ham-1', 'ham'],
    ] as const) {
      mkdirSync(join(tree, label), { recursive: true });
      const names = readdirSync(join(SPAM, from))
        .filter((n) => n.endsWith('.txt'))
        .sort()
        .slice(0, PER_FOLDER);
      for (const n of names) {
        copyFileSync(join(SPAM, from, n), join(tree, label, n));
        files.set(`${label}/${n}`, readFileSync(join(SPAM, from, n)));
      }
    }
    // The duplicate: a copy of the first spam e-mail under ham/, named so that a plain split
    // (documented hash of the path) puts it in the other split than the original.
    original = [...files.keys()].filter((p) => p.startsWith('spam/')).sort()[0]!;
    const inTrain = (p: string) => splitPosition(keyText(p)) < 0.8;
    for (let k = 0; ; k++) {
      const p = `ham/copy-${k}.txt`;
      if (inTrain(p) !== inTrain(original)) {
        duplicate = p;
        break;
      }
    }
    // A binary file (a truncated PNG) named .txt, and an empty file.
    const binary = Buffer.concat([Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex'), Buffer.alloc(64, 7)]);
    const extra: Record<string, Buffer> = {
      [duplicate]: files.get(original)!,
      'spam/image.txt': binary,
      'ham/empty.txt': Buffer.alloc(0),
    };
    for (const [p, b] of Object.entries(extra)) {
      writeFileSync(join(tree, p), b);
      files.set(p, b);
    }
    raw = ok<{ ref: string; digest: string }>(cwd, ['data', 'add', tree, '--name', 'mail']);
  });
  afterAll(() => rmTemp(cwd));

  const textFiles = () => [...files.keys()].filter((p) => p !== 'spam/image.txt');
  const nonUtf8 = () => textFiles().filter((p) => !isUtf8(files.get(p)!));
  const withEmail = (p: string) => emailsIn(files.get(p)!.toString('latin1')) > 0;

  it('validate with a files: suite reports exactly the broken files, stores the report and fails the run', () => {
    const suite = join(cwd, 'mail-suite.yaml');
    writeFileSync(
      suite,
      [
        'suite: mail',
        'files:',
        '  - types: {}',
        '  - size: { min: 1, max: 1MB }',
        '  - decodable: {}',
        '  - duplicates: {}',
        '  - labels: { from: folder, allowed: [spam, ham] }',
        '  - pii: { kinds: [email] }',
        '',
      ].join('\n'),
    );
    const n = files.size;
    expect(n).toBe(2 * PER_FOLDER + 3);
    const err = fails(cwd, ['data', 'validate', 'mail', '--suite', suite], 'CHECK_FAILED');
    const rep = (
      err.data as { report: { kind: string; size: number; ok: boolean; errors: number; checks: FileCheckOut[] } }
    ).report;
    expect(rep.kind).toBe('files');
    expect(rep.size).toBe(n);
    const c = Object.fromEntries(rep.checks.map((x) => [x.name, x]));

    expect(c.types).toMatchObject({ status: 'failed', evaluated: n, failed: 1 });
    expect(c.types!.sample).toEqual([{ path: 'spam/image.txt', reason: 'extension .txt but the content is png' }]);

    expect(c.size).toMatchObject({ status: 'failed', evaluated: n, failed: 1 });
    expect(c.size!.sample.map((s) => s.path)).toEqual(['ham/empty.txt']);

    // Real e-mails in Latin-1 fail decoding as UTF-8 (found here with Node's own validator),
    // and so does the truncated PNG.
    const bad = nonUtf8();
    expect(bad.length).toBeGreaterThan(0);
    expect(c.decodable).toMatchObject({ status: 'failed', evaluated: n, failed: bad.length + 1 });
    expect(c.decodable!.details.byType).toEqual({
      png: { checked: 1, failed: 1 },
      text: { checked: n - 1, failed: bad.length },
    });

    // Of the two copies, the one later in UTF-8 byte order is the duplicate.
    const later = [original, duplicate].sort(byteOrder)[1]!;
    expect(c.duplicates).toMatchObject({ status: 'failed', failed: 1, details: { groups: 1, duplicates: 1 } });
    expect(c.duplicates!.sample.map((s) => s.path)).toEqual([later]);

    const ham = [...files.keys()].filter((p) => p.startsWith('ham/')).length;
    expect(c.labels).toMatchObject({ status: 'passed', failed: 0 });
    expect(c.labels!.details.labels).toEqual({ ham, spam: n - ham });

    const mailed = [...files.keys()].filter(withEmail);
    const addresses = [...files.values()].reduce((s, b) => s + emailsIn(b.toString('latin1')), 0);
    expect(c.pii).toMatchObject({ status: 'failed', evaluated: n, failed: mailed.length });
    expect(c.pii!.details).toMatchObject({ files: mailed.length, counts: { email: addresses } });
    // Reports hold masked values only.
    for (const s of c.pii!.sample as unknown as Array<{ values: string[] }>)
      for (const v of s.values) expect(v).toMatch(/^[x9@._%+-]+$/);

    expect(rep.ok).toBe(false);
    expect(rep.errors).toBe(5);
    const stored = ok<{ body: unknown; digest: string }>(cwd, ['data', 'report', 'mail', '--kind', 'validation']);
    expect(stored.body).toEqual(rep);
    expect(lastEvent(cwd, 'dataset.validate')).toMatchObject({
      outcome: 'failed',
      target: { name: 'mail', version: 1, digest: raw.digest },
      params: { ok: false, errors: 5, report: stored.digest },
    });
  });

  it('clean with files: steps drops what it should, redacts every address and keeps untouched files byte for byte', () => {
    const recipe = join(cwd, 'mail-recipe.yaml');
    writeFileSync(
      recipe,
      [
        'recipe: mail-clean',
        'files:',
        '  - select: { exclude: ["ham/0001*"] }',
        '  - drop_duplicates: {}',
        '  - drop_invalid: { checks: [types, decodable, size] }',
        '  - redact_pii: { kinds: [email] }',
        '',
      ].join('\n'),
    );
    const res = ok<{
      ref: string;
      digest: string;
      recipeDigest: string;
      report: {
        steps: Array<{ kind: string; filesIn: number; filesOut: number }>;
        dropped: Array<{ path: string; step: number; reason: string }>;
      };
    }>(cwd, ['data', 'clean', 'mail', '--recipe', recipe, '--name', 'mail-clean']);
    expect(res.ref).toBe('mail-clean@v1');
    expect(res.recipeDigest).toBe(`sha256:${sha(readFileSync(recipe))}`);

    // What should go, step by step, from the spec.
    const all = [...files.keys()];
    const unselected = all.filter((p) => /^ham\/0001[^/]*$/.test(p));
    const afterSelect = all.filter((p) => !unselected.includes(p));
    const dupDropped = [original, duplicate].sort(byteOrder)[1]!;
    const afterDup = afterSelect.filter((p) => p !== dupDropped);
    const invalid = afterDup.filter((p) => p === 'spam/image.txt' || p === 'ham/empty.txt' || !isUtf8(files.get(p)!));
    const kept = afterDup.filter((p) => !invalid.includes(p)).sort(byteOrder);
    expect(unselected.length).toBeGreaterThan(0);
    expect(res.report.steps.map((s) => [s.kind, s.filesIn, s.filesOut])).toEqual([
      ['select', all.length, afterSelect.length],
      ['drop_duplicates', afterSelect.length, afterDup.length],
      ['drop_invalid', afterDup.length, kept.length],
      ['redact_pii', kept.length, kept.length],
    ]);
    expect(res.report.dropped.map((d) => d.path).sort()).toEqual([...unselected, dupDropped, ...invalid].sort());

    const before = ok<ShowOut>(cwd, ['data', 'show', 'mail', '--all']);
    const after = ok<ShowOut>(cwd, ['data', 'show', res.ref, '--all']);
    expect(after.truncated).toBe(false);
    expect(after.listing.map((f) => f.path).sort(byteOrder)).toEqual(kept);
    const oldDigest = new Map(before.listing.map((f) => [f.path, f.digest]));
    for (const p of kept) expect(oldDigest.get(p)).toBe(`sha256:${sha(files.get(p)!)}`);

    // No address is left in any .txt of the new version; files without one kept their digests.
    const dir = checkout(cwd, res.ref);
    let redacted = 0;
    for (const f of after.listing) {
      const bytes = readFileSync(join(dir, f.path));
      expect(emailsIn(bytes.toString('latin1')), f.path).toBe(0);
      expect(f.digest).toBe(`sha256:${sha(bytes)}`);
      if (withEmail(f.path)) {
        redacted++;
        expect(f.digest, f.path).not.toBe(oldDigest.get(f.path));
        expect(bytes.toString('latin1')).toContain('[EMAIL]');
      } else expect(f.digest, f.path).toBe(oldDigest.get(f.path));
    }
    expect(redacted).toBeGreaterThan(0);
    expect(lastEvent(cwd, 'dataset.clean')).toMatchObject({
      outcome: 'ok',
      target: { name: 'mail-clean', version: 1, digest: res.digest },
      inputs: [raw.digest],
      outputs: [res.digest],
      params: { recipeDigest: res.recipeDigest },
    });
  });

  it('split --stratify label --labels folder keeps every label within 1 percentage point', () => {
    const cleaned = ok<ShowOut>(cwd, ['data', 'show', 'mail-clean', '--all']);
    const s = ok<SplitOut>(cwd, [
      'data',
      'split',
      'mail-clean',
      '--name',
      'mail-strat',
      '--ratios',
      'train=0.8,test=0.2',
      '--stratify',
      'label',
      '--labels',
      'folder',
    ]);
    expect(s.leakage.ok).toBe(true);
    expect(s.splits.map((x) => x.ref)).toEqual(['mail-strat/train@v1', 'mail-strat/test@v1']);
    const all = cleaned.listing.map((f) => f.path);
    const share = (paths: string[], label: string) =>
      paths.filter((p) => p.startsWith(`${label}/`)).length / paths.length;
    const seen: string[] = [];
    for (const x of s.splits) {
      const shown = ok<ShowOut>(cwd, ['data', 'show', x.ref, '--all']);
      const paths = shown.listing.map((f) => f.path);
      expect(paths.length).toBe(x.size);
      seen.push(...paths);
      for (const label of ['spam', 'ham'])
        expect(Math.abs(share(paths, label) - share(all, label)) * 100, `${x.name} ${label}`).toBeLessThan(1);
      // Files keep their content (and digests) in the split.
      const src = new Map(cleaned.listing.map((f) => [f.path, f.digest]));
      for (const f of shown.listing) expect(f.digest).toBe(src.get(f.path));
    }
    expect(seen.sort()).toEqual([...all].sort());
  });

  it('labels and groups from a CSV manifest: the collection is checked and split as files, not as the manifest table', () => {
    // The e-mails flat in one folder; labels and a group (the first sender domain) come from a manifest.
    const flat = join(cwd, 'flat');
    mkdirSync(join(flat, 'mail'), { recursive: true });
    const picked = [...files.keys()]
      .filter((p) => /^(spam|ham)\/\d/.test(p) && isUtf8(files.get(p)!))
      .sort()
      .filter((_, i) => i % 3 === 0);
    const lines = ['path,label,domain'];
    for (const p of picked) {
      const name = p.replace('/', '-');
      writeFileSync(join(flat, 'mail', name), files.get(p)!);
      const domain = /@([A-Za-z0-9.-]+)/.exec(files.get(p)!.toString('latin1'))?.[1]?.toLowerCase() ?? 'none';
      lines.push(`mail/${name},${p.split('/')[0]},${domain}`);
    }
    writeFileSync(join(flat, 'manifest.csv'), lines.join('\n') + '\n');
    ok(cwd, ['data', 'add', flat, '--name', 'flat']);
    const suite = join(cwd, 'flat-suite.yaml');
    writeFileSync(suite, 'suite: flat\nfiles:\n  - labels: { from: manifest, allowed: [spam, ham] }\n  - types: {}\n');
    const rep = ok<{ kind: string; ok: boolean; checks: FileCheckOut[] }>(cwd, [
      'data',
      'validate',
      'flat',
      '--suite',
      suite,
    ]);
    expect(rep.kind).toBe('files');
    expect(rep.checks[0]).toMatchObject({ name: 'labels', status: 'passed', evaluated: picked.length });

    const s = ok<SplitOut>(cwd, [
      'data',
      'split',
      'flat',
      '--name',
      'flat-strat',
      '--ratios',
      'train=0.8,test=0.2',
      '--stratify',
      'label',
      '--labels',
      'manifest',
    ]);
    const members = s.splits.map((x) => ok<ShowOut>(cwd, ['data', 'show', x.ref, '--all']).listing.map((f) => f.path));
    expect(
      members
        .flat()
        .filter((p) => p.startsWith('mail/'))
        .sort(),
    ).toEqual(picked.map((p) => `mail/${p.replace('/', '-')}`).sort());
    expect(members.flat().some((p) => p.endsWith('.parquet'))).toBe(false);
    // The manifest is not a member: each split carries its own, with exactly its files' lines.
    expect(s.splits[0]!.size + s.splits[1]!.size).toBe(picked.length);
    for (const [i, x] of s.splits.entries()) {
      expect(members[i]).toContain('manifest.csv');
      const own = readFileSync(join(checkout(cwd, x.ref), 'manifest.csv'), 'utf8').split('\n');
      expect(own[0]).toBe('path,label,domain');
      expect(own.slice(1, -1).sort()).toEqual(
        lines
          .slice(1)
          .filter((l) => members[i]!.includes(l.split(',')[0]!))
          .sort(),
      );
      expect(own.length - 2, JSON.stringify({ size: x.size, members: members[i]!.length })).toBe(x.size);
    }

    const g = ok<SplitOut>(cwd, [
      'data',
      'split',
      'flat',
      '--name',
      'flat-group',
      '--ratios',
      'train=0.8,test=0.2',
      '--group',
      'domain',
      '--manifest',
      'manifest.csv',
    ]);
    expect(g.leakage).toMatchObject({ ok: true, checked: expect.arrayContaining(['group-overlap']) });
    const domainOf = new Map(lines.slice(1).map((l) => [l.split(',')[0]!, l.split(',')[2]!]));
    const [tr, te] = g.splits.map(
      (x) =>
        new Set(
          ok<ShowOut>(cwd, ['data', 'show', x.ref, '--all'])
            .listing.map((f) => domainOf.get(f.path))
            .filter(Boolean),
        ),
    );
    for (const d of te!) expect(tr!.has(d), d).toBe(false);
  });

  it('the same content at two paths in different splits is a leakage error: refused, unless --allow-leakage', () => {
    const before = snapshot(cwd);
    const args = ['data', 'split', 'mail', '--name', 'mail-plain', '--ratios', 'train=0.8,test=0.2'];
    const err = fails(cwd, args, 'CHECK_FAILED');
    expect(err.message).toContain('1 file content (by digest; 2 files in all) appear in more than one split');
    const finding = (err.data.leakage as SplitOut['leakage']).findings.find((f) => f.kind === 'exact-duplicate')!;
    expect(finding).toMatchObject({ severity: 'error', count: 1 });
    const [inTrain, inTest] = splitPosition(keyText(original)) < 0.8 ? [original, duplicate] : [duplicate, original];
    expect(finding.sample).toEqual([
      { digest: sha(files.get(original)!), splits: { train: [inTrain], test: [inTest] } },
    ]);
    expectUnchanged(cwd, before);
    expect(lastEvent(cwd, 'dataset.split')).toMatchObject({
      outcome: 'failed',
      target: { name: 'mail-plain' },
      params: { allowLeakage: false },
    });

    const s = ok<SplitOut>(cwd, [...args, '--allow-leakage']);
    expect(s.allowedLeakage).toBe(true);
    // Every file lies where the documented hash of its path puts it.
    const train = ok<ShowOut>(cwd, ['data', 'show', s.splits[0]!.ref, '--all']).listing.map((f) => f.path);
    expect(train.sort()).toEqual([...files.keys()].filter((p) => splitPosition(keyText(p)) < 0.8).sort());
    expect(s.splits[0]!.size + s.splits[1]!.size).toBe(files.size);
    expect(lastEvent(cwd, 'dataset.split')).toMatchObject({
      outcome: 'ok',
      target: { name: 'mail-plain' },
      inputs: [raw.digest],
      outputs: s.splits.map((x) => x.digest),
      params: { allowLeakage: true, leakageOk: false },
    });
    expect(datasets(cwd).map((d) => d.name)).toEqual(expect.arrayContaining(['mail-plain/train', 'mail-plain/test']));
    expect(tmpFiles(cwd)).toEqual([]);
    expect(ok<{ ok: boolean }>(cwd, ['audit', 'verify']).ok).toBe(true);
  });
});
