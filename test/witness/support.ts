// Witnesses as separate `cairn witness serve` processes, the way an operator runs them.
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliSpawn } from '../../src/test-support/cli.js';

const children: Array<ReturnType<typeof spawn>> = [];
export function stopTsas(): void {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGTERM');
}

export type Child = ReturnType<typeof cliSpawn>;

export interface RunningWitness {
  child: Child;
  url: string;
  vkey: string;
  name: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** Starts a witness on a free loopback port (or `listen`) and resolves once it listens. */
export async function startWitness(
  cwd: string,
  dataDir: string,
  opts: { name?: string; listen?: string } = {},
): Promise<RunningWitness> {
  const args = ['witness', 'serve', '--data-dir', dataDir, '--listen', opts.listen ?? '127.0.0.1:0', '--json'];
  if (opts.name) args.push('--name', opts.name);
  const child = cliSpawn(args, { cwd });
  let out = '';
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const info = await new Promise<{ url: string; vkey: string; name: string }>((resolve, reject) => {
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      let info: { url?: string; vkey: string; name: string } | null = null;
      try {
        info = JSON.parse(out) as { url?: string; vkey: string; name: string };
      } catch {
        return; // not all of it yet
      }
      if (typeof info.url === 'string') resolve(info as { url: string; vkey: string; name: string });
      else reject(new Error(`witness did not start: ${out}`));
    });
    child.once('exit', (code) => reject(new Error(`witness exited ${code}: ${out}${err}`)));
  });
  return {
    child,
    ...info,
    dataDir,
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

/** A CA and a TSA certificate (extendedKeyUsage critical timeStamping) signed by it. */
export function makeTsa(dir: string): void {
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

export async function startTsa(dir: string): Promise<string> {
  const child = spawn(process.execPath, [fileURLToPath(new URL('./tsa-server.mjs', import.meta.url)), dir], {
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
