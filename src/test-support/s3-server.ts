import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll } from 'vitest';
import { join } from 'node:path';
import { packageRoot } from '../core/package-root.js';

export interface S3TestServer {
  /** `http://127.0.0.1:<port>`; use path-style addressing. */
  endpoint: string;
  /** An empty bucket created at start-up. */
  bucket: string;
  /** s3rver's data folder: `<directory>/<bucket>/<key>._S3rver_object` holds an object's bytes. */
  directory: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  close(): Promise<void>;
}

/**
 * Runs inside the child. s3rver 3.7 lacks AbortMultipartUpload and ListMultipartUploads (it
 * answers 405 / 501), which real S3 has and the backend relies on to leave no orphaned parts;
 * the shim answers both from s3rver's own upload folder, `<bucket>/._S3rver_uploads/<id>/`.
 */
const CHILD = String.raw`
const S3rver = require(process.env.CAIRN_S3RVER_PATH);
const directory = process.env.CAIRN_S3RVER_DIR;
const bucket = process.env.CAIRN_S3RVER_BUCKET;
const server = new S3rver({ address: '127.0.0.1', port: Number(process.env.CAIRN_S3RVER_PORT || 0), silent: true, directory, configureBuckets: [{ name: bucket }] });
require(process.env.CAIRN_S3RVER_SHIM)(server, directory);
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
server.run().then(
  (addr) => process.stdout.write(JSON.stringify({ port: addr.port }) + '\n'),
  (err) => { process.stderr.write(String(err && err.stack || err) + '\n'); process.exit(1); },
);
`;

/**
 * Starts a real s3rver HTTP server on 127.0.0.1 (a free port) over a temporary folder, with one
 * fresh bucket. It runs as a child process because its ListObjectsV2 continuation tokens use
 * DES, which OpenSSL 3 only offers with --openssl-legacy-provider; the child also exits when
 * our end of its stdin closes, so a killed test worker leaves no server behind.
 */
export async function startS3Server(opts: { port?: number; bucket?: string } = {}): Promise<S3TestServer> {
  const s3rverPath = createRequire(import.meta.url).resolve('s3rver');
  const directory = mkdtempSync(join(tmpdir(), 'cairn-s3rver-'));
  const bucket = opts.bucket ?? `cairn-test-${randomBytes(4).toString('hex')}`;
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', CHILD], {
    env: {
      ...process.env,
      CAIRN_S3RVER_PATH: s3rverPath,
      CAIRN_S3RVER_SHIM: join(packageRoot(), 'scripts', 's3rver-multipart-shim.cjs'),
      CAIRN_S3RVER_DIR: directory,
      CAIRN_S3RVER_BUCKET: bucket,
      CAIRN_S3RVER_PORT: String(opts.port ?? 0),
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`s3rver did not start within 20 s: ${stderr}`)), 20_000);
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const nl = out.indexOf('\n');
        if (nl < 0) return;
        clearTimeout(timer);
        resolve((JSON.parse(out.slice(0, nl)) as { port: number }).port);
      });
      child.once('error', (err) => (clearTimeout(timer), reject(err)));
      child.once(
        'exit',
        (code) => (clearTimeout(timer), reject(new Error(`s3rver exited with status ${code}: ${stderr.trim()}`))),
      );
    });
    return {
      endpoint: `http://127.0.0.1:${port}`,
      bucket,
      directory,
      region: 'us-east-1',
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      close: async () => {
        child.stdin.end();
        await exited;
        rmSync(directory, { recursive: true, force: true });
      },
    };
  } catch (err) {
    child.kill();
    rmSync(directory, { recursive: true, force: true });
    throw err;
  }
}

let shared: Promise<S3TestServer | null> | null = null;

/**
 * One server for the calling test file, started on first use. Null when it cannot start:
 * tests then skip with a loud message, unless CAIRN_REQUIRE_SERVICES=1 (set by .ci/run), which
 * turns the skip into a failure.
 */
export function sharedS3Server(): Promise<S3TestServer | null> {
  shared ??= startS3Server().catch((err: unknown) => {
    if (process.env.CAIRN_REQUIRE_SERVICES === '1') {
      throw new Error(`s3rver is required (CAIRN_REQUIRE_SERVICES=1) but could not start: ${(err as Error).message}`);
    }
    process.stderr.write(
      `\n!!! SKIPPING S3 tests: s3rver could not start (${(err as Error).message}). Set CAIRN_REQUIRE_SERVICES=1 to fail instead.\n\n`,
    );
    return null;
  });
  return shared;
}

/** Stops the shared server, if one was started; call from afterAll. */
export async function stopSharedS3Server(): Promise<void> {
  const s = await shared?.catch(() => null);
  shared = null;
  await s?.close();
}

/**
 * The shared server for the calling test file, with the AWS_* variables the S3 backend reads set
 * while the file runs (and put back after). Returns what a test calls first: the server, or a
 * loud skip when there is none.
 */
export function useSharedS3(): (ctx: { skip: () => void }) => S3TestServer {
  let s3: S3TestServer | null = null;
  const saved = { ...process.env };
  beforeAll(async () => {
    s3 = await sharedS3Server();
    if (s3)
      Object.assign(process.env, {
        AWS_ACCESS_KEY_ID: s3.credentials.accessKeyId,
        AWS_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
        AWS_REGION: s3.region,
      });
  });
  afterAll(async () => {
    process.env = saved;
    await stopSharedS3Server();
  });
  return (ctx) => {
    if (!s3) {
      console.warn('SKIPPED: no S3 test server (s3rver) available');
      ctx.skip();
    }
    return s3!;
  };
}
