// `cairn witness serve` over HTTP, fed by hand: the spec's answers to good, stale, forked and bad requests.
import { mkdtempSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cli } from '../../src/test-support/cli.js';
import { consistencyProof, leafHashOfText, naiveRoot } from '../../src/audit/merkle/index.js';
import {
  formatVerifierKey,
  generateSigningKeyPair,
  rawPublicKey,
  signCheckpoint,
  signerFromPrivateKey,
} from '../../src/audit/note/index.js';
import {
  formatAddCheckpoint,
  parseCosignerVkey,
  signatureLines,
  verifyCosignatures,
} from '../../src/audit/witness/index.js';
import { startWitness, type RunningWitness } from './support.js';

const running: RunningWitness[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((w) => w.stop()));
});

const ORIGIN = 'example.com/http-test';
const key = generateSigningKeyPair().privateKey;
const signer = signerFromPrivateKey(ORIGIN, key);
const leaves = (n: number, p = 'e') => Array.from({ length: n }, (_, i) => leafHashOfText(`${p}${i}`));
const note = (l: Buffer[]) => signCheckpoint({ origin: ORIGIN, size: l.length, rootHash: naiveRoot(l) }, signer);
const proof = (l: Buffer[], m: number) => consistencyProof(m, l.length, (a, b) => naiveRoot(l.slice(a, b)));

/**
 * A request that declares a body over the limit and sends only its first KiB: the witness refuses
 * it unread (413, connection closed), so a client still writing the rest could meet EPIPE before
 * it reads the answer — fetch with the whole 2 MiB body did, once in a loaded run.
 */
function postOversized(url: string, declared: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/add-checkpoint`, { method: 'POST', headers: { 'content-length': declared } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.write(Buffer.alloc(1024, 0x61));
  });
}

async function post(url: string, body: string | Buffer, method = 'POST') {
  const res = await fetch(`${url}/add-checkpoint`, { method, ...(method === 'POST' ? { body } : {}) });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

describe('cairn witness serve (HTTP)', () => {
  it('cosigns, answers 409/422/404/403/400/413/405 as the spec says, and remembers across a restart', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'cairn-witness-http-'));
    const dataDir = join(cwd, 'w');
    const vkey = formatVerifierKey(ORIGIN, rawPublicKey(key));
    expect(cli(['witness', 'add-log', ORIGIN, vkey, '--data-dir', dataDir], { cwd }).code).toBe(0);
    // A key named for another origin is refused.
    expect(cli(['witness', 'add-log', 'other.example/log', vkey, '--data-dir', dataDir], { cwd }).code).toBe(2);
    const w = await startWitness(cwd, dataDir);
    running.push(w);
    const wkey = parseCosignerVkey(w.vkey);
    const l4 = leaves(4);
    const first = await post(w.url, formatAddCheckpoint(0, [], note(l4)));
    expect(first.status).toBe(200);
    const body4 = note(l4).slice(0, note(l4).indexOf('\n\n') + 1);
    const [cs] = verifyCosignatures(body4, signatureLines(first.text), [wkey]);
    expect(Math.abs(cs!.time - Date.now() / 1000)).toBeLessThan(600);
    // Stale: 409, text/x.tlog.size, the witness's size and a newline.
    const l9 = leaves(9);
    expect(await post(w.url, formatAddCheckpoint(0, [], note(l9)))).toEqual({
      status: 409,
      type: 'text/x.tlog.size',
      text: '4\n',
    });
    // Another history from the size it saw: 422, and nothing moves.
    const fork = leaves(9, 'x');
    expect((await post(w.url, formatAddCheckpoint(4, proof(fork, 4), note(fork)))).status).toBe(422);
    // The same size, another root: 409 (not a size answer).
    const same = await post(w.url, formatAddCheckpoint(4, [], note(leaves(4, 'x'))));
    expect(same.status).toBe(409);
    expect(same.type).not.toBe('text/x.tlog.size');
    expect((await post(w.url, formatAddCheckpoint(4, proof(l9, 4), note(l9)))).status).toBe(200);
    // Unknown origin, untrusted key, garbage, old beyond size, a huge body, another method.
    const other = signCheckpoint(
      { origin: 'other.example/log', size: 1, rootHash: naiveRoot(leaves(1)) },
      signerFromPrivateKey('other.example/log', key),
    );
    expect((await post(w.url, formatAddCheckpoint(0, [], other))).status).toBe(404);
    const forged = signCheckpoint(
      { origin: ORIGIN, size: 12, rootHash: naiveRoot(leaves(12)) },
      signerFromPrivateKey(ORIGIN, generateSigningKeyPair().privateKey),
    );
    expect((await post(w.url, formatAddCheckpoint(9, [], forged))).status).toBe(403);
    expect((await post(w.url, 'garbage')).status).toBe(400);
    expect((await post(w.url, Buffer.from([0xff, 0xfe, 0x0a, 0x0a]))).status).toBe(400);
    expect((await post(w.url, formatAddCheckpoint(10, [], note(l9)))).status).toBe(400);
    expect(await postOversized(w.url, 2 * 1024 * 1024)).toBe(413);
    expect((await post(w.url, '', 'GET')).status).toBe(405);
    // Restarted: it still knows size 9 and still refuses the fork.
    await w.stop();
    const again = await startWitness(cwd, dataDir);
    running.push(again);
    expect(again.vkey).toBe(w.vkey);
    expect(await post(again.url, formatAddCheckpoint(0, [], note(l9)))).toMatchObject({ status: 409, text: '9\n' });
    const fork12 = leaves(12, 'x');
    expect((await post(again.url, formatAddCheckpoint(9, proof(fork12, 9), note(fork12)))).status).toBe(422);
  }, 120_000);
});
