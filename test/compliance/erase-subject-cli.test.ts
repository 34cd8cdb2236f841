// `cairn data erase --subject` as a user runs it: the real CLI on a real workspace.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli } from '../../src/test-support/cli.js';
import { useTempDirs } from '../../src/test-support/temp.js';

describe('cairn data erase --subject', () => {
  const tmp = useTempDirs();

  it('plans with --dry-run, refuses bad keys and a missing reason, erases, and a checkout of the old version says ERASED', () => {
    const cwd = tmp();
    expect(cli(['init'], { cwd }).code).toBe(0);
    const src = join(cwd, 'data');
    mkdirSync(join(src, 'users', 'u1'), { recursive: true });
    mkdirSync(join(src, 'users', 'u2'), { recursive: true });
    writeFileSync(join(src, 'users', 'u1', 'scan.txt'), 'passport scan of u1');
    writeFileSync(join(src, 'users', 'u2', 'scan.txt'), 'passport scan of u2');
    expect(cli(['data', 'add', src, '--name', 'people'], { cwd }).code).toBe(0);
    const key = ['--subject', 'u1', '--key', 'users/{subject}/**'];

    const plan = cli(['data', 'erase', 'people', ...key, '--dry-run'], { cwd });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('would replace and erase 1 version(s)');
    expect(plan.stdout).toContain('- users/u1/scan.txt');
    expect(plan.stdout).not.toContain('users/u2');

    const noKey = cli(['data', 'erase', 'people', '--subject', 'u1', '--reason', 'r'], { cwd });
    expect(noKey.code).not.toBe(0);
    expect(noKey.stderr).toContain('--key');
    const escape = cli(['data', 'erase', 'people', '--subject', 'u1', '--key', '../{subject}/**', '--reason', 'r'], {
      cwd,
    });
    expect(escape.code).not.toBe(0);
    expect(escape.stderr).toContain('INVALID_INPUT');
    const noReason = cli(['data', 'erase', 'people', ...key], { cwd });
    expect(noReason.code).not.toBe(0);

    const r = cli(['data', 'erase', 'people', ...key, '--reason', 'Art. 17 #12', '--json'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    const out = r.json as { versions: Array<{ ref: string; replacement: { ref: string } }> };
    expect(out.versions.map((v) => [v.ref, v.replacement.ref])).toEqual([['people@v1', 'people@v2']]);

    const old = cli(['data', 'checkout', 'people@v1', join(cwd, 'co1')], { cwd });
    expect(old.code).toBe(1);
    expect(old.stderr).toContain('ERASED');
    expect(cli(['data', 'checkout', 'people@v2', join(cwd, 'co2')], { cwd }).code).toBe(0);
    expect(readdirSync(join(cwd, 'co2', 'users'))).toEqual(['u2']);
    const verify = cli(['audit', 'verify', '--artifacts', '--json'], { cwd });
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
  });

  it('--scan removes the rows of an e-mail address from a table, and the pushed remote loses them too', () => {
    const cwd = tmp();
    expect(cli(['init'], { cwd }).code).toBe(0);
    const src = join(cwd, 'crm');
    mkdirSync(src, { recursive: true });
    writeFileSync(
      join(src, 'customers.csv'),
      'id,email\nc1,alice@example.com\nc2,bob@example.com\nc3,ALICE@example.com\n',
    );
    expect(cli(['data', 'add', src, '--name', 'crm'], { cwd }).code).toBe(0);
    expect(cli(['remote', 'add', 'origin', `file://${join(cwd, 'remote')}`], { cwd }).code).toBe(0);
    expect(cli(['push'], { cwd }).code).toBe(0);
    const who = ['--subject', 'alice@example.com', '--scan'];
    const plan = cli(['data', 'erase', 'crm', ...who, '--dry-run'], { cwd });
    expect(plan.code, plan.stderr).toBe(0);
    expect(plan.stdout).toContain('~ customers.csv: 2 of 3 row(s) removed (rows 1, 3)');
    expect(plan.stdout).toContain('remote origin: would delete 1 pack(s)');
    const notPii = cli(['data', 'erase', 'crm', '--subject', 'c1', '--scan', '--dry-run'], { cwd });
    expect(notPii.code).not.toBe(0);
    expect(notPii.stderr).toContain('INVALID_INPUT');
    const r = cli(['data', 'erase', 'crm', ...who, '--reason', 'Art. 17 #3', '--json'], { cwd });
    expect(r.code, r.stderr).toBe(0);
    const out = r.json as { rowsRemoved: number; remoteErasure: Array<{ remote: string; status: string }> };
    expect(out.rowsRemoved).toBe(2);
    expect(out.remoteErasure).toEqual([expect.objectContaining({ remote: 'origin', status: 'cleaned' })]);
    expect(cli(['data', 'checkout', 'crm@v2', join(cwd, 'co')], { cwd }).code).toBe(0);
    expect(readFileSync(join(cwd, 'co', 'customers.csv'), 'utf8')).toBe('id,email\nc2,bob@example.com\n');
  });
});
