import { describe, expect, test } from 'vitest';
import { isCairnError } from '../../core/errors.js';
import { Frontier } from '../merkle/frontier.js';
import { leafHash } from '../merkle/hash.js';
import { formatCheckpointBody, openCheckpoint, parseCheckpointBody, signCheckpoint } from './checkpoint.js';
import { generateSigningKeyPair, parseVerifierKey, signerFromPrivateKey, verifierFromPublicKey } from './keys.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isCairnError(err) ? err.code : `not a CairnError: ${String(err)}`;
  }
  return undefined;
}

// The example in C2SP tlog-checkpoint.md.
const C2SP_BODY = 'example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n';

// A real tree head from https://sum.golang.org/latest (2024-09-23), as quoted in sigsum-go's
// pkg/checkpoint/checkpoint_test.go, and the Go toolchain's pinned key for it (cmd/go/internal/modfetch/key.go).
const SUMDB_VKEY = 'sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8';
const SUMDB_NOTE =
  'go.sum database tree\n30055305\nmXfgRcJ0bG0j3CPdKwgGWtUzBUbX67saZGRmFuJGGsM=\n\n' +
  '— sum.golang.org Az3grpgEild5qw7+5dtV13Kf1C2Xurm8q4fhdxvcsDHnqNTaxL2AFjBY+2TyGKevucFcAAlWFJJYle3EJlDCrQ+y3A8=\n';

describe('checkpoint bodies', () => {
  test('the C2SP example parses and formats back byte for byte', () => {
    const cp = parseCheckpointBody(C2SP_BODY);
    expect(cp.origin).toBe('example.com/behind-the-sofa');
    expect(cp.size).toBe(20852163);
    expect(cp.rootHash).toEqual(Buffer.from('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', 'base64'));
    expect(cp.extensions).toEqual([]);
    expect(formatCheckpointBody(cp)).toBe(C2SP_BODY);
  });

  test('a real sum.golang.org checkpoint verifies with the Go toolchain key and parses', () => {
    const { checkpoint, verified } = openCheckpoint(SUMDB_NOTE, [parseVerifierKey(SUMDB_VKEY)]);
    expect(verified).toEqual([{ name: 'sum.golang.org', keyId: '033de0ae' }]);
    expect(checkpoint.origin).toBe('go.sum database tree');
    expect(checkpoint.size).toBe(30055305);
    expect(checkpoint.rootHash.toString('base64')).toBe('mXfgRcJ0bG0j3CPdKwgGWtUzBUbX67saZGRmFuJGGsM=');
    expect(
      codeOf(() => openCheckpoint(SUMDB_NOTE.replace('30055305', '30055306'), [parseVerifierKey(SUMDB_VKEY)])),
    ).toBe('SIGNATURE_INVALID');
  });

  test('extension lines and size 0 round-trip', () => {
    const cp = {
      origin: 'example.com/log',
      size: 0,
      rootHash: Buffer.alloc(32, 7),
      extensions: ['ext one', 'ext — two'],
    };
    const body = formatCheckpointBody(cp);
    expect(body).toBe(`example.com/log\n0\n${Buffer.alloc(32, 7).toString('base64')}\next one\next — two\n`);
    expect(parseCheckpointBody(body)).toEqual(cp);
  });

  test.each([
    ['no final newline', C2SP_BODY.slice(0, -1)],
    ['two lines', 'example.com/log\n5\n'],
    ['an empty origin', `\n5\n${Buffer.alloc(32).toString('base64')}\n`],
    ['a leading zero', C2SP_BODY.replace('20852163', '020852163')],
    ['a plus sign', C2SP_BODY.replace('20852163', '+20852163')],
    ['a negative size', C2SP_BODY.replace('20852163', '-1')],
    ['a space in the size', C2SP_BODY.replace('20852163', ' 20852163')],
    ['a decimal point', C2SP_BODY.replace('20852163', '20852163.0')],
    ['hex', C2SP_BODY.replace('20852163', '0x10')],
    [
      'a 31-byte root',
      C2SP_BODY.replace('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', Buffer.alloc(31).toString('base64')),
    ],
    [
      'a 33-byte root',
      C2SP_BODY.replace('CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=', Buffer.alloc(33).toString('base64')),
    ],
    ['a root without padding', C2SP_BODY.replace('q2I=', 'q2I')],
    ['non-zero trailing bits in the root', C2SP_BODY.replace('q2I=', 'q2J=')],
    ['a url-safe root', 'o\n1\n' + Buffer.alloc(32, 0xff).toString('base64url') + '=\n'],
    ['an empty extension line', `${C2SP_BODY}\n`],
    ['CRLF', C2SP_BODY.replace(/\n/g, '\r\n')],
  ])('rejects %s', (_why, body) => {
    expect(codeOf(() => parseCheckpointBody(body))).toBe('INVALID_INPUT');
  });

  test('a size beyond 2^53 − 1 is valid but unsupported', () => {
    expect(codeOf(() => parseCheckpointBody(C2SP_BODY.replace('20852163', '9007199254740992')))).toBe('UNSUPPORTED');
    expect(parseCheckpointBody(C2SP_BODY.replace('20852163', '9007199254740991')).size).toBe(Number.MAX_SAFE_INTEGER);
  });

  test('formatCheckpointBody refuses what parseCheckpointBody would refuse', () => {
    const rootHash = Buffer.alloc(32);
    expect(codeOf(() => formatCheckpointBody({ origin: '', size: 1, rootHash }))).toBe('INVALID_INPUT');
    expect(codeOf(() => formatCheckpointBody({ origin: 'a\nb', size: 1, rootHash }))).toBe('INVALID_INPUT');
    expect(codeOf(() => formatCheckpointBody({ origin: 'o', size: -1, rootHash }))).toBe('INVALID_INPUT');
    expect(codeOf(() => formatCheckpointBody({ origin: 'o', size: 1.5, rootHash }))).toBe('INVALID_INPUT');
    expect(codeOf(() => formatCheckpointBody({ origin: 'o', size: 1, rootHash: Buffer.alloc(31) }))).toBe(
      'INVALID_INPUT',
    );
    expect(codeOf(() => formatCheckpointBody({ origin: 'o', size: 1, rootHash, extensions: [''] }))).toBe(
      'INVALID_INPUT',
    );
  });
});

describe('signed checkpoints', () => {
  test('a log signs its Merkle root and a client opens it', () => {
    const frontier = new Frontier();
    for (let i = 0; i < 11; i++) frontier.append(leafHash(Buffer.from(`event ${i}`)));
    const { privateKey, publicKey } = generateSigningKeyPair();
    const origin = 'cairn.example/audit';
    const note = signCheckpoint(
      { origin, size: frontier.size, rootHash: frontier.root() },
      signerFromPrivateKey(origin, privateKey),
    );
    const { checkpoint } = openCheckpoint(note, [verifierFromPublicKey(origin, publicKey)]);
    expect(checkpoint).toEqual({ origin, size: 11, rootHash: frontier.root(), extensions: [] });
  });
});
