// The S3 side of the `transfer` suite: a real s3rver in a child process that counts every HTTP
// request it receives, and (opt-in) a counting HTTP proxy in front of it.
//
// s3rver runs as `node --openssl-legacy-provider -e <CHILD>`, as src/test-support/s3-server.ts
// does: its ListObjectsV2 continuation tokens use DES, which OpenSSL 3 only offers with the
// legacy provider. The child answers AbortMultipartUpload / ListMultipartUploads (s3rver 3.7
// lacks both) through scripts/s3rver-multipart-shim.cjs, the one the test support uses, and
// exits when our end of its stdin closes, so a killed benchmark leaves no server behind.
//
// Two fixes: s3rver 3.7 answers a PUT of an object or a part before its file is written (it
// waits for its md5 transform, not for the write), so a HEAD right after a PUT can see size 0
// (rclone then reports "corrupted on transfer" and retries its whole copy) and
// CompleteMultipartUpload can read a part still being written. The child replaces
// FilesystemStore.putObject / putPart with versions that answer after the write has finished
// (not fsynced; the originals' intent), for both tools alike.
//
// Counting. The first middleware of the child counts every request (by S3 operation and HTTP
// status, request body bytes from Content-Length, response body bytes, most in flight) before
// s3rver sees it; `GET /__bench/stats` returns the counts and `POST /__bench/stats` resets them
// (both answered by that middleware and not counted). Counting in the server adds no hop between
// the tool and the server. The counting proxy (node:http, bodies streamed with pipe(),
// keep-alive upstream, Host header kept so SigV4 signatures stay valid) counts the same things on
// the wire; it is the opt-in cross-check (CAIRN_BENCH_S3_PROXY=1 in the suite), because on a
// small machine its CPU per request (~0.2 ms) slows a client that makes 40,000 requests by
// 15–30 % (measured with rclone and 5,000 files on 2 cores).

import { spawn } from 'node:child_process';
import { createServer, request as httpRequest, Agent } from 'node:http';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';

const SHIM = path.join(
  path.dirname(new URL(import.meta.url).pathname),
  '..',
  '..',
  'scripts',
  's3rver-multipart-shim.cjs',
);

export const S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', region: 'us-east-1' };

