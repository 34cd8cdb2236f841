import { describe, expect, it } from 'vitest';
import { buildEvent, encodeEvent, type AuditContext } from '../event.js';
import { Frontier, leafHash } from '../merkle/index.js';
import {
  generateSigningKeyPair,
  signCheckpoint,
  signerFromPrivateKey,
  verifierFromPublicKey,
  type NoteSigner,
  type NoteVerifier,
} from '../note/index.js';
import { LogVerifier, type CheckpointInput } from './log-verifier.js';

const ORIGIN = 'cairn.local/test-log';
const ctx: AuditContext = {
  actor: { id: 'tester@example.com', auth: 'environment' },
  host: 'h',
  pid: 1,
  command: 'test',
  client: 'cairn/0.0.0',
  workspace: 'w',
};

function keys(): { signer: NoteSigner; verifier: NoteVerifier } {
  const { privateKey, publicKey } = generateSigningKeyPair();
  return { signer: signerFromPrivateKey(ORIGIN, privateKey), verifier: verifierFromPublicKey(ORIGIN, publicKey) };
}

/** n chained entries, as the log writes them. */
function makeLog(n: number): Array<{ entry: string; leaf: string }> {
  const out: Array<{ entry: string; leaf: string }> = [];
  let prev: string | null = null;
  for (let i = 0; i < n; i++) {
    const e = buildEvent(
      ctx,
      { action: 'dataset.tag', target: { type: 'dataset', name: `d${i}` } },
      { index: i, prev, id: `id-${i}`, time: '2026-01-01T00:00:00.000Z', outcome: 'ok' },
    );
    const entry = encodeEvent(e);
    const leaf = leafHash(Buffer.from(entry, 'utf8')).toString('hex');
    out.push({ entry, leaf });
    prev = leaf;
  }
  return out;
}

function checkpointsOf(log: Array<{ leaf: string }>, sizes: number[], signer: NoteSigner): CheckpointInput[] {
  return sizes.map((size) => {
    const f = new Frontier();
    for (const l of log.slice(0, size)) f.append(Buffer.from(l.leaf, 'hex'));
    const root = f.root();
    return { size, root: root.toString('hex'), note: signCheckpoint({ origin: ORIGIN, size, rootHash: root }, signer) };
  });
}

function run(
  entries: Array<{ idx: number; entry: string; leaf: string }>,
  opts: {
    checkpoints: CheckpointInput[];
    verifier: NoteVerifier;
    trusted?: { note: string; verifier: NoteVerifier };
    head?: number | null;
  },
): LogVerifier {
  const v = new LogVerifier({
    checkpoints: opts.checkpoints,
    verifier: opts.verifier,
    origin: ORIGIN,
    ...(opts.trusted ? { trusted: opts.trusted } : {}),
  });
  for (const e of entries) v.push(e.idx, e.entry, e.leaf);
  v.finish(opts.head === undefined ? entries.length : opts.head);
  return v;
}

const indexed = (log: Array<{ entry: string; leaf: string }>) => log.map((l, idx) => ({ idx, ...l }));

