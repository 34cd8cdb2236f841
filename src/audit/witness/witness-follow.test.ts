// Issue 14: a witness that pinned a log's audit key follows a key transition presented with the
// checkpoint (the cairn-key-transition header): signed by the key it knows, countersigned by the
// new one, and recorded in the tree it is asked to cosign. Anything else is refused with the
// C2SP status that fits: 403 for a signature it cannot trust, 422 for a proof that does not verify.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../core/canonical-json.js';
import { consistencyProof, inclusionProof, leafHash, naiveRoot } from '../merkle/index.js';
import { signKeyTransition } from '../log/key-transition.js';
import {
  formatVerifierKey,
  generateSigningKeyPair,
  parseVerifierKey,
  signCheckpoint,
  signerFromPrivateKey,
} from '../note/index.js';
import {
  cosignerOf,
  formatAddCheckpoint,
  formatTransitionHeader,
  parseTransitionHeader,
  Witness,
  type AddCheckpointOutcome,
} from './index.js';

const ORIGIN = 'example.com/log';
type KeyNoteSigner = ReturnType<typeof signerFromPrivateKey>;
const newSigner = () => signerFromPrivateKey(ORIGIN, generateSigningKeyPair().privateKey);
const vkeyOf = (s: KeyNoteSigner) => formatVerifierKey(ORIGIN, s.rawPublicKey);

/** A log in miniature: entries, the key that signs its checkpoints now, and its rotations. */
class Log {
  entries: string[] = [];
  signer = newSigner();
  readonly first = this.signer;
  rotations: Array<{ index: number; statement: string }> = [];

  append(n = 1): void {
    for (let i = 0; i < n; i++) this.entries.push(canonicalJson({ index: this.entries.length, action: 'dataset.tag' }));
  }

  /** A `keys.rotate` entry whose transition the current key signs and `to` countersigns. */
  rotate(to = newSigner()): KeyNoteSigner {
    const statement = signKeyTransition(
      { origin: ORIGIN, purpose: 'audit', from: vkeyOf(this.signer), to: vkeyOf(to), time: '2026-12-05T12:00:00Z' },
      this.signer,
      to,
    );
    return this.record(statement, to);
  }

  /** A `keys.rotate` entry carrying `statement`, whatever it is; `to` signs from then on. */
  record(statement: string, to: KeyNoteSigner): KeyNoteSigner {
    const index = this.entries.length;
    this.entries.push(
      canonicalJson({ index, action: 'keys.rotate', outcome: 'ok', params: { purpose: 'audit', statement } }),
    );
    this.rotations.push({ index, statement });
    this.signer = to;
    return to;
  }

  leaves(): Buffer[] {
    return this.entries.map((e) => leafHash(Buffer.from(e, 'utf8')));
  }

  note(signer = this.signer): string {
    return signCheckpoint({ origin: ORIGIN, size: this.entries.length, rootHash: naiveRoot(this.leaves()) }, signer);
  }

  request(old: number, signer = this.signer): string {
    const l = this.leaves();
    const proof = old === 0 ? [] : consistencyProof(old, l.length, (a, b) => naiveRoot(l.slice(a, b)));
    return formatAddCheckpoint(old, proof, this.note(signer));
  }

  header(): string | null {
    const l = this.leaves();
    return formatTransitionHeader(
      this.rotations.map((r) => ({
        ...r,
        entry: this.entries[r.index]!,
        proof: inclusionProof(r.index, l.length, (a, b) => naiveRoot(l.slice(a, b))).map((h) => h.toString('base64')),
      })),
    );
  }
}

function witnessFor(log: Log): Witness {
  const pinned = parseVerifierKey(vkeyOf(log.first));
  return new Witness({
    dataDir: mkdtempSync(join(tmpdir(), 'cairn-witness-follow-')),
    cosigner: cosignerOf('witness.example/w1', generateSigningKeyPair().privateKey),
    trusted: (o) => (o === ORIGIN ? [pinned] : null),
    now: () => 1_700_000_000,
  });
}

const status = (o: AddCheckpointOutcome) => o.status;
const reason = (o: AddCheckpointOutcome) => ('reason' in o ? o.reason : '');