const CHILD = String.raw`
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { Transform, pipeline } = require('stream');
const S3rver = require(process.env.CAIRN_S3RVER_PATH);
// s3rver 3.7 answers a PUT (object or part) once the body has passed its md5 transform, before
// the file write has finished: a HEAD right after can see size 0 (rclone then reports "corrupted
// on transfer" and retries its whole copy), and CompleteMultipartUpload can read a part that is
// still being written. These two replacements answer only after the file is written (not
// fsynced), which is what the originals meant to do.
const FilesystemStore = require(path.join(path.dirname(process.env.CAIRN_S3RVER_PATH), 'stores', 'filesystem.js'));
const writeHashed = (file, content) => new Promise((resolve, reject) => {
  const md5 = crypto.createHash('md5');
  const out = fs.createWriteStream(file);
  if (Buffer.isBuffer(content)) {
    md5.update(content);
    out.on('error', reject);
    out.on('finish', () => resolve([content.length, md5.digest('hex')]));
    out.end(content);
    return;
  }
  let size = 0;
  const count = new Transform({ transform(chunk, enc, cb) { md5.update(chunk); size += chunk.length; cb(null, chunk); } });
  pipeline(content, count, out, (err) => (err ? reject(err) : resolve([size, md5.digest('hex')])));
});
FilesystemStore.prototype.putObject = async function (object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  await fs.promises.mkdir(path.dirname(objectPath), { recursive: true });
  const [size, md5] = await writeHashed(objectPath, object.content);
  await this.putMetadata(object.bucket, object.key, object.metadata, md5);
  return { size, md5 };
};
FilesystemStore.prototype.putPart = async function (bucket, uploadId, partNumber, content) {
  const partPath = path.join(this.getResourcePath(bucket, undefined, 'uploads'), uploadId, partNumber.toString());
  await fs.promises.mkdir(path.dirname(partPath), { recursive: true });
  const [size, md5] = await writeHashed(partPath, content);
  await fs.promises.writeFile(partPath + '.md5', md5);
  return { size, md5 };
};
const directory = process.env.CAIRN_S3RVER_DIR;
const bucket = process.env.CAIRN_S3RVER_BUCKET;
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory, configureBuckets: [{ name: bucket }] });
require(process.env.CAIRN_S3RVER_SHIM)(server, directory);
const stats = () => ({ requests: 0, byKind: {}, byStatus: {}, bytesUp: 0, bytesDown: 0, maxInFlight: 0, errors: 0, chunkedUploads: 0 });
let st = stats();
let inFlight = 0;
const has = (q, name) => Object.prototype.hasOwnProperty.call(q, name);
const kindOf = (method, p, q, headers) => {
  const slash = p.indexOf('/', 1);
  const hasKey = slash > 0 && slash < p.length - 1;
  if (method === 'PUT' && has(q, 'partNumber')) return 'UploadPart';
  if (method === 'POST' && has(q, 'uploads')) return 'CreateMultipartUpload';
  if (method === 'POST' && has(q, 'uploadId')) return 'CompleteMultipartUpload';
  if (method === 'DELETE' && has(q, 'uploadId')) return 'AbortMultipartUpload';
  if (method === 'GET' && !hasKey && has(q, 'uploads')) return 'ListMultipartUploads';
  if (method === 'GET' && !hasKey) return 'ListObjects';
  if (method === 'HEAD' && !hasKey) return 'HeadBucket';
  if (method === 'PUT' && !hasKey) return 'CreateBucket';
  if (method === 'PUT' && headers['x-amz-copy-source']) return 'CopyObject';
  if (method === 'PUT') return 'PutObject';
  if (method === 'GET') return 'GetObject';
  if (method === 'HEAD') return 'HeadObject';
  if (method === 'DELETE') return 'DeleteObject';
  return method + ' other';
};
server.middleware.unshift(async (ctx, next) => {
  if (ctx.path === '/__bench/stats') {
    if (ctx.method === 'POST') st = stats();
    ctx.type = 'application/json';
    ctx.body = JSON.stringify(st);
    return;
  }
  const kind = kindOf(ctx.method, ctx.path, ctx.query, ctx.headers);
  st.requests++;
  st.byKind[kind] = (st.byKind[kind] || 0) + 1;
  const len = Number(ctx.headers['content-length'] || 0);
  if (len > 0) st.bytesUp += len;
  else if (ctx.headers['transfer-encoding']) st.chunkedUploads++;
  st.maxInFlight = Math.max(st.maxInFlight, ++inFlight);
  let done = false;
  const end = () => { if (!done) { done = true; inFlight--; } };
  ctx.res.once('finish', end);
  ctx.res.once('close', end);
  let status;
  try {
    await next();
    status = ctx.status;
    if (ctx.method !== 'HEAD') st.bytesDown += Number(ctx.response.length || 0);
  } catch (err) {
    // S3 errors (404 NoSuchKey, …) are thrown and written as XML by s3rver's ctx.onerror, outside
    // this middleware; anything without a 4xx status is a server failure
    status = Number(err && (err.status || err.statusCode)) || 500;
    if (status >= 500) st.errors++;
    throw err;
  } finally {
    st.byStatus[status] = (st.byStatus[status] || 0) + 1;
  }
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
server.run().then(
  (addr) => process.stdout.write(JSON.stringify({ port: addr.port }) + '\n'),
  (err) => { process.stderr.write(String(err && err.stack || err) + '\n'); process.exit(1); },
);
`;