describe('LogVerifier', () => {
  const k = keys();
  const log = makeLog(12);
  const cps = checkpointsOf(log, [3, 6, 9, 12], k.signer);

  it('an intact log has no problems; root, size and action counts are reported', () => {
    const v = run(indexed(log), { checkpoints: cps, verifier: k.verifier });
    expect(v.problems).toEqual([]);
    expect(v.firstBad()).toBeNull();
    expect(v.size).toBe(12);
    expect(v.root().toString('hex')).toBe(cps[3]!.root);
    expect(Object.fromEntries(v.actions)).toEqual({ 'dataset.tag': 12 });
  });

  it('a changed entry: leaf mismatch at it, chain broken at it, every later checkpoint range starts after the last good one', () => {
    const rows = indexed(log);
    rows[4] = { ...rows[4]!, entry: rows[4]!.entry.replace('"d4"', '"dX"') };
    const v = run(rows, { checkpoints: cps, verifier: k.verifier });
    expect(v.firstBad()).toMatchObject({ index: 4, kind: 'leaf-mismatch' });
    expect(v.problems.map((p) => [p.kind, p.index, p.rangeEnd ?? null])).toEqual([
      ['leaf-mismatch', 4, null],
      ['chain-broken', 4, null],
      ['checkpoint-mismatch', 3, 6],
      ['checkpoint-mismatch', 3, 9],
      ['checkpoint-mismatch', 3, 12],
    ]);
    expect(v.problems[2]!.message).toBe(
      'the entries up to size 6 do not hash to the signed checkpoint root; an entry in [3, 6) was altered, removed or inserted',
    );
  });

  it('a root mismatch alone (entries and chain rewritten without the key) names the range after the last matching checkpoint', () => {
    const forged = makeLog(12).map((l, i) => (i < 7 ? log[i]! : l));
    // Rewrite from 7 on with a different chain: re-hash so leaves and prev links agree.
    let prev = forged[6]!.leaf;
    const rows = forged.map((l, idx) => {
      if (idx < 7) return { idx, ...l };
      const e = JSON.parse(l.entry) as Record<string, unknown>;
      e.prev = prev;
      e.target = { type: 'dataset', name: `forged${idx}` };
      const entry = encodeEvent(e as never);
      const leaf = leafHash(Buffer.from(entry, 'utf8')).toString('hex');
      prev = leaf;
      return { idx, entry, leaf };
    });
    const v = run(rows, { checkpoints: cps, verifier: k.verifier });
    expect(v.problems.map((p) => [p.kind, p.index, p.rangeEnd])).toEqual([
      ['checkpoint-mismatch', 6, 9],
      ['checkpoint-mismatch', 6, 12],
    ]);
    expect(v.firstBad()).toMatchObject({ index: 6, rangeEnd: 9 });
  });

  it('a gap (missing entry) is named at the missing index; the head size is compared', () => {
    const rows = indexed(log).filter((r) => r.idx !== 5);
    const v = run(rows, { checkpoints: cps, verifier: k.verifier, head: 12 });
    expect(v.firstBad()).toMatchObject({ index: 5, kind: 'gap' });
    expect(v.problems.find((p) => p.kind === 'head-mismatch')).toMatchObject({ index: 11 });
  });

  it('an entry that claims another index (moved, duplicated) is named where it sits', () => {
    const rows = indexed(log);
    rows.push({ idx: 12, entry: log[2]!.entry, leaf: log[2]!.leaf });
    const v = run(rows, { checkpoints: cps, verifier: k.verifier, head: 13 });
    expect(v.problems).toEqual([
      {
        index: 12,
        kind: 'index-mismatch',
        message: 'entry 12 claims to be entry 2 (moved, swapped, duplicated or inserted)',
      },
    ]);
  });

  it('entries that are not JSON or use an action outside the closed list are bad entries', () => {
    const rows = indexed(log.slice(0, 3));
    rows[1] = { idx: 1, entry: '{not json', leaf: leafHash(Buffer.from('{not json')).toString('hex') };
    const ev = JSON.parse(log[2]!.entry) as Record<string, unknown>;
    ev.action = 'dataset.delete';
    const bad = encodeEvent(ev as never);
    rows[2] = { idx: 2, entry: bad, leaf: leafHash(Buffer.from(bad)).toString('hex') };
    const v = run(rows, { checkpoints: [], verifier: k.verifier });
    expect(v.problems.filter((p) => p.kind === 'bad-entry').map((p) => [p.index, p.message])).toEqual([
      [1, 'entry 1 is not valid JSON'],
      [2, 'entry 2 has action dataset.delete, which is not in the closed list'],
    ]);
  });

  it('a checkpoint signed by another key, or whose row disagrees with its note, is reported', () => {
    const other = keys();
    const foreign = checkpointsOf(log, [6], other.signer)[0]!;
    const lying = { ...cps[2]!, root: cps[3]!.root };
    const v = run(indexed(log), { checkpoints: [cps[0]!, foreign, lying, cps[3]!], verifier: k.verifier });
    const sig = v.problems.filter((p) => p.kind === 'checkpoint-signature');
    expect(sig.map((p) => p.index)).toEqual([null, null]);
    // The note/row check runs up front; the signature when the entries reach the size (the key may have rotated).
    expect(sig[0]!.message).toBe('checkpoint at size 9 does not match its signed note');
    expect(sig[1]!.message).toMatch(/^the checkpoint at size 6 is not signed by the log's key /);
    expect(v.problems.filter((p) => p.kind === 'checkpoint-mismatch').map((p) => [p.index, p.rangeEnd])).toEqual([
      [6, 9],
    ]);
  });

  it('a checkpoint beyond the stored log means entries were cut off', () => {
    const v = run(indexed(log.slice(0, 8)), { checkpoints: cps, verifier: k.verifier });
    expect(v.problems.map((p) => [p.kind, p.index])).toEqual([
      ['checkpoint-beyond-log', 8],
      ['checkpoint-beyond-log', 8],
    ]);
  });

  it('hands the kept top-level fields of each entry to the caller, the same with and without --deep', () => {
    const keep = new Set(['actor', 'target', 'params']);
    const seen: Array<[string | null, Record<string, string> | null]> = [];
    for (const deep of [false, true]) {
      const v = new LogVerifier({ checkpoints: [], verifier: k.verifier, origin: ORIGIN, deep, keep });
      v.push(0, log[0]!.entry, log[0]!.leaf);
      seen.push([v.lastAction, v.lastFields]);
      v.push(1, '{not json', log[1]!.leaf);
      expect(v.lastFields).toBeNull();
    }
    expect(seen[0]).toEqual([
      'dataset.tag',
      {
        actor: '{"auth":"environment","id":"tester@example.com"}',
        params: '{}',
        target: '{"name":"d0","type":"dataset"}',
      },
    ]);
    expect(seen[1]).toEqual(seen[0]);
  });

  describe('against a trusted (exported) checkpoint', () => {
    it('an extending log verifies', () => {
      const v = run(indexed(log), {
        checkpoints: cps,
        verifier: k.verifier,
        trusted: { note: cps[1]!.note, verifier: k.verifier },
      });
      expect(v.problems).toEqual([]);
    });

    it('a truncated log is caught at its new end', () => {
      const v = run(indexed(log.slice(0, 7)), {
        checkpoints: cps.slice(0, 2),
        verifier: k.verifier,
        trusted: { note: cps[2]!.note, verifier: k.verifier },
      });
      expect(v.problems).toEqual([
        {
          index: 7,
          kind: 'truncated',
          message:
            'a trusted (exported) checkpoint covers 9 entries but the log has only 7: entries were cut off the end',
        },
      ]);
    });

    it('a rewritten, re-signed log disagrees over the whole range the trusted checkpoint covers', () => {
      const forger = keys();
      // Same shape, different history from entry 2 on (different ids), signed by a new key.
      const rows = indexed(log.slice(0, 2).concat(rehash(log.slice(2), log[1]!.leaf, 2)));
      const forgedCps = checkpointsOf(rows, [3, 6, 9, 12], forger.signer);
      const v = run(rows, {
        checkpoints: forgedCps,
        verifier: forger.verifier,
        trusted: { note: cps[2]!.note, verifier: k.verifier },
      });
      expect(v.problems).toEqual([
        {
          index: 0,
          rangeEnd: 9,
          kind: 'trusted-mismatch',
          message:
            'the entries up to size 9 do not hash to the trusted (exported) checkpoint root; an entry in [0, 9) was altered, removed or inserted',
        },
      ]);
      expect(v.firstBad()).toMatchObject({ index: 0, rangeEnd: 9 });
    });

    it('a trusted checkpoint that does not verify with the given key, or belongs to another log, is reported', () => {
      const other = keys();
      const v = run(indexed(log), {
        checkpoints: cps,
        verifier: k.verifier,
        trusted: { note: cps[1]!.note, verifier: other.verifier },
      });
      expect(v.problems.map((p) => [p.kind, p.index])).toEqual([['trusted-signature', null]]);
      expect(v.problems[0]!.message).toContain('was the signing key replaced?');

      const { privateKey, publicKey } = generateSigningKeyPair();
      const elsewhere = signerFromPrivateKey('cairn.local/another-log', privateKey);
      const note = signCheckpoint(
        { origin: 'cairn.local/another-log', size: 3, rootHash: Buffer.from(cps[0]!.root, 'hex') },
        elsewhere,
      );
      const w = run(indexed(log), {
        checkpoints: cps,
        verifier: k.verifier,
        trusted: { note, verifier: verifierFromPublicKey('cairn.local/another-log', publicKey) },
      });
      expect(w.problems.map((p) => [p.kind, p.message])).toEqual([
        ['trusted-mismatch', 'the trusted checkpoint is for log cairn.local/another-log, not cairn.local/test-log'],
      ]);
    });
  });
});

/** Re-chains entries starting at `start` after a leaf `prev`, with their indexes set. */
function rehash(
  entries: Array<{ entry: string }>,
  prev: string,
  start: number,
): Array<{ entry: string; leaf: string }> {
  return entries.map((l, i) => {
    const e = JSON.parse(l.entry) as Record<string, unknown>;
    e.index = start + i;
    e.prev = prev;
    e.id = `forged-${start + i}`;
    const entry = encodeEvent(e as never);
    prev = leafHash(Buffer.from(entry, 'utf8')).toString('hex');
    return { entry, leaf: prev };
  });
}
