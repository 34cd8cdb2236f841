import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sha256 } from '../../core/digest.js';
import { consistencyProof, leafHashOfText, naiveRoot } from '../merkle/index.js';
import {
  formatVerifierKey,
  generateSigningKeyPair,
  parseVerifierKey,
  rawPublicKey,
  signCheckpoint,
  signerFromPrivateKey,
} from '../note/index.js';
import {
  cosign,
  cosignerKeyId,
  cosignerOf,
  decideAddCheckpoint,
  formatAddCheckpoint,
  formatCosignerVkey,
  parseAddCheckpoint,
  parseCosignerVkey,
  parseSizeBody,
  signatureLines,
  verifyCosignatures,
  Witness,
} from './index.js';

const ORIGIN = 'example.com/log';
const logKey = generateSigningKeyPair().privateKey;
const logSigner = signerFromPrivateKey(ORIGIN, logKey);
const logVerifier = parseVerifierKey(formatVerifierKey(ORIGIN, rawPublicKey(logKey)));
const cosigner = cosignerOf('witness.example/w1', generateSigningKeyPair().privateKey);
const witnessKey = parseCosignerVkey(formatCosignerVkey(cosigner.name, cosigner.rawPublicKey));

/** A log of `n` entries drawn from `prefix` (a different prefix is a different history). */
function leaves(n: number, prefix = 'e'): Buffer[] {
  return Array.from({ length: n }, (_, i) => leafHashOfText(`${prefix}${i}`));
}
const root = (l: Buffer[]) => naiveRoot(l);
const note = (l: Buffer[], signer = logSigner) =>
  signCheckpoint({ origin: ORIGIN, size: l.length, rootHash: root(l) }, signer);
const proof = (l: Buffer[], m: number) =>
  m === 0 || m === l.length ? [] : consistencyProof(m, l.length, (a, b) => naiveRoot(l.slice(a, b)));
const trusted = (o: string) => (o === ORIGIN ? [logVerifier] : null);
const body = (n: string) => n.slice(0, n.lastIndexOf('\n\n') + 1);

function decide(reqBody: string, stored: { size: number; root: Buffer } | null) {
  return decideAddCheckpoint({
    body: reqBody,
    trusted,
    stored: stored && { origin: ORIGIN, size: stored.size, root: stored.root.toString('base64'), note: '' },
    cosigners: [cosigner],
    now: 1_700_000_000,
  });
}

describe('cosignature/v1 (C2SP tlog-cosignature)', () => {
  it('key ID is SHA-256(name ‖ "\\n" ‖ 0x04 ‖ key)[:4] and the vkey round-trips', () => {
    const expected = sha256(
      Buffer.concat([Buffer.from(`${cosigner.name}\n`), Buffer.of(0x04), cosigner.rawPublicKey]),
    ).subarray(0, 4);
    expect(cosignerKeyId(cosigner.name, cosigner.rawPublicKey)).toEqual(expected);
    expect(witnessKey.keyId).toEqual(expected);
    // A log key (type 0x01) is not a witness key, and a tampered key ID is refused.
    expect(() => parseCosignerVkey(formatVerifierKey(ORIGIN, rawPublicKey(logKey)))).toThrow(/log .*0x01/);
    const v = formatCosignerVkey(cosigner.name, cosigner.rawPublicKey);
    expect(() => parseCosignerVkey(v.replace(/\+([0-9a-f]{8})\+/, '+00000000+'))).toThrow(/key ID/);
  });

  it('signs "cosignature/v1\\ntime <t>\\n" + body; the line carries key ID ‖ u64 time ‖ signature', () => {
    const b = body(note(leaves(3)));
    const line = cosign(b, cosigner, 1679315147);
    const bytes = Buffer.from(line.trim().split(' ')[2]!, 'base64');
    expect(bytes.length).toBe(4 + 8 + 64);
    expect(bytes.readBigUInt64BE(4)).toBe(1679315147n);
    const [v] = verifyCosignatures(b, [line], [witnessKey]);
    expect(v).toMatchObject({ name: cosigner.name, time: 1679315147 });
    // Another body, a changed time, or a flipped bit: refused, never ignored.
    expect(() => verifyCosignatures(body(note(leaves(4))), [line], [witnessKey])).toThrow(/does not verify/);
    bytes.writeBigUInt64BE(1679315148n, 4);
    const moved = `— ${cosigner.name} ${bytes.toString('base64')}`;
    expect(() => verifyCosignatures(b, [moved], [witnessKey])).toThrow(/does not verify/);
    // Unknown keys are ignored.
    expect(verifyCosignatures(b, [line], [])).toEqual([]);
  });
});

