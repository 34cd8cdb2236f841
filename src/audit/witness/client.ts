import { parseCheckpointBody } from '../note/index.js';
import { signatureLines, verifyCosignatures, type CosignerKey, type VerifiedCosignature } from './cosignature.js';
import { formatAddCheckpoint, KEY_TRANSITION_HEADER, parseSizeBody } from './request.js';

/** A witness a log sends its checkpoints to. */
export interface WitnessEndpoint {
  /** The submission prefix: add-checkpoint is POSTed to `<url>/add-checkpoint`. */
  url: string;
  key: CosignerKey;
}

export type WitnessAttempt =
  | { witness: string; ok: true; cosignature: VerifiedCosignature; size: number }
  | {
      witness: string;
      ok: false;
      /** unreachable (network or timeout), refused (a 4xx the log cannot fix), fork (the witness saw another history). */
      kind: 'unreachable' | 'refused' | 'fork' | 'bad-response';
      reason: string;
      status?: number;
      /** The size the witness says it last cosigned, when it said. */
      witnessSize?: number;
    };

const RESPONSE_LIMIT = 64 * 1024;

/**
 * Asks one witness to cosign `note` (a checkpoint of `size` entries), starting from the size
 * this log believes the witness last cosigned. A 409 names the witness's real size; the request
 * is retried once from there. A witness that has seen more entries than this log holds has seen
 * another history (or this log was rolled back): that is reported as a fork, never retried.
 */
export async function requestCosignature(opts: {
  witness: WitnessEndpoint;
  note: string;
  lastSize: number;
  proof: (from: number) => Promise<Buffer[]>;
  timeoutMs: number;
  fetchImpl?: typeof fetch;
  /** The log's audit-key transitions (a cairn-key-transition header value), so a witness can follow a rotation. */
  transitions?: string | null;
}): Promise<WitnessAttempt> {
  const { witness, note } = opts;
  const body = note.slice(0, note.lastIndexOf('\n\n') + 1);
  const size = parseCheckpointBody(body).size;
  const doFetch = opts.fetchImpl ?? fetch;
  let old = opts.lastSize > size ? 0 : opts.lastSize;
  for (let attempt = 0; ; attempt++) {
    const proof = old === 0 || old === size ? [] : await opts.proof(old);
    let res: Response;
    let text: string;
    try {
      res = await doFetch(`${witness.url.replace(/\/+$/, '')}/add-checkpoint`, {
        method: 'POST',
        headers: {
          'content-type': 'text/plain; charset=utf-8',
          ...(opts.transitions ? { [KEY_TRANSITION_HEADER]: opts.transitions } : {}),
        },
        body: formatAddCheckpoint(old, proof, note),
        signal: AbortSignal.timeout(opts.timeoutMs),
      });
      text = await readLimited(res);
    } catch (err) {
      const e = err as Error;
      const why =
        e.name === 'TimeoutError'
          ? `no answer within ${opts.timeoutMs} ms`
          : ((e.cause as Error)?.message ?? e.message);
      return { witness: witness.key.vkey, ok: false, kind: 'unreachable', reason: `${witness.url}: ${why}` };
    }
    const out = interpret(witness, body, size, old, res, text);
    // One retry from the size a 409 named: the witness moved on (another process of this log sent it a later checkpoint).
    if ('retryFrom' in out && attempt === 0) {
      old = out.retryFrom;
      continue;
    }
    return 'retryFrom' in out
      ? {
          witness: witness.key.vkey,
          ok: false,
          kind: 'refused',
          status: 409,
          witnessSize: out.retryFrom,
          reason: 'the witness keeps changing its size',
        }
      : out;
  }
}

function interpret(
  witness: WitnessEndpoint,
  body: string,
  size: number,
  old: number,
  res: Response,
  text: string,
): WitnessAttempt | { retryFrom: number } {
  const tag = witness.key.vkey;
  const fail = (kind: 'refused' | 'fork' | 'bad-response', reason: string, extra: { witnessSize?: number } = {}) =>
    ({ witness: tag, ok: false, kind, status: res.status, reason, ...extra }) as const;
  if (res.status === 200) {
    try {
      const [cs] = verifyCosignatures(body, signatureLines(text), [witness.key]);
      if (!cs) return fail('bad-response', 'the answer holds no cosignature by the configured witness key');
      return { witness: tag, ok: true, cosignature: cs, size };
    } catch (err) {
      return fail('bad-response', (err as Error).message);
    }
  }
  const detail = text.trim() ? ` (${text.trim().slice(0, 200)})` : '';
  if (res.status === 409) {
    const theirs = parseSizeBody(res.headers.get('content-type'), text);
    if (theirs === null)
      return fail('fork', `the witness cosigned a different checkpoint of size ${size}: the log is forked${detail}`);
    if (theirs > size)
      return fail(
        'fork',
        `the witness has cosigned size ${theirs}, more than this log's ${size}: the log was rolled back or forked`,
        { witnessSize: theirs },
      );
    if (theirs !== old) return { retryFrom: theirs };
  }
  if (res.status === 422)
    return fail(
      'fork',
      `the witness refused the consistency proof from size ${old}: this log does not extend what the witness cosigned${detail}`,
    );
  const what =
    res.status === 404
      ? 'the witness does not know this log (run `cairn witness add-log` on the witness)'
      : res.status === 403
        ? "the witness does not trust this log's key (nor a key transition from one it trusts)"
        : `HTTP ${res.status}`;
  return fail('refused', `${what}${detail}`);
}

// A witness answers a few lines; a larger answer is cut off rather than read into memory.
async function readLimited(res: Response): Promise<string> {
  if (!res.body) return '';
  const chunks: Buffer[] = [];
  let n = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(Buffer.from(value));
    n += value.length;
    if (n >= RESPONSE_LIMIT) {
      await reader.cancel();
      break;
    }
  }
  return Buffer.concat(chunks).subarray(0, RESPONSE_LIMIT).toString('utf8');
}
