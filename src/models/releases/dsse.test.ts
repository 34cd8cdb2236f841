import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { rawPublicKey } from '../../audit/note/index.js';
import {
  IN_TOTO_PAYLOAD_TYPE,
  keyIdOf,
  pae,
  parseEnvelope,
  serializeEnvelope,
  signEnvelope,
  verifyEnvelope,
} from './dsse.js';

describe('DSSE', () => {
  it('PAE is the DSSE v1 spec example, byte for byte', () => {
    // protocol.md: "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, LEN in ASCII decimal.
    const expected = Buffer.concat([
      Buffer.from([0x44, 0x53, 0x53, 0x45, 0x76, 0x31]), // "DSSEv1"
      Buffer.from(' 29 http://example.com/HelloWorld 11 hello world', 'ascii'),
    ]);
    expect(pae('http://example.com/HelloWorld', Buffer.from('hello world'))).toEqual(expected);
    expect(pae('http://example.com/HelloWorld', Buffer.from('hello world')).toString()).toBe(
      'DSSEv1 29 http://example.com/HelloWorld 11 hello world',
    );
  });

  it('PAE counts bytes, not characters, and handles an empty body', () => {
    expect(pae('t', Buffer.from('é', 'utf8')).toString('utf8')).toBe('DSSEv1 1 t 2 é');
    expect(
      pae('类型', Buffer.from('中文')).equals(
        Buffer.concat([Buffer.from('DSSEv1 6 '), Buffer.from('类型'), Buffer.from(' 6 '), Buffer.from('中文')]),
      ),
    ).toBe(true);
    expect(pae('x', Buffer.alloc(0)).toString()).toBe('DSSEv1 1 x 0 ');
  });

  it('keyid is sha256: and the hex SHA-256 of the DER SubjectPublicKeyInfo', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const der = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), rawPublicKey(publicKey)]);
    const expected = `sha256:${createHash('sha256').update(der).digest('hex')}`;
    expect(keyIdOf(publicKey)).toBe(expected);
    expect(keyIdOf(privateKey)).toBe(expected);
  });

  it('signs PAE(type, payload) with Ed25519 and verifies with the public key', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const payload = Buffer.from('{"a":1}');
    const env = signEnvelope(IN_TOTO_PAYLOAD_TYPE, payload, privateKey);
    expect(env.payload).toBe(payload.toString('base64'));
    expect(
      Buffer.from(env.signatures[0]!.sig, 'base64').equals(sign(null, pae(IN_TOTO_PAYLOAD_TYPE, payload), privateKey)),
    ).toBe(true);
    const again = parseEnvelope(serializeEnvelope(env));
    const r = verifyEnvelope(again, publicKey, IN_TOTO_PAYLOAD_TYPE);
    expect(r.ok && r.payload.equals(payload)).toBe(true);
  });

  it('refuses a flipped signature byte, another key, another payload type and an edited payload', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const other = generateKeyPairSync('ed25519');
    const env = signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from('{"a":1}'), privateKey);
    const sig = Buffer.from(env.signatures[0]!.sig, 'base64');
    sig[10] = sig[10]! ^ 0x01;
    expect(
      verifyEnvelope(
        { ...env, signatures: [{ keyid: env.signatures[0]!.keyid, sig: sig.toString('base64') }] },
        publicKey,
        IN_TOTO_PAYLOAD_TYPE,
      ).ok,
    ).toBe(false);
    expect(verifyEnvelope(env, other.publicKey, IN_TOTO_PAYLOAD_TYPE).ok).toBe(false);
    // Re-signed with another key but keeping the original keyid: keyids are hints, never trusted.
    const forged = signEnvelope(IN_TOTO_PAYLOAD_TYPE, Buffer.from('{"a":2}'), other.privateKey);
    expect(
      verifyEnvelope(
        { ...forged, signatures: [{ keyid: env.signatures[0]!.keyid, sig: forged.signatures[0]!.sig }] },
        publicKey,
        IN_TOTO_PAYLOAD_TYPE,
      ).ok,
    ).toBe(false);
    expect(verifyEnvelope({ ...env, payloadType: 'text/plain' }, publicKey, 'text/plain').ok).toBe(false);
    expect(verifyEnvelope(env, publicKey, 'text/plain').ok).toBe(false);
    expect(
      verifyEnvelope({ ...env, payload: Buffer.from('{"a":2}').toString('base64') }, publicKey, IN_TOTO_PAYLOAD_TYPE)
        .ok,
    ).toBe(false);
    expect(verifyEnvelope({ ...env, signatures: [] }, publicKey, IN_TOTO_PAYLOAD_TYPE).ok).toBe(false);
  });

  it('accepts URL-safe and unpadded base64, as DSSE allows', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const payload = Buffer.from([0xfb, 0xff, 0xfe, 0x01]);
    const env = signEnvelope('x', payload, privateKey);
    const url = {
      ...env,
      payload: payload.toString('base64url'),
      signatures: env.signatures.map((s) => ({ ...s, sig: Buffer.from(s.sig, 'base64').toString('base64url') })),
    };
    expect(verifyEnvelope(url, publicKey, 'x').ok).toBe(true);
    expect(verifyEnvelope({ ...env, payload: `${env.payload}!` }, publicKey, 'x').ok).toBe(false);
  });
});