describe('add-checkpoint (C2SP tlog-witness)', () => {
  it('request bodies round-trip; malformed ones are named', () => {
    const l = leaves(5);
    const req = formatAddCheckpoint(3, proof(l, 3), note(l));
    const p = parseAddCheckpoint(req);
    expect(p).toMatchObject({ oldSize: 3, note: note(l) });
    for (const bad of ['', 'old 1\n', 'old 01\n\nx', 'new 1\n\nx', 'old 1\nnot base64!\n\nx', `old 1\n${'AAAA\n'}\nx`])
      expect(parseAddCheckpoint(bad)).toHaveProperty('malformed');
    const tooLong = `old 1\n${`${Buffer.alloc(32).toString('base64')}\n`.repeat(64)}\n${note(l)}`;
    expect(parseAddCheckpoint(tooLong)).toEqual({ malformed: 'more than 63 consistency proof lines' });
    expect(parseSizeBody('text/x.tlog.size', '12\n')).toBe(12);
    expect(parseSizeBody('text/plain', '12\n')).toBeNull();
    expect(parseSizeBody('text/x.tlog.size', '012\n')).toBeNull();
  });

  it('answers with the spec status codes, in the spec order', () => {
    const l5 = leaves(5);
    const l8 = leaves(8);
    const first = decide(formatAddCheckpoint(0, [], note(l5)), null);
    expect(first.status).toBe(200);
    const ok = decide(formatAddCheckpoint(5, proof(l8, 5), note(l8)), { size: 5, root: root(l5) });
    expect(ok.status).toBe(200);
    if (ok.status !== 200) throw new Error('unreachable');
    expect(ok.next).toMatchObject({ origin: ORIGIN, size: 8, root: root(l8).toString('base64') });
    expect(verifyCosignatures(body(note(l8)), signatureLines(ok.body), [witnessKey])).toHaveLength(1);
    // Stale old size: 409 with the witness's size.
    expect(decide(formatAddCheckpoint(0, [], note(l8)), { size: 5, root: root(l5) })).toMatchObject({
      status: 409,
      size: 5,
    });
    // A proof that does not verify (another history of 8 entries): 422.
    const fork = leaves(8, 'x');
    expect(decide(formatAddCheckpoint(5, proof(fork, 5), note(fork)), { size: 5, root: root(l5) }).status).toBe(422);
    // The same size with another root: 409 without a size (the log is forked).
    expect(decide(formatAddCheckpoint(5, [], note(leaves(5, 'x'))), { size: 5, root: root(l5) })).toMatchObject({
      status: 409,
      size: null,
    });
    // Unknown origin 404; no trusted signature 403; old beyond size 400; garbage 400.
    const stranger = signCheckpoint(
      { origin: 'other.example/log', size: 5, rootHash: root(l5) },
      signerFromPrivateKey('other.example/log', logKey),
    );
    expect(decide(formatAddCheckpoint(0, [], stranger), null).status).toBe(404);
    const forged = note(l5, signerFromPrivateKey(ORIGIN, generateSigningKeyPair().privateKey));
    expect(decide(formatAddCheckpoint(0, [], forged), null).status).toBe(403);
    expect(decide(formatAddCheckpoint(9, [], note(l8)), { size: 9, root: root(leaves(9)) }).status).toBe(400);
    expect(decide('garbage', null).status).toBe(400);
    // A proof with old 0 is not a proof of anything.
    expect(decide(formatAddCheckpoint(0, proof(l8, 5), note(l8)), null).status).toBe(422);
  });
});

describe('Witness (state on disk)', () => {
  it('persists atomically, survives a restart, and never rolls back under concurrent requests', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-witness-'));
    const make = () => new Witness({ dataDir: dir, cosigner, trusted });
    const w = make();
    const all = leaves(40);
    // Forty requests at once, each claiming old 0: exactly one can win, the others learn the size.
    const sizes = Array.from({ length: 40 }, (_, i) => i + 1);
    const outs = await Promise.all(
      sizes.map((n) => w.addCheckpoint(formatAddCheckpoint(0, [], note(all.slice(0, n))))),
    );
    expect(outs.filter((o) => o.status === 200)).toHaveLength(1);
    const won = outs.find((o) => o.status === 200);
    if (won?.status !== 200) throw new Error('unreachable');
    // Each following request, built from the size the last 409 named, succeeds in turn.
    let size = won.next.size;
    for (let n = size + 1; n <= 40; n += 7) {
      const l = all.slice(0, n);
      const o = await w.addCheckpoint(formatAddCheckpoint(size, proof(l, size), note(l)));
      expect(o.status).toBe(200);
      size = n;
    }
    const restarted = make();
    expect((await restarted.state.read(ORIGIN))?.size).toBe(size);
    const older = all.slice(0, Math.max(1, size - 3));
    expect(await restarted.addCheckpoint(formatAddCheckpoint(0, [], note(older)))).toMatchObject({
      status: 409,
      size,
    });
    // No temporary files left behind; the state file is plain JSON naming the origin.
    const files = readdirSync(join(dir, 'logs'));
    expect(files).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(dir, 'logs', files[0]!), 'utf8'))).toMatchObject({ origin: ORIGIN, size });
  });

  it('keeps a signed request that failed its proof as evidence of a fork', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-witness-'));
    const w = new Witness({ dataDir: dir, cosigner, trusted });
    expect((await w.addCheckpoint(formatAddCheckpoint(0, [], note(leaves(4))))).status).toBe(200);
    const fork = leaves(6, 'x');
    expect((await w.addCheckpoint(formatAddCheckpoint(4, proof(fork, 4), note(fork)))).status).toBe(422);
    expect((await w.state.read(ORIGIN))?.size).toBe(4);
    const ev = readdirSync(join(dir, 'evidence'));
    expect(ev).toHaveLength(1);
  });
});
