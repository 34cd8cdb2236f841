import { sign } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { isCairnError } from '../../core/errors.js';
import {
  generateSigningKeyPair,
  parseSignerKey,
  parseVerifierKey,
  rawPublicKey,
  signerFromPrivateKey,
  verifierFromPublicKey,
} from './keys.js';
import type { NoteVerifier } from './keys.js';
import { addNoteSignature, MAX_NOTE_SIGNATURES, openNote, signNote } from './signed-note.js';

// golang.org/x/mod sumdb/note/note_test.go (TestSign, TestOpen).
const PETER_VKEY = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
const PETER_SKEY = 'PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz';
const ENOCH_VKEY = 'EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop';
const TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n";
const PETER_SIG =
  '— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
const ENOCH_SIG =
  '— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n';
const SIGNED = `${TEXT}\n${PETER_SIG}`;

const peter = parseVerifierKey(PETER_VKEY);
const enoch = parseVerifierKey(ENOCH_VKEY);
const PETER = { name: 'PeterNeumann', keyId: 'c74f20a3' };
const ENOCH = { name: 'EnochRoot', keyId: 'af0cfe78' };

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return isCairnError(err) ? err.code : `not a CairnError: ${String(err)}`;
  }
  return undefined;
}

function freshSigner(name: string): { signer: ReturnType<typeof signerFromPrivateKey>; verifier: NoteVerifier } {
  const { privateKey, publicKey } = generateSigningKeyPair();
  return { signer: signerFromPrivateKey(name, privateKey), verifier: verifierFromPublicKey(name, publicKey) };
}

describe('the Go note vectors', () => {
  test('signing the text with the Go signer key reproduces the Go signed note exactly', () => {
    expect(signNote(TEXT, parseSignerKey(PETER_SKEY))).toBe(SIGNED);
  });

  test('the Go signed note opens with the Go verifier key', () => {
    expect(openNote(SIGNED, [peter])).toEqual({ text: TEXT, verified: [PETER], unverified: [] });
    expect(openNote(Buffer.from(SIGNED, 'utf8'), [peter]).text).toBe(TEXT);
  });

  test('one verified, one unknown; both verified; none known', () => {
    const both = `${TEXT}\n${PETER_SIG}${ENOCH_SIG}`;
    expect(openNote(both, [peter])).toEqual({ text: TEXT, verified: [PETER], unverified: [ENOCH] });
    expect(openNote(both, [peter, enoch])).toEqual({ text: TEXT, verified: [PETER, ENOCH], unverified: [] });
    expect(codeOf(() => openNote(both, []))).toBe('SIGNATURE_INVALID');
  });

  test('duplicate verifiers: harmless when they are the same key, an error when they are not', () => {
    expect(openNote(SIGNED, [enoch, peter, peter]).verified).toEqual([PETER]);
    const impostor: NoteVerifier = { name: peter.name, keyId: peter.keyId, publicKey: enoch.publicKey };
    expect(codeOf(() => openNote(SIGNED, [peter, impostor]))).toBe('INVALID_INPUT');
    // Unused, the ambiguity does not matter (as in Go's "unused duplicated verifier").
    expect(openNote(`${TEXT}\n${ENOCH_SIG}`, [enoch, impostor]).verified).toEqual([ENOCH]);
  });

  test('an invalid signature by a known key rejects the whole note', () => {
    const bad = `${TEXT}\n${PETER_SIG.slice(0, 60)}ABCD${PETER_SIG.slice(60)}`;
    expect(codeOf(() => openNote(bad, [peter]))).toBe('SIGNATURE_INVALID');
  });

  test('repeated signatures are reported once; distinct unknown lines each once', () => {
    const enochAbcd = `${ENOCH_SIG.slice(0, 60)}ABCD${ENOCH_SIG.slice(60)}`;
    const note = `${TEXT}\n${PETER_SIG}${PETER_SIG}${ENOCH_SIG}${ENOCH_SIG}${enochAbcd}`;
    expect(openNote(note, [peter])).toEqual({ text: TEXT, verified: [PETER], unverified: [ENOCH, ENOCH] });
  });

  test('too many signatures is malformed, verified or not', () => {
    const many = `${TEXT}\n${PETER_SIG.repeat(MAX_NOTE_SIGNATURES + 1)}`;
    expect(codeOf(() => openNote(many, [peter]))).toBe('INVALID_INPUT');
    expect(codeOf(() => openNote(many, []))).toBe('INVALID_INPUT');
    expect(openNote(`${TEXT}\n${PETER_SIG.repeat(MAX_NOTE_SIGNATURES)}`, [peter]).verified).toEqual([PETER]);
  });

  test.each([
    ['no signature block', TEXT],
    ['a blank line but no signatures', `${TEXT}\n`],
    ['a last signature line without its newline', `${TEXT}\n${PETER_SIG.slice(0, -1)}`],
    ['a control character', `\x01${TEXT}\n${PETER_SIG}`],
    [
      'a key name with a space',
      `${TEXT}\n— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=`,
    ],
    ['a line that is not a signature', `${TEXT}\n${PETER_SIG}Unexpected line.\n`],
    ['no blank line before the signatures', `${TEXT}${PETER_SIG}`],
    ['CRLF line endings', SIGNED.replace(/\n/g, '\r\n')],
    ['a CR before the signatures', `${TEXT}\r\n${PETER_SIG}`],
    ['base64 with a bad character', `${TEXT}\n${PETER_SIG.replace('x08go/', 'x08go!')}`],
    ['base64 without padding', `${TEXT}\n${PETER_SIG.replace('AM=\n', 'AM\n')}`],
    ['base64 with non-zero trailing bits', `${TEXT}\n${PETER_SIG.replace('AM=\n', 'AN=\n')}`],
    ['a signature shorter than a key ID', `${TEXT}\n— PeterNeumann x08gow==\n`],
    ['a hyphen instead of an em dash', `${TEXT}\n${PETER_SIG.replace('—', '-')}`],
    ['two spaces after the name', `${TEXT}\n${PETER_SIG.replace('PeterNeumann ', 'PeterNeumann  ')}`],
    ['a name with a plus', `${TEXT}\n${PETER_SIG.replace('PeterNeumann', 'Peter+Neumann')}`],
    ['a lone surrogate', `${TEXT.replace('If', '\ud800')}\n${PETER_SIG}`],
  ])('rejects %s as INVALID_INPUT', (_why, note) => {
    expect(codeOf(() => openNote(note, [peter]))).toBe('INVALID_INPUT');
  });

  test('rejects bytes that are not UTF-8', () => {
    const bytes = Buffer.concat([Buffer.of(0xff), Buffer.from(SIGNED, 'utf8')]);
    expect(codeOf(() => openNote(bytes, [peter]))).toBe('INVALID_INPUT');
  });

  test('rejects a note over the size limit before looking at it', () => {
    const huge = `${'x'.repeat(1 << 20)}\n\n${PETER_SIG}`;
    expect(codeOf(() => openNote(huge, [peter]))).toBe('INVALID_INPUT');
    expect(codeOf(() => openNote(Buffer.from(huge), [peter]))).toBe('INVALID_INPUT');
  });
});