/** s3rver's version (from its package.json), or null when it is not installed. */
export function s3rverVersion(repoRoot) {
  try {
    const p = createRequire(path.join(repoRoot, 'package.json')).resolve('s3rver/package.json');
    return JSON.parse(readFileSync(p, 'utf8')).version;
  } catch {
    return null;
  }
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat; null if gone. */
export function procCpuS(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // fields after the command: [0] state … [11] utime, [12] stime (clock ticks, USER_HZ = 100)
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return null;
  }
}

/**
 * Starts s3rver on 127.0.0.1 (a free port) over `directory` with one empty bucket.
 * -> { endpoint, port, bucket, directory, pid, cpuS(), close() }
 */
export async function startS3rver({ repoRoot, directory, bucket = 'cairn-bench' }) {
  const s3rverPath = createRequire(path.join(repoRoot, 'package.json')).resolve('s3rver');
  mkdirSync(directory, { recursive: true });
  const child = spawn(process.execPath, ['--openssl-legacy-provider', '-e', CHILD], {
    env: {
      ...process.env,
      CAIRN_S3RVER_PATH: s3rverPath,
      CAIRN_S3RVER_SHIM: SHIM,
      CAIRN_S3RVER_DIR: directory,
      CAIRN_S3RVER_BUCKET: bucket,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exited = new Promise((resolve) => child.once('exit', () => resolve()));
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  try {
    const port = await new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`s3rver did not start within 20 s: ${stderr}`)), 20_000);
      child.stdout.setEncoding('utf8').on('data', (d) => {
        out += d;
        const nl = out.indexOf('\n');
        if (nl < 0) return;
        clearTimeout(timer);
        resolve(JSON.parse(out.slice(0, nl)).port);
      });
      child.once('error', (err) => (clearTimeout(timer), reject(err)));
      child.once(
        'exit',
        (code) => (clearTimeout(timer), reject(new Error(`s3rver exited with status ${code}: ${stderr.trim()}`))),
      );
    });
    return {
      endpoint: `http://127.0.0.1:${port}`,
      port,
      bucket,
      directory,
      pid: child.pid,
      cpuS: () => procCpuS(child.pid),
      stderr: () => stderr,
      /** The server's request counts since the last reset (same shape as the proxy's stats()). */
      stats: () => statsCall(port, 'GET'),
      reset: () => statsCall(port, 'POST'),
      close: async () => {
        child.stdin.end();
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      },
    };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}

function statsCall(port, method) {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, method, path: '/__bench/stats', agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
        } catch {
          reject(new Error(`s3rver stats: ${res.statusCode} ${Buffer.concat(chunks).toString('utf8').slice(0, 200)}`));
        }
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** The kind of S3 request, for the per-kind counts (CopyObject is told apart by a header, in the proxy). */
export function requestKind(method, url) {
  // path-style: /bucket[/key…][?query]; parsed by hand (cheap: this runs for every request)
  const qi = url.indexOf('?');
  const p = qi < 0 ? url : url.slice(0, qi);
  const q = qi < 0 ? '' : `&${url.slice(qi + 1)}`;
  const has = (name) => q.includes(`&${name}=`) || q.endsWith(`&${name}`) || q.includes(`&${name}&`);
  const slash = p.indexOf('/', 1);
  const hasKey = slash > 0 && slash < p.length - 1;
  if (method === 'PUT' && has('partNumber')) return 'UploadPart';
  if (method === 'POST' && has('uploads')) return 'CreateMultipartUpload';
  if (method === 'POST' && has('uploadId')) return 'CompleteMultipartUpload';
  if (method === 'DELETE' && has('uploadId')) return 'AbortMultipartUpload';
  if (method === 'GET' && !hasKey && has('uploads')) return 'ListMultipartUploads';
  if (method === 'GET' && !hasKey) return 'ListObjects';
  if (method === 'HEAD' && !hasKey) return 'HeadBucket';
  if (method === 'PUT' && !hasKey) return 'CreateBucket';
  if (method === 'PUT') return 'PutObject';
  if (method === 'GET') return 'GetObject';
  if (method === 'HEAD') return 'HeadObject';
  if (method === 'DELETE') return 'DeleteObject';
  return `${method} other`;
}

