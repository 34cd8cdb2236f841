import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSessionKey, sameCheck, SESSION_KEY_FILE, sessionKeys } from './session-seal.js';

const row = (n: number) => n.toString(16).padStart(64, '0');

describe('session seal', () => {
  const keys = sessionKeys(Buffer.alloc(32, 7));

  it('opens a token only for the row it was sealed to, under the key it was sealed with', () => {
    const sealed = keys.seal(row(1), 'refresh-token-value');
    expect(sealed).not.toContain('refresh-token-value');
    expect(keys.open(row(1), sealed)).toBe('refresh-token-value');
    expect(keys.open(row(2), sealed)).toBeNull();
    expect(sessionKeys(Buffer.alloc(32, 8)).open(row(1), sealed)).toBeNull();
    // A flipped byte anywhere, a cut one, another format: none opens.
    const raw = Buffer.from(sealed.slice(3), 'base64url');
    for (let i = 0; i < raw.length; i += 7) {
      const bad = Buffer.from(raw);
      bad[i]! ^= 1;
      expect(keys.open(row(1), `v1.${bad.toString('base64url')}`)).toBeNull();
    }
    expect(keys.open(row(1), sealed.slice(0, 20))).toBeNull();
    expect(keys.open(row(1), `v2.${sealed.slice(3)}`)).toBeNull();
    // Each seal is new (its own IV): equal tokens do not show as equal rows.
    expect(keys.seal(row(1), 'refresh-token-value')).not.toBe(sealed);
  });

  it('keeps one owner-only key file, and checks a key against the check value of another', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-seal-'));
    expect(readSessionKey(dir, false)).toBeNull();
    const k = readSessionKey(dir, true)!;
    expect(statSync(join(dir, SESSION_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(readSessionKey(dir, true)!.equals(k)).toBe(true);
    expect(sameCheck(sessionKeys(k).check, sessionKeys(k))).toBe(true);
    expect(sameCheck(sessionKeys(k).check, keys)).toBe(false);
    writeFileSync(join(dir, SESSION_KEY_FILE), 'not a key\n');
    expect(() => readSessionKey(dir, true)).toThrow(/does not hold a 32-byte hex key/);
  });
});
