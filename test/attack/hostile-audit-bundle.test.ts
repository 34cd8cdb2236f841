import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../../src/test-support/cli.js';
import { useTempDirs } from '../../src/test-support/temp.js';

/**
 * `cairn audit verify --bundle` is run by an auditor on a folder someone else made. Whatever the
 * folder holds, the answer is a verdict with a stable code — CHECK_FAILED naming the damage, or
 * INVALID_INPUT for what is no bundle at all — never INTERNAL ("a bug in Cairn"), which tells the
 * auditor nothing about the bundle and hides the problems found before the crash.
 */
const tmp = useTempDirs();
let pristine: string;
let vkey: string;
// Made once for every case (useTempDirs' folders go after each test): removed after all.
const base = mkdtempSync(join(tmpdir(), 'cairn-attack-'));
afterAll(() => rmSync(base, { recursive: true, force: true }));
beforeAll(() => {
  const ws = join(base, 'ws');
  mkdirSync(ws);
  const env = { CAIRN_ACTOR: 'auditee' };
  for (const args of [
    ['init', ws],
    ['audit', 'export', join(ws, 'first')],
  ])
    expect(cli(args, { cwd: ws, env }).code).toBe(0);
  writeFileSync(join(ws, 'd.csv'), 'a,b\n1,2\n');
  expect(cli(['data', 'add', join(ws, 'd.csv'), '--name', 'd'], { cwd: ws, env }).code).toBe(0);
  pristine = join(base, 'bundle');
  expect(cli(['audit', 'export', pristine], { cwd: ws, env }).code).toBe(0);
  vkey = readFileSync(join(pristine, 'public-key.vkey'), 'utf8').trim();
}, 120_000);

function hostile(change: (dir: string) => void): string {
  const dir = join(tmp(), 'hostile');
  cpSync(pristine, dir, { recursive: true });
  change(dir);
  return dir;
}

function verify(dir: string): { code: string | undefined; message: string } {
  const r = cli(['audit', 'verify', '--bundle', dir, '--key', vkey, '--json'], { cwd: tmp() });
  const out = JSON.parse(r.stdout) as { error?: { code: string; message: string } };
  return { code: out.error?.code, message: out.error?.message ?? '' };
}

const firstProof = (dir: string, file: string) =>
  JSON.parse(readFileSync(join(dir, 'proofs', file), 'utf8').split('\n')[0]!) as Record<string, unknown>;

describe('audit verify --bundle on a hostile bundle', () => {
  it('the untouched bundle verifies (the cases below fail for what was done to them)', () => {
    expect(cli(['audit', 'verify', '--bundle', pristine, '--key', vkey], { cwd: tmp() }).code).toBe(0);
  });

  it.each<[string, (dir: string) => void]>([
    ['a proof line that is not JSON', (d) => writeFileSync(join(d, 'proofs', 'consistency.jsonl'), 'garbage\n')],
    [
      'an inclusion proof without its hashes',
      (d) => {
        const { proof: _, ...rest } = firstProof(d, 'inclusion.jsonl');
        writeFileSync(join(d, 'proofs', 'inclusion.jsonl'), `${JSON.stringify(rest)}\n`);
      },
    ],
    [
      'an inclusion proof whose hashes are not text',
      (d) =>
        writeFileSync(
          join(d, 'proofs', 'inclusion.jsonl'),
          `${JSON.stringify({ ...firstProof(d, 'inclusion.jsonl'), proof: [{}, 7] })}\n`,
        ),
    ],
    [
      'a consistency proof that is a number',
      (d) =>
        writeFileSync(
          join(d, 'proofs', 'consistency.jsonl'),
          `${JSON.stringify({ ...firstProof(d, 'consistency.jsonl'), proof: 12 })}\n`,
        ),
    ],
    ['a proof line that is null', (d) => writeFileSync(join(d, 'proofs', 'inclusion.jsonl'), 'null\n')],
    [
      'an inclusion proof of entry "constructor"',
      (d) =>
        writeFileSync(
          join(d, 'proofs', 'inclusion.jsonl'),
          `${JSON.stringify({ ...firstProof(d, 'inclusion.jsonl'), index: 'constructor' })}\n`,
        ),
    ],
  ])('%s: CHECK_FAILED naming the proof file, not a crash', (_what, change) => {
    const r = verify(hostile(change));
    expect(r.code, r.message).toBe('CHECK_FAILED');
    expect(r.message).toMatch(/proofs\/(inclusion|consistency)\.jsonl/);
  });

  it.each<[string, (dir: string) => void]>([
    ['log.json that is not JSON', (d) => writeFileSync(join(d, 'log.json'), '{"format":')],
    ['log.json that is null', (d) => writeFileSync(join(d, 'log.json'), 'null')],
  ])('%s: INVALID_INPUT (not an audit bundle), not a crash', (_what, change) => {
    const r = verify(hostile(change));
    expect(r.code, r.message).toBe('INVALID_INPUT');
  });
});