/**
 * A counting HTTP proxy to `target` (an http://host:port URL) on 127.0.0.1, a free port.
 * -> { endpoint, stats(), reset(), close() }; stats() = { requests, byKind, byStatus,
 *    bytesUp (request body bytes seen), bytesDown (response body bytes), maxInFlight, errors }
 */
export async function startCountingProxy(target) {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256 });
  const sockets = new Set();
  let st;
  const reset = () => {
    st = { requests: 0, byKind: {}, byStatus: {}, bytesUp: 0, bytesDown: 0, maxInFlight: 0, errors: 0 };
  };
  reset();
  let inFlight = 0;
  const server = createServer(
    { keepAlive: true, keepAliveTimeout: 60_000, requestTimeout: 0, headersTimeout: 120_000 },
    (req, res) => {
      let kind = requestKind(req.method ?? '', req.url ?? '/');
      if (kind === 'PutObject' && req.headers['x-amz-copy-source']) kind = 'CopyObject';
      st.requests++;
      st.byKind[kind] = (st.byKind[kind] ?? 0) + 1;
      st.maxInFlight = Math.max(st.maxInFlight, ++inFlight);
      let done = false;
      const finish = () => {
        if (!done) {
          done = true;
          inFlight--;
        }
      };
      res.on('close', finish);
      req.on('data', (c) => (st.bytesUp += c.length));
      const up = httpRequest(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
          agent,
        },
        (upRes) => {
          const code = upRes.statusCode ?? 502;
          st.byStatus[code] = (st.byStatus[code] ?? 0) + 1;
          upRes.on('data', (c) => (st.bytesDown += c.length));
          res.writeHead(code, upRes.statusMessage, upRes.rawHeaders);
          upRes.pipe(res);
          upRes.on('error', () => res.destroy());
        },
      );
      up.on('error', () => {
        st.errors++;
        if (!res.headersSent) {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end('proxy: upstream error');
        } else res.destroy();
      });
      req.on('error', () => up.destroy());
      req.pipe(up);
    },
  );
  server.on('connection', (s) => {
    s.setNoDelay(true);
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = server.address().port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    port,
    stats: () => JSON.parse(JSON.stringify(st)),
    reset,
    close: async () => {
      for (const s of sockets) s.destroy();
      agent.destroy();
      await new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

// ---------------------------------------------------------------------------------------------
// what the server stored (untimed checks after a run)

const OBJECT_SUFFIX = '._S3rver_object';

/**
 * Objects s3rver stored under <directory>/<bucket>/<prefix>/: [{ key (relative to prefix), file,
 * size, metadata }] (metadata: the object's stored headers, e.g. x-amz-meta-sha256).
 */
export function storedObjects(directory, bucket, prefix) {
  const root = path.join(directory, bucket, prefix);
  const out = [];
  const walk = (dir) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile() && e.name.endsWith(OBJECT_SUFFIX)) {
        const base = p.slice(0, -OBJECT_SUFFIX.length);
        let metadata = {};
        try {
          metadata = JSON.parse(readFileSync(`${base}._S3rver_metadata.json`, 'utf8'));
        } catch {
          /* none */
        }
        out.push({
          key: path.relative(root, base).split(path.sep).join('/'),
          file: p,
          size: statSync(p).size,
          metadata,
        });
      }
    }
  };
  walk(root);
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** sha256 (hex) of a file, streamed in 4 MiB blocks. */
export async function sha256File(file) {
  const hash = createHash('sha256');
  const fh = await open(file, 'r');
  const buf = Buffer.allocUnsafe(4 << 20);
  try {
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (!bytesRead) break;
      hash.update(buf.subarray(0, bytesRead));
    }
  } finally {
    await fh.close();
  }
  return hash.digest('hex');
}
