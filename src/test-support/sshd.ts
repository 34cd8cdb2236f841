import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What scripts/start-sshd.sh writes to <dir>/env.json. */
export interface SshdFacts {
  host: string;
  port: number;
  user: string;
  identityFile: string;
  knownHostsFile: string;
  pidFile: string;
  dir: string;
}

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'start-sshd.sh');

let facts: SshdFacts | null | undefined;
let failure: Error | undefined;

/**
 * The throwaway sshd on 127.0.0.1 that the SFTP tests talk to, started (and, on Debian,
 * installed) by scripts/start-sshd.sh once per test process. When it cannot be started the
 * tests skip with a loud message, unless CAIRN_REQUIRE_SERVICES=1 (set by .ci/run), which
 * turns the skip into a failure.
 */
export function sshdFacts(): SshdFacts | null {
  if (failure) throw failure;
  if (facts !== undefined) return facts;
  const dir = process.env.CAIRN_SSHD_DIR ?? '/tmp/cairn-sshd';
  // Installing openssh-server the first time runs apt-get, hence the generous limit.
  const res = spawnSync('bash', [SCRIPT], {
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, CAIRN_SSHD_DIR: dir },
  });
  let why: string | null = null;
  if (res.error) why = res.error.message;
  else if (res.status !== 0)
    why = `exit ${res.status ?? res.signal}: ${(res.stderr || res.stdout).trim().split('\n').slice(-5).join(' | ')}`;
  if (why === null) {
    try {
      facts = JSON.parse(readFileSync(join(dir, 'env.json'), 'utf8')) as SshdFacts;
      return facts;
    } catch (err) {
      why = `cannot read ${join(dir, 'env.json')}: ${(err as Error).message}`;
    }
  }
  if (process.env.CAIRN_REQUIRE_SERVICES === '1') {
    failure = new Error(`sshd is required (CAIRN_REQUIRE_SERVICES=1) but scripts/start-sshd.sh failed: ${why}`);
    throw failure;
  }
  process.stderr.write(
    `\n!!! SKIPPING SSH tests: scripts/start-sshd.sh could not start sshd (${why}). Set CAIRN_REQUIRE_SERVICES=1 to fail instead.\n\n`,
  );
  facts = null;
  return facts;
}
