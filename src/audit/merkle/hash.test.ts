import { createHash } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { isCairnError } from '../../core/errors.js';
import { emptyRoot, leafHash, nodeHash } from './hash.js';

describe('RFC 6962 hashing', () => {
  test('the empty tree is SHA-256 of nothing', () => {
    expect(emptyRoot().toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  test('a leaf is SHA-256(0x00 ‖ entry); the empty entry gives the CT size-1 root', () => {
    expect(leafHash(new Uint8Array(0)).toString('hex')).toBe(
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    );
    const entry = Buffer.from('cairn');
    expect(leafHash(entry)).toEqual(
      createHash('sha256')
        .update(Buffer.concat([Buffer.of(0), entry]))
        .digest(),
    );
  });

  test('a node is SHA-256(0x01 ‖ left ‖ right) and refuses anything but 32-byte children', () => {
    const l = leafHash(Buffer.from('l'));
    const r = leafHash(Buffer.from('r'));
    expect(nodeHash(l, r)).toEqual(
      createHash('sha256')
        .update(Buffer.concat([Buffer.of(1), l, r]))
        .digest(),
    );
    expect(nodeHash(l, r)).not.toEqual(nodeHash(r, l));
    let caught: unknown;
    try {
      nodeHash(l, r.subarray(1));
    } catch (err) {
      caught = err;
    }
    expect(isCairnError(caught, 'INVALID_INPUT')).toBe(true);
  });

  test('emptyRoot hands out independent buffers', () => {
    const a = emptyRoot();
    a.fill(0);
    expect(emptyRoot().toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});
