// RFC 3161 trusted time on checkpoints, from a real TSA (`openssl ts -reply`) with its own CA,
// checked offline with `openssl ts -verify` exactly as an auditor would.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { stopTsas } from './support.js';
import { cli, type CliResult } from '../../src/test-support/cli.js';
import { makeTsa, startTsa } from './support.js';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
if (!hasOpenssl && process.env.CAIRN_REQUIRE_SERVICES === '1')
  throw new Error('CAIRN_REQUIRE_SERVICES=1 but the openssl command is missing');
if (!hasOpenssl) console.warn('SKIPPED: RFC 3161 tests need the openssl command');

afterEach(() => stopTsas());

function ok(r: CliResult): CliResult {
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return r;
}

describe.skipIf(!hasOpenssl)('RFC 3161 timestamps on checkpoints', () => {
  it('each new checkpoint gets a token that openssl ts -verify accepts offline; a wrong CA or changed data is refused', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-tsa-'));
    const tsaDir = join(cwd, 'tsa');
    execFileSync('mkdir', ['-p', tsaDir]);
    makeTsa(tsaDir);
    const url = await startTsa(tsaDir);
    const home = { cwd: join(cwd, 'ws') };
    ok(cli(['init', join(cwd, 'ws')], { cwd }));
    // A file that is no certificate is refused and nothing changes.
    writeFileSync(join(cwd, 'junk.pem'), 'not a certificate');
    expect(cli(['audit', 'timestamp', 'set', url, '--ca', join(cwd, 'junk.pem')], home).code).toBe(1);
    ok(cli(['audit', 'timestamp', 'set', url, '--ca', join(tsaDir, 'ca.pem')], home));
    ok(cli(['data', 'add', join(tsaDir, 'tsa.cnf'), '--name', 'cfg'], home));
    const status = ok(cli(['audit', 'witness', 'status', '--json'], home)).json as {
      size: number;
      timestamp: { token: string; data: string; verified: boolean };
    };
    expect(status.timestamp.verified).toBe(true);
    const tokens = readdirSync(join(cwd, 'ws', '.cairn', 'timestamp')).filter((f) => f.endsWith('.tsr'));
    expect(tokens.length).toBeGreaterThanOrEqual(1);
    // The auditor's own check, with nothing from Cairn.
    const verify = (data: string, ca: string) =>
      spawnSync('openssl', ['ts', '-verify', '-data', data, '-in', status.timestamp.token, '-CAfile', ca], {
        encoding: 'utf8',
      });
    const good = verify(status.timestamp.data, join(tsaDir, 'ca.pem'));
    expect(good.stdout + good.stderr).toMatch(/Verification: OK/);
    // The token stamps the checkpoint note it is kept beside, which is the log's signed checkpoint.
    expect(readFileSync(status.timestamp.data, 'utf8')).toMatch(new RegExp(`^[^\\n]+\\n${status.size}\\n`));
    writeFileSync(join(cwd, 'other'), `${readFileSync(status.timestamp.data, 'utf8')}x`);
    expect(verify(join(cwd, 'other'), join(tsaDir, 'ca.pem')).status).not.toBe(0);
    const stranger = join(cwd, 'stranger');
    execFileSync('mkdir', ['-p', stranger]);
    makeTsa(stranger);
    expect(verify(status.timestamp.data, join(stranger, 'ca.pem')).status).not.toBe(0);
  }, 180_000);

  it('a TSA that is down leaves the write in place and says the checkpoint has no trusted time', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-tsa-down-'));
    const home = { cwd: join(cwd, 'ws'), env: { CAIRN_WITNESS_TIMEOUT_MS: '2000' } };
    ok(cli(['init', join(cwd, 'ws')], { cwd }));
    ok(cli(['audit', 'timestamp', 'set', 'http://127.0.0.1:9/tsa'], home));
    writeFileSync(join(cwd, 'f.txt'), 'x');
    const r = ok(cli(['data', 'add', join(cwd, 'f.txt'), '--name', 'f'], home));
    expect(r.stderr).toMatch(
      /has no trusted time: the timestamp authority http:\/\/127\.0\.0\.1:9\/tsa did not answer/,
    );
    expect(ok(cli(['data', 'ls', '--json'], home)).stdout).toContain('"f"');
  }, 120_000);
});