describe('a witness follows a log key transition presented with the checkpoint', () => {
  it('follows a valid transition, cosigns the new key, and from then on refuses the retired key', async () => {
    const log = new Log();
    log.append(3);
    const w = witnessFor(log);
    expect(status(await w.addCheckpoint(log.request(0)))).toBe(200);
    const old = log.signer;
    log.rotate();
    log.append(2);
    // Signed by the new key only: without the transition the witness cannot trust it.
    expect(status(await w.addCheckpoint(log.request(3)))).toBe(403);
    const ok = await w.addCheckpoint(log.request(3), log.header()!);
    expect(status(ok), reason(ok)).toBe(200);
    if (ok.status === 200) {
      expect(ok.next.followed).toEqual([vkeyOf(log.signer)]);
      expect(ok.next.retired).toEqual([vkeyOf(old)]);
    }
    // Remembered on disk: the next checkpoint needs no header, and the retired key is refused.
    const size = log.entries.length;
    log.append(1);
    expect(status(await w.addCheckpoint(log.request(size)))).toBe(200);
    const size2 = log.entries.length;
    log.append(1);
    const byRetired = await w.addCheckpoint(log.request(size2, old));
    expect(status(byRetired)).toBe(403);
    // Two rotations in a row are followed in one request (the first, from a key already retired, is passed over).
    log.entries.pop();
    log.append(1);
    expect(status(await w.addCheckpoint(log.request(size2)))).toBe(200);
    const size3 = log.entries.length;
    log.rotate();
    log.append(1);
    log.rotate();
    const twice = await w.addCheckpoint(log.request(size3), log.header()!);
    expect(status(twice), reason(twice)).toBe(200);
  });

  it('a forged transition is refused (403): not signed by the key the witness knows, or not countersigned', async () => {
    const log = new Log();
    log.append(2);
    const w = witnessFor(log);
    expect(status(await w.addCheckpoint(log.request(0)))).toBe(200);
    // A thief without the log key claims to hand over from it: they sign a transition from a key
    // of their own to another, then put the log's key in its from line.
    const thiefOld = newSigner();
    const thief = newSigner();
    const statement = signKeyTransition(
      { origin: ORIGIN, purpose: 'audit', from: vkeyOf(thiefOld), to: vkeyOf(thief), time: '2026-12-05T12:00:00Z' },
      thiefOld,
      thief,
    ).replace(vkeyOf(thiefOld), vkeyOf(log.signer));
    const forged = new Log();
    forged.entries = [...log.entries];
    forged.record(statement, thief);
    forged.append(1);
    const r = await w.addCheckpoint(forged.request(2), forged.header()!);
    expect(status(r)).toBe(403);
    expect(reason(r)).toContain('forged key transition');

    // Signed by the real key but without the new key's countersignature.
    const uncounter = new Log();
    uncounter.entries = [...log.entries];
    uncounter.signer = log.signer;
    const to = uncounter.rotate();
    const last = uncounter.rotations[0]!;
    last.statement = last.statement.split('\n').slice(0, -2).join('\n') + '\n';
    uncounter.entries[last.index] = canonicalJson({
      index: last.index,
      action: 'keys.rotate',
      outcome: 'ok',
      params: { purpose: 'audit', statement: last.statement },
    });
    uncounter.append(1);
    const r2 = await w.addCheckpoint(uncounter.request(2, to), uncounter.header()!);
    expect(status(r2)).toBe(403);
    expect(reason(r2)).toMatch(/forged key transition.*countersigned/);
  });

  it('a valid transition the log never recorded in this tree is refused (422); a malformed header is 400', async () => {
    const log = new Log();
    log.append(2);
    const w = witnessFor(log);
    expect(status(await w.addCheckpoint(log.request(0)))).toBe(200);
    // The transition is genuine, but the checkpoint's tree does not hold it: the entry was
    // swapped for another after the proof was made.
    const real = new Log();
    real.entries = [...log.entries];
    real.signer = log.signer;
    real.rotate();
    real.append(1);
    const header = real.header()!;
    const other = new Log();
    other.entries = [...real.entries];
    other.entries[2] = canonicalJson({ index: 2, action: 'dataset.tag' });
    other.signer = real.signer;
    const r = await w.addCheckpoint(other.request(2), header);
    expect(status(r)).toBe(422);
    expect(reason(r)).toContain('does not verify');
    // The entry presented is not the keys.rotate event of that statement.
    const decoded = parseTransitionHeader(header) as Array<{
      index: number;
      statement: string;
      entry: string;
      proof: Buffer[];
    }>;
    const lying = formatTransitionHeader(
      decoded.map((t) => ({ ...t, entry: real.entries[0]!, proof: t.proof.map((p) => p.toString('base64')) })),
    )!;
    const r2 = await w.addCheckpoint(real.request(2), lying);
    expect(status(r2)).toBe(422);
    expect(reason(r2)).toContain('not the keys.rotate event');
    // Nothing was followed: the genuine request still works afterwards.
    expect(status(await w.addCheckpoint(real.request(2), header))).toBe(200);
    expect(status(await w.addCheckpoint(real.request(2), 'not base64!'))).toBe(400);
  });
});
