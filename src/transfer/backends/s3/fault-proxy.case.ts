import { createServer, request as httpRequest } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface SeenRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  contentLength: number;
  headers: Record<string, string | string[] | undefined>;
}

/**
 * What the proxy does with one request: pass it on; answer with an S3-style error; drop the
 * connection before (`reset`) or after (`lose-reply`) the server has acted on it; never
 * answer (`hang`); or pass it on with one byte of its body flipped (`mangle`: same length, so a
 * store that checks no Content-MD5 takes it).
 */
export type Fault = 'forward' | 'reset' | 'lose-reply' | 'hang' | 'mangle' | { status: number; code: string };

export interface FaultProxy {
  endpoint: string;
  /** Every request that reached the proxy, in arrival order. */
  seen: SeenRequest[];
  /** The most requests the proxy had open at one moment. */
  maxInFlight: number;
  /** Decides each request's fate; `index` counts requests from 0. */
  rule: (req: SeenRequest, index: number) => Fault;
  close(): Promise<void>;
}

/** Whether a request is one of S3's multipart calls (`?uploads`, `?uploadId`, `?partNumber`). */
export const isUploadPart = (r: SeenRequest): boolean => r.method === 'PUT' && r.query.has('partNumber');
export const isCreateUpload = (r: SeenRequest): boolean => r.method === 'POST' && r.query.has('uploads');
export const isCompleteUpload = (r: SeenRequest): boolean => r.method === 'POST' && r.query.has('uploadId');
export const isAbortUpload = (r: SeenRequest): boolean => r.method === 'DELETE' && r.query.has('uploadId');

/**
 * A real HTTP hop between the client and s3rver that injects faults, so retries and cleanup
 * are tested against what goes over the wire rather than against a mocked SDK. The Host
 * header is kept, so SigV4 signatures made for the proxy still name the same host.
 */
export async function startFaultProxy(target: string): Promise<FaultProxy> {
  const upstream = new URL(target);
  const sockets = new Set<Socket>();
  let inFlight = 0;
  const proxy: FaultProxy = { endpoint: '', seen: [], maxInFlight: 0, rule: () => 'forward', close: async () => {} };

  const forward = (req: IncomingMessage, body: Buffer, res: ServerResponse | null, then: () => void): void => {
    const up = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (upRes) => {
        if (res) {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        } else {
          upRes.resume();
        }
        upRes.on('end', then);
      },
    );
    up.on('error', () => req.socket.destroy());
    up.end(body);
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const seen: SeenRequest = {
      method: req.method ?? '',
      path: url.pathname,
      query: url.searchParams,
      contentLength: Number(req.headers['content-length'] ?? 0),
      headers: req.headers,
    };
    proxy.maxInFlight = Math.max(proxy.maxInFlight, ++inFlight);
    res.on('close', () => inFlight--);
    const index = proxy.seen.push(seen) - 1;
    const fault = proxy.rule(seen, index);
    if (fault === 'reset') {
      req.socket.destroy();
      return;
    }
    // Read the whole body first: a reply sent mid-upload reaches the client as a reset instead.
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (fault === 'hang') return;
      if (fault === 'forward') return forward(req, body, res, () => {});
      if (fault === 'mangle') {
        if (body.length > 0) body[body.length >> 1]! ^= 0xff;
        return forward(req, body, res, () => {});
      }
      if (fault === 'lose-reply') return forward(req, body, null, () => req.socket.destroy());
      const xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>injected by the test proxy</Message></Error>`;
      res.writeHead(fault.status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(xml) });
      res.end(xml);
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  proxy.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return proxy;
}
