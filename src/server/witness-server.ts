import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CairnError } from '../core/errors.js';
import type { WitnessHost } from '../app/witness-host.js';
import { KEY_TRANSITION_HEADER } from '../audit/index.js';

/** A request body larger than this is refused unread (413): a checkpoint and 63 proof lines fit in 8 KiB. */
export const WITNESS_MAX_BODY = 64 * 1024;

function send(res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function readBody(req: IncomingMessage): Promise<Buffer | null> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > WITNESS_MAX_BODY) return null;
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > WITNESS_MAX_BODY) return null;
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

/**
 * The C2SP tlog-witness HTTP interface: `POST /add-checkpoint` (the submission prefix is the
 * root). Status codes are the spec's: 400 malformed, 404 unknown origin, 403 no trusted
 * signature, 409 stale old size (body: the witness's size, text/x.tlog.size) or a different
 * checkpoint of the same size, 422 a proof that does not verify, 200 with cosignature lines.
 */
export function witnessHandler(host: WitnessHost, log: (line: string) => void = () => {}) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/add-checkpoint') return send(res, 404, 'not found\n');
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return send(res, 405, 'add-checkpoint takes a POST\n');
    }
    const raw = await readBody(req);
    if (raw === null) {
      res.setHeader('connection', 'close');
      return send(res, 413, `the body is larger than ${WITNESS_MAX_BODY} bytes\n`);
    }
    let body: string;
    try {
      body = new TextDecoder('utf-8', { fatal: true }).decode(raw);
    } catch {
      return send(res, 400, 'the body is not UTF-8\n');
    }
    try {
      const header = req.headers[KEY_TRANSITION_HEADER];
      const out = await host.addCheckpoint(body, Array.isArray(header) ? header.join(',') : header);
      if (out.status === 200) {
        log(`cosigned ${out.next.origin} at size ${out.next.size}`);
        return send(res, 200, out.body);
      }
      log(`refused (${out.status}): ${out.reason}`);
      if (out.status === 409 && out.size !== null) return send(res, 409, `${out.size}\n`, 'text/x.tlog.size');
      return send(res, out.status, `${out.reason}\n`);
    } catch (err) {
      log(`error: ${(err as Error).message}`);
      return send(res, 500, 'the witness could not record the checkpoint\n');
    }
  };
}

/** Parses `host:port` (IPv6 in brackets); port 0 picks a free one. */
export function parseListen(listen: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(listen);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new CairnError('USAGE', `--listen expects host:port, not ${listen}`);
  return { host: (m[1] ?? m[2])!, port };
}

export async function startWitnessServer(
  host: WitnessHost,
  listen: string,
  log?: (line: string) => void,
): Promise<{ server: Server; url: string; close: () => Promise<void> }> {
  const { host: h, port } = parseListen(listen);
  const handler = witnessHandler(host, log);
  const server = createServer((req, res) => {
    handler(req, res).catch(() => {
      if (!res.headersSent) send(res, 500, 'internal error\n');
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, h, () => ok());
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`;
  return {
    server,
    url,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
