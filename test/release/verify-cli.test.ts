// Issue 10, item 8: `cairn release verify` never reports success without a trusted key. The
// bundle's own public-key.pem shows only that the bundle agrees with itself (DESIGN.md §10).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateSigningKeyPair, publicKeyToPem } from '../../src/audit/note/index.js';
import { writeFixture } from '../../src/models/releases/fixtures.case.js';
import { cli } from '../../src/test-support/cli.js';
import { useTempDirs } from '../../src/test-support/temp.js';

describe('cairn release verify and trusted keys', () => {
  const tmp = useTempDirs();

  it('without --key: every check runs, but it exits 1 with UNTRUSTED_KEY; with the right key it succeeds; with another it fails', async () => {
    const f = await writeFixture(tmp);
    const cwd = tmp();
    const untrusted = cli(['release', 'verify', f.out, '--json'], { cwd });
    expect(untrusted.code).toBe(1);
    const err = (
      untrusted.json as {
        error: {
          code: string;
          message: string;
          data: { report: { ok: boolean; keyTrusted: boolean; filesChecked: number } };
        };
      }
    ).error;
    expect(err.code).toBe('UNTRUSTED_KEY');
    expect(err.message).toContain('self-consistent');
    expect(err.data.report).toMatchObject({ ok: true, keyTrusted: false, filesChecked: 13 });
    const human = cli(['release', 'verify', f.out], { cwd });
    expect(human.code).toBe(1);
    expect(human.stdout).not.toContain('ok:');
    expect(human.stderr).toContain('error[UNTRUSTED_KEY]');
    expect(human.stderr).not.toMatch(/\n\s+at /); // no stack trace

    const pem = join(cwd, 'publisher.pem');
    writeFileSync(pem, f.publicKeyPem);
    const trusted = cli(['release', 'verify', f.out, '--key', pem], { cwd });
    expect(trusted.code, trusted.stderr).toBe(0);
    expect(trusted.stdout).toContain('signed by the trusted key');

    const other = join(cwd, 'other.pem');
    writeFileSync(other, publicKeyToPem(generateSigningKeyPair().publicKey));
    const wrong = cli(['release', 'verify', f.out, '--key', other, '--json'], { cwd });
    expect(wrong.code).toBe(1);
    expect((wrong.json as { error: { code: string } }).error.code).toBe('CHECK_FAILED');
    const missing = cli(['release', 'verify', f.out, '--key', join(cwd, 'nope.pem'), '--json'], { cwd });
    expect((missing.json as { error: { code: string } }).error.code).toBe('IO_ERROR');
  });

  it('a malformed --witness-key is a usage error, refused before the bundle is read', async () => {
    const f = await writeFixture(tmp);
    const cwd = tmp();
    const pem = join(cwd, 'publisher.pem');
    writeFileSync(pem, f.publicKeyPem);
    const logKey = 'example.com/log+01234567+AQ' + 'A'.repeat(42) + '=';
    for (const [dir, bad] of [
      [f.out, 'not-a-key'],
      [f.out, 'w+zzzz+AAAA'],
      // A log key (type 0x01) is not a witness key (type 0x04).
      [f.out, logKey],
      // Up front: even a folder that is no bundle at all gets the usage error, not INVALID_INPUT.
      [join(cwd, 'no-such-bundle'), 'still-not-a-key'],
    ] as const) {
      const r = cli(['release', 'verify', dir, '--key', pem, '--witnessed', '--witness-key', bad, '--json'], { cwd });
      expect(r.code, r.stderr).toBe(2);
      const err = (r.json as { error: { code: string; message: string; data?: { report?: unknown } } }).error;
      expect(err.code).toBe('USAGE');
      expect(err.message).toContain('--witness-key #1 is not a witness key');
      expect(err.data?.report).toBeUndefined();
      const human = cli(['release', 'verify', dir, '--key', pem, '--witness-key', bad], { cwd });
      expect(human.code).toBe(2);
      expect(human.stderr).toContain('error[USAGE]');
      expect(human.stderr).not.toMatch(/\n\s+at /);
    }
  });
});
