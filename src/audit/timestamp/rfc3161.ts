import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CairnError } from '../../core/errors.js';

const run = promisify(execFile);
const TOKEN_LIMIT = 256 * 1024;

/** Where a log's timestamp authority is and the CA its tokens must chain to. */
export interface TimestampConfig {
  url: string;
  /** PEM of the CA certificate(s) the TSA's certificate chains to; null: tokens are kept unverified. */
  ca: string | null;
}

async function openssl(args: string[], cwd: string): Promise<string> {
  try {
    const { stdout } = await run('openssl', args, { cwd, maxBuffer: 4 << 20 });
    return stdout;
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT')
      throw new CairnError('UNSUPPORTED', 'RFC 3161 timestamps need the openssl command', {
        hint: 'install OpenSSL (Debian: apt-get install openssl)',
      });
    throw new CairnError('CHECK_FAILED', `openssl ${args[0]} ${args[1]} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

/**
 * Gets an RFC 3161 token for `data` (a checkpoint note) from the TSA at `config.url`. The request
 * is built by `openssl ts -query` (SHA-256, a random nonce, asking for the TSA's certificate), so
 * its DER is OpenSSL's and `openssl ts -verify` later reads the token it answers. When a CA is
 * configured the token is verified against it before it is kept: a token that does not verify
 * is not evidence.
 */
export async function requestTimestamp(
  data: string,
  config: TimestampConfig,
  timeoutMs: number,
): Promise<{ token: Buffer; time: string | null; verified: boolean }> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-tsa-'));
  try {
    await writeFile(join(dir, 'data'), data);
    await openssl(['ts', '-query', '-data', 'data', '-sha256', '-cert', '-out', 'req.tsq'], dir);
    const body = await readFile(join(dir, 'req.tsq'));
    let res: Response;
    let token: Buffer | null;
    try {
      res = await fetch(config.url, {
        method: 'POST',
        headers: { 'content-type': 'application/timestamp-query' },
        body,
        signal: AbortSignal.timeout(timeoutMs),
      });
      token = await readAtMost(res, TOKEN_LIMIT);
    } catch (err) {
      throw new CairnError(
        'SERVER_UNAVAILABLE',
        `the timestamp authority ${config.url} did not answer: ${(err as Error).message}`,
      );
    }
    if (token === null)
      throw new CairnError(
        'CHECK_FAILED',
        `the timestamp authority ${config.url} answered more than ${TOKEN_LIMIT} bytes (larger than any token); not read further`,
      );
    if (res.status !== 200 || token.length === 0)
      throw new CairnError('CHECK_FAILED', `the timestamp authority ${config.url} answered HTTP ${res.status}`);
    await writeFile(join(dir, 'resp.tsr'), token);
    let verified = false;
    if (config.ca) {
      // Against the request: the same digest and the same nonce (not a replayed token), signed
      // by a TSA certificate that chains to the CA and is meant for timestamping.
      await writeFile(join(dir, 'ca.pem'), config.ca);
      await openssl(['ts', '-verify', '-queryfile', 'req.tsq', '-in', 'resp.tsr', '-CAfile', 'ca.pem'], dir);
      verified = true;
    }
    const text = await openssl(['ts', '-reply', '-in', 'resp.tsr', '-text'], dir);
    if (!/Status: Granted/.test(text))
      throw new CairnError(
        'CHECK_FAILED',
        `the timestamp authority refused the request: ${text.split('\n').slice(0, 4).join(' ')}`,
      );
    const time = /Time stamp: (.+)/.exec(text)?.[1]?.trim() ?? null;
    return { token, time, verified };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The body, or null as soon as it passes `limit` bytes: the rest is never read, so an authority
 * that answers without end costs this process `limit` bytes, not its memory.
 */
async function readAtMost(res: Response, limit: number): Promise<Buffer | null> {
  if (!res.body) return Buffer.alloc(0);
  const chunks: Buffer[] = [];
  let n = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return Buffer.concat(chunks);
    n += value.length;
    if (n > limit) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(Buffer.from(value));
  }
}

/** `openssl ts -verify -data <data> -in <token> -CAfile <ca>`: true when it says OK. */
export async function verifyTimestamp(
  data: string,
  token: Buffer,
  ca: string,
): Promise<{ ok: boolean; message: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-tsa-'));
  try {
    await writeFile(join(dir, 'data'), data);
    await writeFile(join(dir, 'token.tsr'), token);
    await writeFile(join(dir, 'ca.pem'), ca);
    try {
      const out = await openssl(['ts', '-verify', '-data', 'data', '-in', 'token.tsr', '-CAfile', 'ca.pem'], dir);
      return { ok: /Verification: OK/.test(out), message: out.trim() };
    } catch (err) {
      return { ok: false, message: (err as Error).message };
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
