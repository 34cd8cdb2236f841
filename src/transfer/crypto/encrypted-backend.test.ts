import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useTempDirs } from '../../test-support/temp.js';
import { FsBackend } from '../backends/fs/fs-backend.js';
import { ENCRYPTION_OVERHEAD, EncryptedBackend, presentKeys } from './encrypted-backend.js';
import { formatRemoteKey, newRemoteKey, parseRemoteKey, remoteKeyId } from './remote-keys.js';

describe('EncryptedBackend', () => {
  const tmp = useTempDirs();
  const setup = () => {
    const root = tmp();
    const key = newRemoteKey();
    return { root, key, b: new EncryptedBackend(new FsBackend(root), key) };
  };

  it('the remote holds only opaque names and ciphertext; the client gets its bytes back', async () => {
    const { root, b } = setup();
    const body = Buffer.from('alice@example.com,4111 1111 1111 1111\n'.repeat(100));
    await b.put('packs/ab/abcdef.pack', body);
    const names = readdirSync(join(root, 'o'));
    expect(names).toHaveLength(1);
    expect(names[0]).toMatch(/^[0-9a-f]{64}$/);
    const stored = readFileSync(join(root, 'o', names[0]!));
    expect(stored.length).toBe(body.length + ENCRYPTION_OVERHEAD);
    expect(stored.includes(Buffer.from('alice@example.com'))).toBe(false);
    expect(stored.includes(Buffer.from('abcdef'))).toBe(false);
    expect((await b.get('packs/ab/abcdef.pack')).equals(body)).toBe(true);
    expect(await b.head('packs/ab/abcdef.pack')).toEqual({ size: body.length });
  });

  it('a read bound is on the plaintext: the overhead is added below, the refusal names the logical key', async () => {
    const { b } = setup();
    await b.put('packs/ab/p.pack', Buffer.alloc(5000, 1));
    expect((await b.get('packs/ab/p.pack', { maxBytes: 5000 })).length).toBe(5000);
    await expect(b.get('packs/ab/p.pack', { maxBytes: 4999 })).rejects.toMatchObject({
      code: 'IO_ERROR',
      data: { key: 'packs/ab/p.pack', maxBytes: 4999, announced: 5000, tooLarge: true },
    });
  });

  it('the same key gives the same name (deduplication); another key another one', async () => {
    const { root, key, b } = setup();
    const again = new EncryptedBackend(new FsBackend(root), key);
    expect(again.physicalName('packs/x')).toBe(b.physicalName('packs/x'));
    expect(new EncryptedBackend(new FsBackend(root), newRemoteKey()).physicalName('packs/x')).not.toBe(
      b.physicalName('packs/x'),
    );
    await b.put('packs/x', Buffer.from('1'));
    expect([...(await presentKeys(again, 'packs/', ['packs/x', 'packs/y']))]).toEqual([['packs/x', 1]]);
  });

  it('a flipped byte, a wrong key or an object moved to another name fails with CORRUPT_OBJECT', async () => {
    const { root, b } = setup();
    await b.put('meta/a', Buffer.from('first'));
    await b.put('meta/b', Buffer.from('second'));
    const wrong = new EncryptedBackend(new FsBackend(root), newRemoteKey());
    // the wrong key maps names elsewhere: to read the object at all, ask for its physical name
    await expect(wrong.get('meta/a')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(() => wrong.decrypt('meta/a', readFileSync(join(root, b.physicalName('meta/a'))))).toThrow(
      expect.objectContaining({ code: 'CORRUPT_OBJECT' }),
    );
    // swap a and b on the remote: each now decrypts under the other's name and fails
    const pa = join(root, b.physicalName('meta/a'));
    const pb = join(root, b.physicalName('meta/b'));
    renameSync(pa, `${pa}.x`);
    renameSync(pb, pa);
    renameSync(`${pa}.x`, pb);
    await expect(b.get('meta/a')).rejects.toMatchObject({ code: 'CORRUPT_OBJECT' });
    const buf = readFileSync(pb);
    buf[buf.length - 20]! ^= 1;
    writeFileSync(pb, buf);
    await expect(b.get('meta/b')).rejects.toMatchObject({ code: 'CORRUPT_OBJECT' });
  });

  it('listing by name is refused (names are one-way)', async () => {
    const { b } = setup();
    await expect(b.list('packs/')).rejects.toMatchObject({ code: 'UNSUPPORTED' });
  });

  it('keys back up as one line and restore to the same key and id', () => {
    const key = newRemoteKey();
    const line = formatRemoteKey(key);
    expect(line).toMatch(/^cairn-remote-key-v1:[A-Za-z0-9+/=]{44}$/);
    expect(parseRemoteKey(`${line}\n`).equals(key)).toBe(true);
    expect(remoteKeyId(parseRemoteKey(line))).toBe(remoteKeyId(key));
    expect(() => parseRemoteKey('cairn-remote-key-v1:AAAA')).toThrow(
      expect.objectContaining({ code: 'INVALID_INPUT' }),
    );
  });
});
