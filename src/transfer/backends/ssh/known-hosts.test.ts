import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  hostsFieldMatches,
  knownHostsName,
  parseKnownHosts,
  preferredHostKeyAlgorithms,
  verifyHostKey,
} from './known-hosts.js';

/** A fake public key blob of the given type: `string type, string body`. */
function blob(type: string, body = randomBytes(32)): Buffer {
  const t = Buffer.from(type);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(t.length);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([head, t, len, body]);
}

function hashed(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

describe('known_hosts', () => {
  const key = blob('ssh-ed25519');
  const other = blob('ssh-ed25519');

  it('names a non-standard port as [host]:port and port 22 as the bare host', () => {
    expect(knownHostsName('example.org', 22)).toBe('example.org');
    expect(knownHostsName('127.0.0.1', 2222)).toBe('[127.0.0.1]:2222');
  });

  it('matches plain, bracketed, wildcard, negated and hashed host fields', () => {
    expect(hostsFieldMatches('a.example,b.example', 'b.example')).toBe(true);
    expect(hostsFieldMatches('[127.0.0.1]:2222', '[127.0.0.1]:2222')).toBe(true);
    expect(hostsFieldMatches('127.0.0.1', '[127.0.0.1]:2222')).toBe(false);
    expect(hostsFieldMatches('*.example', 'x.example')).toBe(true);
    expect(hostsFieldMatches('*.example,!bad.example', 'bad.example')).toBe(false);
    expect(hostsFieldMatches('h?st', 'host')).toBe(true);
    expect(hostsFieldMatches(hashed('[127.0.0.1]:2222'), '[127.0.0.1]:2222')).toBe(true);
    expect(hostsFieldMatches(hashed('[127.0.0.1]:2222'), '[127.0.0.1]:2223')).toBe(false);
  });

  it('accepts the recorded key, reports a changed one, an unknown host and a revoked key', () => {
    const text = [
      '# comment',
      '',
      `[127.0.0.1]:2222 ssh-ed25519 ${key.toString('base64')} me@x`,
      `${hashed('hashed.example')} ssh-ed25519 ${key.toString('base64')}`,
      `rsa-only.example ssh-rsa ${blob('ssh-rsa').toString('base64')}`,
      `@revoked * ssh-ed25519 ${other.toString('base64')}`,
      'garbage',
    ].join('\n');
    const entries = parseKnownHosts(text);
    expect(entries.map((e) => e.line)).toEqual([3, 4, 5, 6]);
    expect(verifyHostKey(entries, '[127.0.0.1]:2222', key)).toEqual({ status: 'ok' });
    expect(verifyHostKey(entries, 'hashed.example', key)).toEqual({ status: 'ok' });
    expect(verifyHostKey(entries, '[127.0.0.1]:2222', blob('ssh-ed25519'))).toEqual({ status: 'changed', lines: [3] });
    expect(verifyHostKey(entries, 'nowhere.example', key)).toEqual({ status: 'unknown', otherTypes: [] });
    expect(verifyHostKey(entries, 'rsa-only.example', key)).toEqual({ status: 'unknown', otherTypes: ['ssh-rsa'] });
    expect(verifyHostKey(entries, '[127.0.0.1]:2222', other)).toEqual({ status: 'revoked', line: 6 });
  });

  it('offers the host key types known for the host first', () => {
    const entries = parseKnownHosts(`h ssh-rsa ${blob('ssh-rsa').toString('base64')}\n`);
    expect(preferredHostKeyAlgorithms(entries, 'h').slice(0, 4)).toEqual([
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
      'ssh-ed25519',
    ]);
    expect(preferredHostKeyAlgorithms(entries, 'elsewhere')[0]).toBe('ssh-ed25519');
  });
});
