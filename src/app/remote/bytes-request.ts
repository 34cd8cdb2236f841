import * as http from 'node:http';
import * as https from 'node:https';

/**
 * One HTTP request carrying a whole buffer, on node:http rather than fetch: undici's fetch copies
 * a Buffer body twice before sending it (extractBody, then cloneAsUint8Array), which cost a push
 * through the server 1.5 CPU-s per 256 MiB on the client (measured with --cpu-prof).
 */
export interface BytesAnswer {
  status: number;
  ok: boolean;
  body: Buffer;
}

/** How long a connection may stay silent (undici's headers and body timeouts). */
const IDLE_MS = 300_000;

const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };

/** An answer longer than the caller's bound: the request was aborted, and nothing of it kept. */
export class AnswerTooLarge extends Error {
  constructor(
    readonly host: string,
    readonly maxBytes: number,
  ) {
    super(`${host} sent an answer larger than ${maxBytes} bytes`);
  }
}

/**
 * Sends `body` and reads the answer, at most `maxBytes` of it: a peer that declares more
 * (Content-Length) or streams more is cut off with AnswerTooLarge rather than buffered whole.
 */
export function sendBytes(
  url: string,
  init: { method: string; headers?: Record<string, string>; body?: Buffer; idleMs?: number; maxBytes: number },
): Promise<BytesAnswer> {
  const u = new URL(url);
  const tls = u.protocol === 'https:';
  if (!tls && u.protocol !== 'http:') return Promise.reject(new Error(`unsupported URL scheme ${u.protocol}`));
  const headers: Record<string, string> = { ...init.headers };
  if (init.body && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length'))
    headers['content-length'] = String(init.body.length);
  return new Promise((resolve, reject) => {
    const req = (tls ? https : http).request(
      u,
      { method: init.method, headers, agent: tls ? agents.https : agents.http },
      (res: http.IncomingMessage) => {
        const tooLarge = () => {
          reject(new AnswerTooLarge(u.host, init.maxBytes));
          req.destroy();
        };
        if (Number(res.headers['content-length'] ?? 0) > init.maxBytes) return tooLarge();
        const chunks: Buffer[] = [];
        let total = 0;
        res.on('data', (c: Buffer) => {
          total += c.length;
          if (total > init.maxBytes) tooLarge();
          else chunks.push(c);
        });
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          resolve({ status, ok: status >= 200 && status < 300, body: Buffer.concat(chunks) });
        });
      },
    );
    // fetch (undici) gave up on a silent peer after 300 s; node:http would wait forever.
    const idleMs = init.idleMs ?? IDLE_MS;
    req.setTimeout(idleMs, () => req.destroy(new Error(`no data from ${u.host} for ${idleMs / 1000} s`)));
    req.on('error', reject);
    req.end(init.body);
  });
}
