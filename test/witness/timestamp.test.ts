// RFC 3161 trusted time on checkpoints, from a real TSA (`openssl ts -reply`) with its own CA,
// checked offline with `openssl ts -verify` exactly as an auditor would.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli, type CliResult } from '../../src/test-support/cli.js';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
if (!hasOpenssl && process.env.CAIRN_REQUIRE_SERVICES === '1')
  throw new Error('CAIRN_REQUIRE_SERVICES=1 but the openssl command is missing');
if (!hasOpenssl) console.warn('SKIPPED: RFC 3161 tests need the openssl command');

const children: Array<ReturnType<typeof spawn>> = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGTERM');
});

function ok(r: CliResult): CliResult {
  expect(r.code, r.stdout + r.stderr).toBe(0);
  return r;
}

/** A CA and a TSA certificate (extendedKeyUsage critical timeStamping) signed by it. */
function makeTsa(dir: string): void {
  const o = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  o([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-subj',
    '/CN=Cairn Test CA',
    '-days',
    '2',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  o(['req', ...ec, '-keyout', 'tsa.key', '-out', 'tsa.csr', '-subj', '/CN=Cairn Test TSA']);
  writeFileSync(
    join(dir, 'ext.cnf'),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=critical,timeStamping\n',
  );
  o([
    'x509',
    '-req',
    '-in',
    'tsa.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'tsa.pem',
    '-days',
    '2',
    '-extfile',
    'ext.cnf',
  ]);
  writeFileSync(join(dir, 'tsaserial'), '01\n');
  writeFileSync(
    join(dir, 'tsa.cnf'),
    [
      '[ tsa ]',
      'default_tsa = tsa_config1',
      '[ tsa_config1 ]',
      'dir = .',
      'serial = ./tsaserial',
      'crypto_device = builtin',
      'signer_cert = ./tsa.pem',
      'certs = ./ca.pem',
      'signer_key = ./tsa.key',
      'signer_digest = sha256',
      'default_policy = 1.2.3.4.1',
      'digests = sha256, sha384, sha512',
      'accuracy = secs:1',
      'ordering = yes',
      'tsa_name = yes',
      'ess_cert_id_chain = no',
      'ess_cert_id_alg = sha256',
      '',
    ].join('\n'),
  );
}

async function startTsa(dir: string): Promise<string> {
  const child = spawn(process.execPath, [join(__dirname, 'tsa-server.mjs'), dir], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /"url":"([^"]+)"/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`TSA exited ${code}: ${out}`)));
  });
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