describe('signing and opening', () => {
  const alice = freshSigner('example.com/alice');
  const bob = freshSigner('example.com/bob');

  test('round trip, including a text with blank lines', () => {
    for (const text of ['hello\n', 'a\n\nb\n', 'ends blank\n\n', '\n', 'ünïcødé — fine\n']) {
      const note = signNote(text, alice.signer);
      expect(openNote(note, [alice.verifier])).toEqual({
        text,
        verified: [{ name: 'example.com/alice', keyId: alice.verifier.keyId.toString('hex') }],
        unverified: [],
      });
    }
  });

  test('a tampered body fails', () => {
    const note = signNote('size 10\n', alice.signer);
    expect(codeOf(() => openNote(note.replace('10', '11'), [alice.verifier]))).toBe('SIGNATURE_INVALID');
  });

  test('a different key under the same name is unknown, so the note has no known signature', () => {
    const note = signNote('hello\n', alice.signer);
    const other = freshSigner('example.com/alice');
    expect(codeOf(() => openNote(note, [other.verifier]))).toBe('SIGNATURE_INVALID');
    expect(codeOf(() => openNote(note, [bob.verifier]))).toBe('SIGNATURE_INVALID');
  });

  test('a forged line that claims a known name and key ID fails', () => {
    const text = 'hello\n';
    const forged = Buffer.concat([
      alice.verifier.keyId,
      sign(null, Buffer.from(text), generateSigningKeyPair().privateKey),
    ]);
    const note = `${text}\n— example.com/alice ${forged.toString('base64')}\n`;
    expect(codeOf(() => openNote(note, [alice.verifier]))).toBe('SIGNATURE_INVALID');
    // Even when a good signature by another known key is present.
    expect(codeOf(() => openNote(addNoteSignature(note, bob.signer), [alice.verifier, bob.verifier]))).toBe(
      'SIGNATURE_INVALID',
    );
  });

  test('addNoteSignature appends a cosignature and replaces an earlier one by the same key', () => {
    const once = addNoteSignature(signNote('tree\n', alice.signer), bob.signer);
    expect(openNote(once, [alice.verifier, bob.verifier]).verified.map((v) => v.name)).toEqual([
      'example.com/alice',
      'example.com/bob',
    ]);
    const twice = addNoteSignature(once, bob.signer);
    expect(twice).toBe(once); // Ed25519 is deterministic, so the replacement is identical
    expect(twice.split('\n').filter((l) => l.startsWith('—'))).toHaveLength(2);
  });

  test("addNoteSignature replaces a bad signature by the same key, as Go's Sign does", () => {
    const signer = parseSignerKey(PETER_SKEY);
    const badLine = `— PeterNeumann ${Buffer.concat([peter.keyId, Buffer.alloc(64)]).toString('base64')}\n`;
    expect(addNoteSignature(`${TEXT}\n${badLine}`, signer)).toBe(SIGNED);
    expect(addNoteSignature(`${TEXT}\n${ENOCH_SIG}`, signer)).toBe(`${TEXT}\n${ENOCH_SIG}${PETER_SIG}`);
  });

  test('signNote refuses text it could not open again, and inconsistent signers', () => {
    expect(codeOf(() => signNote('abc', alice.signer))).toBe('INVALID_INPUT');
    expect(codeOf(() => signNote('a\r\nb\n', alice.signer))).toBe('INVALID_INPUT');
    expect(codeOf(() => signNote('tab\there\n', alice.signer))).toBe('INVALID_INPUT');
    expect(codeOf(() => signNote('x\n', { ...alice.signer, name: 'a b' }))).toBe('INVALID_INPUT');
    expect(codeOf(() => signNote('x\n', { ...alice.signer, rawPublicKey: rawPublicKey(bob.verifier.publicKey) }))).toBe(
      'INVALID_INPUT',
    );
  });
});
